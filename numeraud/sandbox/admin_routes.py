"""The admin API over HTTP (``/admin/...``): JSON in, JSON out, errors with a code and a message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from numeraud.common.tournaments import CLASSIC, tournament_number
from numeraud.sandbox.core import SandboxCore
from numeraud.sandbox.errors import AdminError, ApiError
from numeraud.sandbox.faults import FaultError, FaultRule
from numeraud.sandbox.http_plumbing import RequestPlumbing
from numeraud.sandbox.records import iso
from numeraud.sandbox.schedule_shifts import parse_shift

MAX_ADMIN_BODY = 64 * 1024


class AdminRoutes(RequestPlumbing):
    """Reads an admin request, runs it with :func:`dispatch` and answers it (or the error)."""

    def _admin(self, method: str, path: str, started: float) -> None:
        now = datetime.now(UTC)
        try:
            body: dict[str, Any] = {}
            if method == "POST":
                raw = self._read_body(MAX_ADMIN_BODY)
                if raw is None:
                    return
                if raw.strip():
                    loaded = json.loads(raw)
                    if not isinstance(loaded, dict):
                        raise AdminError("the request body must be a JSON object")
                    body = loaded
            query = parse_qs(urlsplit(self.path).query)
            result = dispatch(
                self.server.core, method, path, query=query, body=body, now=now, base_url=self.server.base_url
            )
        except json.JSONDecodeError as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": {"code": "bad_json", "message": str(exc)}})
        except (AdminError, FaultError) as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": {"code": "bad_request", "message": str(exc)}})
        except ApiError as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": {"code": "rejected", "message": str(exc)}})
        except LookupError as exc:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": {"code": "not_found", "message": str(exc)}})
        else:
            self._send_json(HTTPStatus.OK, result)
        self._record("admin", started)


def _number(body: dict[str, Any], key: str, kind: type, *, optional: bool = False) -> float | int | None:
    value = body.get(key)
    if value is None:
        if optional:
            return None
        raise AdminError(f"{key}: required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdminError(f"{key}: must be a number")
    result: float | int = kind(value)
    return result


def _live(core: SandboxCore, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``POST /admin/live``: ``{"delay": S}`` for rounds opened later, and/or ``{"publish_in": S,
    "round": N}`` for one round (default the latest; ``publish_in`` 0 publishes now)."""
    unknown = sorted(set(body) - {"delay", "publish_in", "round"})
    if unknown:
        raise AdminError(f"{unknown[0]}: not a live-data field (use delay, publish_in, round)")
    delay = _number(body, "delay", float, optional=True)
    publish_in = _number(body, "publish_in", float, optional=True)
    number = _number(body, "round", int, optional=True)
    if number is not None and publish_in is None:
        raise AdminError("round: names the round whose live data publish_in moves; give publish_in too")
    if delay is None and publish_in is None:
        raise AdminError("live: give delay (seconds, for rounds opened later) and/or publish_in (seconds)")
    if delay is not None:
        core.set_live_delay(float(delay))
    answer: dict[str, Any] = {"delay": core.live_delay}
    if publish_in is not None:
        target = core.publish_live(now, float(publish_in), int(number) if number is not None else None)
        answer |= {"round": target.number, "live_at": iso(target.live_at)}
    return answer


def _tournament(value: object) -> int:
    try:
        return tournament_number(value)
    except ValueError as exc:
        raise AdminError(str(exc)) from exc


def dispatch(
    core: SandboxCore,
    method: str,
    path: str,
    *,
    query: dict[str, list[str]],
    body: dict[str, Any],
    now: datetime,
    base_url: str = "",
) -> Any:
    """Run one admin request on ``core``; returns its JSON answer, raises for a bad or unknown one.

    ``base_url`` is the sandbox's own address, for the URLs an answer hands out.
    """
    route = (method, path.rstrip("/"))
    if route == ("POST", "/admin/round/open"):
        return {"round": core.open_round(now, _number(body, "window", float, optional=True)).number}
    if route == ("POST", "/admin/round/close"):
        return {"round": core.close_round(now).number}
    if route == ("POST", "/admin/round/resolve"):
        number = _number(body, "round", int, optional=True) or core.current_round().number
        if body.get("tournament") is not None and _tournament(body["tournament"]) != CLASSIC:
            tournament = _tournament(body["tournament"])
            side_scores = core.side(tournament).resolve(int(number), now)
            return {"round": number, "tournament": tournament, "scores": len(side_scores)}
        scores = core.resolve(int(number), now)
        return {"round": number, "scores": len(scores)}
    if route == ("POST", "/admin/clock/advance"):
        seconds = _number(body, "seconds", float)
        crossed = core.advance(float(seconds or 0), now)
        return {
            "opened": [r.number for r in crossed],
            "offset_seconds": core.clock.offset.total_seconds(),
        }
    if route == ("POST", "/admin/schedule"):
        return core.shift_schedule(parse_shift(body), now)
    if route == ("POST", "/admin/live"):
        return _live(core, body, now)
    if route == ("POST", "/admin/dataset/release"):
        version = body.get("version")
        if not isinstance(version, str):
            raise AdminError("version: required, a string such as v5.3")
        return {"version": version, "files": core.release_dataset(version, now)}
    if route == ("POST", "/admin/dataset/validation-update"):
        version = body.get("version")
        eras = _number(body, "eras", int, optional=True) or 1
        return {"files": core.update_validation(version if isinstance(version, str) else None, int(eras))}
    if route == ("POST", "/admin/faults"):
        rules_json = body.get("rules", [body])
        if not isinstance(rules_json, list):
            raise AdminError("rules: must be a list of fault rules")
        rules = [FaultRule.from_json(item) for item in rules_json]
        core.faults.add(rules)
        return {"faults": core.faults.rules()}
    if route == ("GET", "/admin/faults"):
        return {"faults": core.faults.rules()}
    if route == ("DELETE", "/admin/faults"):
        core.faults.clear()
        return {"faults": []}
    if route == ("POST", "/admin/compute/run"):
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise AdminError("model: required, the name (or id) of a model with a Model Upload")
        return core.compute_runs.start(model, base_url)
    if route == ("GET", "/admin/uploads"):
        if "tournament" in query and _tournament(query["tournament"][0]) != CLASSIC:
            return {"uploads": core.side(_tournament(query["tournament"][0])).uploads_json()}
        return {"uploads": core.uploads_json()}
    if route == ("GET", "/admin/requests"):
        limit = int(query.get("limit", ["1000"])[0])
        return {"requests": list(core.requests)[-limit:]}
    if route == ("GET", "/admin/status"):
        return core.status_json(now)
    raise LookupError(f"no admin route {method} {path}")
