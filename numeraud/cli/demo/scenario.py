"""The demo's scenario: daily rounds on a fast-forwarded sandbox, a dataset release, a killed handler.

1. The sandbox (in this process) follows Numerai's daily calendar; the demo fast-forwards its
   clock to each round's open and close, so a day passes in a second.
2. ``numeraud run --spawn-handlers`` (a child process) notices each round, syncs and verifies its
   data, and its handlers (three models, the uploader, the scores collector; one process each)
   train, predict, upload once per model and confirm.
3. Before the middle round the sandbox releases a new dataset version: numeraud syncs it, every
   model retrains on it, and that round and the next use it.
4. While model-b retrains, the demo finds its pid and in-flight event through the control API and
   SIGKILLs it. The supervisor restarts it and delivers the event again (attempt 2); the demo
   checks model-b's state file names that delivery, and that Numerai accepted exactly one upload
   per (round, model).
5. Each round closes and resolves (the sandbox scores it at once; Numerai takes about a month),
   the scores collector fetches the scores and draws its chart, and the demo ends with
   ``numeraudctl status`` and a round x model table.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from numeraud.cli import ctl
from numeraud.cli.demo.crash import Calendar, Kill, kill_mid_training
from numeraud.cli.demo.observe import DemoFailed, Observer, Story
from numeraud.cli.demo.processes import PortTaken, SignalGate, port_message, start_supervisor
from numeraud.cli.demo.report import Row, build_rows, problems, render_csv, render_markdown, render_text
from numeraud.cli.demo.workdir import DemoDir
from numeraud.cli.starter import StarterOptions, handler_name, render, runtime_dir_for, write_sandbox_keys
from numeraud.common.config import Config
from numeraud.common.config_file import load
from numeraud.common.processes import cmdline, process_alive, stop_process
from numeraud.control import ControlError
from numeraud.control.client import ControlClient, NoReply, NotRunning
from numeraud.sandbox import Sandbox, SandboxOptions

#: The sandbox account's Numerai models; their handlers are model-a, model-b, model-c.
MODELS: Final = ("a", "b", "c")
#: The model whose handler is killed while it retrains.
VICTIM: Final = "b"
FIRST_VERSION: Final = "v5.2"
NEW_VERSION: Final = "v5.3"
#: The victim's training lasts at least this long (a demo-only option of the model handler), so
#: that it is caught mid-training even on a fast machine or with ``--size tiny``.
MIN_TRAIN_SECONDS: Final = 4.0


@dataclass(frozen=True)
class DemoOptions:
    """What ``numeraud demo`` was asked for."""

    size: str = "small"
    seed: int = 0
    rounds: int = 3
    port: int = 0
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.rounds < 2:
            raise ValueError("rounds: the demo needs at least 2 (a dataset release between two rounds)")

    @property
    def release_index(self) -> int:
        """Before which played round (0-based) the new dataset version is released."""
        return max(1, self.rounds // 2)


@dataclass
class DemoReport:
    """What the demo achieved; ``ok`` is what its exit code says."""

    rows: list[Row] = field(default_factory=list)
    kill: Kill | None = None
    problems: list[str] = field(default_factory=list)
    failure: str | None = None

    @property
    def ok(self) -> bool:
        """Every step happened and every check passed."""
        redelivered = self.kill is not None and (self.kill.attempt or 0) >= 2
        return self.failure is None and not self.problems and bool(self.rows) and redelivered


class DemoRun:
    """One run of the demo in a locked directory; leaving the ``with`` block stops everything."""

    def __init__(self, options: DemoOptions, where: DemoDir, say: Story, gate: SignalGate) -> None:
        self.options = options
        self.where = where
        self.say = say
        self.gate = gate
        self.handlers = {handler_name(model): model for model in MODELS}
        self.victim = handler_name(VICTIM)
        self.sandbox: Sandbox | None = None
        self.supervisor: subprocess.Popen[bytes] | None = None
        self.observer: Observer | None = None
        self.config: Config | None = None
        self.rounds: list[int] = []
        self.data_versions: dict[int, str | None] = {}
        self.snapshots: dict[int, dict[str, dict[str, Any]]] = {}

    def __enter__(self) -> DemoRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the parts -----------------------------------------------------------------------------

    def _watch(self) -> Observer:
        if self.observer is None:
            raise RuntimeError("the daemon is not started")
        return self.observer

    def _sandbox(self) -> Sandbox:
        if self.sandbox is None:
            raise RuntimeError("the sandbox is not started")
        return self.sandbox

    def _control(self, command: str, **args: Any) -> Any:
        if self.config is None:
            raise RuntimeError("the daemon is not started")
        try:
            return ControlClient(self.config.bus.control_endpoint, timeout=10.0).call(command, **args)
        except (ControlError, NotRunning, NoReply) as exc:
            raise DemoFailed(f"the control command {command} failed: {exc}") from None

    def start(self) -> None:
        """Start the sandbox, write the configuration, open the first round, start the supervisor."""
        options, where, say = self.options, self.where, self.say
        say(f"generating the sandbox's synthetic Numerai data ({options.size}, dataset {FIRST_VERSION})")
        sandbox_options = SandboxOptions(
            data_dir=where.sandbox_dir,
            size=options.size,
            seed=options.seed,
            models=MODELS,
            versions=(FIRST_VERSION,),
            schedule="daily",
        )
        try:
            self.sandbox = Sandbox(sandbox_options, host=options.host, port=options.port).start()
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                raise PortTaken(port_message(options.port, exc)) from None
            raise
        self.sandbox.log.info("sandbox_ready", url=self.sandbox.url, data_dir=str(where.sandbox_dir))
        say(
            f"sandbox (a local Numerai) at {self.sandbox.url}: Numerai's daily calendar (rounds Tue-Sat, "
            f"12:00-13:00 UTC), models {', '.join(MODELS)}"
        )
        config_path = self._write_config(self.sandbox.url)
        self.config = load(str(config_path))
        say(
            f"configuration {where.show(config_path)}, as `numeraud init --sandbox` writes it (but {self.victim} "
            f"trains for at least {MIN_TRAIN_SECONDS:g} s, to be caught mid-training)"
        )
        number, when = Calendar(self.sandbox).open_next()
        say(
            f"fast-forwarded the sandbox's clock to {when:%a %Y-%m-%d %H:%M} UTC: round {number} opened "
            f"(round {number - 1} closed before numeraud started)"
        )
        self.supervisor = start_supervisor(config_path, where.log)
        say(
            f"started `numeraud run --spawn-handlers` (pid {self.supervisor.pid}): the supervisor and one process "
            f"per handler; log: {where.show(where.log)}"
        )
        self.observer = Observer(self.config, say, self.handlers, self.supervisor)

    def _write_config(self, url: str) -> Path:
        where = self.where
        key_files = write_sandbox_keys(where.path / "keys")
        starter = StarterOptions(
            models=MODELS,
            api_url=url,
            state_dir=where.state_dir,
            runtime_dir=runtime_dir_for(where.state_dir),
            key_files=key_files,
            sandbox=True,
            idle_interval=1,
            fast_interval=1,
            # retrain = "before" (numerauto's order): the demo shows every model retrained on the new
            # version for the very round that brought it, and the victim killed inside that training
            model_options={
                model: {"retrain": "before", **({"min_train_seconds": MIN_TRAIN_SECONDS} if model == VICTIM else {})}
                for model in MODELS
            },
        )
        where.config.write_text(render(starter), encoding="utf-8")
        return where.config

    # -- the story -----------------------------------------------------------------------------

    def play(self) -> DemoReport:
        """Run the scenario (see the module docstring); a failed step ends it with ``failure`` set."""
        report = DemoReport()
        try:
            self.start()
            sandbox, calendar = self._sandbox(), Calendar(self._sandbox())
            for index in range(self.options.rounds):
                if index:
                    if index == self.options.release_index:
                        sandbox.release_dataset(NEW_VERSION)
                        self.say(f"new dataset {NEW_VERSION} released by the sandbox")
                    number, when = calendar.open_next()
                    self.say(f"fast-forwarded to {when:%a %Y-%m-%d %H:%M} UTC: round {number} opened")
                    self._control("poll-now")
                else:
                    number = sandbox.core.current_round().number
                self._play_round(number, calendar, report, release=index == self.options.release_index)
            self._finish(report)
        except DemoFailed as exc:
            report.failure = str(exc)
            self.say(f"DEMO FAILED: {exc}; the daemon's log is {self.where.show(self.where.log)}")
            return report
        if report.ok:
            self.say(
                f"demo finished, every check passed: {NEW_VERSION} retrained every model, the killed handler's "
                "event came again and was handled, each model was accepted once per round, every round scored"
            )
        else:
            self.say("demo finished: SOMETHING WENT WRONG (see CHECK FAILED above)")
        return report

    def _play_round(self, number: int, calendar: Calendar, report: DemoReport, *, release: bool) -> None:
        watch = self._watch()
        self.rounds.append(number)
        watch.until(f"numeraud to notice round {number}", lambda: bool(watch.find("round_begin", number)))
        begin = watch.find("round_begin", number)[0]
        self.data_versions[number] = begin.payload.get("version")
        if release:
            report.kill = kill_mid_training(watch, self.say, self.victim, number, NEW_VERSION)
        self._wait_accepted(number)
        self.snapshots[number] = {
            name: {
                "trained_on": watch.model_state(name).get("dataset_version"),
                "validation_corr": watch.validation_corr(name),
            }
            for name in self.handlers
        }
        deadline = calendar.close(number)
        self._control("poll-now")
        watch.until(f"numeraud to see round {number} close", lambda: bool(watch.find("round_closed", number)))
        self.say(f"fast-forwarded to {deadline:%a %H:%M} UTC: round {number} closed; numeraud saw its deadline pass")
        self._sandbox().resolve(number)
        self._control("append", kind="round_resolved", round=number, payload={"round": number})
        self.say(
            f"round {number} resolved: scored by the sandbox at once (Numerai: in about a month); the scores "
            "collector was told (numeraudctl append round_resolved)"
        )

    def _wait_accepted(self, number: int) -> None:
        watch, sandbox = self._watch(), self._sandbox()

        def accepted() -> set[str]:
            return {str(u["model"]) for u in sandbox.uploads() if u["round"] == number and u["accepted"]}

        def confirmed() -> set[str]:
            return {str(e.payload.get("model")) for e in watch.find("submission_uploaded", number)}

        watch.until(f"round {number}'s uploads", lambda: accepted() >= set(MODELS) and confirmed() >= set(MODELS))
        self.say(f"round {number}: {len(MODELS)}/{len(MODELS)} models uploaded and accepted by Numerai (the sandbox)")

    def _finish(self, report: DemoReport) -> None:
        watch, where, config = self._watch(), self.where, self.config
        if config is None:
            raise RuntimeError("the daemon is not started")
        scores_dir = config.handlers["scores"].state_dir
        chart = scores_dir / "scores.png"
        score_rows: list[dict[str, Any]] = []

        def scored() -> bool:
            try:
                score_rows[:] = json.loads((scores_dir / "scores.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return False
            have = {(int(r["round"]), str(r["model"])) for r in score_rows if r.get("name") == "v2_corr20"}
            missing = [(n, m) for n in self.rounds for m in MODELS if (n, m) not in have]
            return chart.exists() and not missing

        watch.until("the scores collector to fetch every round's scores", scored)
        self.say(f"scores of rounds {', '.join(map(str, self.rounds))} collected; chart drawn")
        watch.until("every handler to catch up with the log", watch.caught_up)
        head = watch.status.get("head_seq")
        self.say(f"nothing lost: every handler acked all {head} events of the log; none in flight, none blocked")
        rows = build_rows(
            self.rounds,
            self.handlers,
            data_versions=self.data_versions,
            snapshots=self.snapshots,
            uploaded_events=[
                (int(e.round or 0), str(e.payload.get("model"))) for e in watch.find("submission_uploaded")
            ],
            uploads=self._sandbox().uploads(),
            scores=score_rows,
        )
        report.rows = rows
        release_round = self.rounds[self.options.release_index]
        report.problems = problems(rows, new_version=NEW_VERSION, release_round=release_round)
        status = io.StringIO()
        ctl.main(["--config", str(where.config), "status"], stdout=status)
        self.say.plain()
        self.say.plain(f"$ numeraudctl --config {where.show(where.config)} status")
        self.say.plain(status.getvalue().rstrip())
        self.say.plain()
        self.say.plain(render_text(rows))
        self.say.plain()
        where.results_markdown.write_text(render_markdown(rows), encoding="utf-8")
        where.results_csv.write_text(render_csv(rows), encoding="utf-8")
        for problem in report.problems:
            self.say(f"CHECK FAILED: {problem}")
        self.say(
            f"table: {where.show(where.results_markdown)} and {where.show(where.results_csv)}; "
            f"chart: {where.show(chart)}; logs: {where.show(where.log)}"
        )

    # -- the end -------------------------------------------------------------------------------

    def explore(self) -> list[str]:
        """The commands to look around while everything runs (``--stay``)."""
        where = self.where
        config = where.show(where.config)
        url = self.sandbox.url if self.sandbox is not None else "http://127.0.0.1:PORT"
        return [
            f"numeraudctl --config {config} status",
            f"numeraudctl --config {config} events --limit 20",
            f"numeraudctl --config {config} scores",
            f"curl -s {url}/admin/uploads",
            f"tail -f {where.show(where.log)}",
        ]

    def stay(self) -> None:
        """Leave everything running, print how to explore it, and wait for SIGINT/SIGTERM."""
        self.say("everything keeps running; explore it from another terminal:")
        for command in self.explore():
            self.say.plain(f"    {command}")
        self.say("press Ctrl-C to stop it all")
        while True:
            time.sleep(3600)  # until the signal handler raises Interrupted

    def stop(self) -> None:
        """Stop the supervisor (and so its handlers) and the sandbox; a signal now is only noted."""
        with self.gate.deferred():
            pids: set[int] = set()
            if self.observer is not None:
                self.observer.poll_quietly()
                pids = self.observer.handler_pids()
                self.observer.close()
            if self.supervisor is not None:
                stop_process(self.supervisor, timeout=30.0)
            marker = str(self.where.config).encode()
            for pid in pids:  # the supervisor stops its children; make sure, for a supervisor that was killed
                if process_alive(pid) and marker in cmdline(pid):
                    os.kill(pid, signal.SIGKILL)
            if self.sandbox is not None:
                self.sandbox.stop()
                self.sandbox = None
