"""``numeraud init``: write a commented starter configuration for your models.

With ``--sandbox URL`` the configuration points at a running ``numeraud sandbox`` and uses its
account (models and dummy keys), for a complete dry run: ``numeraud run --config FILE --spawn-handlers``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from numeraud.cli.starter import SANDBOX_KEYS, StarterOptions, render, runtime_dir_for, write_sandbox_keys
from numeraud.common.files import atomic_write


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``numeraud init``."""
    parser = subparsers.add_parser("init", help="write a starter configuration", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="file to write (default: /etc/numeraud/numeraud.toml as root, else ./numeraud.toml)"
    )
    parser.add_argument(
        "--dir", type=Path, help="state directory (default: /var/lib/numeraud as root, else ./numeraud-state)"
    )
    parser.add_argument("--models", help="comma-separated Numerai model names (default: the account's models)")
    parser.add_argument("--sandbox", metavar="URL", help="dry run against a numeraud sandbox at URL")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(func=run)


def _models(args: argparse.Namespace, api_url: str) -> tuple[str, ...]:
    if args.models:
        return tuple(m.strip().lower() for m in args.models.split(",") if m.strip())
    public, secret = (
        SANDBOX_KEYS if args.sandbox else (os.environ.get("NUMERAI_PUBLIC_ID"), os.environ.get("NUMERAI_SECRET_KEY"))
    )
    from numeraud.numerai.client import NumeraiClient, NumeraiError  # noqa: PLC0415 - numerapi is slow to import

    if not (public and secret):
        raise SystemExit(
            "numeraud init: give --models, or set NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY to list your models"
        )
    try:
        return tuple(sorted(NumeraiClient(api_url, public, secret).get_models()))
    except NumeraiError as exc:
        raise SystemExit(f"numeraud init: could not list the account's models at {api_url}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    """Write the file; exit 1 if it exists (without --force) or the models can't be found."""
    root = os.geteuid() == 0 and not args.sandbox
    config = (args.config or (Path("/etc/numeraud/numeraud.toml") if root else Path("numeraud.toml"))).absolute()
    state_dir = (args.dir or (Path("/var/lib/numeraud") if root else Path("numeraud-state"))).absolute()
    if config.exists() and not args.force:
        print(f"numeraud init: {config} exists (use --force to overwrite)", file=sys.stderr)
        return 1
    api_url = args.sandbox or "https://api-tournament.numer.ai"
    models = _models(args, api_url)
    if not models:
        print("numeraud init: the account has no models", file=sys.stderr)
        return 1
    key_files = write_sandbox_keys(state_dir / "sandbox-keys") if args.sandbox else None
    text = render(
        StarterOptions(
            models=models,
            api_url=api_url,
            state_dir=state_dir,
            runtime_dir=runtime_dir_for(state_dir),
            key_files=key_files,
            sandbox=bool(args.sandbox),
        )
    )
    atomic_write(config, text, mode=0o644)
    print(f"wrote {config} for {len(models)} model(s): {', '.join(models)}")
    print(f"next: numeraud run --config {config} --spawn-handlers")
    return 0
