"""atheris targets for bench/chaosrun/bad_input.py's long run: ``python -m bench.chaosrun.fuzz_targets
frames|control -runs=N``.

``frames``: the bus's frame decoder (:func:`numeraud.common.protocol.decode`) must answer any bytes
with a message or a :class:`~numeraud.common.protocol.ProtocolError`, nothing else.
``control``: a real supervisor (its store, sockets, dispatcher, in a temporary directory) answers
each input as its loop answers a control request (:func:`~numeraud.supervisor.control_plane.reply_to`
with the commands run on it); the reply must be a JSON envelope and never ``internal`` (an
exception escaping a command), and garbage must not move the log's head.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports():
    from numeraud.common import config_file, protocol
    from numeraud.control.commands import dispatch
    from numeraud.supervisor.control_plane import reply_to
    from numeraud.supervisor.loop import Supervisor

from numeraud.common.logs import get_logger


def _frames(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    frames = [fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512)) for _ in range(fdp.ConsumeIntInRange(0, 5))]
    if fdp.ConsumeBool() and frames:
        frames[0] = protocol.PROTOCOL
    if fdp.ConsumeBool() and len(frames) > 1:
        frames[1] = fdp.PickValueInList([v.value for v in protocol.Verb]).encode()
    try:
        protocol.decode(frames)
    except protocol.ProtocolError as exc:
        if exc.code not in protocol.ERROR_CODES:
            raise


class _Control:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ncf-", dir="/tmp"))
        cfg = config_file.parse(
            {
                "paths": {"state_dir": str(self.root / "s"), "runtime_dir": str(self.root / "r")},
                "poll": {"enabled": False},
                "handlers": {"a": {"class": "m:C"}},
            }
        )
        self.supervisor = Supervisor(cfg, log=get_logger("fuzz"))
        self.supervisor.start()
        self.head = self.supervisor._dispatcher().head

    def __call__(self, data: bytes) -> None:
        sup = self.supervisor
        reply: Any = json.loads(reply_to(sup.log, data, lambda command, args: dispatch(sup, command, args)))
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            raise AssertionError(f"not an envelope: {reply!r}")
        if reply.get("error", {}).get("code") == "internal":
            raise AssertionError(f"internal error for {data[:200]!r}: {reply}")
        is_append = b"append" in data
        if not is_append and sup._dispatcher().head != self.head:
            raise AssertionError(f"garbage moved the log's head: {data[:200]!r}")
        self.head = sup._dispatcher().head

    def close(self) -> None:
        self.supervisor.close()
        shutil.rmtree(self.root, ignore_errors=True)


def main() -> None:
    target, argv = sys.argv[1], [sys.argv[0], *sys.argv[2:]]
    if target == "frames":
        atheris.Setup(argv, _frames)
        atheris.Fuzz()
    control = _Control()
    try:
        atheris.Setup(argv, control)
        atheris.Fuzz()
    finally:
        control.close()


if __name__ == "__main__":
    main()
