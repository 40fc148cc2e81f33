"""Bad-input scenarios of bench/chaos.py (issue 11): bad configs, bad predictions, bad data, garbage.

- **configs** (``bad_config_cases``/``bad_config_ok``): a corpus of broken TOML files, each given to
  ``numeraud run`` and ``numeraud-handler``; each must exit 78 with one line on stderr naming the
  key and the file, and never say READY=1 (a notify socket of the scenario's own listens). In
  the quick run each program is entered in a process forked from one that imported it already
  (the same ``main``, 2 s of imports saved per case); in the long run each is a new process.
- **predictions** (``bad_predictions_cases``/``bad_predictions_refused``): a real supervisor and
  the bundled uploader against the sandbox; a ``predictions_ready`` per bad file (NaN, inf, out of
  range, missing, foreign and duplicate ids, wrong columns, constant, empty, header only, not
  CSV, huge); each must end in ``submission_failed`` with Numerai's reason, and nothing may
  reach the sandbox's upload routes.
- **data** (``bad_data_cases``/``bad_data_ok``): synced files in the data directory damaged
  between rounds (a truncated parquet, a parquet with its footer overwritten, a features.json
  overwritten with zeros, a garbage partial download with a valid resume record, garbage at a
  live file's final name); at the next round a handler checks every file it is told about
  against the sandbox's own copy: each damaged one must be downloaded again (or not announced).
- **fuzz** (``fuzz_inputs``/``fuzz_crashes``): random and mutated bus frames (to the supervisor's
  ROUTER) and control requests (to its control socket), then the log's head and every cursor
  must be as before and the supervisor alive; the long run adds atheris (coverage-guided, at least
  10,000 inputs each) against the frame decoder and the control-request handling in-process.

``secret_leaks`` greps everything the run left for the sandbox's secret key. With ``NCHAOS_KEEP=1``
the installation's directory (config, logs, state) is kept for a look afterwards.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaosrun.bad_configs import bad_configs  # noqa: E402
from bench.chaosrun.common import find_secrets  # noqa: E402
from bench.chaosrun.fuzzing import fuzz_atheris, fuzz_live  # noqa: E402
from bench.chaosrun.installation import PROBES, Checks, Installation, short_root  # noqa: E402
from numeraud.sandbox import Sandbox, SandboxOptions  # noqa: E402
from tests.helpers import wait_for  # noqa: E402

VERSION = "v5.2"

# -- predictions -----------------------------------------------------------------------------------


def _prediction_files(ids: list[str], quick: bool, rng: random.Random, root: Path) -> dict[str, tuple[Path, str]]:
    """Bad files by case name, each with the part of Numerai's reason it must be refused with."""
    n = len(ids)
    good = [(i, (k + 0.5) / n) for k, i in enumerate(ids)]
    rng.shuffle(good)

    def rows(pairs: list[tuple[str, Any]], header: str = "id,prediction") -> bytes:
        return (header + "\n" + "".join(f"{i},{p}\n" for i, p in pairs)).encode()

    def with_value(value: str) -> bytes:
        return rows([(i, value if k == 3 else p) for k, (i, p) in enumerate(good)])

    huge_rows = 200_000 if quick else 2_000_000
    cases: dict[str, tuple[bytes, str]] = {
        "nan": (with_value("nan"), "invalid_submission_values: submission must not contain NaNs"),
        "inf": (with_value("inf"), "invalid_submission_values: values must be between 0 and 1"),
        "above_1": (with_value("1.5"), "invalid_submission_values: values must be between 0 and 1"),
        "below_0": (with_value("-0.2"), "invalid_submission_values: values must be between 0 and 1"),
        "not_a_number": (with_value("high"), "invalid_submission_values"),
        "missing_half": (rows(good[: n // 2]), "invalid_submission_ids: Not enough stocks"),
        "foreign_ids": (rows([(f"x{k:06d}", p) for k, (_, p) in enumerate(good)]), "invalid_submission_ids"),
        "duplicate_ids": (rows(good + good[:5]), "invalid_submission_ids: Duplicates"),
        "wrong_columns": (rows(good, "id,target"), "invalid_submission_headers"),
        "three_columns": (b"id,prediction,extra\n" + b"".join(f"{i},{p},1\n".encode() for i, p in good), "headers"),
        "no_id_column": (rows(good, "ident,prediction"), "invalid_submission_headers"),
        "constant": (rows([(i, 0.5) for i, _ in good]), "non-zero standard deviation"),
        "empty": (b"", "invalid_submission_file"),
        "header_only": (b"id,prediction\n", "invalid_submission_file: the file has no rows"),
        "not_csv": (bytes(rng.randrange(256) for _ in range(4096)), "invalid_submission_file"),
        "huge": (rows([(f"x{k:08d}", rng.random()) for k in range(huge_rows)]), "invalid_submission_ids"),
    }
    out = {}
    for name, (data, reason) in cases.items():
        path = root / f"bad_{name}.csv"
        path.write_bytes(data)
        out[name] = (path, reason)
    return out


def _bad_predictions(
    install: Installation, sandbox: Sandbox, quick: bool, rng: random.Random, checks: Checks
) -> tuple[int, int]:
    live = install.root / "data" / VERSION / "live_1.parquet"
    ids = [str(i) for i in pq.read_table(live, columns=["id"]).column("id").to_pylist()]
    files = _prediction_files(ids, quick, rng, install.root)
    before = len(sandbox.requests())
    for number, (name, (path, _reason)) in enumerate(files.items(), 100):  # a round each: appends dedupe by round
        install.call("append", kind="predictions_ready", round=number, payload=_ready(path, live, name))
    wanted = {str(path.name) for path, _ in files.values()}

    def failures() -> dict[str, str] | None:
        found = {}
        for event in install.events():
            if event["kind"] == "submission_failed":
                reason = str(event["payload"].get("reason", ""))
                found[reason.split(":", 1)[0]] = reason
        return found if wanted <= set(found) else None

    reasons = wait_for(failures, 180, "a submission_failed for every bad file")
    refused = 0
    for name, (path, reason) in files.items():
        got = reasons.get(path.name, "")
        refused += checks.check(f"predictions {name}: refused with its reason", reason in got, f"got {got[:200]!r}")
    uploads = [r for r in sandbox.requests()[before:] if r["route"] == "upload" or _is_upload_query(r)]
    checks.check("predictions: nothing reached the sandbox's upload routes", not uploads, f"{uploads[:3]}")
    checks.check("predictions: the sandbox recorded no upload", not sandbox.uploads(), f"{sandbox.uploads()[:3]}")
    if uploads or sandbox.uploads():
        refused = 0
    return len(files), refused


def _ready(path: Path, live: Path, name: str) -> dict[str, Any]:
    return {"round": 1, "model": "bad", "path": str(path), "live_path": str(live), "case": name}


def _is_upload_query(request: dict[str, Any]) -> bool:
    return request["route"] == "graphql" and bool(
        {"submission_upload_auth", "create_submission", "submissionUploadAuth", "createSubmission"}
        & set(request.get("fields", ()))
    )


# -- data ------------------------------------------------------------------------------------------


def _damage(data_dir: Path, sandbox_dir: Path, next_round: int) -> dict[str, str]:
    """Damage synced files in place; returns the damaged local names and how."""
    version = data_dir / VERSION
    train = version / "train.parquet"
    with train.open("r+b") as f:
        f.truncate(train.stat().st_size // 2)
    validation = version / "validation.parquet"
    with validation.open("r+b") as f:
        f.seek(-8, os.SEEK_END)
        f.write(b"\0" * 8)  # the footer's length and its PAR1 magic
    features = version / "features.json"
    features.write_bytes(b"\0" * features.stat().st_size)
    live = f"live_{next_round}.parquet"
    partial = data_dir / ".partial" / VERSION / f"{live}.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(os.urandom(1000))
    etag = f'"{_md5(sandbox_dir / VERSION / live)}"'
    (partial.parent / f"{live}.part.json").write_text(json.dumps({"etag": etag, "total": 0}))
    return {
        f"{VERSION}/train.parquet": "truncated to half",
        f"{VERSION}/validation.parquet": "footer overwritten",
        f"{VERSION}/features.json": "overwritten with zeros",
        f"{VERSION}/{live}": "garbage partial download with a valid resume record",
    }


def _md5(path: Path) -> str:
    import hashlib  # noqa: PLC0415

    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _bad_data(install: Installation, sandbox: Sandbox, record: Path, checks: Checks) -> tuple[int, int]:
    data_dir = install.root / "data"
    number = sandbox.core.current_round().number + 1
    for name in sandbox.core.generator.ensure_live(VERSION, number):
        sandbox.core.public_file(name)
    damaged = _damage(data_dir, sandbox.core.options.data_dir, number)
    garbage = data_dir / VERSION / f"live_{number + 1}.parquet"
    garbage.write_bytes(os.urandom(5000))  # garbage where the round after's live file will go
    damaged[f"{VERSION}/live_{number + 1}.parquet"] = "garbage at the final name before its round"
    for opened in (number, number + 1):
        sandbox.open_round()
        wait_for(lambda opened=opened: _kinds_of(record, opened) >= {"cleanup"}, 120, f"round {opened} handled")  # type: ignore[misc]
    lines = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    ok = 0
    for name, how in damaged.items():
        seen = [line for line in lines if line.get("file") == name and line["round"] >= number]
        on_disk = _same(data_dir / name, sandbox.core.options.data_dir / name)
        good = all(line["ok"] for line in seen) and on_disk
        ok += checks.check(f"data {name} {how}: downloaded again", good, f"checks {seen[:2]}, intact on disk {on_disk}")
    return len(damaged), ok


def _kinds_of(record: Path, number: int) -> set[str]:
    if not record.exists():
        return set()
    lines = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    return {line["kind"] for line in lines if line["round"] == number}


def _same(a: Path, b: Path) -> bool:
    from bench.chaosrun.probes import sha256_of  # noqa: PLC0415

    return sha256_of(a) == sha256_of(b) is not None


# -- the scenario ----------------------------------------------------------------------------------


def run(quick: bool, seed: int, workdir: Path) -> dict[str, int | float]:
    """Run every bad-input case (see the module docstring)."""
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    checks = Checks("bad_input")
    out: dict[str, int | float] = {}
    out["bad_config_cases"], out["bad_config_ok"] = bad_configs(quick, workdir / "configs", checks)
    root = short_root("nci-")
    try:
        options = SandboxOptions(data_dir=workdir / "sandbox", size="tiny", seed=seed, versions=(VERSION,))
        with Sandbox(options) as sandbox:
            install = Installation(
                root, env={"NUMERAI_PUBLIC_ID": options.public_id, "NUMERAI_SECRET_KEY": options.secret_key}
            )
            record = root / "checker.jsonl"
            install.write(
                sandbox.url,
                {
                    "checker": {
                        "class": f"{PROBES}:Checker",
                        "max_attempts": 1,
                        "options": {"record": str(record), "sandbox_dir": str(options.data_dir)},
                    },
                    "uploader": {
                        "class": "numeraud_handlers.uploader:UploaderHandler",
                        "options": {"models": {"bad": "sandbox_model_1"}},
                    },
                },
                data={"training_files": ["features.json", "train.parquet", "validation.parquet"]},
            )
            install.start()
            try:
                wait_for(lambda: "cleanup" in _kinds_of(record, 1), 120, "round 1 handled")
                fuzz = fuzz_live(install, rng, 300 if quick else 5000, checks)
                preds = _bad_predictions(install, sandbox, quick, rng, checks)
                out["bad_predictions_cases"], out["bad_predictions_refused"] = preds
                out["bad_data_cases"], out["bad_data_ok"] = _bad_data(install, sandbox, record, checks)
            finally:
                install.stop()
            if not quick:
                more = fuzz_atheris(10_000, workdir, checks)
                fuzz = (fuzz[0] + more[0], fuzz[1] + more[1])
            out["fuzz_inputs"], out["fuzz_crashes"] = fuzz
            out["secret_leaks"] = find_secrets([root, workdir], [options.secret_key])
    finally:
        if not os.environ.get("NCHAOS_KEEP"):
            shutil.rmtree(root, ignore_errors=True)
    return out


def _main(argv: list[str]) -> int:
    started = time.monotonic()
    figures = run("--long" not in argv, 11, Path(tempfile.mkdtemp(prefix="nchaos-input-")))
    print(json.dumps({**figures, "seconds": round(time.monotonic() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
