"""The installation: Python and the packages numeraud requires, the configuration, the handler classes.

The requirements are read from the installed ``numeraud`` distribution's metadata
(``Requires-Python`` and ``Requires-Dist`` without extras), so the doctor checks exactly what pip
was asked to install, and compares versions with ``packaging``, as pip does.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from collections import Counter

from numeraud.cli.doctor.base import CheckResult, Doctor, failed, passed, skipped
from numeraud.common.config import ConfigError
from numeraud.common.config_file import load

DISTRIBUTION = "numeraud"
_NO_PACKAGING = "packaging is not installed, so requirements cannot be compared"
_FIX_PACKAGING = "pip install packaging"


def _distribution(name: str) -> importlib.metadata.Distribution | CheckResult:
    try:
        return importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return failed(
            name,
            f"the {DISTRIBUTION} distribution is not installed in {sys.prefix} (running from a source tree?)",
            "pip install -e . in the numeraud checkout (or pip install numeraud)",
        )


def check_python_of(dist: importlib.metadata.Distribution) -> CheckResult:
    """This interpreter against the distribution's ``Requires-Python``."""
    version = platform.python_version()
    spec = str(dist.metadata.json.get("requires_python", ""))
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet  # noqa: PLC0415 - optional until installed
    except ImportError:
        return failed("python", _NO_PACKAGING, _FIX_PACKAGING)
    try:
        satisfied = SpecifierSet(spec).contains(version, prereleases=True)
    except InvalidSpecifier:
        return failed("python", f"Requires-Python {spec!r} is not a version specifier", "reinstall numeraud")
    where = f"Python {version} ({sys.executable})"
    if not satisfied:
        return failed(
            "python",
            f"{where} does not satisfy {dist.metadata['Name']}'s Requires-Python {spec}",
            f"install numeraud into a virtual environment of a Python that satisfies {spec} (python3.11 -m venv ...)",
        )
    return passed("python", f"{where} satisfies Requires-Python {spec or '(any)'}")


def check_requirements_of(dist: importlib.metadata.Distribution) -> CheckResult:
    """Every ``Requires-Dist`` of the distribution (extras left out) against what is installed."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415
    except ImportError:
        return failed("packages", _NO_PACKAGING, _FIX_PACKAGING)
    problems: list[str] = []
    wanted: list[str] = []
    checked = 0
    for text in dist.requires or []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            problems.append(f"unreadable requirement {text!r}")
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra (test, lightgbm) or another platform's requirement
        checked += 1
        plain = f"{requirement.name}{requirement.specifier}"
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{requirement.name} is not installed (needs {requirement.specifier or 'any version'})")
            wanted.append(plain)
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{requirement.name} {installed} does not satisfy {requirement.specifier}")
            wanted.append(plain)
    name = dist.metadata["Name"]
    if problems:
        fix = f"pip install --upgrade {' '.join(repr(w) for w in wanted)}" if wanted else "reinstall numeraud"
        return failed("packages", f"{len(problems)} of {name}'s requirements unmet: {'; '.join(problems)}", fix)
    return passed("packages", f"all {checked} requirements of {name} {dist.version} are installed and satisfied")


def check_python(doctor: Doctor) -> list[CheckResult]:
    """Python's version against numeraud's ``Requires-Python``."""
    dist = _distribution("python")
    return [dist if isinstance(dist, CheckResult) else check_python_of(dist)]


def check_packages(doctor: Doctor) -> list[CheckResult]:
    """The installed packages against numeraud's requirements."""
    dist = _distribution("packages")
    return [dist if isinstance(dist, CheckResult) else check_requirements_of(dist)]


def check_config(doctor: Doctor) -> list[CheckResult]:
    """The configuration file parses and validates (:func:`numeraud.common.config_file.load`)."""
    try:
        loaded = load(doctor.config_path)
    except UnicodeDecodeError as exc:  # tomllib decodes the bytes before it parses them
        path = doctor.config_path or "the configuration file"
        doctor.no_config = f"the configuration did not load ({path})"
        return [failed("config", f"{path} is not UTF-8 text (byte {exc.start})", f"save {path} as UTF-8 TOML")]
    except ConfigError as exc:
        if exc.problem == "configuration file not found":
            fix = f"write one with `numeraud init --config {exc.path}`, or give --config FILE"
        elif exc.problem.startswith("cannot read"):
            fix = f"give --config a readable TOML file, not {exc.path} (`numeraud init --config FILE` writes one)"
        elif exc.key:
            fix = f"correct {exc.key} in {exc.path}; `numeraud check --config {exc.path}` validates it"
        else:
            fix = f"correct {exc.path}; `numeraud check --config {exc.path}` validates it"
        doctor.no_config = f"the configuration did not load ({exc.path})"
        return [failed("config", str(exc), fix)]
    doctor.config = loaded
    count = len(loaded.handlers)
    return [passed("config", f"{loaded.path} is valid: {count} handler(s), Numerai API {loaded.numerai.api_url}")]


def check_handler_classes(doctor: Doctor) -> list[CheckResult]:
    """Every ``[handlers.NAME] class`` imports and is an EventHandler, as the handler process will."""
    if doctor.config is None:
        return [skipped("handlers", doctor.no_config)]
    if not doctor.config.handlers:
        return [failed("handlers", "no [handlers.NAME] table: nothing would run", "run `numeraud init` for a start")]
    from numeraud.handler.runtime import load_handler_class  # noqa: PLC0415 - loads ZeroMQ

    problems: list[str] = []
    classes: Counter[str] = Counter()
    for handler in doctor.config.handlers.values():
        try:
            load_handler_class(doctor.config, handler)
        except ConfigError as exc:
            problems.append(str(exc.key) + ": " + exc.problem)
            continue
        classes[handler.class_path] += 1
    if problems:
        return [
            failed(
                "handlers",
                "; ".join(problems),
                f"correct the class paths in {doctor.config_file()}, or install the package that provides them",
            )
        ]
    listed = ", ".join(f"{path} x{n}" if n > 1 else path for path, n in sorted(classes.items()))
    return [passed("handlers", f"{sum(classes.values())} handler classes import: {listed}")]
