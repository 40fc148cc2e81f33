"""Round open -> every model's upload accepted: numeraud against what people use instead (not a test).

For each model count N (1, 10, 50 by default), against sandboxes in this process (``--size full``:
Numerai's width, 6,720 live rows x 2,748 int8 features; each round's live file is generated and
its ETag cached before the round opens, as Numerai has it in S3 first), each contestant is timed
from just before ``Sandbox.open_round()`` to the sandbox holding N accepted uploads for that round
(the last upload's ``submitted_at``, as the sandbox recorded it):

(a) numeraud: ``numeraud run --spawn-handlers`` with N warm ``numeraud_handlers.model:ModelHandler``
    processes (a small HistGradientBoostingRegressor on the "small" feature set, trained before
    the timing, in the warm-up) and the bundled uploader, configured as ``numeraud init`` writes
    it (not ``after`` the models: each model's predictions are uploaded as soon as they are
    ready); the round is noticed through numeraud's ``[poll] webhook`` (``--detect webhook``, the
    default) or its poll (``--detect poll``);
(b) cron: one cold ``python bench/e2e_client.py cold`` started at the open (its best case: no
    scheduler delay) that imports numerapi, pandas, scikit-learn, downloads the live file, loads
    every model (joblib files trained beforehand, same estimator and features), predicts,
    validates with numerai-tools and uploads each with numerapi's ``upload_predictions``;
(c) compute: Numerai Compute's pattern, one such cold process per model, two at a time;
(d) floor: one warm ``e2e_client.py warm`` process (imported, models in memory) doing only
    download, predict, validate and upload.

numeraud follows its own sandbox, so the others' rounds do not wake it; the contestants take turns
round by round (A/B, the order reversed every other repetition); medians and max are reported.
Prints a table; with ``--json`` the last line is one JSON object (``e2e_numeraud_10_models_s`` ...).

``--live-scale 4`` makes every live file four times as long (rows), for how the cost grows.
``--rounds-many`` sets the rounds for more than 10 models, ``--compute-rounds`` in how many of the
rounds the Compute pattern (one cold process per model: minutes at 50 models) takes its turn, and
``--contestants`` which contestants run at all (numeraud always does). Every sandbox of one run and
size starts from the same generated files (hard links; generating is never timed).

    python bench/e2e.py [--models 1,10,50] [--size full] [--rounds 3] [--rounds-many R] [--compute-rounds C]
                        [--contestants numeraud,cron,compute,floor] [--live-scale 1] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import joblib  # noqa: E402
import numerapi  # noqa: E402
import pandas as pd  # noqa: E402
import structlog  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402

from bench.processes import (  # noqa: E402
    Daemon,
    free_port,
    pss_mb,
    rss_mb,
    start_daemon,
    tail,
    terminate_as_exit,
    wait_for_status,
)
from numeraud.cli.starter import handler_name  # noqa: E402
from numeraud.numerai.client import use_api_url  # noqa: E402
from numeraud.sandbox import Sandbox, SandboxOptions  # noqa: E402
from numeraud.sandbox.datagen import SIZES  # noqa: E402

VERSION = "v5.2"
#: Training rows by size (None: the size's own): training is set-up, never timed, and what it costs
#: (N handler processes training at once, N models for the others) is minutes at 50 models.
TRAIN_ROWS: dict[str, int | None] = {"full": 10_000}
CONTESTANTS = ("numeraud", "cron", "compute", "floor")
PARAMS = {"max_iter": 10, "max_leaf_nodes": 7, "random_state": 0}
PUBLIC, SECRET = "e2e-public", "e2e-secret"
CLIENT = str(ROOT / "bench" / "e2e_client.py")
Say = Callable[..., None]


def model_names(n: int) -> list[str]:
    return [f"e2e_model_{i:02d}" for i in range(1, n + 1)]


class DataCache:
    """The generated dataset files of one size, shared by the run's sandboxes as hard links.

    The files depend only on the size and the seed, so a sandbox seeded from the cache serves the
    same bytes it would have generated; what it generates itself (a new round's live file) goes
    back into the cache when :meth:`keep` is called. Uploads (``.uploads``) are never shared.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def seed(self, data_dir: Path) -> None:
        """Link the cached files into a new sandbox's ``data_dir``."""
        if self.root.exists():
            shutil.copytree(self.root, data_dir, copy_function=_link, dirs_exist_ok=True)

    def keep(self, data_dir: Path) -> None:
        """Add what a sandbox generated to the cache."""
        for part in data_dir.iterdir():
            if part.is_dir() and part.name != ".uploads":
                shutil.copytree(part, self.root / part.name, copy_function=_link, dirs_exist_ok=True)


def _link(source: str, target: str) -> None:
    if not os.path.exists(target):
        os.link(source, target)


def make_sandbox(root: Path, name: str, size: str, n: int, cache: DataCache) -> Sandbox:
    cache.seed(root / name)
    options = SandboxOptions(
        data_dir=root / name,
        size=size,
        public_id=PUBLIC,
        secret_key=SECRET,
        models=tuple(model_names(n)),
        # The models train before the timing, on this many rows; the live file keeps its size.
        train_rows=TRAIN_ROWS.get(size.split("-", 1)[0]),
        versions=(VERSION,),
    )
    sandbox = Sandbox(options).start()
    cache.keep(root / name)
    return sandbox


def prepare_round(sandbox: Sandbox) -> int:
    """Generate the next round's live file and its ETag before the open (not timed)."""
    core = sandbox.core
    number = int(core.current_round().number) + 1
    for name in core.generator.ensure_live(VERSION, number):
        path = core.public_file(name)
        assert path is not None
        core.etag(path)
    return number


def accepted_at(sandbox: Sandbox, number: int, models: list[str], deadline: float, alive: Callable[[], None]) -> float:
    """Wall-clock time of the last of ``models``' accepted uploads for round ``number``."""
    wanted = set(models)
    while time.monotonic() < deadline:
        done = {u["model"]: u["at"] for u in sandbox.uploads() if u["round"] == number and u["accepted"]}
        if wanted <= done.keys():
            return max(datetime.fromisoformat(str(done[m]).replace("Z", "+00:00")).timestamp() for m in wanted)
        alive()
        time.sleep(0.005)
    raise TimeoutError(f"round {number}: not every model's upload was accepted in time")


def train_models(sandbox: Sandbox, root: Path, names: list[str]) -> Path:
    """The cron/compute/floor models: the handler's estimator and features, saved with joblib."""
    use_api_url(sandbox.url)
    napi = numerapi.NumerAPI(verbosity="warning", show_progress_bars=False)
    napi.download_dataset(f"{VERSION}/features.json", str(root / "features.json"))
    napi.download_dataset(f"{VERSION}/train.parquet", str(root / "train.parquet"))
    features = list(json.loads((root / "features.json").read_text())["feature_sets"]["small"])
    train = pd.read_parquet(root / "train.parquet", columns=[*features, "target"]).dropna(subset=["target"])
    model_dir = root / "models"
    model_dir.mkdir()
    (model_dir / "features.json").write_text(json.dumps(features))
    for i, name in enumerate(names):
        model = HistGradientBoostingRegressor(**{**PARAMS, "random_state": i})
        joblib.dump(model.fit(train[features], train["target"]), model_dir / f"{name}.joblib")
    return model_dir


def write_config(root: Path, sandbox: Sandbox, names: list[str], webhook: str | None, interval: float) -> Path:
    keys = root / "keys"
    keys.mkdir(mode=0o700)
    for key, value in (("public_id", PUBLIC), ("secret_key", SECRET)):
        (keys / key).write_text(value + "\n")
        (keys / key).chmod(0o600)
    hook = f'webhook = "{webhook}"\n' if webhook else ""
    lines = [
        f'[numerai]\napi_url = "{sandbox.url}"\n\n[paths]\nstate_dir = "{root}/state"\nruntime_dir = "{root}/run"\n'
        f'data_dir = "{root}/data"\n\n[data]\nversion = "{VERSION}"\n'
        'training_files = ["features.json", "train.parquet"]\n'
        f'live_files = ["live.parquet"]\n\n[poll]\nidle_interval = {interval!r}\nfast_interval = {interval!r}\n{hook}'
    ]
    params = ", ".join(f"{k} = {v}" for k, v in PARAMS.items())
    for name in names:
        lines.append(
            f'[handlers.{handler_name(name)}]\nclass = "numeraud_handlers.model:ModelHandler"\n'
            f'options = {{ model = "{name}", feature_set = "small", era_step = 1, params = {{ {params} }} }}\n'
        )
    mapping = ", ".join(f'"{m}" = "{m}"' for m in names)
    # Not `after` the models, as `numeraud init` writes it: each predictions_ready comes after its
    # model's work anyway, and `after` would hold every upload back until the slowest model is done.
    lines.append(
        f'[handlers.uploader]\nclass = "numeraud_handlers.uploader:UploaderHandler"\n'
        f'options = {{ models = {{ {mapping} }}, public_id_file = "{keys / "public_id"}", '
        f'secret_key_file = "{keys / "secret_key"}" }}\n'
    )
    config = root / "numeraud.toml"
    config.write_text("\n".join(lines))
    return config


def client_env() -> dict[str, str]:
    return {**os.environ, "NUMERAI_PUBLIC_ID": PUBLIC, "NUMERAI_SECRET_KEY": SECRET}


def client_command(mode: str, sandbox: Sandbox, names: list[str], model_dir: Path, work: Path) -> list[str]:
    return [
        *(sys.executable, CLIENT, mode, "--url", sandbox.url, "--models", ",".join(names)),
        *("--model-dir", str(model_dir), "--work-dir", str(work)),
    ]


def run_cold(commands: list[list[str]], parallel: int) -> None:
    """Run ``commands`` as cold processes, ``parallel`` at a time; each must succeed."""
    waiting = list(commands)
    running: list[subprocess.Popen[bytes]] = []
    while waiting or running:
        while waiting and len(running) < parallel:
            running.append(subprocess.Popen(waiting.pop(0), env=client_env(), stdin=subprocess.DEVNULL))
        for process in list(running):
            code = process.poll()
            if code is not None:
                running.remove(process)
                if code != 0:
                    raise RuntimeError(f"{process.args!r} exited with {code}")
        time.sleep(0.005)


class Warm:
    """The floor's warm process (``e2e_client.py warm``), driven over its stdin."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command, env=client_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.expect("ready")

    def expect(self, word: str) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"the warm floor process said {line!r}, not {word!r} (exit {self.process.poll()})")

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        self.expect("done")

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def timed(sandbox: Sandbox, names: list[str], start: Callable[[], None], alive: Callable[[], None]) -> float:
    """Open a round on ``sandbox``, run ``start`` (the contestant); seconds to all accepted."""
    number = prepare_round(sandbox)
    time.sleep(0.2)
    wall0 = time.time()
    if sandbox.open_round() != number:
        raise RuntimeError(f"the sandbox did not open round {number}")
    start()
    return accepted_at(sandbox, number, names, time.monotonic() + 600, alive) - wall0


def bench_models(args: argparse.Namespace, root: Path, n: int, say: Say) -> dict[str, Any]:
    """Every contestant's times for ``n`` models, plus numeraud's memory after them."""
    names = model_names(n)
    work = root / f"n{n}"
    work.mkdir()
    cache = DataCache(root / f"data-{args.size}")
    mine = make_sandbox(work, "sandbox-numeraud", args.size, n, cache)
    theirs = make_sandbox(work, "sandbox-base", args.size, n, cache)
    daemon: Daemon | None = None
    warm: Warm | None = None
    times: dict[str, list[float]] = {c: [] for c in CONTESTANTS if c in args.contestants}
    rounds = args.rounds_many if n > 10 else args.rounds
    try:
        model_dir = train_models(theirs, work, names)
        webhook = None
        if args.detect == "webhook":
            webhook = f"127.0.0.1:{free_port()}"
            mine.core.set_webhook(mine.model_ids()[names[0]], f"http://{webhook}/")
        config = write_config(work, mine, names, webhook, args.interval)
        daemon = start_daemon(config, work / "numeraud.log")
        running = daemon
        wait_for_status(daemon, time.monotonic() + 300)
        # Warm-up (not timed): start-up, training, the first live file and upload.
        timed(mine, names, lambda: None, running.check_alive)
        warm = Warm(client_command("warm", theirs, names, model_dir, work / "floor"))
        floor = warm
        starts: dict[str, tuple[Sandbox, Callable[[], None]]] = {
            "numeraud": (mine, lambda: None),
            "cron": (theirs, lambda: run_cold([client_command("cold", theirs, names, model_dir, work / "cron")], 1)),
            "compute": (
                theirs,
                lambda: run_cold([client_command("cold", theirs, [m], model_dir, work / "compute") for m in names], 2),
            ),
            "floor": (theirs, floor.go),
        }
        for rep in range(rounds):
            order = CONTESTANTS if rep % 2 == 0 else tuple(reversed(CONTESTANTS))
            for contestant in order:
                if contestant not in times or (contestant == "compute" and rep >= args.compute_rounds):
                    continue
                sandbox, start = starts[contestant]
                took = timed(sandbox, names, start, running.check_alive)
                times[contestant].append(took)
                say(f"[e2e] {n} models, {contestant}: {took:.3f} s")
        status = daemon.status()
        pids = [int(s["pid"]) for s in (status.get("spawned") or {}).values() if s.get("pid")]
        rss = {
            "supervisor": rss_mb(daemon.process.pid),
            "handlers": sum(rss_mb(p) for p in pids),
            "handlers_pss": sum(pss_mb(p) for p in pids),
        }
    except Exception:
        if daemon is not None:
            say(tail(daemon.log, 30))
        raise
    finally:
        if warm is not None:
            warm.stop()
        if daemon is not None:
            daemon.stop()
        mine.stop()
        theirs.stop()
        for sandbox in (mine, theirs):
            cache.keep(sandbox.core.options.data_dir)
    return {"times": times, "rss_mb": rss, "rounds": rounds}


def summary(results: dict[int, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, result in results.items():
        med = {c: statistics.median(t) for c, t in result["times"].items()}
        for c, t in result["times"].items():
            out[f"e2e_{c}_{n}_models_s"] = round(med[c], 3)
            out[f"e2e_{c}_{n}_models_max_s"] = round(max(t), 3)
            out[f"e2e_{c}_{n}_models_rounds"] = len(t)
        for peer in ("cron", "compute"):
            if peer in med:
                out[f"e2e_speedup_vs_{peer}_{n}_models"] = round(med[peer] / med["numeraud"], 2)
        if "floor" in med:
            out[f"e2e_over_floor_{n}_models"] = round(med["numeraud"] / med["floor"], 2)
        out[f"e2e_rss_supervisor_{n}_models_mb"] = round(result["rss_mb"]["supervisor"], 1)
        out[f"e2e_rss_handlers_{n}_models_mb"] = round(result["rss_mb"]["handlers"], 1)
        out[f"e2e_pss_handlers_{n}_models_mb"] = round(result["rss_mb"]["handlers_pss"], 1)
    return out


def print_table(args: argparse.Namespace, results: dict[int, dict[str, Any]], s: dict[str, Any]) -> None:
    print(
        f"round open -> every model's upload accepted: sandbox --size {args.size}, {args.rounds} round(s) each "
        f"({args.rounds_many} above 10 models, compute in at most {args.compute_rounds}), "
        f"numeraud detects by {args.detect}"
    )
    print(f"{'models':>6}  {'contestant':10}{'median s':>10}{'max s':>10}{'ratio':>24}")
    for n in results:
        ratios = {
            "cron": f"cron/numeraud {s.get(f'e2e_speedup_vs_cron_{n}_models', 0):.2f}x",
            "compute": f"compute/numeraud {s.get(f'e2e_speedup_vs_compute_{n}_models', 0):.2f}x",
            "floor": f"numeraud/floor {s.get(f'e2e_over_floor_{n}_models', 0):.2f}x",
        }
        for c in CONTESTANTS:
            if f"e2e_{c}_{n}_models_s" not in s:
                continue
            med, top = s[f"e2e_{c}_{n}_models_s"], s[f"e2e_{c}_{n}_models_max_s"]
            print(f"{n:>6}  {c:10}{med:>10.3f}{top:>10.3f}{ratios.get(c, ''):>24}")
        print(
            f"{'':8}numeraud RSS: supervisor {s[f'e2e_rss_supervisor_{n}_models_mb']:.0f} MB, "
            f"handlers {s[f'e2e_rss_handlers_{n}_models_mb']:.0f} MB "
            f"(PSS {s[f'e2e_pss_handlers_{n}_models_mb']:.0f} MB)"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=None, help="model counts, comma-separated (default 1,10,50)")
    parser.add_argument("--size", default=None, help="sandbox data size: tiny, small, full (default full)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per contestant (default 3)")
    parser.add_argument("--rounds-many", type=int, default=None, help="rounds above 10 models (default --rounds)")
    parser.add_argument("--compute-rounds", type=int, default=None, help="rounds the Compute pattern runs in (all)")
    parser.add_argument("--contestants", default=",".join(CONTESTANTS), help="who runs (numeraud always does)")
    parser.add_argument("--detect", choices=("webhook", "poll"), default="webhook", help="how numeraud notices")
    parser.add_argument("--interval", type=float, default=0.5, help="numeraud's poll interval (s)")
    parser.add_argument("--live-scale", type=int, default=1, help="live files this many times as long (rows)")
    parser.add_argument("--quick", action="store_true", help="1 and 10 models, tiny data, 1 round each")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    parser.add_argument("--verbose", action="store_true", help="progress on stderr")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    args.models = args.models or ("1,10" if args.quick else "1,10,50")
    args.size = args.size or ("tiny" if args.quick else "full")
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.rounds_many = args.rounds_many or args.rounds
    args.compute_rounds = args.compute_rounds or max(args.rounds, args.rounds_many)
    args.contestants = {"numeraud", *(c for c in args.contestants.split(",") if c)}
    if not args.contestants <= set(CONTESTANTS):
        parser.error(
            f"--contestants: one of {', '.join(CONTESTANTS)}, not {', '.join(args.contestants - set(CONTESTANTS))}"
        )
    try:
        args.counts = [int(x) for x in args.models.split(",")]
    except ValueError:
        parser.error(f"--models: {args.models!r} is not a comma-separated list of numbers")
    if any(n < 1 for n in args.counts) or min(args.rounds, args.rounds_many, args.compute_rounds) < 1:
        parser.error("--models, --rounds, --rounds-many and --compute-rounds must be >= 1")
    if args.size not in ("tiny", "small", "full"):
        parser.error(f"--size: {args.size!r} is not one of tiny, small, full")
    if args.live_scale < 1:
        parser.error("--live-scale must be >= 1")
    if args.live_scale > 1:  # a size of this process's sandboxes: live files live_scale times as long
        base = SIZES[args.size]
        args.size = f"{base.name}-live{args.live_scale}x"
        SIZES[args.size] = dataclasses.replace(base, name=args.size, live_rows=base.live_rows * args.live_scale)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # the sandbox: errors only
    say: Say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.verbose else (lambda *_a: None)
    root = Path(tempfile.mkdtemp(prefix="ne2e-", dir="/tmp"))
    results: dict[int, dict[str, Any]] = {}
    with terminate_as_exit():
        try:
            for n in args.counts:
                results[n] = bench_models(args, root, n, say)
        finally:
            if args.keep:
                print(f"[e2e] kept {root}", file=sys.stderr)
            else:
                shutil.rmtree(root, ignore_errors=True)
    s = summary(results)
    print_table(args, results, s)
    if args.json:
        print(
            json.dumps(
                {
                    "size": args.size,
                    "rounds": args.rounds,
                    "rounds_many": args.rounds_many,
                    "compute_rounds": args.compute_rounds,
                    "contestants": sorted(args.contestants),
                    "detect": args.detect,
                    **s,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
