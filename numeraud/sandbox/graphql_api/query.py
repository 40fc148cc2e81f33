"""A GraphQL request taken apart: the JSON body, the parsed document, variables and selections."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import graphql
from graphql.language import ast

from numeraud.sandbox.errors import ApiError

MAX_QUERY_CHARS = 100_000


class BadRequest(Exception):
    """A request that is not a GraphQL request at all (answered with HTTP 400)."""


@lru_cache(maxsize=256)
def parse_document(query: str) -> ast.DocumentNode:
    """The parsed query (cached: numerapi sends the same few queries again and again)."""
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
        document = parse_document(query)
    except graphql.GraphQLError:
        return ()
    names: list[str] = []
    for definition in document.definitions:
        if isinstance(definition, ast.OperationDefinitionNode):
            names += [s.name.value for s in definition.selection_set.selections if isinstance(s, ast.FieldNode)]
    return tuple(names)


def pick_operation(document: ast.DocumentNode, name: str | None) -> ast.OperationDefinitionNode | None:
    """The operation to run: the one named ``name``, else the first; None if there is none."""
    operations = [d for d in document.definitions if isinstance(d, ast.OperationDefinitionNode)]
    if name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == name]
    return operations[0] if operations else None


def selected_fields(
    selection_set: ast.SelectionSetNode | None, fragments: dict[str, ast.FragmentDefinitionNode]
) -> list[ast.FieldNode]:
    """The fields of a selection set, with inline fragments and fragment spreads expanded."""
    if selection_set is None:
        return []
    found: list[ast.FieldNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, ast.FieldNode):
            found.append(selection)
        elif isinstance(selection, ast.InlineFragmentNode):
            found += selected_fields(selection.selection_set, fragments)
        elif isinstance(selection, ast.FragmentSpreadNode) and selection.name.value in fragments:
            found += selected_fields(fragments[selection.name.value].selection_set, fragments)
    return found


def project(value: Any, selection_set: ast.SelectionSetNode | None, fragments: dict[str, Any]) -> Any:
    """``value`` cut down to the fields the selection set asks for (aliases applied), recursively."""
    if selection_set is None or value is None:
        return value
    if isinstance(value, list):
        return [project(item, selection_set, fragments) for item in value]
    if not isinstance(value, dict):
        return value
    projected = {}
    for field in selected_fields(selection_set, fragments):
        key = field.alias.value if field.alias else field.name.value
        projected[key] = project(value.get(field.name.value), field.selection_set, fragments)
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


def coerce_variables(operation: ast.OperationDefinitionNode, variables: dict[str, Any]) -> dict[str, Any]:
    """Check the request's variables against the operation's declared types; raises ApiError as Numerai words it."""
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
