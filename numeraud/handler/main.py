"""``numeraud-handler NAME --config FILE``: run one handler process (``numeraud-handler@NAME``).

See :mod:`numeraud.handler.runtime` for the exit codes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from numeraud.common import logs
from numeraud.common.config import ConfigError
from numeraud.common.config_file import load
from numeraud.common.exitcodes import EX_CONFIG
from numeraud.common.processes import die_with_parent
from numeraud.handler.runtime import HandlerRuntime


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(prog="numeraud-handler", description=__doc__)
    parser.add_argument("name", help="the handler's name: its [handlers.NAME] table in the configuration")
    parser.add_argument("--config", help="TOML configuration (default /etc/numeraud/numeraud.toml)")
    parser.add_argument("--log-level", default=None, help="debug, info, warning, error (default info)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``numeraud-handler`` console script."""
    args = build_parser().parse_args(argv)
    die_with_parent()  # only when started by `numeraud run --spawn-handlers`
    logs.configure(level=args.log_level)
    log = logs.get_logger("handler", handler=args.name)
    try:
        config = load(args.config)
        runtime = HandlerRuntime(config, args.name, log=log)
    except ConfigError as exc:
        log.error("invalid configuration", error=str(exc), key=exc.key)
        print(f"numeraud-handler: {exc}", file=sys.stderr)
        return EX_CONFIG
    return runtime.run()


if __name__ == "__main__":
    sys.exit(main())
