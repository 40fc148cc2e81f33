"""``numeraud sandbox``: run a local Numerai for dry runs, tests and benchmarks.

The first line on stdout is the base URL (``http://127.0.0.1:PORT``); give it to numeraud as
``[numerai] api_url`` or to numerapi as ``numerapi.base_api.API_TOURNAMENT_URL``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from datetime import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from numeraud.common import logs

if TYPE_CHECKING:
    from numeraud.sandbox import SandboxOptions

#: The dataset sizes of :mod:`numeraud.sandbox.datagen` (not imported here: it pulls in pandas,
#: and every ``numeraud`` command, ``run`` included, loads this module).
SIZES = ("tiny", "small", "full")


def _clock_time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time like 12:00") from exc


def _extra_key(text: str) -> tuple[str, str, tuple[str, ...] | None]:
    public, _, rest = text.partition(":")
    secret, has_scopes, scopes = rest.partition(":")
    if not public or not secret:
        raise argparse.ArgumentTypeError(f"{text!r} is not PUBLIC_ID:SECRET_KEY[:SCOPE,SCOPE...]")
    return public, secret, tuple(s.strip() for s in scopes.split(",") if s.strip()) if has_scopes else None


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``numeraud sandbox``."""
    parser = subparsers.add_parser(
        "sandbox",
        help="run a local Numerai that numerapi (and numeraud) can use",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, help="where dataset files live (default: a temporary dir)")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny", help="synthetic dataset size")
    parser.add_argument("--train-rows", type=int, help="training rows (mostly for --size full)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--public-id", default="sandbox-public", help="the account's public id")
    parser.add_argument("--secret-key", default="sandbox-secret", help="the account's secret key")
    parser.add_argument(
        "--extra-key",
        action="append",
        type=_extra_key,
        default=[],
        metavar="PUBLIC:SECRET[:SCOPES]",
        help="another key of the account, with comma-separated scopes (default upload_submission; "
        "an empty list, PUBLIC:SECRET:, gives a key that cannot upload); repeatable",
    )
    parser.add_argument(
        "--date-skew",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="shift the HTTP Date header, as if the clocks disagreed (for numeraud doctor)",
    )
    parser.add_argument(
        "--models",
        default="sandbox_model_1,sandbox_model_2,sandbox_model_3",
        help="comma-separated model names of the account",
    )
    parser.add_argument(
        "--signals-models",
        default="",
        help="comma-separated Signals (tournament 11) model names of the account (default none)",
    )
    parser.add_argument(
        "--crypto-models",
        default="",
        help="comma-separated Crypto (tournament 12) model names of the account (default none)",
    )
    parser.add_argument(
        "--signals-require-date",
        action="store_true",
        help="refuse a Signals file without a friday_date/date column (numerai-tools' assert_date_col)",
    )
    parser.add_argument(
        "--versions",
        default="v5.0,v5.1,v5.2,v5.3",
        help="comma-separated dataset versions published at start (default: the ones Numerai lists); "
        "each version's files are generated when first asked for",
    )
    parser.add_argument("--round", type=int, default=1, help="number of the round open at start")
    parser.add_argument(
        "--schedule",
        choices=("manual", "daily", "interval"),
        default=None,
        help="manual: rounds change only through /admin (default); daily: Numerai's Tue-Sat calendar; "
        "interval: a round every --round-every seconds (implied by --round-every)",
    )
    parser.add_argument("--round-every", type=float, help="compressed calendar: a round opens every N seconds")
    parser.add_argument("--window", type=float, default=3600.0, help="seconds a round stays open (manual/interval)")
    parser.add_argument(
        "--live-delay", type=float, default=0.0, help="seconds after a round's open before its live files are published"
    )
    parser.add_argument("--resolve-after", type=float, help="seconds after close (interval) or open (daily) to resolve")
    parser.add_argument("--open-at", type=_clock_time, default=time(12, 0), help="daily: UTC open time")
    parser.add_argument("--close-at", type=_clock_time, default=time(13, 0), help="daily: UTC close time")
    parser.add_argument(
        "--saturday-close-at",
        type=_clock_time,
        default=time(14, 0),
        help="daily: the Saturday round's close (Sunday)",
    )
    parser.set_defaults(func=run)


def options_from_args(args: argparse.Namespace, data_dir: Path) -> SandboxOptions:
    """Translate parsed flags into :class:`SandboxOptions`."""
    from numeraud.sandbox import SandboxOptions  # noqa: PLC0415 - see SIZES
    from numeraud.sandbox.options import SandboxKey  # noqa: PLC0415

    extra_keys = tuple(
        SandboxKey(public, secret, name=f"extra-{index}")
        if scopes is None
        else SandboxKey(public, secret, scopes, name=f"extra-{index}")
        for index, (public, secret, scopes) in enumerate(args.extra_key, start=1)
    )
    schedule = args.schedule or ("interval" if args.round_every else "manual")
    return SandboxOptions(
        data_dir=data_dir,
        size=args.size,
        seed=args.seed,
        train_rows=args.train_rows,
        public_id=args.public_id,
        secret_key=args.secret_key,
        models=_names(args.models),
        signals_models=_names(args.signals_models),
        crypto_models=_names(args.crypto_models),
        signals_require_date=args.signals_require_date,
        versions=tuple(v.strip() for v in args.versions.split(",") if v.strip()),
        first_round=args.round,
        schedule=schedule,
        window=args.window,
        round_every=args.round_every,
        resolve_after=args.resolve_after,
        open_at=args.open_at,
        close_at=args.close_at,
        saturday_close_at=args.saturday_close_at,
        extra_keys=extra_keys,
        date_skew=args.date_skew,
        live_delay=args.live_delay,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    from numeraud.sandbox import Sandbox  # noqa: PLC0415 - see SIZES
    from numeraud.sandbox.errors import AdminError  # noqa: PLC0415

    logs.configure(stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="numeraud-sandbox-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        logs.get_logger("sandbox").info("sandbox_generating_data", size=args.size, data_dir=str(data_dir))
        try:
            sandbox = Sandbox(options_from_args(args, data_dir), host=args.host, port=args.port)
        except (AdminError, ValueError) as exc:
            print(f"numeraud sandbox: {exc}", file=sys.stderr)
            return 2
        print(sandbox.url, flush=True)
        done = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            done.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        with sandbox:
            sandbox.log.info(
                "sandbox_ready",
                url=sandbox.url,
                data_dir=str(data_dir),
                models=sandbox.model_ids(),
                round=sandbox.core.current_round().number,
            )
            done.wait()
        return 0
