"""What a chaos scenario counts, read from what the run left: the event log, the checking
handlers' records, the sandbox's own list of uploads, the database's integrity, and secrets.

Functions of a :class:`~bench.chaosrun.rig.Rig`, run after (or between) the scenario's rounds;
:func:`check` gives the loss, duplicate, order, upload and partial-file counts of the issue.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bench.chaosrun.common import ROOT, Figures, find_secrets, say
from numeraud.common.kinds import TOURNAMENT_KINDS
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_records import StoredEvent

if TYPE_CHECKING:
    from bench.chaosrun.rig import Rig


def read_events(rig: Rig) -> list[StoredEvent]:
    """The whole event log, read-only."""
    if not rig.database.exists():
        return []
    store = Store(rig.database, read_only=True)
    try:
        out: list[StoredEvent] = []
        while batch := store.events(after=out[-1].seq if out else 0, limit=5000):
            out += batch
        return out
    finally:
        store.close()


def accepted_uploads(rig: Rig) -> Counter[tuple[int, str]]:
    """Accepted uploads per (round, model), as the sandbox (Numerai) saw them."""
    return Counter((int(u["round"]), str(u["model"])) for u in rig.sandbox.uploads() if u["accepted"])


def round_outcome(rig: Rig, number: int, events: list[StoredEvent] | None = None) -> dict[str, str]:
    """Per model of round ``number``: ``uploaded``, ``missed: reason``, or ``pending``."""
    events = read_events(rig) if events is None else events
    accepted = accepted_uploads(rig)
    confirmed = {str(e.payload.get("model")) for e in events if e.kind == "submission_uploaded" and e.round == number}
    reported = {
        str(e.payload.get("model")): f"{e.kind}: {e.payload.get('reason')}"
        for e in events
        if e.kind in ("submission_missed", "submission_failed") and e.round == number and e.payload.get("reason")
    }
    missed_round = [e for e in events if e.kind == "round_missed" and e.round == number]
    out = {}
    for model in rig.models:
        if accepted[(number, model)] and model in confirmed:
            out[model] = "uploaded"
        elif model in reported:
            out[model] = f"missed: {reported[model]}"
        elif missed_round:
            out[model] = f"missed: round_missed: {missed_round[0].payload.get('reason')}"
        else:
            out[model] = "pending"
    return out


def deliveries(rig: Rig, name: str) -> list[dict[str, Any]]:
    path = rig.records / f"{name}.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def integrity(rig: Rig) -> int:
    """1 if ``PRAGMA integrity_check`` of the event log fails (run while no process writes it)."""
    if not rig.database.exists():
        return 0
    try:
        db = sqlite3.connect(rig.database)
        try:
            rows = db.execute("PRAGMA integrity_check").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        say(f"integrity_check could not run: {exc}")
        return 1
    if rows != [("ok",)]:
        say(f"integrity_check: {rows[:5]}")
        return 1
    return 0


def check(rig: Rig, rounds: Iterable[int], *, reported_ok: bool = False) -> Figures:
    """The loss/duplicate/order/upload/partial counts over the whole run (see the module docstring).

    With ``reported_ok`` a model reported missed or failed with the reason (as a fault may
    make Numerai refuse it) is not counted as not uploaded.
    """
    events = read_events(rig)
    head = events[-1].seq if events else 0
    seqs = [e.seq for e in events]
    lost = len(set(range(1, head + 1)) - set(seqs))
    out_of_order = partial = 0
    for name in rig.checkers:
        delivered = deliveries(rig, name)
        last = top = 0
        for record in delivered:
            seq = int(record["seq"])
            if seq not in (last, top + 1):
                out_of_order += 1
                say(f"{name}: seq {seq} after {last} (highest {top})")
            last, top = seq, max(top, seq)
            bad = {f: why for f, why in record.get("files", {}).items() if why}
            if bad:
                partial += len(bad)
                say(f"{name}: event {seq} ({record['kind']}) was given bad files: {bad}")
        missing = set(range(1, head + 1)) - {int(r["seq"]) for r in delivered}
        if missing:
            say(f"{name} never got events {sorted(missing)[:10]}")
        lost += len(missing)
    tournament = Counter((e.kind, e.round) for e in events if e.kind in TOURNAMENT_KINDS)
    duplicated = sum(n - 1 for n in tournament.values() if n > 1)
    confirmations = Counter((e.round, str(e.payload.get("model"))) for e in events if e.kind == "submission_uploaded")
    duplicated += sum(n - 1 for n in confirmations.values() if n > 1)
    accepted = accepted_uploads(rig)
    uploads_duplicated = sum(n - 1 for n in accepted.values() if n > 1)
    missed = not_processed = 0
    for number in rounds:
        outcome = round_outcome(rig, number, events)
        if not all((kind, number) in tournament for kind in ("round_begin", "new_tournament_data", "cleanup")):
            not_processed += 1
            say(f"round {number} was not processed: {sorted(k for k, r in tournament if r == number)}")
        for model in rig.models:
            if not accepted[(number, model)] and reported_ok and outcome[model].startswith("missed: "):
                say(f"round {number}: {model} {outcome[model]}")
            elif not accepted[(number, model)]:
                missed += 1
                say(f"round {number}: {model} not uploaded while the window was open")
            elif (number, model) not in confirmations:
                lost += 1
                say(f"round {number}: {model} uploaded but no submission_uploaded event")
    return {
        "events_lost": lost,
        "events_duplicated": duplicated,
        "out_of_order": out_of_order,
        "uploads_duplicated": uploads_duplicated,
        "uploads_missed_in_window": missed,
        "partial_files_seen": partial,
        "rounds_not_processed": not_processed,
    }


def leaks(rig: Rig) -> int:
    """Secrets found in the logs, numeraudctl's output (text and --json), the event log, the
    handlers' state (state files, ledger, models) and the records; run at the scenario's end."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMERAUD_NOTIFY_URLS", "NUMERAI_SECRET_KEY")}
    env["PYTHONPATH"] = str(ROOT)
    for args in (["status"], ["--json", "status"], ["events", "--limit", "10000"], ["--json", "events"]):
        done = subprocess.run(
            [sys.executable, "-m", "numeraud.cli.ctl", "--config", str(rig.config), *args],
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        name = "_".join(a.strip("-") for a in args)
        (rig.ctl_dir / f"{name}.out").write_bytes(done.stdout + done.stderr)
    found = find_secrets([rig.log, rig.ctl_dir, rig.state_dir, rig.records], rig.secrets.values())
    if found:
        say(f"{found} secret(s) found under {rig.root}")
    return found
