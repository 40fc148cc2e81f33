"""What the year made, counted from what Numerai (the sandbox) saw and the event log.

A (round, model) pair is *made with real predictions* when the sandbox accepted a submission of
the model's own predictions before the round's close (not marked late), *made with a fallback*
when only the uploader's deadline guard's file (``example_round_N.csv``) was accepted in time, and
*missed* otherwise, with the reason (the event log's ``submission_missed`` or ``round_missed``,
a late upload, or the supervisor's outage). A miss is allowed only when the outage covered the
whole window. An upload is duplicated when the sandbox accepted the same kind of file (real or
fallback) for a pair more than once.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from bench.chaosrun import audit

if TYPE_CHECKING:
    from bench.chaosrun.rig import Rig
    from bench.yearrun.runner import Played

#: The file name the uploader gives a fallback of Numerai's example predictions.
FALLBACK_PREFIX = "example_round_"
OUTAGE = "the supervisor's outage covered the whole window"


def is_fallback_upload(upload: dict[str, Any]) -> bool:
    """Whether a sandbox upload is a deadline-guard fallback file."""
    return str(upload.get("filename", "")).startswith(FALLBACK_PREFIX)


def tally(rig: Rig, played: list[Played]) -> dict[str, Any]:
    """The year's figures: pairs made real, made with a fallback, missed (allowed or not), duplicated."""
    events = audit.read_events(rig)
    uploads = [u for u in rig.sandbox.uploads() if u["accepted"]]
    by_pair: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for upload in uploads:
        by_pair.setdefault((int(upload["round"]), str(upload["model"])), []).append(upload)
    made_real = made_fallback = duplicated = 0
    reasons: Counter[str] = Counter()
    unexpected: list[str] = []
    for round_ in played:
        outcome = audit.round_outcome(rig, round_.number, events)
        for model in rig.models:
            pair = by_pair.get((round_.number, model), [])
            kinds = Counter(is_fallback_upload(u) for u in pair)
            duplicated += sum(n - 1 for n in kinds.values() if n > 1)
            in_time = [u for u in pair if not u["late"]]
            if any(not is_fallback_upload(u) for u in in_time):
                made_real += 1
                continue
            if in_time:
                made_fallback += 1
                continue
            why = _reason(outcome.get(model, ""), pair)
            if round_.outage_covered:
                why = f"{OUTAGE} ({why})"
            else:
                unexpected.append(f"round {round_.number} {model}: {why}")
            reasons[why] += 1
    missed = sum(reasons.values())
    return {
        "rounds": len(played),
        "pairs": len(played) * len(rig.models),
        "made_real": made_real,
        "made_fallback": made_fallback,
        "missed": missed,
        "missed_outside_outage": len(unexpected),
        "duplicated": duplicated,
        "reasons": dict(reasons),
        "unexpected": unexpected,
    }


def _reason(outcome: str, pair: list[dict[str, Any]]) -> str:
    """Why a pair was missed, in one line."""
    if pair:
        return f"uploaded late at {pair[0]['submitted_at']}"
    if outcome.startswith("missed: "):
        return outcome[len("missed: ") :]
    return "no upload and no reason in the event log"
