"""Executing one GraphQL request: pick the operation, check the caller, dispatch each root field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import graphql
from graphql.language import ast

from numeraud.sandbox.core import SandboxCore
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.graphql_api.account import RESOLVERS as ACCOUNT_RESOLVERS
from numeraud.sandbox.graphql_api.compute import RESOLVERS as COMPUTE_RESOLVERS
from numeraud.sandbox.graphql_api.context import Context, Resolver
from numeraud.sandbox.graphql_api.profiles import RESOLVERS as PROFILE_RESOLVERS
from numeraud.sandbox.graphql_api.query import (
    coerce_variables,
    parse_document,
    pick_operation,
    project,
    selected_fields,
)
from numeraud.sandbox.graphql_api.rounds import RESOLVERS as ROUND_RESOLVERS
from numeraud.sandbox.graphql_api.scores import RESOLVERS as SCORE_RESOLVERS
from numeraud.sandbox.graphql_api.signals import with_side_tournaments

#: Root fields numerapi 3.x sends that the sandbox answers with an error saying it does not support them.
UNSUPPORTED = frozenset(
    {
        "diagnosticsUploadAuth",
        "createDiagnostics",
        "diagnostics",
        "submissionDownloadAuth",
        "setUserBio",
        "setUserLink",
        "v2ChangeStake",
        "releaseStake",
        "v3StakeAuth",
        "v3StakeConfig",
        "v3StakeRound",
        "v3StakeClaim",
    }
)


class GraphQLApi:
    """Executes GraphQL requests against a :class:`SandboxCore`."""

    def __init__(self, core: SandboxCore) -> None:
        """Answer from ``core``, with every root field Numerai's numerapi asks for (Signals' and
        Crypto's calls routed to their tournaments: :mod:`numeraud.sandbox.graphql_api.signals`)."""
        self.core = core
        self.resolvers: dict[str, Resolver] = with_side_tournaments(
            {**ROUND_RESOLVERS, **ACCOUNT_RESOLVERS, **SCORE_RESOLVERS, **PROFILE_RESOLVERS, **COMPUTE_RESOLVERS}
        )

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
            document = parse_document(query)
        except graphql.GraphQLError as exc:
            return {"errors": [{"message": exc.message}]}
        operation = pick_operation(document, operation_name)
        if operation is None:
            return {"errors": [{"message": "No operation (or no operation with that name) in the query"}]}
        try:
            coerced = coerce_variables(operation, variables)
            caller = self.core.authenticate(authorization)
        except ApiError as exc:
            return {"errors": [{"message": str(exc)}]}
        context = Context(core=self.core, key=caller, now=now, base_url=base_url)
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, ast.FragmentDefinitionNode)}
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        type_name = "RootMutationType" if operation.operation == ast.OperationType.MUTATION else "RootQueryType"
        for field in selected_fields(operation.selection_set, fragments):
            key = field.alias.value if field.alias else field.name.value
            resolver = self.resolvers.get(field.name.value)
            if resolver is None:
                if field.name.value in UNSUPPORTED:
                    message = f"{field.name.value} is not supported by the numeraud sandbox (README: numerapi methods)"
                else:
                    message = f'Cannot query field "{field.name.value}" on type "{type_name}".'
                data[key] = None
                errors.append({"message": message, "path": [key]})
                continue
            try:
                args = {a.name.value: graphql.value_from_ast_untyped(a.value, coerced) for a in field.arguments or ()}
                value = resolver(context, args)
                data[key] = project(value, field.selection_set, fragments)
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
