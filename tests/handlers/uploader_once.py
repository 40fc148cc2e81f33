"""One delivery to the bundled uploader in a process of its own (a test can SIGKILL it at a failpoint).

    python -m tests.handlers.uploader_once OPTIONS_JSON STATE_DIR EVENT_JSON

Builds ``UploaderHandler`` with the options, delivers the event through the runtime's callback
runner and prints what it emitted as one JSON line. The keys come from the environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from numeraud import testing
from numeraud.handler.sdk import HandlerContext, HandlerEvent, build_handler
from numeraud_handlers.uploader import UploaderHandler


def main(argv: list[str]) -> int:
    """Deliver the event once; 0 when it was handled without error."""
    options, state_dir, event = json.loads(argv[0]), Path(argv[1]), json.loads(argv[2])
    handler = build_handler(UploaderHandler, HandlerContext(name="uploader", options=options, state_dir=state_dir))
    assert isinstance(handler, UploaderHandler)
    handler.on_start()
    try:
        result = testing.deliver(handler, HandlerEvent(**event)).raise_for_error()
    finally:
        handler.on_shutdown()
    print(json.dumps([[e.kind, dict(e.payload)] for e in result.emitted]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
