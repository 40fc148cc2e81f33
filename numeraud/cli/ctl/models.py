"""Per Numerai model the uploaders map: its row this round (:func:`current`) and in past ones (:func:`history`).

A row joins what the pieces know: the log's ``predictions_ready`` and ``submission_*`` events, the
model handler's predictions file, the uploader's ledger row for (round, model) and the
handlers' delivery states. ``validated`` is inferred: an upload was attempted only after the
file passed Numerai's checks, and the uploader's validation errors name the predictions file.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from numeraud.cli.ctl import local
from numeraud.cli.ctl.output import first_line
from numeraud.common.config import Config


def _validation_failed(error: str | None) -> bool:
    return bool(error) and ".csv: " in str(error)


def _waiting_on(
    name: str, h: Mapping[str, Any] | None, doing: str, handlers: Mapping[str, Any]
) -> tuple[str, str, str]:
    """(status, why, next) for a row that waits on handler ``name``."""
    if not h:
        return "waiting", f"{name} is not in the status", "-"
    state, attempts = h.get("state"), h.get("attempts", 0)
    blockers = [w for w in h.get("waiting_on") or [] if (handlers.get(w) or {}).get("state") == "blocked"]
    if state == "ready" and blockers:
        return (
            "held",
            f"{name} waits for {', '.join(blockers)} (blocked)",
            f"fix it, then numeraudctl retry {blockers[0]}",
        )
    if state == "ready" and h.get("waiting_on"):
        return "waiting", f"{name} waits for {', '.join(h['waiting_on'])} (after =)", "-"
    if state == "blocked":
        return "blocked", f"{name}: {first_line(h.get('last_error'), 60)}", f"fix it, then numeraudctl retry {name}"
    if state == "backoff":
        return "retrying", f"{name} failed: {first_line(h.get('last_error'), 60)}", f"retrying (attempt {attempts + 1})"
    if state == "busy":
        return doing, f"{name} is at it (attempt {max(attempts, 1)})", "-"
    if state == "disconnected":
        return "waiting", f"{name} is not connected", f"start it (numeraud-handler {name})"
    return "waiting", f"{name} has {h.get('lag', 0)} event(s) to go", "-"


def current(
    config: Config, doc: Mapping[str, Any], events: list[dict[str, Any]], number: int, now: datetime
) -> list[dict[str, Any]]:
    """One row per mapped Numerai model for round ``number`` (see the module docstring)."""
    handlers = doc.get("handlers") or {}
    ledger = {(u.uploader, u.entry.model): u.entry for u in local.ledger_rows(config, number)}
    producers = local.producers(config)
    ready = {e["payload"].get("model") for e in events if e["kind"] == "predictions_ready" and e["round"] == number}
    published = any(e["kind"] == "round_begin" and e["round"] == number for e in events)
    missed = any(e["kind"] == "round_missed" and e["round"] == number for e in events)
    rows = []
    for uploader, source, model in local.model_map(config):
        producer = producers.get(source)
        entry = ledger.get((uploader, model))
        has_file = producer is not None and local.exists(local.predictions_file(producer, source, number))
        row: dict[str, Any] = {
            "model": model,
            "predictions": source,
            "producer": producer.name if producer else None,
            "uploader": uploader,
            "predictions_ready": source in ready or has_file,
            "validated": None,
            "uploaded": None,
            "submission_id": None,
            "ledger": entry.status if entry else None,
        }
        if entry is not None:
            row["validated"] = entry.status in ("uploaded", "attempting") or (
                False if _validation_failed(entry.error) else None
            )
        if entry is not None and entry.status == "uploaded" and str(entry.source or "").startswith("fallback:"):
            row |= {"uploaded": entry.updated, "submission_id": entry.submission_id, "fallback": entry.source}
            status, why = "fallback", f"the deadline guard uploaded {entry.source} (no predictions in time)"
            then = "real predictions replace it if they come before the deadline"
        elif entry is not None and entry.status == "uploaded":
            row |= {"uploaded": entry.updated, "submission_id": entry.submission_id}
            status, why, then = "uploaded", "-", "-"
        elif entry is not None and entry.status in ("failed", "missed"):
            status, why = entry.status, first_line(entry.error, 70)
            then = "fix the cause: uploaded again only when predictions_ready comes again"
        elif entry is not None:  # attempting
            status, why, then = _waiting_on(uploader, handlers.get(uploader), "uploading", handlers)
            status = "uploading" if status == "waiting" else status
        elif row["predictions_ready"]:
            status, why, then = _waiting_on(uploader, handlers.get(uploader), "uploading", handlers)
        elif missed:
            status, why, then = "missed", "the round was missed (numeraudctl events --kind round_missed)", "-"
        elif not published:
            status, why, then = "waiting", "the round's data is not synced yet", "-"
        elif producer is not None:
            status, why, then = _waiting_on(producer.name, handlers.get(producer.name), "predicting", handlers)
        else:
            status, why, then = "waiting", f"no predictions_ready for {source!r} yet", "-"
        rows.append(row | {"status": status, "why": why, "next": then})
    return rows


def history(config: Config, events: list[dict[str, Any]], rounds: int, model: str | None) -> list[dict[str, Any]]:
    """Round x model rows, newest round first: ledger status, upload time, acceptance, validation CORR, scores."""
    uploads = {(u.entry.round, u.entry.model): u.entry for u in local.ledger_rows(config)}
    missed = {e["round"] for e in events if e["kind"] == "round_missed"}
    numbers = sorted(
        {r for r, _m in uploads} | {e["round"] for e in events if e.get("round") is not None}, reverse=True
    )
    producers = local.producers(config)
    corr: dict[str, tuple[int, float]] = {}
    for name, handler in producers.items():
        state = local.persistent_state(handler)
        mean = ((state.get("validation") or {}).get("corr") or {}).get("mean")
        if isinstance(mean, int | float) and isinstance(state.get("trained_round"), int):
            corr[name] = (state["trained_round"], float(mean))
    scores: dict[tuple[int, str], dict[str, Any]] = {}
    for s in local.scores(config):
        scores.setdefault((int(s["round"]), str(s["model"])), {})[str(s["name"])] = {
            "value": s.get("value"),
            "resolved": bool(s.get("resolved")),
        }
    rows = []
    for number in numbers[:rounds]:
        for _uploader, source, name in local.model_map(config):
            if model is not None and name != model.lower():
                continue
            entry = uploads.get((number, name))
            trained = corr.get(source)
            rows.append(
                {
                    "round": number,
                    "model": name,
                    "status": entry.status if entry else ("missed" if number in missed else None),
                    "uploaded_at": entry.updated if entry and entry.status == "uploaded" else None,
                    "accepted": bool(entry and entry.status == "uploaded" and entry.submission_id),
                    "submission_id": entry.submission_id if entry else None,
                    "error": entry.error if entry else None,
                    # The validation CORR of the model that predicted the round (the last training, if not newer).
                    "validation_corr": trained[1] if trained and trained[0] <= number else None,
                    "scores": scores.get((number, name), {}),
                }
            )
    return rows
