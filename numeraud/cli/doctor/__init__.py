"""``numeraud doctor``: everything a new installation needs before it goes live, one line per check.

The checks, in order (each module's docstring says exactly what it looks at):

========================  ===========================================================================
python, packages          :mod:`numeraud.cli.doctor.install`: Python and the installed requirements
config, handlers          the configuration loads; every handler class imports
state_dir, data_dir,      :mod:`numeraud.cli.doctor.host`: the directories exist or can be created,
runtime_dir               belong to us (or the service user), have sane modes, are writable
control                   the supervisor's control socket answers (skipped when it is not running)
systemd, units, ntp       :mod:`numeraud.cli.doctor.services`: the service manager, the units enabled,
                          the clock synchronised
numerai, clock            :mod:`numeraud.cli.doctor.remote`: ``[numerai] api_url`` answers; our clock
                          against its ``Date`` header
datasets, disk            the configured files exist at Numerai; room for them plus the reserve
keys, account,            :mod:`numeraud.cli.doctor.keys`: the uploader's keys are there, accepted, may
upload_scope, models      upload, and the mapped models are the account's
========================  ===========================================================================

A check that does not apply (no systemd, no running supervisor) or cannot run (Numerai did not
answer, so the keys cannot be asked about) is skipped, and says why. No check raises: a check
that breaks is itself reported as a failed line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from numeraud.cli.doctor import host, install, keys, remote, services
from numeraud.cli.doctor.base import Check, CheckResult, Doctor, Status, failed

#: Exit codes of ``numeraud doctor``.
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

#: (name for a check that breaks, check), in report order.
CHECKS: Final[Sequence[tuple[str, Check]]] = (
    ("python", install.check_python),
    ("packages", install.check_packages),
    ("config", install.check_config),
    ("handlers", install.check_handler_classes),
    ("directories", host.check_directories),
    ("control", host.check_control),
    ("systemd", services.check_systemd),
    ("units", services.check_units),
    ("ntp", services.check_ntp),
    ("numerai", remote.check_numerai),
    ("clock", remote.check_clock),
    ("datasets", remote.check_datasets),
    ("disk", remote.check_disk),
    ("keys", keys.check_keys),
)


def run_checks(doctor: Doctor, checks: Sequence[tuple[str, Check]] = CHECKS) -> list[CheckResult]:
    """Run every check in order; a check that raises becomes a failed line, never a traceback."""
    results: list[CheckResult] = []
    for name, check in checks:
        try:
            results += check(doctor)
        except (Exception, SystemExit) as exc:  # a bug, or user code run by an import: report it
            results.append(
                failed(
                    name,
                    f"the check itself broke: {type(exc).__name__}: {exc}",
                    "a numeraud bug or a broken installation: report this line",
                )
            )
    return results


def exit_code(results: Sequence[CheckResult]) -> int:
    """0 when no check failed, else 1."""
    return EXIT_FAILED if any(r.status is Status.FAIL for r in results) else EXIT_OK


__all__ = ["CHECKS", "EXIT_FAILED", "EXIT_OK", "CheckResult", "Doctor", "Status", "exit_code", "run_checks"]
