"""``numeraud init`` writes a starter configuration that ``numeraud check`` accepts."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from numeraud.cli.starter import StarterOptions, render
from numeraud.common import config
from numeraud.sandbox import Sandbox

NUMERAUD = [sys.executable, "-m", "numeraud.cli.main"]


def numeraud(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NUMERAUD, *args], capture_output=True, text=True, timeout=60, check=False, env=env)


def test_init_for_a_sandbox_lists_its_models_and_passes_check(sandbox: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "dry.toml"
    done = numeraud("init", "--sandbox", sandbox.url, "--config", str(target), "--dir", str(tmp_path / "state"))
    assert done.returncode == 0, done.stderr
    loaded = config.load(target)
    assert loaded.numerai.api_url == sandbox.url
    assert sorted(loaded.handlers) == [
        "model-sandbox_model_1",
        "model-sandbox_model_2",
        "model-sandbox_model_3",
        "scores",
        "uploader",
    ]
    # not after the models: one model's failure must not hold back the others or the deadline guard
    assert loaded.handlers["uploader"].after == ()
    assert loaded.handlers["uploader"].options["fallback"] == "example"
    assert loaded.poll.guard_margin == 600
    assert "sandbox-secret" not in target.read_text()  # the key lives in a 0600 file, not the TOML
    assert (tmp_path / "state" / "sandbox-keys" / "secret_key").stat().st_mode & 0o777 == 0o600
    checked = numeraud("check", "--config", str(target))
    assert checked.returncode == 0, checked.stderr
    assert "handler uploader" in checked.stdout


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "numeraud.toml"
    target.write_text("# mine\n")
    done = numeraud("init", "--models", "a", "--config", str(target), "--dir", str(tmp_path / "s"))
    assert done.returncode == 1
    assert "--force" in done.stderr
    assert target.read_text() == "# mine\n"


def test_init_with_named_models_needs_no_keys(tmp_path: Path) -> None:
    target = tmp_path / "numeraud.toml"
    done = numeraud("init", "--models", "Alpha,beta", "--config", str(target), "--dir", str(tmp_path / "s"))
    assert done.returncode == 0, done.stderr
    assert set(config.load(target).handlers) == {"model-alpha", "model-beta", "uploader", "scores"}


def test_init_without_models_or_keys_says_what_to_give(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMERAI_")}
    done = numeraud("init", "--config", str(tmp_path / "x.toml"), "--dir", str(tmp_path / "s"), env=env)
    assert done.returncode != 0
    assert "--models" in done.stderr


def test_check_names_the_bad_key_and_exits_78(tmp_path: Path) -> None:
    target = tmp_path / "bad.toml"
    target.write_text('[handlers.a]\nclass = "x:Y"\nmax_attempts = -1\n')
    done = numeraud("check", "--config", str(target))
    assert done.returncode == 78
    assert "handlers.a.max_attempts" in done.stderr
    assert str(target) in done.stderr


def test_extra_options_of_one_model_reach_only_its_handler(tmp_path: Path) -> None:
    starter = StarterOptions(
        models=("a", "b"),
        api_url="http://127.0.0.1:8787",
        state_dir=tmp_path / "state",
        runtime_dir=tmp_path / "run",
        sandbox=True,
        model_options={"b": {"min_train_seconds": 4.0}},
    )
    target = tmp_path / "numeraud.toml"
    target.write_text(render(starter))
    loaded = config.load(target)
    assert loaded.handlers["model-b"].options["min_train_seconds"] == 4.0
    assert "min_train_seconds" not in loaded.handlers["model-a"].options
    assert loaded.handlers["model-b"].options["model"] == "b"


def test_a_state_dir_with_an_emoji_and_quotes_round_trips_with_the_comments(tmp_path: Path) -> None:
    state_dir = tmp_path / 'numeraud 😀 "quoted" \\ dir'
    target = tmp_path / "numeraud.toml"
    done = numeraud("init", "--models", "a", "--config", str(target), "--dir", str(state_dir))
    assert done.returncode == 0, done.stderr
    text = target.read_text(encoding="utf-8")
    assert tomllib.loads(text)["paths"]["state_dir"] == str(state_dir)
    assert config.load(target).paths.state_dir == state_dir
    assert "# Check it with `numeraud check --config THIS_FILE`." in text
    assert "# event log, handler state, models" in text
    checked = numeraud("check", "--config", str(target))
    assert checked.returncode == 0, checked.stderr
