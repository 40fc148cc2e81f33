"""Fault injection into a request: the HTTP errors, hangs, resets and bad bodies of :mod:`numeraud.sandbox.faults`."""

from __future__ import annotations

import socket
import struct
from http import HTTPStatus

from numeraud.sandbox.faults import FaultRule
from numeraud.sandbox.http_plumbing import RequestPlumbing


class FaultInjection(RequestPlumbing):
    """Answers a request the way the fault plan says it fails, if a rule fires."""

    def _apply_fault(self, route: str, fields: tuple[str, ...] = (), tournament: int | None = None) -> FaultRule | None:
        """Inject a fault if one fires (for a request of ``tournament``, if known); returns the rule
        when the request must not be answered normally."""
        rule = self.server.core.faults.draw(route, fields, tournament)
        if rule is None:
            return None
        self._fault = rule.kind
        kind = rule.kind
        if kind.startswith("http_"):
            status = int(kind.removeprefix("http_"))
            headers = {"Retry-After": str(rule.retry_after)} if status == 429 else None
            self._send_json(status, {"error": rule.message}, headers)
            return rule
        if kind == "slow":
            self.server.stopping.wait(rule.delay)
            return None
        if kind == "hang":
            self.server.stopping.wait(rule.delay or 3600.0)
            self.close_connection = True
            return rule
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return rule
        if kind == "graphql_error":
            self._send_json(HTTPStatus.OK, {"errors": [{"message": rule.message}]})
            return rule
        if kind == "malformed_json":
            data = b'{"data": {"rounds": [ <html>502 Bad Gateway'
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return rule
        return rule  # truncate/corrupt: the file route mangles the body itself
