"""Resolvers of rounds and datasets: ``rounds``, ``listDatasets``, ``dataset``, ``pipelineStatus``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from numeraud.common.tournaments import CLASSIC
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.graphql_api.context import ID_NAMESPACE, Context, Resolver, check_tournament
from numeraud.sandbox.records import Round, iso


def _round_json(context: Context, known: Round) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(ID_NAMESPACE, str(known.number))),
        "tournament": CLASSIC,
        "number": known.number,
        "target": "target_ender_20",
        "openTime": iso(known.open_time),
        "closeTime": iso(known.close_staking_time),
        "closeStakingTime": iso(known.close_staking_time),
        "scoreTime": iso(known.score_time),
        "resolveTime": iso(known.resolve_time),
        "resolvedGeneral": known.resolved,
        "resolvedStaking": known.resolved,
        "status": known.status(context.now),
        "payoutFactor": "1.0",
        "stakeThreshold": "0.0",
        "dataDatestamp": int(known.open_time.strftime("%Y%m%d")),
        "roundScoreConfigs": [],
    }


def _rounds(context: Context, args: dict[str, Any]) -> list[dict[str, Any]] | list[None]:
    check_tournament(args)
    with context.core.lock:
        rounds = list(context.core.state.rounds)
    number = args.get("number")
    if number == 0:
        return [_round_json(context, rounds[-1])] if rounds else [None]
    if number is not None:
        return [_round_json(context, r) for r in rounds if r.number == number]
    selected = sorted(rounds, key=lambda r: r.number, reverse=True)
    status = args.get("status")
    if status:
        selected = [r for r in selected if r.status(context.now) == str(status).upper()]
    limit = args.get("limit")
    if isinstance(limit, int) and limit >= 0:
        selected = selected[:limit]
    return [_round_json(context, r) for r in selected]


def _list_datasets(context: Context, args: dict[str, Any]) -> list[str]:
    check_tournament(args)
    return context.core.list_datasets()


def _dataset(context: Context, args: dict[str, Any]) -> str:
    check_tournament(args)
    filename = args.get("filename")
    if not isinstance(filename, str):
        raise ApiError("filename is required")
    served = context.core.resolve_dataset(filename, args.get("round"), context.now)
    return f"{context.base_url}/files/{served}"


def _pipeline_status(context: Context, args: dict[str, Any]) -> dict[str, Any]:
    current = context.core.current_round()
    started = current.open_time - timedelta(minutes=30)
    return {
        "tournament": args.get("tournament") or "classic",
        "startedAt": iso(started),
        "dataReadyAt": iso(current.open_time),
        "scoredAt": None,
        "resolvedAt": None,
        "isScoringDay": current.open_time.weekday() in (1, 2, 3, 4, 5),
    }


#: Root field → resolver.
RESOLVERS: dict[str, Resolver] = {
    "rounds": _rounds,
    "listDatasets": _list_datasets,
    "dataset": _dataset,
    "pipelineStatus": _pipeline_status,
}
