"""Resolvers of uploads and scores: ``submission_upload_auth``, ``create_submission``, scores, performances."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from numeraud.common.tournaments import CLASSIC
from numeraud.sandbox.graphql_api.context import ID_NAMESPACE, Context, Resolver, check_tournament
from numeraud.sandbox.options import UPLOAD_SCOPE
from numeraud.sandbox.records import Score, iso


def _upload_auth(context: Context, args: dict[str, Any]) -> dict[str, str]:
    context.require_scope(UPLOAD_SCOPE)
    pending = context.core.upload_auth(
        str(args.get("filename") or "predictions.csv"),
        int(args.get("tournament") or CLASSIC),
        args.get("modelId"),
    )
    return {"filename": pending.key, "url": f"{context.base_url}/uploads/{pending.token}"}


def _create_submission(context: Context, args: dict[str, Any]) -> dict[str, str]:
    context.require_scope(UPLOAD_SCOPE)
    submission_id = context.core.create_submission(
        str(args.get("filename")), int(args.get("tournament") or CLASSIC), args.get("modelId"), context.now
    )
    return {"id": submission_id}


class ScoredRound(Protocol):
    """What a score's answer reads of its round (a Classic :class:`Round` or a Signals/Crypto row)."""

    @property
    def number(self) -> int:
        """The round's number."""

    @property
    def resolve_time(self) -> datetime:
        """When it resolves (or resolved)."""

    @property
    def score_time(self) -> datetime:
        """When its first score arrives."""

    @property
    def close_staking_time(self) -> datetime:
        """Its on-time deadline."""


def score_json(score: Score, known: ScoredRound) -> dict[str, Any]:
    """One score as ``submissionScores`` and ``v2RoundModelPerformances`` answer it."""
    return {
        "roundId": str(uuid.uuid5(ID_NAMESPACE, str(known.number))),
        "submissionId": score.submission_id,
        "roundNumber": known.number,
        "roundResolveTime": iso(known.resolve_time),
        "roundScoreTime": iso(known.score_time),
        "roundCloseStakingTime": iso(known.close_staking_time),
        "value": score.value,
        "percentile": score.percentile,
        "displayName": score.display_name,
        "version": "v5",
        "date": iso(score.date),
        "day": 20,
        "resolveDate": iso(score.date),
        "resolved": True,
        "payoutPending": "0.0",
        "payoutSettled": "0.0",
    }


def _submission_scores(context: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    model = context.core.model(args.get("modelId"))
    scores = context.core.scores_of(model.id)
    if args.get("displayName"):
        scores = [s for s in scores if s.display_name == args["displayName"]]
    if args.get("resolved") is False:
        scores = []
    last_n = args.get("lastNRounds")
    if isinstance(last_n, int) and last_n > 0:
        recent = sorted({s.round for s in scores})[-last_n:]
        scores = [s for s in scores if s.round in recent]
    return [score_json(s, context.core.find_round(s.round)) for s in scores]


def _round_performances(context: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    check_tournament(args)
    model = context.core.model(args.get("modelId"))
    rounds = sorted({s.round for s in context.core.submissions_of(model.id)}, reverse=True)
    scores = context.core.scores_of(model.id)
    performances = []
    for number in rounds:
        known = context.core.find_round(number)
        mine = [score_json(s, known) for s in scores if s.round == number]
        performances.append(
            {
                "atRisk": "0.0",
                "payoutMultipliers": [],
                "roundPayoutFactor": "1.0",
                "roundNumber": number,
                "roundOpenTime": iso(known.open_time),
                "roundResolveTime": iso(known.resolve_time),
                "roundResolved": known.resolved,
                "roundTarget": "target_ender_20",
                "submissionScores": mine or None,
                "intraRoundSubmissionScores": mine or None,
            }
        )
    return performances


#: Root field → resolver.
RESOLVERS: dict[str, Resolver] = {
    "submission_upload_auth": _upload_auth,
    "create_submission": _create_submission,
    "submissionScores": _submission_scores,
    "v2RoundModelPerformances": _round_performances,
}
