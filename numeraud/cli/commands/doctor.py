"""``numeraud doctor``: check an installation before it goes live, one line per check.

Each line is PASS, FAIL (with the fix) or SKIP (with the reason the check does not apply here):
Python and packages, the configuration, the handler classes, the directories, the supervisor's
control socket, systemd and the units, the clock, Numerai's API, the dataset files and the disk
they need, and the uploader's keys (accepted, allowed to upload, owning the mapped models).
The secret key is never printed.

Exit codes: 0 no check failed, 1 at least one check failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from numeraud.common.logs import scrub_text, secret_values

_LABELS = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``numeraud doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help="check the installation before going live",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", type=Path, help="the file (default: $NUMERAUD_CONFIG or /etc/numeraud/numeraud.toml)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run every check, print the report, exit 0 only when none failed."""
    from numeraud.common.config import NumeraiConfig  # noqa: PLC0415 - every numeraud command imports this module

    try:
        from numeraud.cli.doctor import Doctor, exit_code, run_checks  # noqa: PLC0415
    except ImportError as exc:  # a broken installation: say so in one line
        print(f"numeraud doctor: numeraud cannot load: {exc}; reinstall it (pip install -e .)", file=sys.stderr)
        return 1

    # numerapi logs each GraphQL error to stderr; the report already says what went wrong.
    logging.getLogger("numerapi").setLevel(logging.CRITICAL + 1)
    doctor = Doctor(config_path=args.config)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # handler modules it imports may print: keep stdout ours
            results = run_checks(doctor)
    except KeyboardInterrupt:
        print("numeraud doctor: interrupted", file=sys.stderr)
        return 130
    secrets = frozenset(s for s in doctor.secrets if len(s) >= 4) | secret_values(doctor.env)
    results = [
        replace(r, detail=scrub_text(r.detail, secrets), fix=scrub_text(r.fix, secrets) if r.fix else None)
        for r in results
    ]
    config = str(doctor.config.path if doctor.config is not None else doctor.config_path or "")
    code = exit_code(results)
    if args.json:
        counts = {status: sum(r.status.value == status for r in results) for status in _LABELS}
        document = {
            "ok": code == 0,
            "config": config or None,
            "counts": counts,
            "checks": [r.as_json() for r in results],
        }
        print(json.dumps(document, indent=2), flush=True)
        return code
    width = max(len(r.name) for r in results)
    for r in results:
        line = f"{_LABELS[r.status.value]}  {r.name:<{width}}  {r.detail}"
        if r.fix:
            line += f"  -> fix: {r.fix}"
        print(line, flush=True)
    failures = sum(r.status.value == "fail" for r in results)
    skips = sum(r.status.value == "skip" for r in results)
    verdict = f"{failures} problem(s) to fix"
    if code == 0:
        numerai = NumeraiConfig.api_url  # Numerai's own API, the default
        url = doctor.config.numerai.api_url if doctor.config is not None else numerai
        verdict = "ready to go live" if url == numerai else f"no problem found (a dry run: {url} is not Numerai)"
    print(f"{len(results)} checks: {failures} failed, {skips} skipped: {verdict}", flush=True)
    return code
