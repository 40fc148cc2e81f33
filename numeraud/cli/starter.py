"""The commented starter configuration that ``numeraud init`` writes."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import tomlkit

from numeraud import __version__


@dataclass(frozen=True)
class StarterOptions:
    """What varies between starter configs."""

    models: tuple[str, ...]
    api_url: str
    state_dir: Path
    runtime_dir: Path
    key_files: tuple[Path, Path] | None = None
    sandbox: bool = False
    idle_interval: float = 60
    fast_interval: float = 2
    #: More options for some models' handlers, by Numerai model name (the demo's slow trainer).
    model_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


#: ZeroMQ ipc:// paths must fit a sockaddr_un (108 bytes); keep room for "control.sock".
MAX_RUNTIME_DIR = 90


def runtime_dir_for(state_dir: Path) -> Path:
    """Where the sockets go: /run/numeraud for a root install, else ``state_dir/run`` if short enough."""
    if os.geteuid() == 0 and state_dir == Path("/var/lib/numeraud"):
        return Path("/run/numeraud")
    preferred = state_dir / "run"
    if len(str(preferred)) <= MAX_RUNTIME_DIR:
        return preferred
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:10]
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp")  # noqa: S108 - a short path for sockets, mode 0750
    return base / f"numeraud-{digest}"


#: The sandbox's account keys (dummy values, not secrets).
SANDBOX_KEYS = ("sandbox-public", "sandbox-secret")


def write_sandbox_keys(keys_dir: Path) -> tuple[Path, Path]:
    """Write the sandbox's keys as the uploader's key files (mode 0600); returns their paths.

    The state directory above them is created as the supervisor creates it: mode 0750.
    """
    keys_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    keys_dir.mkdir(exist_ok=True, mode=0o700)
    key_files = (keys_dir / "public_id", keys_dir / "secret_key")
    for path, value in zip(key_files, SANDBOX_KEYS, strict=True):
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)
    return key_files


def handler_name(model: str) -> str:
    """The handler name for a Numerai model: ``model-<name>`` (letters, digits, ``-``, ``_``, ``.``)."""
    return "model-" + re.sub(r"[^A-Za-z0-9_.-]", "-", model)[:57]


def _toml(value: object) -> str:
    """``value`` as a TOML value, written by tomlkit (any Unicode kept as is, quotes escaped).

    ``json.dumps`` is not TOML: it writes a character outside the BMP (an emoji in a directory
    name) as a surrogate pair, ``\\ud83d\\ude00``, which TOML (and ``tomllib``) rejects.
    """
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        table.update(value)
        return table.as_string().strip()
    return tomlkit.item(value).as_string()


def render(options: StarterOptions) -> str:
    """The starter configuration as TOML text, with comments (every value written by tomlkit)."""
    feature_sets = ["medium", "small", "all"]
    lines = [
        f"# numeraud configuration, written by `numeraud init` (numeraud {__version__}) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "# Check it with `numeraud check --config THIS_FILE`. Secrets never go in this file.",
        "",
        "[numerai]",
        "# Numerai's API; a `numeraud sandbox` URL for a dry run.",
        f"api_url = {_toml(options.api_url)}",
        "tournament = 8",
        "",
        "[paths]",
        f"state_dir = {_toml(options.state_dir)}      # event log, handler state, models",
        f"runtime_dir = {_toml(options.runtime_dir)}  # the bus and control sockets (mode 0750)",
        f"data_dir = {_toml(options.state_dir / 'data')}  # synced dataset files",
        "",
        "[data]",
        '# "latest" follows Numerai to each new dataset version (and retrains); or pin one, e.g. "v5.2".',
        'version = "latest"',
        'training_files = ["features.json", "train.parquet", "validation.parquet", "meta_model.parquet"]',
        'live_files = ["live.parquet"]',
        "retention = 10             # rounds of live files kept on disk",
        "validation_updates = false # true: Numerai's weekly validation update also retrains",
        "",
        "[poll]",
        f"idle_interval = {options.idle_interval:g}   # seconds between polls while no round is due",
        f"fast_interval = {options.fast_interval:g}    # seconds between polls around an expected round open",
        "guard_margin = 600    # round_deadline_near this long before each deadline (at most 1/6 of the window)",
        "",
    ]
    for index, model in enumerate(options.models):
        name = handler_name(model)
        params = (
            "{ max_iter = 60, learning_rate = 0.1, max_leaf_nodes = 15, random_state = 0 }"
            if options.sandbox
            else "{ max_iter = 300, learning_rate = 0.05, max_leaf_nodes = 31, min_samples_leaf = 200 }"
        )
        extra = "".join(f", {key} = {_toml(value)}" for key, value in options.model_options.get(model, {}).items())
        lines += [
            f"# Trains and predicts for the Numerai model {model!r}; its own process, memory and unit.",
            f"[handlers.{name}]",
            'class = "numeraud_handlers.model:ModelHandler"',
            "timeout = 21600       # seconds a callback may run before the process is replaced",
            "max_attempts = 3",
            f'options = {{ model = {_toml(model)}, feature_set = "{feature_sets[index % len(feature_sets)]}", '
            f'era_step = {1 if options.sandbox else 4}, estimator = "sklearn.ensemble:HistGradientBoostingRegressor", '
            f"params = {params}{extra} }}",
            "",
        ]
    mapping = ", ".join(f"{_toml(model)} = {_toml(model)}" for model in options.models)
    uploader_options = [f"models = {{ {mapping} }}"]
    if options.key_files is not None:
        uploader_options += [
            f"public_id_file = {_toml(options.key_files[0])}",
            f"secret_key_file = {_toml(options.key_files[1])}",
        ]
    uploader_options.append('fallback = "example"')
    lines += [
        "# Validates and uploads every model's predictions, once per round, and confirms them.",
        "# Keys: NUMERAI_PUBLIC_ID / NUMERAI_SECRET_KEY, or systemd credentials (see systemd/README.md).",
        "# fallback: what a model without predictions gets at [poll] guard_margin before the deadline",
        '# ("example", "previous", "model:NAME", "none", or a list tried in order).',
        "# Not `after` the models: a model that fails must hold back neither the others' uploads nor",
        "# the deadline guard (each predictions_ready comes after its model's work anyway).",
        "[handlers.uploader]",
        'class = "numeraud_handlers.uploader:UploaderHandler"',
        f"options = {{ {', '.join(uploader_options)} }}",
        "",
        "# Collects each model's round scores once rounds resolve; `numeraudctl scores` shows them.",
        "[handlers.scores]",
        'class = "numeraud_handlers.scores:ScoresHandler"',
        f"options = {{ models = [{', '.join(_toml(m) for m in options.models)}]"
        + (
            f", public_id_file = {_toml(options.key_files[0])}, secret_key_file = {_toml(options.key_files[1])}"
            if options.key_files
            else ""
        )
        + " }",
        "",
        "# Your own code, as it is, instead of a bundled model (README: Moving from Model Uploads /",
        "# Moving from a cron job or numerai-cli); map its `model` name in the uploader's models.",
        "# [handlers.my-pickle]",
        '# class = "numeraud_handlers.pickle:PickleHandler"   # a Model Upload pickle, run as numerai-predict does',
        '# options = { path = "/home/me/numerai/model.pkl", model = "my_model" }',
        "# [handlers.my-script]",
        '# class = "numeraud_handlers.script:ScriptHandler"   # your predict.py: it writes $NUMERAUD_OUTPUT',
        '# options = { command = ["python", "predict.py"], cwd = "/home/me/numerai", model = "my_model" }',
        "",
        "# Alerts and per-round summaries through Apprise (Slack, Discord, Telegram, e-mail, ...).",
        "# Enable it after setting NUMERAUD_NOTIFY_URLS (or the systemd credential notify_urls).",
        "# [handlers.notifier]",
        '# class = "numeraud_handlers.notifier:NotifierHandler"',
        "# options = { min_interval = 600 }",
        "",
    ]
    return "\n".join(lines)
