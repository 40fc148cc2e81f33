"""Resolvers of the account and its models: ``account``, ``model``, ``accountProfile``, ``submissions``, webhooks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from numeraud.common.tournaments import CLASSIC
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.graphql_api.context import ID_NAMESPACE, Context, Resolver
from numeraud.sandbox.records import Model, Submission, iso


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
        "id": str(uuid.uuid5(ID_NAMESPACE, options.username)),
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


def _submissions(context: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    context.require_auth()
    model = context.core.model(args.get("modelId"))
    return [_submission_json(s) for s in context.core.submissions_of(model.id)]


def _set_webhook(context: Context, args: dict[str, Any]) -> str:
    context.require_auth()
    url = args.get("newSubmissionWebhook")
    context.core.set_webhook(str(args.get("modelId")), str(url) if url else None)
    return "true"


#: Root field → resolver.
RESOLVERS: dict[str, Resolver] = {
    "account": _account,
    "model": _model,
    "accountProfile": _account_profile,
    "submissions": _submissions,
    "setSubmissionWebhook": _set_webhook,
}
