"""Resolvers of public profiles and listings: ``tournaments``, leaderboards, ``v3UserProfile``, payouts.

The sandbox account's models are the whole leaderboard; reputations are the mean of each
model's resolved scores (None before any), stakes are zero.
"""

from __future__ import annotations

import uuid
from statistics import fmean
from typing import Any

from numeraud.common.tournaments import CLASSIC
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.graphql_api.context import ID_NAMESPACE, Context, Resolver, check_tournament
from numeraud.sandbox.records import Model, iso

#: The sandbox's score names (see :mod:`numeraud.sandbox.resolution`).
CORR, MMC = "v2_corr20", "mmc"
#: Numerai's tournaments: (number, name). Only Classic has rounds and data in the sandbox.
TOURNAMENTS = ((CLASSIC, "classic"), (11, "signals"), (12, "crypto"))


def _tournaments(context: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(uuid.uuid5(ID_NAMESPACE, f"tournament/{number}")),
            "name": name,
            "tournament": number,
            "active": True,
        }
        for number, name in TOURNAMENTS
    ]


def _reputation(context: Context, model: Model, display_name: str) -> float | None:
    values = [s.value for s in context.core.scores_of(model.id) if s.display_name == display_name]
    return fmean(values) if values else None


def _ranked(context: Context) -> list[tuple[int, Model, float | None]]:
    models = context.core.models
    reps = {m.id: _reputation(context, m, CORR) for m in models}
    order = sorted(models, key=lambda m: (reps[m.id] is None, -(reps[m.id] or 0.0), m.name))
    return [(rank, model, reps[model.id]) for rank, model in enumerate(order, start=1)]


def _page(rows: list[Any], args: dict[str, Any]) -> list[Any]:
    offset = max(0, int(args.get("offset") or 0))
    limit = args.get("limit")
    return rows[offset : offset + int(limit)] if isinstance(limit, int) else rows[offset:]


def _leaderboard(context: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        {
            "rank": rank,
            "username": model.name,
            "nmrStaked": "0",
            "corr20Rep": rep,
            "corr20V2Rep": rep,
            "corj60Rep": None,
            "fncRep": None,
            "fncV3Rep": None,
            "tcRep": None,
            "mmcRep": _reputation(context, model, MMC),
            "bmcRep": None,
            "team": False,
            "return_1_day": None,
            "return_52_weeks": None,
            "return_13_weeks": None,
        }
        for rank, model, rep in _ranked(context)
    ]
    return _page(rows, args)


def _account_leaderboard(context: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    check_tournament(args)
    name = context.core.options.username
    row: dict[str, Any] = {"rank": 1, "username": name, "displayName": name, "nmrStaked": "0"}
    for field in ("v2Corr20", "cort20", "corJ60", "corrV4", "fncV4", "icV2", "mmc", "ric"):
        row[field] = None
    for field in ("return1y", "return3m", "returnAllTime", "return1yNmr", "return3mNmr", "returnAllTimeNmr"):
        row[field] = None
    return _page([row], args)


def _user_profile(context: Context, args: dict[str, Any]) -> dict[str, Any]:
    check_tournament(args)
    name = args.get("model_name") or args.get("modelName")
    model = next((m for m in context.core.models if m.name == name), None)
    if model is None:
        raise ApiError(f"Model not found: {name}")
    scores = context.core.scores_of(model.id)
    dates = sorted({s.date for s in scores})
    daily = []
    for date in dates:
        today = {s.display_name: s.value for s in scores if s.date == date}
        entry: dict[str, Any] = {"date": iso(date), "corrRep": today.get(CORR), "mmcRep": today.get(MMC)}
        for prefix in ("fnc", "fncV3", "tc"):
            entry[f"{prefix}Rep"] = None
        for prefix in ("corr", "mmc", "fnc", "fncV3", "tc"):
            entry[f"{prefix}Rank"] = 1
        daily.append(entry)
    with context.core.lock:
        first = context.core.state.rounds[0] if context.core.state.rounds else None
    return {
        "id": model.id,
        "username": model.name,
        "startDate": iso(first.open_time) if first else None,
        "bio": None,
        "nmrStaked": "0",
        "stakeValue": None,
        "dailyModelPerformances": daily,
    }


def _pending_payouts(context: Context, args: dict[str, Any]) -> dict[str, list[Any]]:
    context.require_auth()
    check_tournament(args)
    return {"actual": [], "pending": []}


#: Root field → resolver.
RESOLVERS: dict[str, Resolver] = {
    "tournaments": _tournaments,
    "v2Leaderboard": _leaderboard,
    "accountLeaderboard": _account_leaderboard,
    "v3UserProfile": _user_profile,
    "pendingModelPayouts": _pending_payouts,
}
