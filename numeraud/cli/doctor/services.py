"""systemd: time synchronisation, the service manager, and numeraud's units.

numeraud runs as a service when its units are installed (``systemd/`` for the system manager,
``systemd/user/`` for ``systemctl --user``). Then ``numeraud.target`` and one
``numeraud-handler@NAME`` instance per ``[handlers.NAME]`` must be enabled (``numeraud.service``
comes with the target's ``Wants=``). Without systemd (a laptop, a container) or without the units,
these checks are skipped, with the reason: ``numeraud run --spawn-handlers`` manages the handlers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from numeraud.cli.doctor.base import CheckResult, Doctor, failed, passed, skipped

UNITS: Final = ("numeraud.service", "numeraud-handler@.service", "numeraud.target")
SYSTEM_UNIT_DIRS: Final = (
    Path("/etc/systemd/system"),
    Path("/usr/local/lib/systemd/system"),
    Path("/usr/lib/systemd/system"),
    Path("/lib/systemd/system"),
)
#: ``systemctl is-enabled`` answers that mean "starts with its target".
ENABLED: Final = frozenset({"enabled", "enabled-runtime", "static", "generated", "alias"})
COMMAND_TIMEOUT: Final = 15.0


def _run(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str] | str:
    """Run a systemd tool; the completed process, or why it could not run."""
    if shutil.which(argv[0], path=env.get("PATH")) is None:
        return f"{argv[0]} is not installed"
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False, env=dict(env)
        )
    except subprocess.TimeoutExpired:
        return f"{' '.join(argv)} did not answer within {COMMAND_TIMEOUT:g} s"
    except OSError as exc:
        return f"cannot run {argv[0]}: {exc.strerror}"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")


def check_ntp(doctor: Doctor) -> list[CheckResult]:
    """``timedatectl show``: NTPSynchronized=yes."""
    done = _run(["timedatectl", "show", "--property=NTPSynchronized", "--value"], doctor.env)
    if isinstance(done, str):
        return [skipped("ntp", f"{done}; cannot ask systemd whether the clock is synchronised")]
    if done.returncode != 0:
        reason = _first_line(done.stderr or done.stdout)
        return [skipped("ntp", f"timedatectl cannot ask systemd-timedated ({reason})")]
    answer = done.stdout.strip()
    if answer == "yes":
        return [passed("ntp", "timedatectl: the system clock is synchronised (NTPSynchronized=yes)")]
    return [
        failed(
            "ntp",
            f"timedatectl: the system clock is not synchronised (NTPSynchronized={answer or '?'})",
            "turn on time synchronisation: timedatectl set-ntp true (systemd-timesyncd), or run chrony",
        )
    ]


def _pid1() -> str:
    try:
        return Path("/proc/1/comm").read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"


def system_manager() -> bool:
    """Whether systemd is PID 1 (``sd_booted()``: /run/systemd/system exists)."""
    return os.path.isdir("/run/systemd/system")


def user_manager(env: Mapping[str, str]) -> bool:
    """Whether a ``systemd --user`` manager listens for this user (``$XDG_RUNTIME_DIR/systemd/private``)."""
    runtime = env.get("XDG_RUNTIME_DIR")
    return bool(runtime) and os.path.exists(Path(runtime or "", "systemd", "private"))


def user_unit_dirs(env: Mapping[str, str]) -> tuple[Path, ...]:
    """Where ``systemctl --user`` finds units, the user's own directory first."""
    config_home = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return (
        Path(config_home) / "systemd" / "user",
        Path("/etc/systemd/user"),
        Path("/usr/local/lib/systemd/user"),
        Path("/usr/lib/systemd/user"),
    )


def check_systemd(doctor: Doctor) -> list[CheckResult]:
    """Is there a systemd manager to run numeraud as a service?"""
    user = user_manager(doctor.env)
    if system_manager():
        also = " and a user manager runs for this user" if user else ""
        return [passed("systemd", f"systemd is PID 1{also}")]
    if user:
        return [passed("systemd", f"a systemd user manager runs ({doctor.env.get('XDG_RUNTIME_DIR')}/systemd)")]
    return [
        skipped(
            "systemd",
            f"PID 1 is {_pid1()}, not systemd, and no user manager runs: numeraud does not run as a service "
            "here (`numeraud run --spawn-handlers` starts the handlers itself)",
        )
    ]


@dataclass(frozen=True)
class _Installation:
    scope: str  # "system" or "user"
    running: bool
    found: dict[str, Path]

    @property
    def systemctl(self) -> list[str]:
        return ["systemctl", "--user"] if self.scope == "user" else ["systemctl"]


def _installations(env: Mapping[str, str]) -> list[_Installation]:
    found = []
    for scope, running, dirs in (
        ("system", system_manager(), SYSTEM_UNIT_DIRS),
        ("user", user_manager(env), user_unit_dirs(env)),
    ):
        units = {}
        for unit in UNITS:
            path = next((d / unit for d in dirs if os.path.isfile(d / unit)), None)
            if path is not None:
                units[unit] = path
        if units:
            found.append(_Installation(scope, running, units))
    return found


def check_units(doctor: Doctor) -> list[CheckResult]:
    """numeraud's units are installed completely and enabled: the target and one instance per handler."""
    installations = _installations(doctor.env)
    if not installations:
        return [
            skipped(
                "units",
                "numeraud's systemd units are not installed (systemd/README.md shows how): not run as a service",
            )
        ]
    results = []
    for inst in installations:
        where = sorted({str(path.parent) for path in inst.found.values()})
        name = "units" if len(installations) == 1 else f"units.{inst.scope}"
        if not inst.running:
            results.append(
                skipped(
                    name, f"{inst.scope} units are installed in {', '.join(where)} but no {inst.scope} manager runs"
                )
            )
            continue
        missing = [unit for unit in UNITS if unit not in inst.found]
        if missing:
            source = "systemd/user/" if inst.scope == "user" else "systemd/"
            results.append(
                failed(
                    name,
                    f"{', '.join(missing)} missing ({', '.join(inst.found)} found in {', '.join(where)})",
                    f"install {' '.join(source + unit for unit in missing)} into {where[0]}, "
                    f"then {' '.join(inst.systemctl)} daemon-reload",
                )
            )
            continue
        handlers = sorted(doctor.config.handlers) if doctor.config is not None else []
        wanted = ["numeraud.target", *(f"numeraud-handler@{h}.service" for h in handlers)]
        done = _run([*inst.systemctl, "is-enabled", *wanted], doctor.env)
        if isinstance(done, str):
            results.append(failed(name, done, "install systemd's systemctl"))
            continue
        answers = done.stdout.split()
        if len(answers) != len(wanted):
            reason = _first_line(done.stderr or done.stdout)
            results.append(failed(name, f"systemctl is-enabled failed: {reason}", "see `systemctl status`"))
            continue
        off = [(unit, state) for unit, state in zip(wanted, answers, strict=True) if state not in ENABLED]
        if off:
            listed = ", ".join(f"{unit} ({state})" for unit, state in off)
            enable = " ".join(unit.removesuffix(".service") for unit, _ in off)
            results.append(failed(name, f"not enabled: {listed}", f"{' '.join(inst.systemctl)} enable --now {enable}"))
            continue
        note = "" if doctor.config is not None else " (handler instances not checked: no configuration)"
        results.append(
            passed(
                name,
                f"{inst.scope} units in {', '.join(where)}; numeraud.target and {len(handlers)} handler "
                f"instance(s) enabled{note}",
            )
        )
    return results
