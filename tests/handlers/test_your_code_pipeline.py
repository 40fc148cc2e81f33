"""Bring your Numerai code as it is: a Model Upload pickle (each ``predict`` signature) and a predict
script, each run by its bundled handler under ``numeraud run --spawn-handlers`` against the sandbox,
through a round to an upload the sandbox accepts, exactly once per model.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from numeraud.common.processes import stop_process
from numeraud.sandbox import Sandbox, SandboxOptions
from tests.fixtures import FIXTURE_VERSIONS
from tests.handlers.pickles import benchmark_models, dump, model_upload_pickle
from tests.handlers.scripts import predict_script
from tests.handlers.test_pipeline import CTL, MODELS, NUMERAUD, accepted, events, start_daemon
from tests.helpers import wait_for

pytestmark = pytest.mark.slow


def init(sandbox: Sandbox, root: Path) -> Path:
    """``numeraud init --sandbox`` into ``root``; returns the config file."""
    config = root / "numeraud.toml"
    subprocess.run(
        [*NUMERAUD, "init", "--sandbox", sandbox.url, "--config", str(config), "--dir", str(root / "state")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return config


def configure(config: Path, handlers: dict[str, tuple[str, dict[str, Any]]], **settings: Any) -> None:
    """Replace the starter's model and scores handlers with ``handlers`` (name: class, options);
    poll fast; ``settings`` go into each new handler's table; the uploader maps only their models."""
    document = tomlkit.parse(config.read_text())
    document["poll"]["idle_interval"] = 0.3
    document["poll"]["fast_interval"] = 0.3
    tables = document["handlers"]
    for name in [n for n in tables if n.startswith("model-") or n == "scores"]:
        del tables[name]
    for name, (handler_class, options) in handlers.items():
        table = tomlkit.table()
        table["class"] = handler_class
        table.update(settings)
        table["options"] = options
        tables[name] = table
    models = {o["model"]: o["model"] for _c, o in handlers.values()}
    tables["uploader"]["options"]["models"] = models
    config.write_text(tomlkit.dumps(document))


def test_a_pickle_of_each_signature_and_a_script_each_take_a_round_to_an_accepted_upload(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", size="tiny", versions=FIXTURE_VERSIONS)) as sandbox:
        config = init(sandbox, tmp_path)
        served = sandbox.core.options.data_dir / "v5.2"
        one = model_upload_pickle(served / "train.parquet", tmp_path / "user" / "model.pkl", 1)
        two = model_upload_pickle(served / "train.parquet", tmp_path / "user" / "model_benchmarks.pkl", 2)
        project = tmp_path / "user" / "project"
        predict_script(project)
        # Round 1's benchmark models where the daemon syncs them when [data] live_files names them.
        synced = tmp_path / "state" / "data" / "v5.2"
        synced.mkdir(parents=True)
        benchmark_models(served / "live_1.parquet", synced / "live_benchmark_models_1.parquet")

        configure(
            config,
            {
                "pickle-one": ("numeraud_handlers.pickle:PickleHandler", {"path": str(one), "model": MODELS[0]}),
                "pickle-two": ("numeraud_handlers.pickle:PickleHandler", {"path": str(two), "model": MODELS[1]}),
                "script": (
                    "numeraud_handlers.script:ScriptHandler",
                    {
                        "command": [sys.executable, "predict.py"],
                        "cwd": str(project),
                        "model": MODELS[2],
                        "timeout": 120,
                    },
                ),
            },
        )

        daemon = start_daemon(tmp_path)
        try:
            wait_for(lambda: accepted(sandbox, 1) == MODELS, timeout=240, what="round 1's three uploads")
            ready = wait_for(lambda: found if len(found := events(tmp_path, "predictions_ready")) == 3 else None)
            uploaded = wait_for(lambda: found if len(found := events(tmp_path, "submission_uploaded")) == 3 else None)
        finally:
            stop_process(daemon)
        assert sorted(e["payload"]["model"] for e in ready) == MODELS
        assert sorted(e["payload"]["model"] for e in uploaded) == MODELS
        counts = collections.Counter((u["round"], u["model"]) for u in sandbox.uploads())
        assert counts == {(1, model): 1 for model in MODELS}
        log = (tmp_path / "numeraud.log").read_text()
        # the script's own output is in the daemon's log, line by line, under its handler
        lines = [line for line in log.splitlines() if "hello from predict.py: round 1, 200 live rows" in line]
        assert lines
        assert '"handler": "script"' in lines[0]
        assert '"stream": "stdout"' in lines[0]


def test_a_pickle_that_raises_blocks_with_its_reason_and_the_round_gets_the_fallback(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", size="tiny", versions=FIXTURE_VERSIONS)) as sandbox:
        config = init(sandbox, tmp_path)

        def predict(live_features: Any) -> Any:
            raise RuntimeError("the model is broken")

        broken = dump(predict, tmp_path / "user" / "broken.pkl")
        options = {"path": str(broken), "model": MODELS[0]}
        handlers = {"pickle": ("numeraud_handlers.pickle:PickleHandler", options)}
        configure(config, handlers, max_attempts=2, retry_backoff=0.05)
        sandbox.close_round()
        number = sandbox.open_round(window=90.0)  # the guard comes 15 s before the deadline
        daemon = start_daemon(tmp_path)
        try:
            doc = wait_for(
                lambda: (
                    (d := status(tmp_path)) and d.get("handlers", {}).get("pickle", {}).get("state") == "blocked" and d
                ),
                timeout=120,
                what=lambda: f"the pickle's handler blocked: {status(tmp_path)}",
            )
            error = doc["handlers"]["pickle"]["last_error"]
            assert f"round {number}: predict raised RuntimeError: the model is broken" in error
            row = {r["model"]: r for r in doc["models"]}[MODELS[0]]
            assert row["status"] == "blocked"
            assert row["why"].startswith("pickle: ")
            fallback = wait_for(lambda: events(tmp_path, "submission_fallback"), timeout=120, what="the fallback")
        finally:
            stop_process(daemon)
        assert [(e["round"], e["payload"]["model"], e["payload"]["fallback"]) for e in fallback] == [
            (number, MODELS[0], "example")
        ]
        assert accepted(sandbox, number) == [MODELS[0]]


def status(root: Path) -> dict[str, Any]:
    """``numeraudctl --json status`` ({} while the daemon starts)."""
    done = subprocess.run(
        [*CTL, "--config", str(root / "numeraud.toml"), "--json", "status", "--warn-minutes", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode not in (0, 6):
        return {}
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc
