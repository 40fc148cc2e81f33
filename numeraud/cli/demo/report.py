"""The demo's results: one row per (round, model), rendered as text, Markdown and CSV.

Each row joins what each side knows: the event log (the uploader's ``submission_uploaded``),
Numerai's side (the sandbox's record of every upload, accepted or not), the model handler's
state (the dataset version it trained on and its validation CORR, as it stood for that round)
and the scores collector's ``scores.json`` (the round's CORR20v2 and MMC once resolved).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from numeraud.cli.demo.observe import corr_text


@dataclass(frozen=True)
class Row:
    """One round of one model."""

    round: int
    model: str
    numerai_model: str
    data_version: str | None
    trained_on: str | None
    uploaded: int
    uploads: int
    accepted: int
    validation_corr: float | None
    corr20: float | None
    mmc: float | None


HEADER = ("ROUND", "MODEL", "DATA", "UPLOADED", "ACCEPTED", "VALIDATION CORR", "ROUND CORR20v2", "ROUND MMC")


def build_rows(
    rounds: Sequence[int],
    models: Mapping[str, str],
    *,
    data_versions: Mapping[int, str | None],
    snapshots: Mapping[int, Mapping[str, Mapping[str, Any]]],
    uploaded_events: Iterable[tuple[int, str]],
    uploads: Iterable[Mapping[str, Any]],
    scores: Iterable[Mapping[str, Any]],
) -> list[Row]:
    """Join the sources (see the module docstring); ``models`` maps handler names to Numerai models."""
    uploaded: dict[tuple[int, str], int] = {}
    for key in uploaded_events:
        uploaded[key] = uploaded.get(key, 0) + 1
    received: dict[tuple[int, str], list[bool]] = {}
    for upload in uploads:
        received.setdefault((int(upload["round"]), str(upload["model"])), []).append(bool(upload["accepted"]))
    values: dict[tuple[int, str, str], float] = {
        (int(s["round"]), str(s["model"]), str(s["name"])): float(s["value"]) for s in scores
    }
    rows = []
    for number in rounds:
        for handler, numerai_model in models.items():
            snapshot = snapshots.get(number, {}).get(handler, {})
            answers = received.get((number, numerai_model), [])
            corr = snapshot.get("validation_corr")
            rows.append(
                Row(
                    round=number,
                    model=handler,
                    numerai_model=numerai_model,
                    data_version=data_versions.get(number),
                    trained_on=snapshot.get("trained_on"),
                    uploaded=uploaded.get((number, numerai_model), 0),
                    uploads=len(answers),
                    accepted=sum(answers),
                    validation_corr=float(corr) if isinstance(corr, int | float) else None,
                    corr20=values.get((number, numerai_model, "v2_corr20")),
                    mmc=values.get((number, numerai_model, "mmc")),
                )
            )
    return rows


def _cells(row: Row) -> tuple[str, ...]:
    uploaded = "yes" if row.uploaded == 1 else f"{row.uploaded} times" if row.uploaded else "no"
    accepted = "yes" if row.accepted == row.uploads == 1 else f"{row.accepted} of {row.uploads} uploads"
    data = row.data_version or "-"
    if row.trained_on and row.trained_on != row.data_version:
        data += f" (model: {row.trained_on})"
    return (
        str(row.round),
        row.model,
        data,
        uploaded,
        accepted,
        corr_text(row.validation_corr),
        corr_text(row.corr20),
        corr_text(row.mmc),
    )


def render_text(rows: Sequence[Row]) -> str:
    """An aligned plain-text table."""
    table = [HEADER, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in table)


def render_markdown(rows: Sequence[Row]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render_csv(rows: Sequence[Row]) -> str:
    """CSV with raw values (empty where there is none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "round",
            "model",
            "numerai_model",
            "data_version",
            "trained_on",
            "uploaded",
            "uploads",
            "accepted",
            "validation_corr",
            "corr20v2",
            "mmc",
        ]
    )
    for row in rows:
        writer.writerow(
            [
                row.round,
                row.model,
                row.numerai_model,
                row.data_version or "",
                row.trained_on or "",
                row.uploaded,
                row.uploads,
                row.accepted,
                "" if row.validation_corr is None else f"{row.validation_corr:.6f}",
                "" if row.corr20 is None else f"{row.corr20:.6f}",
                "" if row.mmc is None else f"{row.mmc:.6f}",
            ]
        )
    return buffer.getvalue()


def problems(rows: Sequence[Row], *, new_version: str, release_round: int) -> list[str]:
    """What the table says went wrong (empty when every model submitted once per round, the
    rounds from ``release_round`` on used ``new_version``, and every round was scored)."""
    found = []
    for row in rows:
        where = f"round {row.round} {row.model}"
        if row.uploaded != 1:
            found.append(f"{where}: the uploader reported {row.uploaded} uploads, not 1")
        if not row.accepted == row.uploads == 1:
            found.append(f"{where}: Numerai got {row.uploads} uploads and accepted {row.accepted}, not exactly 1")
        if row.round >= release_round and (row.data_version != new_version or row.trained_on != new_version):
            found.append(f"{where}: data {row.data_version}, model trained on {row.trained_on}, not {new_version}")
        if row.validation_corr is None:
            found.append(f"{where}: no validation CORR in the model's state")
        if row.corr20 is None:
            found.append(f"{where}: no round score collected")
    return found
