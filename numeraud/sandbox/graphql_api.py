"""Numerai's GraphQL API as numerapi 3.x speaks it, answered from :class:`SandboxCore`.

A query is parsed with graphql-core, its variables are checked against their declared types, each
root field is dispatched to a resolver, and the resolver's value is projected onto the requested
selection set. Errors look like Numerai's: HTTP 200 with an ``errors`` list, the field set to null.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import graphql
from graphql.language import ast

from numeraud.sandbox.core import SandboxCore
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.options import UPLOAD_SCOPE, SandboxKey
from numeraud.sandbox.records import CLASSIC, Model, Round, Score, Submission, iso

MAX_QUERY_CHARS = 100_000
AUTH_REQUIRED = "You must be authenticated to perform this action."
_ROUND_NAMESPACE = uuid.UUID("1b7c3f0e-2a47-4b55-8d0a-7e8f9a1b2c3d")


class BadRequest(Exception):
    """A request that is not a GraphQL request at all (answered with HTTP 400)."""


@dataclass
class Context:
    """What a resolver may use: the core, the caller's key (None: no key), the time, URLs."""

    core: SandboxCore
    key: SandboxKey | None
    now: datetime
    base_url: str

    @property
    def authenticated(self) -> bool:
        """Whether the call came with a valid key."""
        return self.key is not None

    def require_auth(self) -> None:
        """Raise the error Numerai gives an unauthenticated call to a private field."""
        if not self.authenticated:
            raise ApiError(AUTH_REQUIRED)

    def require_scope(self, scope: str) -> None:
        """Raise unless the caller's key has ``scope`` (e.g. ``upload_submission``)."""
        self.require_auth()
        if self.key is not None and scope not in self.key.scopes:
            raise ApiError(f"This API key does not have the {scope} scope.")


Resolver = Callable[[Context, dict[str, Any]], Any]


@lru_cache(maxsize=256)
def _parse(query: str) -> ast.DocumentNode:
    return graphql.parse(query, no_location=True)


def parse_request(body: bytes) -> tuple[str, dict[str, Any], str | None]:
    """Decode the JSON body of a GraphQL POST into (query, variables, operationName)."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"Could not parse the request body as JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        raise BadRequest("The request body must be a JSON object with a string `query`")
    if len(payload["query"]) > MAX_QUERY_CHARS:
        raise BadRequest("The query is too long")
    variables = payload.get("variables") or {}
    if not isinstance(variables, dict):
        raise BadRequest("`variables` must be a JSON object or null")
    name = payload.get("operationName")
    return payload["query"], variables, name if isinstance(name, str) else None


def root_fields(query: str) -> tuple[str, ...]:
    """The root field names a query asks for (for logs and per-operation faults); () if unparseable."""
    try:
        document = _parse(query)
    except graphql.GraphQLError:
        return ()
    names: list[str] = []
    for definition in document.definitions:
        if isinstance(definition, ast.OperationDefinitionNode):
            names += [s.name.value for s in definition.selection_set.selections if isinstance(s, ast.FieldNode)]
    return tuple(names)


class GraphQLApi:
    """Executes GraphQL requests against a :class:`SandboxCore`."""

    def __init__(self, core: SandboxCore) -> None:
        self.core = core
        self.resolvers: dict[str, Resolver] = {
            "rounds": _rounds,
            "listDatasets": _list_datasets,
            "dataset": _dataset,
            "account": _account,
            "model": _model,
            "accountProfile": _account_profile,
            "submission_upload_auth": _upload_auth,
            "create_submission": _create_submission,
            "submissions": _submissions,
            "submissionScores": _submission_scores,
            "v2RoundModelPerformances": _round_performances,
            "pipelineStatus": _pipeline_status,
            "setSubmissionWebhook": _set_webhook,
        }

    def execute(
        self,
        query: str,
        variables: dict[str, Any],
        operation_name: str | None,
        *,
        authorization: str | None,
        now: datetime,
        base_url: str,
    ) -> dict[str, Any]:
        """Run one GraphQL request; always returns a JSON-able response body (never raises)."""
        try:
            document = _parse(query)
        except graphql.GraphQLError as exc:
            return {"errors": [{"message": exc.message}]}
        operation = _pick_operation(document, operation_name)
        if operation is None:
            return {"errors": [{"message": "No operation (or no operation with that name) in the query"}]}
        try:
            coerced = _coerce_variables(operation, variables)
            caller = self.core.authenticate(authorization)
        except ApiError as exc:
            return {"errors": [{"message": str(exc)}]}
        context = Context(core=self.core, key=caller, now=now, base_url=base_url)
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, ast.FragmentDefinitionNode)}
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        type_name = "RootMutationType" if operation.operation == ast.OperationType.MUTATION else "RootQueryType"
        for field in _fields(operation.selection_set, fragments):
            key = field.alias.value if field.alias else field.name.value
            resolver = self.resolvers.get(field.name.value)
            if resolver is None:
                errors.append({"message": f'Cannot query field "{field.name.value}" on type "{type_name}".'})
                continue
            try:
                args = {a.name.value: graphql.value_from_ast_untyped(a.value, coerced) for a in field.arguments or ()}
                value = resolver(context, args)
                data[key] = _project(value, field.selection_set, fragments)
            except ApiError as exc:
                data[key] = None
                errors.append({"message": str(exc), "path": [key]})
            except (TypeError, ValueError, KeyError) as exc:
                data[key] = None
                errors.append({"message": f"Argument error: {exc}", "path": [key]})
        response: dict[str, Any] = {"data": data}
        if errors:
            response["errors"] = errors
        return response


def _pick_operation(document: ast.DocumentNode, name: str | None) -> ast.OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, ast.OperationDefinitionNode)]
    if name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == name]
    return operations[0] if operations else None


def _fields(
    selection_set: ast.SelectionSetNode | None, fragments: dict[str, ast.FragmentDefinitionNode]
) -> list[ast.FieldNode]:
    if selection_set is None:
        return []
    found: list[ast.FieldNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, ast.FieldNode):
            found.append(selection)
        elif isinstance(selection, ast.InlineFragmentNode):
            found += _fields(selection.selection_set, fragments)
        elif isinstance(selection, ast.FragmentSpreadNode) and selection.name.value in fragments:
            found += _fields(fragments[selection.name.value].selection_set, fragments)
    return found


def _project(value: Any, selection_set: ast.SelectionSetNode | None, fragments: dict[str, Any]) -> Any:
    if selection_set is None or value is None:
        return value
    if isinstance(value, list):
        return [_project(item, selection_set, fragments) for item in value]
    if not isinstance(value, dict):
        return value
    projected = {}
    for field in _fields(selection_set, fragments):
        key = field.alias.value if field.alias else field.name.value
        projected[key] = _project(value.get(field.name.value), field.selection_set, fragments)
    return projected


_SCALARS: dict[str, Callable[[Any], bool]] = {
    "Int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "String": lambda v: isinstance(v, str),
    "ID": lambda v: isinstance(v, str | int) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "RoundStatus": lambda v: v in ("UPCOMING", "OPEN", "RESOLVING", "RESOLVED"),
}


def _coerce_variables(operation: ast.OperationDefinitionNode, variables: dict[str, Any]) -> dict[str, Any]:
    coerced: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        type_text = graphql.print_ast(definition.type)
        required = isinstance(definition.type, ast.NonNullTypeNode)
        if name not in variables or variables[name] is None:
            if required:
                raise ApiError(f'Variable "${name}" of required type "{type_text}" was not provided.')
            coerced[name] = None
            continue
        value = variables[name]
        base = type_text.rstrip("!")
        check = _SCALARS.get(base)
        if check is not None and not check(value):
            raise ApiError(f'Variable "${name}" got invalid value {json.dumps(value)}; expected type "{base}".')
        coerced[name] = value
    return coerced


# -- resolvers ---------------------------------------------------------------------------------


def _round_json(context: Context, known: Round) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(_ROUND_NAMESPACE, str(known.number))),
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
    _check_tournament(args)
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


def _check_tournament(args: dict[str, Any]) -> None:
    tournament = args.get("tournament")
    if tournament is not None and tournament not in (CLASSIC, "classic"):
        raise ApiError(f"Tournament {tournament} is not served by the sandbox (Classic is 8)")


def _list_datasets(context: Context, args: dict[str, Any]) -> list[str]:
    _check_tournament(args)
    return context.core.list_datasets()


def _dataset(context: Context, args: dict[str, Any]) -> str:
    _check_tournament(args)
    filename = args.get("filename")
    if not isinstance(filename, str):
        raise ApiError("filename is required")
    served = context.core.resolve_dataset(filename, args.get("round"))
    return f"{context.base_url}/files/{served}"


def _model_json(context: Context, model: Model) -> dict[str, Any]:
    submissions = context.core.submissions_of(model.id)
    return {
        "id": model.id,
        "name": model.name,
        "displayName": model.name,
        "tournament": CLASSIC,
        "submissions": [_submission_json(s) for s in submissions],
        "v2Stake": {"status": None, "txHash": None},
    }


def _submission_json(submission: Submission) -> dict[str, Any]:
    return {
        "id": submission.id,
        "filename": submission.filename,
        "insertedAt": iso(submission.inserted_at),
        "selected": submission.selected,
        "round": {"tournament": CLASSIC, "number": submission.round},
    }


def _account(context: Context, args: dict[str, Any]) -> dict[str, Any]:
    context.require_auth()
    options = context.core.options
    return {
        "id": str(uuid.uuid5(_ROUND_NAMESPACE, options.username)),
        "username": options.username,
        "email": f"{options.username}@sandbox.invalid",
        "walletAddress": None,
        "availableNmr": "0.0",
        "mfaEnabled": False,
        "status": "VERIFIED",
        "insertedAt": iso(datetime(2020, 1, 1, tzinfo=UTC)),
        "models": [_model_json(context, m) for m in context.core.models],
        "apiTokens": [{"name": k.name, "public_id": k.public_id, "scopes": list(k.scopes)} for k in options.keys],
        "walletTxns": [],
    }


def _model(context: Context, args: dict[str, Any]) -> dict[str, Any]:
    context.require_auth()
    return _model_json(context, context.core.model(args.get("modelId")))


def _account_profile(context: Context, args: dict[str, Any]) -> dict[str, Any]:
    if args.get("username") != context.core.options.username:
        raise ApiError(f"Account not found: {args.get('username')}")
    return {
        "username": context.core.options.username,
        "models": [_model_json(context, m) for m in context.core.models],
    }


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


def _submissions(context: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    context.require_auth()
    model = context.core.model(args.get("modelId"))
    return [_submission_json(s) for s in context.core.submissions_of(model.id)]


def _score_json(score: Score, known: Round) -> dict[str, Any]:
    return {
        "roundId": str(uuid.uuid5(_ROUND_NAMESPACE, str(known.number))),
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
    return [_score_json(s, context.core.find_round(s.round)) for s in scores]


def _round_performances(context: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    _check_tournament(args)
    model = context.core.model(args.get("modelId"))
    rounds = sorted({s.round for s in context.core.submissions_of(model.id)}, reverse=True)
    scores = context.core.scores_of(model.id)
    performances = []
    for number in rounds:
        known = context.core.find_round(number)
        mine = [_score_json(s, known) for s in scores if s.round == number]
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


def _set_webhook(context: Context, args: dict[str, Any]) -> str:
    context.require_auth()
    url = args.get("newSubmissionWebhook")
    context.core.set_webhook(str(args.get("modelId")), str(url) if url else None)
    return "true"
