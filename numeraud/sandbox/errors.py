"""The two ways a sandbox operation refuses: as Numerai's API would, or as a bad admin request."""

from __future__ import annotations


class ApiError(Exception):
    """An application error, answered as HTTP 200 with a GraphQL ``errors`` list."""


class AdminError(ValueError):
    """A bad admin request; the message says what is wrong."""
