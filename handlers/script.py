"""Run an existing script every round: a cron job's command or a Compute node's ``predict.py``, as it is.

Configure it in ``[handlers.NAME]``::

    [handlers.my-script]
    class = "numeraud_handlers.script:ScriptHandler"
    timeout = 7200       # the callback's own limit: more than options.timeout
    options = { command = ["python", "predict.py"], cwd = "/home/me/numerai", model = "my_model",
                timeout = 3600, env = { OMP_NUM_THREADS = "2" } }

On each round's ``new_tournament_data`` it runs ``command`` (a list of arguments, or a string split
as the shell would split it; no shell runs it: write ``["sh", "-c", "..."]`` for one) in ``cwd``,
in a session of its own, and waits for it up to ``timeout`` seconds (default 1800), after which its
whole process group is killed; if the handler's process dies meanwhile, the script gets SIGTERM.
Each line the script writes to stdout or stderr goes to the
handler's log (``child_output``). A non-zero exit or a timeout fails the event with the exit code
and the last lines of stderr, like any callback that raises: it is retried, and the uploader's
deadline guard gives the model its fallback. After exit 0 the predictions file the script wrote is
checked with Numerai's rules and announced as ``predictions_ready``: the uploader validates,
uploads it once per (round, Numerai model) and records it.

What the script finds in its environment (:func:`script_environment`):

``NUMERAUD_ROUND``        the round number
``NUMERAUD_DEADLINE``     the round's submission deadline (ISO 8601, UTC)
``NUMERAUD_OUTPUT``       where to write the predictions CSV (``id,prediction``); the directory exists
``NUMERAUD_MODEL``        the predictions' name (``options.model``, default the handler's name)
``NUMERAUD_DATA_VERSION`` the dataset version of the round's files (``v5.2``)
``NUMERAUD_DATA_DIR``     the directory of that version's synced files
``NUMERAUD_LIVE``         the round's live file (verified), and likewise for each other synced file
                          that is on disk: ``NUMERAUD_FEATURES`` (features.json), ``NUMERAUD_TRAIN``,
                          ``NUMERAUD_VALIDATION``, ``NUMERAUD_META_MODEL``,
                          ``NUMERAUD_LIVE_BENCHMARK_MODELS``, ... (the file name without its
                          extension, upper-case)
``NUMERAUD_API_URL``      ``[numerai] api_url``: Numerai's, or the sandbox's for a dry run

plus the handler's own environment without its secrets: no variable whose name says SECRET,
PASSWORD, TOKEN, PRIVATE or NOTIFY_URLS, no ``NUMERAI_PUBLIC_ID``, no ``CREDENTIALS_DIRECTORY``
and none of numeraud's own ``NUMERAUD_*``. numeraud uploads, so the script needs no keys; one that
does must be given them by name: ``env = { NUMERAI_SECRET_KEY = true }`` passes the handler's value
on (a value in the configuration file itself would put a secret in it). Other ``env`` entries
(``NAME = "value"``) are set as given. Secret values are scrubbed from the lines logged.

``predictions`` (the output path) defaults to ``predictions/{model}_round_{round}.csv`` in the
handler's state directory; ``{round}``, ``{model}`` and ``{name}`` (the handler's) are filled in,
and a relative path is taken from the state directory. Any file there before the run is removed
first, so an old round's file is never taken for this round's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from numeraud import EventHandler

from .child import is_secret_name, run_logged
from .data import DataError
from .predictions import announce, validate_file

DEFAULT_TIMEOUT = 1800.0
DEFAULT_PREDICTIONS = "predictions/{model}_round_{round}.csv"


class ScriptError(RuntimeError):
    """The script could not make this round's predictions; the message says why."""


def _withheld(name: str) -> bool:
    upper = name.upper()
    return is_secret_name(name) or upper.startswith("NUMERAUD_") or upper == "NOTIFY_SOCKET"


def file_variable(name: str) -> str:
    """The variable of a synced file: ``live_benchmark_models.parquet`` → ``NUMERAUD_LIVE_BENCHMARK_MODELS``."""
    stem = name.rsplit(".", 1)[0]
    return "NUMERAUD_" + re.sub(r"[^A-Za-z0-9]", "_", stem).upper()


def script_environment(
    inherited: Mapping[str, str], extra: Mapping[str, Any], payload: Mapping[str, Any], **known: str
) -> dict[str, str]:
    """The script's environment: ``inherited`` without secrets, the round's ``NUMERAUD_*`` values from
    the event ``payload`` and ``known`` (round, output, ...), then the user's ``extra`` (``env``)."""
    env = {k: v for k, v in inherited.items() if not _withheld(k)}
    for group in ("training_files", "live_files"):
        files = payload.get(group)
        if isinstance(files, Mapping):
            env.update({file_variable(n): str(p) for n, p in files.items() if Path(str(p)).is_file()})
    for key, value in known.items():
        if value:
            env[f"NUMERAUD_{key.upper()}"] = value
    for name, value in extra.items():
        if value is True:
            if name in inherited:
                env[name] = inherited[name]
        else:
            env[name] = str(value)
    return env


class ScriptHandler(EventHandler):
    """Runs the user's command every round and uploads what it wrote (see the module docstring)."""

    def on_start(self) -> None:
        """Check the options early, so a typo fails at start, not at the first round."""
        command = self.command
        env = self.options.get("env", {})
        if not isinstance(env, Mapping) or not all(
            v is True or (isinstance(v, str | int | float) and not isinstance(v, bool)) for v in env.values()
        ):
            raise ScriptError('options.env: must be a table of NAME = "value" (or NAME = true to pass it on)')
        absent = sorted(name for name, value in env.items() if value is True and name not in os.environ)
        if absent:
            self.log.warning("script_env_absent", names=absent, reason="listed to pass on, but not set here")
        cwd = self.cwd
        if cwd is not None and not cwd.is_dir():
            raise ScriptError(f"options.cwd: {cwd} is not a directory")
        program = command[0]
        base = cwd or self.state_dir or Path.cwd()
        found = (base / program).is_file() if "/" in program else shutil.which(program) is not None
        if not found:
            raise ScriptError(f"options.command: {program!r} is not found (in {base} or on PATH)")
        if not self.timeout > 0:
            raise ScriptError("options.timeout: must be a positive number of seconds")
        self.output(0)  # the template's fields
        self.log.info("script_ready", command=command, cwd=str(cwd) if cwd else None, timeout=self.timeout)

    @property
    def command(self) -> list[str]:
        """``options.command`` as a list of arguments."""
        raw = self.options.get("command")
        if isinstance(raw, str):
            try:
                raw = shlex.split(raw)
            except ValueError as exc:
                raise ScriptError(f"options.command: {exc}") from exc
        if not isinstance(raw, list) or not raw or not all(isinstance(a, str) and a for a in raw):
            raise ScriptError("options.command: the command to run, as a list of arguments or a string, is required")
        return raw

    @property
    def cwd(self) -> Path | None:
        """The directory the script runs in (``options.cwd``; default the handler's state directory)."""
        raw = self.options.get("cwd")
        return Path(str(raw)).expanduser() if raw else None

    @property
    def model_name(self) -> str:
        """The name this handler's predictions go by (the uploader maps it to Numerai models)."""
        return str(self.options.get("model", self.name))

    @property
    def timeout(self) -> float:
        """Seconds the script may run."""
        return float(self.options.get("timeout", DEFAULT_TIMEOUT))

    def output(self, round_number: int) -> Path:
        """Where the script is to write round ``round_number``'s predictions."""
        template = str(self.options.get("predictions", DEFAULT_PREDICTIONS))
        try:
            text = template.format(round=round_number, model=self.model_name, name=self.name)
        except (KeyError, IndexError, ValueError) as exc:
            raise ScriptError(
                f"options.predictions: {template!r} has an unknown field ({exc}); use {{round}}, {{model}}, {{name}}"
            ) from exc
        path = Path(text).expanduser()
        return path if path.is_absolute() else (self.state_dir or Path.cwd()) / path

    def on_new_tournament_data(self, round_number: int) -> None:
        """Run the script for this round and announce the predictions it wrote."""
        payload = self.event.payload if self.event is not None else {}
        live_files = payload.get("live_files")
        if not isinstance(live_files, Mapping) or "live.parquet" not in live_files:
            raise ScriptError(f"round {round_number}: the event carries no live_files")
        live = Path(str(live_files["live.parquet"]))
        output = self.output(round_number)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.unlink(missing_ok=True)
        env = script_environment(
            os.environ,
            dict(self.options.get("env", {})),
            payload,
            round=str(round_number),
            deadline=str(payload.get("deadline") or ""),
            output=str(output),
            model=self.model_name,
            data_version=str(payload.get("version") or ""),
            data_dir=str(live.parent),
            api_url=self.numerai_api_url or "",
        )
        cwd = self.cwd or self.state_dir
        self.log.info("script_running", command=self.command, cwd=str(cwd), output=str(output))
        finished = run_logged(self.command, env=env, cwd=cwd, timeout=self.timeout, log=self.log)
        if finished.timed_out or finished.returncode != 0:
            raise ScriptError(f"round {round_number}: {finished.describe('the script', self.timeout)}")
        if not output.is_file():
            raise ScriptError(
                f"round {round_number}: the script exited 0 but wrote no predictions to {output} (NUMERAUD_OUTPUT)"
            )
        try:
            validated = validate_file(output, live)
        except (OSError, DataError, ValueError) as exc:
            raise ScriptError(f"round {round_number}: the script's predictions were refused: {exc}") from exc
        self.log.info("predictions_written", rows=validated.rows, path=str(output), seconds=round(finished.seconds, 1))
        announce(
            self,
            round_number=round_number,
            model=self.model_name,
            path=output,
            live_path=str(live),
            rows=validated.rows,
        )
