"""Resolvers of Signals (11) and Crypto (12): their own root fields, and the shared ones by tournament.

numerapi's ``SignalsAPI`` and ``CryptoAPI`` send the same queries as ``NumerAPI`` with
``tournament: 11`` or ``12`` (or a model id of theirs), plus a few of their own
(``submissionUploadSignalsAuth``, ``createSignalsSubmission``, ``v2SignalsProfile``, the two
leaderboards). :func:`by_tournament` routes a shared field to the side tournament's resolver when
the call is one of theirs and to Classic's resolver otherwise, so Classic answers exactly as
before. :func:`request_tournament` tells fault injection which tournament a request is for.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from statistics import fmean
from typing import Any

from numeraud.common.tournaments import CLASSIC, CRYPTO, SIGNALS, tournament_number
from numeraud.sandbox.core import SandboxCore
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.graphql_api.context import ID_NAMESPACE, Context, Resolver
from numeraud.sandbox.graphql_api.scores import score_json
from numeraud.sandbox.options import UPLOAD_SCOPE
from numeraud.sandbox.records import Model, Score, Submission, iso
from numeraud.sandbox.signals import SideRound, SideTournament

#: Root fields only Signals sends, and only Crypto.
SIGNALS_FIELDS = frozenset(
    {"submissionUploadSignalsAuth", "createSignalsSubmission", "v2SignalsProfile", "signalsLeaderboard"}
)
CRYPTO_FIELDS = frozenset({"cryptosignalsLeaderboard"})
CORR, MMC = "v2_corr20", "mmc"
_UNSUPPORTED = "is not supported by the numeraud sandbox for Signals and Crypto (README: numerapi methods)"


def request_tournament(core: SandboxCore, fields: tuple[str, ...], variables: dict[str, Any]) -> int | None:
    """The tournament a GraphQL request is for (see :mod:`numeraud.sandbox.faults`), None if none."""
    try:
        return tournament_number(variables.get("tournament"))
    except ValueError:
        pass
    if SIGNALS_FIELDS.intersection(fields):
        return SIGNALS
    if CRYPTO_FIELDS.intersection(fields):
        return CRYPTO
    model_id = variables.get("modelId") or variables.get("modelid")
    for number, side in core.tournaments.items():
        if side.has_model(model_id):
            return number
    if any(m.id == model_id for m in core.models):
        return CLASSIC
    return None


def _side_of(context: Context, args: dict[str, Any]) -> SideTournament | None:
    """The side tournament a call is for: its ``tournament`` argument, else its model's; None: Classic."""
    if args.get("tournament") is not None:
        return context.core.tournaments.get(args["tournament"])
    model_id = args.get("modelId")
    return next((side for side in context.core.tournaments.values() if side.has_model(model_id)), None)


#: A side tournament's resolver of a shared field: the call, and the tournament it is for.
SideResolver = Callable[[Context, dict[str, Any], SideTournament], Any]


def by_tournament(side_resolver: SideResolver, classic: Resolver) -> Resolver:
    """A resolver that answers a side tournament's call with ``side_resolver``, any other with ``classic``."""

    def resolve(context: Context, args: dict[str, Any]) -> Any:
        side = _side_of(context, args)
        return classic(context, args) if side is None else side_resolver(context, args, side)

    return resolve


# -- rounds and datasets ---------------------------------------------------------------------------


def _round_id(row: SideRound) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"{row.tournament}/{row.number}"))


def _side_score_json(score: Score, row: SideRound) -> dict[str, Any]:
    return score_json(score, row) | {"roundId": _round_id(row)}


def _round_json(context: Context, row: SideRound) -> dict[str, Any]:
    return {
        "id": _round_id(row),
        "tournament": row.tournament,
        "number": row.number,
        "target": "target",
        "openTime": iso(row.open_time),
        "closeTime": iso(row.close_staking_time),
        "closeStakingTime": iso(row.close_staking_time),
        "scoreTime": iso(row.score_time),
        "resolveTime": iso(row.resolve_time),
        "resolvedGeneral": row.resolved,
        "resolvedStaking": row.resolved,
        "status": row.status(context.now),
        "payoutFactor": "1.0",
        "stakeThreshold": "0.0",
        "dataDatestamp": int(row.open_time.strftime("%Y%m%d")),
        "roundScoreConfigs": [],
    }


def _rounds(context: Context, args: dict[str, Any], side: SideTournament) -> list[Any]:
    rows = side.rounds()
    number = args.get("number")
    if number == 0:
        return [_round_json(context, rows[-1])] if rows else [None]
    if number is not None:
        return [_round_json(context, r) for r in rows if r.number == number]
    selected = sorted(rows, key=lambda r: r.number, reverse=True)
    if args.get("status"):
        selected = [r for r in selected if r.status(context.now) == str(args["status"]).upper()]
    limit = args.get("limit")
    if isinstance(limit, int) and limit >= 0:
        selected = selected[:limit]
    return [_round_json(context, r) for r in selected]


def _list_datasets(context: Context, args: dict[str, Any], side: SideTournament) -> list[str]:
    return side.list_datasets()


def _dataset(classic: Resolver) -> Resolver:
    """``dataset``: a ``signals/…`` or ``crypto/…`` name from that tournament, whoever asks; a Classic
    name from Classic's datasets, whoever asks."""

    def resolve(context: Context, args: dict[str, Any]) -> str:
        filename = args.get("filename")
        if not isinstance(filename, str):
            raise ApiError("filename is required")
        side = context.core.tournament_of_file(filename)
        if side != CLASSIC:
            served = context.core.tournaments[side].resolve_dataset(filename, args.get("round"), context.now)
            return f"{context.base_url}/files/{served}"
        if args.get("tournament") in context.core.tournaments:
            served = context.core.resolve_dataset(filename, args.get("round"), context.now)
            return f"{context.base_url}/files/{served}"
        result: str = classic(context, args)
        return result

    return resolve


# -- models, profiles, leaderboards ------------------------------------------------------------------


def _model_json(side: SideTournament, model: Model) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "displayName": model.name,
        "tournament": side.tournament,
        "submissions": [_submission_json(side, s) for s in side.submissions_of(model.id)],
        "v2Stake": {"status": None, "txHash": None},
    }


def _submission_json(side: SideTournament, submission: Submission) -> dict[str, Any]:
    return {
        "id": submission.id,
        "filename": submission.filename,
        "insertedAt": iso(submission.inserted_at),
        "selected": submission.selected,
        "round": {"tournament": side.tournament, "number": submission.round},
    }


def _account(classic: Resolver) -> Resolver:
    """``account``: Classic's answer with the Signals and Crypto models added (each with its tournament)."""

    def resolve(context: Context, args: dict[str, Any]) -> Any:
        answer = classic(context, args)
        for side in context.core.tournaments.values():
            answer["models"] += [_model_json(side, m) for m in side.models]
        return answer

    return resolve


def _model(context: Context, args: dict[str, Any], side: SideTournament) -> dict[str, Any]:
    context.require_auth()
    return _model_json(side, side.model(args.get("modelId")))


def _submissions(context: Context, args: dict[str, Any], side: SideTournament) -> list[dict[str, Any]]:
    context.require_auth()
    return [_submission_json(side, s) for s in side.submissions_of(side.model(args.get("modelId")).id)]


def _account_profile(context: Context, args: dict[str, Any], side: SideTournament) -> dict[str, Any]:
    if args.get("username") != context.core.options.username:
        raise ApiError(f"Account not found: {args.get('username')}")
    return {"username": context.core.options.username, "models": [_model_json(side, m) for m in side.models]}


def _named(side: SideTournament, args: dict[str, Any]) -> Model:
    name = args.get("model_name") or args.get("modelName")
    model = next((m for m in side.models if m.name == name), None)
    if model is None:
        raise ApiError(f"Model not found: {name}")
    return model


def _user_profile(context: Context, args: dict[str, Any], side: SideTournament) -> dict[str, Any]:
    model = _named(side, args)
    rows = side.rounds()
    return {
        "id": model.id,
        "username": model.name,
        "startDate": iso(rows[0].open_time) if rows else None,
        "bio": None,
        "nmrStaked": "0",
        "stakeValue": None,
    }


def _signals_profile(context: Context, args: dict[str, Any]) -> dict[str, Any]:
    side = context.core.side(SIGNALS)
    scores = side.scores_of(_named(side, args).id)
    daily = []
    for date in sorted({s.date for s in scores}):
        today = {s.display_name: s.value for s in scores if s.date == date}
        entry: dict[str, Any] = {"date": iso(date), "corrRep": today.get(CORR), "mmcRep": today.get(MMC)}
        entry |= {"corr20dRep": today.get(CORR), "mmc20dRep": today.get(MMC), "corr60Rep": None, "icRep": None}
        entry |= {"tcRep": None} | {f"{p}Rank": 1 for p in ("corr", "mmc", "corr20d", "corr60", "ic", "tc", "mmc20d")}
        daily.append(entry)
    return {"dailyModelPerformances": daily}


def _reputation(side: SideTournament, model: Model, name: str) -> float | None:
    values = [s.value for s in side.scores_of(model.id) if s.display_name == name]
    return fmean(values) if values else None


def _leaderboard(tournament: int) -> Resolver:
    """``signalsLeaderboard`` / ``cryptosignalsLeaderboard``: the account's models, ranked by mean CORR."""

    def resolve(context: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
        side = context.core.side(tournament)
        reps = {m.id: _reputation(side, m, CORR) for m in side.models}
        order = sorted(side.models, key=lambda m: (reps[m.id] is None, -(reps[m.id] or 0.0), m.name))
        rows = []
        for rank, model in enumerate(order, start=1):
            mmc = _reputation(side, model, MMC)
            row: dict[str, Any] = {"rank": rank, "prevRank": rank, "username": model.name, "nmrStaked": "0"}
            row |= {"corrRep": reps[model.id], "mmcRep": mmc, "mmc": mmc, "mmcRank": rank, "sharpe": None}
            row |= {"today": None, "icRep": None, "icRank": None, "tcRep": None, "tcRank": None}
            row |= {"return_1_day": None, "return_52_weeks": None, "return_13_weeks": None}
            rows.append(row)
        offset = max(0, int(args.get("offset") or 0))
        limit = args.get("limit")
        return rows[offset : offset + int(limit)] if isinstance(limit, int) else rows[offset:]

    return resolve


def _account_leaderboard(context: Context, args: dict[str, Any], side: SideTournament) -> list[dict[str, Any]]:
    name = context.core.options.username
    row: dict[str, Any] = {"rank": 1, "username": name, "displayName": name, "nmrStaked": "0"}
    for key in ("v2Corr20", "cort20", "corJ60", "corrV4", "fncV4", "icV2", "mmc", "ric"):
        row[key] = None
    for key in ("return1y", "return3m", "returnAllTime", "return1yNmr", "return3mNmr", "returnAllTimeNmr"):
        row[key] = None
    return [row]


# -- uploads and scores ----------------------------------------------------------------------------


def _upload_auth(context: Context, args: dict[str, Any], side: SideTournament) -> dict[str, str]:
    context.require_scope(UPLOAD_SCOPE)
    pending = side.upload_auth(str(args.get("filename") or "predictions.csv"), args.get("modelId"))
    return {"filename": pending.key, "url": f"{context.base_url}/uploads/{pending.token}"}


def _signals_upload_auth(context: Context, args: dict[str, Any]) -> dict[str, str]:
    if args.get("tournament") not in (None, SIGNALS):
        raise ApiError(f"submissionUploadSignalsAuth is for Signals (11), not tournament {args.get('tournament')}")
    return _upload_auth(context, args, context.core.side(SIGNALS))


def _create_submission(context: Context, args: dict[str, Any], side: SideTournament) -> dict[str, str]:
    context.require_scope(UPLOAD_SCOPE)
    return {"id": side.create_submission(str(args.get("filename")), args.get("modelId"), context.now).id}


def _create_signals_submission(context: Context, args: dict[str, Any]) -> dict[str, str | None]:
    context.require_scope(UPLOAD_SCOPE)
    side = context.core.side(SIGNALS)
    submission = side.create_submission(str(args.get("filename")), args.get("modelId"), context.now)
    first = side.find_round(submission.round).score_time
    return {"id": submission.id, "firstEffectiveDate": iso(first)}


def _submission_scores(context: Context, args: dict[str, Any], side: SideTournament) -> list[dict[str, Any]]:
    scores = side.scores_of(side.model(args.get("modelId")).id)
    if args.get("displayName"):
        scores = [s for s in scores if s.display_name == args["displayName"]]
    if args.get("resolved") is False:
        scores = []
    last_n = args.get("lastNRounds")
    if isinstance(last_n, int) and last_n > 0:
        recent = sorted({s.round for s in scores})[-last_n:]
        scores = [s for s in scores if s.round in recent]
    return [_side_score_json(s, side.find_round(s.round)) for s in scores]


def _round_performances(context: Context, args: dict[str, Any], side: SideTournament) -> list[dict[str, Any]]:
    model = side.model(args.get("modelId"))
    scores = side.scores_of(model.id)
    performances = []
    for number in sorted({s.round for s in side.submissions_of(model.id)}, reverse=True):
        row = side.find_round(number)
        mine = [_side_score_json(s, row) for s in scores if s.round == number]
        performances.append(
            {
                "atRisk": "0.0",
                "payoutMultipliers": [],
                "roundPayoutFactor": "1.0",
                "roundNumber": number,
                "roundOpenTime": iso(row.open_time),
                "roundResolveTime": iso(row.resolve_time),
                "roundResolved": row.resolved,
                "roundTarget": "target",
                "submissionScores": mine or None,
                "intraRoundSubmissionScores": mine or None,
            }
        )
    return performances


def _payouts(context: Context, args: dict[str, Any], side: SideTournament) -> dict[str, list[Any]]:
    context.require_auth()
    return {"actual": [], "pending": []}


def _unsupported(field: str) -> SideResolver:
    def resolve(context: Context, args: dict[str, Any], side: SideTournament) -> Any:
        raise ApiError(f"{field} {_UNSUPPORTED}")

    return resolve


#: Shared root field → the side tournament's resolver (Classic's answers the rest of the calls).
SHARED: dict[str, SideResolver] = {
    "rounds": _rounds,
    "listDatasets": _list_datasets,
    "model": _model,
    "submissions": _submissions,
    "accountProfile": _account_profile,
    "v3UserProfile": _user_profile,
    "accountLeaderboard": _account_leaderboard,
    "submission_upload_auth": _upload_auth,
    "create_submission": _create_submission,
    "submissionScores": _submission_scores,
    "v2RoundModelPerformances": _round_performances,
    "pendingModelPayouts": _payouts,
    "setSubmissionWebhook": _unsupported("setSubmissionWebhook"),
    "createComputePickleUpload": _unsupported("createComputePickleUpload"),
    "computePickleUploadAuth": _unsupported("computePickleUploadAuth"),
}
#: Root fields of Signals' and Crypto's own.
OWN: dict[str, Resolver] = {
    "submissionUploadSignalsAuth": _signals_upload_auth,
    "createSignalsSubmission": _create_signals_submission,
    "v2SignalsProfile": _signals_profile,
    "signalsLeaderboard": _leaderboard(SIGNALS),
    "cryptosignalsLeaderboard": _leaderboard(CRYPTO),
}


def with_side_tournaments(classic: dict[str, Resolver]) -> dict[str, Resolver]:
    """Classic's resolvers with every shared field routed by tournament, plus Signals' and Crypto's own."""
    resolvers = dict(classic)
    for name, side_resolver in SHARED.items():
        resolvers[name] = by_tournament(side_resolver, classic[name])
    resolvers["dataset"] = _dataset(classic["dataset"])
    resolvers["account"] = _account(classic["account"])
    resolvers |= OWN
    return resolvers
