"""Smoke: a supervisor and a handler process deliver events in order."""

from __future__ import annotations

from tests.bus.conftest import Bus


def test_a_handler_gets_every_event_in_order_once(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    bus.start_handler("a")
    seqs = [bus.append("round_begin", r) for r in range(1, 6)]
    bus.wait_acked("a", seqs[-1])
    got = [r["seq"] for r in bus.event_records("a")]
    assert got == seqs
