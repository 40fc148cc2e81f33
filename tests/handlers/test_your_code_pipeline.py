"""Bring your Numerai code as it is: a Model Upload pickle (each ``predict`` signature) and a predict
script, each run by its bundled handler under ``numeraud run --spawn-handlers`` against the sandbox,
through a round to an upload the sandbox accepts, exactly once per model.
"""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

from numeraud.common.processes import stop_process
from numeraud.sandbox import Sandbox, SandboxOptions
from tests.handlers.pickles import benchmark_models, model_upload_pickle
from tests.handlers.scripts import predict_script
from tests.handlers.test_pipeline import MODELS, NUMERAUD, accepted, events, start_daemon
from tests.helpers import wait_for

pytestmark = pytest.mark.slow


def test_a_pickle_of_each_signature_and_a_script_each_take_a_round_to_an_accepted_upload(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", size="tiny")) as sandbox:
        config = tmp_path / "numeraud.toml"
        subprocess.run(
            [*NUMERAUD, "init", "--sandbox", sandbox.url, "--config", str(config), "--dir", str(tmp_path / "state")],
            check=True,
            capture_output=True,
            timeout=60,
        )
        served = sandbox.core.options.data_dir / "v5.2"
        one = model_upload_pickle(served / "train.parquet", tmp_path / "user" / "model.pkl", 1)
        two = model_upload_pickle(served / "train.parquet", tmp_path / "user" / "model_benchmarks.pkl", 2)
        project = tmp_path / "user" / "project"
        predict_script(project)
        # The sandbox does not serve live_benchmark_models yet: put round 1's where the daemon
        # would sync it ([data] live_files), as Numerai's would be.
        synced = tmp_path / "state" / "data" / "v5.2"
        synced.mkdir(parents=True)
        benchmark_models(served / "live_1.parquet", synced / "live_benchmark_models_1.parquet")

        document = tomlkit.parse(config.read_text())
        document["poll"]["idle_interval"] = 0.3
        document["poll"]["fast_interval"] = 0.3
        handlers = document["handlers"]
        for name in [n for n in handlers if n.startswith("model-") or n == "scores"]:
            del handlers[name]
        for name, handler_class, options in [
            ("pickle-one", "numeraud_handlers.pickle:PickleHandler", {"path": str(one), "model": MODELS[0]}),
            ("pickle-two", "numeraud_handlers.pickle:PickleHandler", {"path": str(two), "model": MODELS[1]}),
            (
                "script",
                "numeraud_handlers.script:ScriptHandler",
                {"command": [sys.executable, "predict.py"], "cwd": str(project), "model": MODELS[2], "timeout": 120},
            ),
        ]:
            table = tomlkit.table()
            table["class"] = handler_class
            table["options"] = options
            handlers[name] = table
        config.write_text(tomlkit.dumps(document))

        daemon = start_daemon(tmp_path)
        try:
            wait_for(lambda: accepted(sandbox, 1) == MODELS, timeout=240, what="round 1's three uploads")
            ready = wait_for(
                lambda: len(events(tmp_path, "predictions_ready")) == 3 and events(tmp_path, "predictions_ready")
            )
            uploaded = wait_for(
                lambda: len(events(tmp_path, "submission_uploaded")) == 3 and events(tmp_path, "submission_uploaded")
            )
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
