"""Numerai's GraphQL API as numerapi 3.x speaks it, answered from :class:`SandboxCore`.

A query is parsed with graphql-core, its variables are checked against their declared types, each
root field is dispatched to a resolver, and the resolver's value is projected onto the requested
selection set. Errors look like Numerai's: HTTP 200 with an ``errors`` list, the field set to null.
"""
