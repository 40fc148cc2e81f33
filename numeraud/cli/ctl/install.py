"""``numeraudctl install``: the systemd units, and for a system install the sysusers and tmpfiles entries.

System (root): ``/etc/systemd/system/{numeraud.service,numeraud-handler@.service,numeraud.target}``,
``/etc/sysusers.d/numeraud.conf``, ``/etc/tmpfiles.d/numeraud.conf``; then ``systemd-sysusers``,
``systemd-tmpfiles --create``, ``systemctl daemon-reload`` and ``systemctl enable`` of the target
and one ``numeraud-handler@NAME`` per ``[handlers.NAME]``. ``--user``: the user units into
``$XDG_CONFIG_HOME/systemd/user`` (``~/.config/systemd/user``), then ``systemctl --user
daemon-reload`` and ``enable``. The units come from numeraud's ``systemd/`` directory (the source
tree, or ``<prefix>/share/numeraud/systemd`` from a wheel); their ``ExecStart=`` is pointed at the
``numeraud`` scripts of this installation, and at ``--config`` when one is given. Every file written
and every command run is printed, then the command to start it all. ``--dry-run`` prints the
same and changes nothing; ``--root DIR`` writes under DIR and runs nothing (an image).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numeraud
from numeraud.cli.ctl.output import Output, error
from numeraud.cli.ctl.parser import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from numeraud.common.config import ConfigError
from numeraud.common.config_file import DEFAULT_PATH, load

UNITS: Final = ("numeraud.service", "numeraud-handler@.service", "numeraud.target")
#: Where the units' ExecStart= expect the scripts, system and user.
DEFAULT_BIN: Final = {False: "/usr/local/bin/", True: "%h/.local/bin/"}
DEFAULT_CONFIG: Final = {False: "/etc/numeraud/numeraud.toml", True: "%E/numeraud/numeraud.toml"}


@dataclass(frozen=True)
class Plan:
    """What an install writes (path → text) and runs."""

    files: dict[Path, str]
    commands: list[list[str]]
    start: list[str]


def units_dir(given: str | None) -> Path | None:
    """numeraud's ``systemd/`` directory: ``--units``, the source tree, or the wheel's share/."""
    candidates = [Path(given)] if given else []
    candidates += [
        Path(numeraud.__file__).resolve().parents[1] / "systemd",
        Path(sys.prefix) / "share/numeraud/systemd",
    ]
    return next((c for c in candidates if (c / "numeraud.service").is_file()), None)


def scripts_dir() -> Path | None:
    """The directory of this installation's ``numeraud`` script."""
    here = Path(sysconfig.get_path("scripts"))
    if (here / "numeraud").exists():
        return here
    found = shutil.which("numeraud")
    return Path(found).parent if found else None


def _adapt(text: str, *, user: bool, bindir: Path | None, config: Path | None) -> str:
    if bindir is not None:
        text = text.replace(DEFAULT_BIN[user], f"{bindir}/")
    if config is not None:
        text = text.replace(f"NUMERAUD_CONFIG={DEFAULT_CONFIG[user]}", f"NUMERAUD_CONFIG={config}")
    return text


def plan(args: argparse.Namespace, source: Path, handlers: list[str], config: Path | None) -> Plan:
    """The files and commands of this install."""
    user, root = bool(args.user), Path(args.root) if args.root else None
    bindir = scripts_dir()
    files: dict[Path, str] = {}
    if user:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        target = base / "systemd" / "user"
        if root is not None:
            target = root / target.relative_to(target.anchor)
        for name in UNITS:
            files[target / name] = _adapt((source / "user" / name).read_text(), user=True, bindir=bindir, config=config)
    else:
        prefix = root if root is not None else Path("/")
        for name in UNITS:
            files[prefix / "etc/systemd/system" / name] = _adapt(
                (source / name).read_text(), user=False, bindir=bindir, config=config
            )
        files[prefix / "etc/sysusers.d/numeraud.conf"] = (source / "numeraud.sysusers").read_text()
        files[prefix / "etc/tmpfiles.d/numeraud.conf"] = (source / "numeraud.tmpfiles").read_text()
    systemctl = ["systemctl", *(["--user"] if user else [])]
    enable = [*systemctl, "enable", "numeraud.target", *(f"numeraud-handler@{h}.service" for h in handlers)]
    commands: list[list[str]] = []
    if root is None:
        if not user:
            commands += [["systemd-sysusers", "numeraud.conf"], ["systemd-tmpfiles", "--create", "numeraud.conf"]]
        commands += [[*systemctl, "daemon-reload"], enable]
    start = [*systemctl, "start", "numeraud.target"]
    return Plan(files, commands, start)


def run(args: argparse.Namespace, out: Output) -> int:
    """Install (see the module docstring)."""
    source = units_dir(args.units)
    if source is None:
        error("cannot find numeraud's systemd/ unit files; give their directory with --units DIR")
        return EXIT_FAILED
    config_path = Path(args.config).resolve() if args.config else None
    handlers: list[str] = []
    user_config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "numeraud/numeraud.toml"
    wanted = config_path or (user_config if args.user else DEFAULT_PATH)
    if wanted is not None and (config_path is not None or wanted.exists()):
        try:
            handlers = sorted(load(wanted).handlers)
        except ConfigError as exc:
            error(str(exc))
            return EXIT_CONFIG
    the_plan = plan(args, source, handlers, config_path)
    verb = "would write" if args.dry_run else "wrote"
    for path, text in the_plan.files.items():
        if not args.dry_run:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                path.chmod(0o644)
            except OSError as exc:
                error(
                    f"cannot write {path}: {exc.strerror or exc}"
                    + ("" if args.user else " (a system install needs root; or --user)")
                )
                return EXIT_FAILED
        out.line(f"{verb} {path}")
    for argv in the_plan.commands:
        out.line(f"{'would run' if args.dry_run else 'ran'} {' '.join(argv)}")
        if args.dry_run:
            continue
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            error(f"{' '.join(argv)} failed: {exc}")
            return EXIT_FAILED
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            error(f"{' '.join(argv)} failed ({done.returncode}): {said[-1] if said else 'no message'}")
            return EXIT_FAILED
    if not handlers:
        out.line("no [handlers.*] in the configuration yet: enable each with numeraud-handler@NAME")
    if args.root:
        out.line(f"nothing run under --root; on that system: {' '.join(the_plan.start)}")
    else:
        out.line(f"next: {' '.join(the_plan.start)}")
    if args.user and not args.root:
        out.line('to keep it running while you are logged out: loginctl enable-linger "$USER"')
    return EXIT_OK
