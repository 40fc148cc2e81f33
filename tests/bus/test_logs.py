"""Log lines: JSON with a UTC timestamp, secrets redacted whatever the key's case."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime

import structlog

from numeraud.common import logs


def _line(**fields: object) -> dict[str, object]:
    out = io.StringIO()
    logs.configure(json=True, level="info", stream=out)
    try:
        logs.get_logger("test").info("hello", **fields)
    finally:
        structlog.reset_defaults()
    (line,) = out.getvalue().splitlines()
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_a_json_line_has_an_iso_utc_timestamp_with_microseconds() -> None:
    line = _line(n=1)
    stamp = str(line["timestamp"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - when).total_seconds()) < 5
    assert (line["event"], line["level"], line["component"], line["n"]) == ("hello", "info", "test", 1)


def test_secret_looking_keys_are_redacted_in_any_case() -> None:
    line = _line(token="t0k3n-value", Secret_Key="abc", API_KEY="k", password="p", harmless="ok")
    assert line["token"] == line["Secret_Key"] == line["API_KEY"] == line["password"] == "[redacted]"
    assert line["harmless"] == "ok"
    assert "t0k3n-value" not in json.dumps(line)


def test_notification_urls_are_secret_values_each_and_together() -> None:
    first, second = "json://127.0.0.1:8/hook/tok-aaaa", "ntfy://tok-bbbbbbbb@ntfy.sh/topic"
    found = logs.secret_values({"NUMERAUD_NOTIFY_URLS": f"{first} {second}", "HOME": "/root/not-a-secret"})
    assert found == {f"{first} {second}", first, second}
    assert logs.scrub_text(f"failed to reach {second}", found) == "failed to reach [redacted]"
