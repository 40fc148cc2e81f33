"""Cross-handler order: independent by default, ``after`` and ``serial`` when configured."""

from __future__ import annotations

import time

from tests.bus.conftest import Bus
from tests.helpers import wait_for


def test_two_handlers_progress_independently(bus: Bus) -> None:
    bus.add_handler("slow", options={"block_kind": "round_begin"})
    bus.add_handler("fast")
    bus.start_supervisor()
    bus.start_handler("slow")
    bus.start_handler("fast")
    seqs = [bus.append("round_begin", 1), bus.append("new_tournament_data", 1), bus.append("cleanup", 1)]
    bus.wait_acked("fast", seqs[-1])
    assert bus.handler_status("slow")["acked_seq"] == 0
    assert bus.handler_status("slow")["in_flight"] == seqs[0]
    bus.release("slow")
    bus.wait_acked("slow", seqs[-1])
    assert [r["seq"] for r in bus.event_records("slow")] == seqs


def test_after_delivers_an_event_only_once_the_named_handler_acked_it(bus: Bus) -> None:
    bus.add_handler("model", options={"block_kind": "new_tournament_data"})
    bus.add_handler("uploader", after=["model"])
    bus.start_supervisor()
    bus.start_handler("model")
    bus.start_handler("uploader")
    s1 = bus.append("round_begin", 3)
    s2 = bus.append("new_tournament_data", 3)
    bus.wait_acked("uploader", s1)
    wait_for(lambda: bus.handler_status("model").get("in_flight") == s2, what="model to be busy with s2")
    status = bus.handler_status("uploader")
    assert (status["acked_seq"], status["in_flight"], status["waiting_on"]) == (s1, None, ["model"])
    released = time.monotonic()  # CLOCK_MONOTONIC is shared by every process on the machine
    bus.release("model")
    bus.wait_acked("uploader", s2)
    uploader_got = next(r["t"] for r in bus.records("uploader") if r.get("seq") == s2)
    assert uploader_got > released


def test_serial_gives_nobody_event_n_plus_1_before_everyone_finished_n(bus: Bus) -> None:
    bus.bus_settings["serial"] = True
    bus.add_handler("a", options={"block_kind": "round_begin"})
    bus.add_handler("b")
    bus.start_supervisor()
    bus.start_handler("a")
    bus.start_handler("b")
    s1 = bus.append("round_begin", 4)
    s2 = bus.append("new_tournament_data", 4)
    bus.wait_acked("b", s1)
    wait_for(lambda: bus.handler_status("a").get("in_flight") == s1, what="a to be busy with s1")
    status = bus.handler_status("b")
    assert (status["acked_seq"], status["in_flight"], status["waiting_on"]) == (s1, None, ["a"])
    released = time.monotonic()
    bus.release("a")
    bus.wait_acked("b", s2)
    bus.wait_acked("a", s2)
    b_got_s2 = next(r["t"] for r in bus.records("b") if r.get("seq") == s2)
    assert b_got_s2 > released
