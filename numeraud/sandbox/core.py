"""The sandbox's Numerai as one object: rounds, account, datasets, submissions and scores.

:class:`SandboxCore` builds the parts, each in its own module, over one shared state and lock,
and answers every operation of the GraphQL API and of the admin API through them; the HTTP layer
(:mod:`numeraud.sandbox.server`) only translates requests. Time is always passed in (``now``),
so the logic is tested without waiting for a real clock.

* :mod:`~numeraud.sandbox.rounds`: opening, closing, fast-forward, the tick (``RoundBook``), with
  :mod:`~numeraud.sandbox.schedule_shifts` (Numerai moving its times) and live data published late;
* :mod:`~numeraud.sandbox.accounts`: API keys, models, webhooks (``Accounts``);
* :mod:`~numeraud.sandbox.catalogue`: dataset names, files, releases (``DatasetCatalogue``);
* :mod:`~numeraud.sandbox.submissions`: uploads and their validation (``Submissions``);
* :mod:`~numeraud.sandbox.resolution`: scoring a closed round (``Resolver``);
* :mod:`~numeraud.sandbox.compute`: Model Upload pickles (``ComputeUploads``), and
  :mod:`~numeraud.sandbox.compute_runs`: Compute's runs of them by numerai-predict (``ComputeRuns``);
* :mod:`~numeraud.sandbox.signals`: Signals and Crypto on Classic's calendar (``SideTournament``).
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from numeraud.common.tournaments import CLASSIC, CRYPTO, SIGNALS
from numeraud.sandbox.accounts import Accounts
from numeraud.sandbox.catalogue import DatasetCatalogue
from numeraud.sandbox.clock import Schedule, VirtualClock
from numeraud.sandbox.compute import ComputeUploads
from numeraud.sandbox.compute_runs import ComputeRuns
from numeraud.sandbox.datagen import DatasetGenerator
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.faults import FaultPlan
from numeraud.sandbox.options import SandboxKey, SandboxOptions
from numeraud.sandbox.records import Model, PendingUpload, Round, SandboxState, Score, Submission, iso
from numeraud.sandbox.resolution import Resolver
from numeraud.sandbox.rounds import RoundBook, RoundOpenCallback
from numeraud.sandbox.schedule_shifts import ShiftRequest
from numeraud.sandbox.signals import SideTournament
from numeraud.sandbox.submissions import Submissions


class SandboxCore:
    """The sandbox's Numerai (see the module docstring)."""

    def __init__(
        self, options: SandboxOptions, *, now: datetime | None = None, clock: VirtualClock | None = None
    ) -> None:
        """Build the sandbox's Numerai at ``now`` (default: the wall clock), on ``clock`` if given."""
        start = now or datetime.now(UTC)
        self.options = options
        #: Guards :attr:`state` (re-entrant: a part holding it may call another).
        self.lock = threading.RLock()
        self.state = SandboxState()
        self.faults = FaultPlan(seed=options.seed)
        self.requests: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.generator = DatasetGenerator(options.data_dir, options.size, options.seed, train_rows=options.train_rows)
        self.clock = clock or VirtualClock()
        # The first version (whose live files hold the universe and the truth scoring reads) is
        # generated now; the others when first asked for (DatasetCatalogue), so starting takes
        # about as long whatever the number of versions.
        self.generator.ensure_version(options.versions[0])
        self.state.versions.extend(options.versions)
        open_lock = threading.Lock()
        self.accounts = Accounts(options, self.state, self.lock)
        self.rounds = RoundBook(
            options,
            self.state,
            lock=self.lock,
            open_lock=open_lock,
            generator=self.generator,
            clock=self.clock,
            start=start,
            resolve=self._resolve_due,
        )
        self.catalogue = DatasetCatalogue(
            options.data_dir,
            self.state,
            lock=self.lock,
            open_lock=open_lock,
            generator=self.generator,
            current_round=self.rounds.current_round,
        )
        self.submissions = Submissions(
            options.data_dir,
            self.state,
            lock=self.lock,
            accounts=self.accounts,
            current_round=self.rounds.current_round,
        )
        self.results = Resolver(self.state, lock=self.lock, generator=self.generator, find_round=self.rounds.find_round)
        self.compute = ComputeUploads(options.data_dir, self.state, lock=self.lock, accounts=self.accounts)
        self.compute_runs = ComputeRuns(
            options.data_dir, self.state, lock=self.lock, accounts=self.accounts, submissions=self.submissions
        )
        #: Signals and Crypto, by tournament number; their data is generated when first asked for.
        self.tournaments = {
            number: SideTournament(
                number,
                data_dir=options.data_dir,
                size=options.size,
                seed=options.seed,
                public_id=options.public_id,
                model_names=names,
                require_date=options.signals_require_date,
                lock=self.lock,
                classic_rounds=lambda: list(self.state.rounds),
            )
            for number, names in ((SIGNALS, options.signals_models), (CRYPTO, options.crypto_models))
        }

    # -- the parts' state, as tests and the demo read it ----------------------------------------

    @property
    def models(self) -> list[Model]:
        """The account's models."""
        return self.accounts.models

    @property
    def schedule(self) -> Schedule:
        """The schedule rounds follow (read on :attr:`clock`)."""
        return self.rounds.schedule

    @property
    def on_round_open(self) -> list[RoundOpenCallback]:
        """Called after a round opens, with its number and every (model id, webhook URL)."""
        return self.rounds.on_round_open

    # -- rounds ---------------------------------------------------------------------------------

    def current_round(self) -> Round:
        """The latest opened round (it may already be closed)."""
        return self.rounds.current_round()

    def find_round(self, number: int) -> Round:
        """A round by number; :class:`~numeraud.sandbox.errors.AdminError` if it never opened."""
        return self.rounds.find_round(number)

    def open_round(self, now: datetime, window: float | None = None) -> Round:
        """Open the next round now (closing the current one if still open) and announce it."""
        return self.rounds.open_round(now, window)

    def close_round(self, now: datetime) -> Round:
        """Close the current round for on-time submissions now."""
        return self.rounds.close_round(now)

    def shift_schedule(self, request: ShiftRequest, now: datetime) -> dict[str, Any]:
        """Move the next open and/or a round's close (see :mod:`numeraud.sandbox.schedule_shifts`)."""
        return self.rounds.shift(request, now)

    def publish_live(self, now: datetime, in_seconds: float = 0.0, number: int | None = None) -> Round:
        """Publish a round's (default: the latest) live files ``in_seconds`` from ``now``."""
        return self.rounds.publish_live(now, in_seconds, number)

    def set_live_delay(self, seconds: float) -> None:
        """Rounds opened from now on have their live files published ``seconds`` after their open."""
        self.rounds.set_live_delay(seconds)

    @property
    def live_delay(self) -> float:
        """Seconds after its open before a round opened from now on has its live files published."""
        return self.rounds.live_delay

    def advance(self, seconds: float, now: datetime) -> list[Round]:
        """Fast-forward the schedule; every round that opened meanwhile (see :meth:`RoundBook.advance`)."""
        return self.rounds.advance(seconds, now)

    def sync(self, now: datetime) -> list[Round]:
        """Apply the schedule up to ``now`` (the tick); returns the rounds it opened."""
        return self.rounds.sync(now)

    # -- account --------------------------------------------------------------------------------

    def authenticate(self, header: str | None) -> SandboxKey | None:
        """The key an ``Authorization`` header names, None without one; raises on a bad one."""
        return self.accounts.authenticate(header)

    def model(self, model_id: str | None) -> Model:
        """The account's model with this id; :class:`~numeraud.sandbox.errors.ApiError` otherwise."""
        return self.accounts.model(model_id)

    def set_webhook(self, model_id: str, url: str | None) -> None:
        """Register (or with ``None`` remove) a model's round-open webhook."""
        self.accounts.set_webhook(model_id, url)

    # -- datasets -------------------------------------------------------------------------------

    def list_datasets(self) -> list[str]:
        """Every public dataset file name, newest version first."""
        return self.catalogue.list_datasets()

    def resolve_dataset(self, filename: str, round_number: int | None, now: datetime | None = None) -> str:
        """Map a requested dataset name to the file served at ``now`` (``live.parquet`` → that
        round's file; see :meth:`DatasetCatalogue.resolve_dataset` for live data not yet published)."""
        return self.catalogue.resolve_dataset(filename, round_number, now or datetime.now(UTC))

    def public_file(self, relative: str, now: datetime | None = None) -> Path | None:
        """The on-disk path of a public file at ``now`` (default: the wall clock), or None if it is not one."""
        side = self.tournament_of_file(relative)
        if side != CLASSIC:
            return self.tournaments[side].public_file(relative, now or datetime.now(UTC))
        return self.catalogue.public_file(relative, now or datetime.now(UTC))

    def tournament_of_file(self, relative: str) -> int:
        """The tournament a dataset name belongs to: ``signals/…`` 11, ``crypto/…`` 12, else Classic."""
        for number, side in self.tournaments.items():
            if relative.startswith(f"{side.name}/"):
                return number
        return CLASSIC

    def etag(self, path: Path) -> str:
        """The file's ETag as S3 gives it for a single-part object: its MD5, quoted."""
        return self.catalogue.etag(path)

    def release_dataset(self, version: str, now: datetime) -> list[str]:
        """Publish a new dataset version; returns its files."""
        return self.catalogue.release_dataset(version, now)

    def update_validation(self, version: str | None, eras: int) -> list[str]:
        """Numerai's weekly validation update: ``eras`` more eras in ``version`` (default newest)."""
        return self.catalogue.update_validation(version, eras)

    # -- submissions and scores -----------------------------------------------------------------

    def upload_auth(self, filename: str, tournament: int, model_id: str | None) -> PendingUpload:
        """Hand out an upload slot (``submission_upload_auth``)."""
        return self.submissions.upload_auth(filename, tournament, model_id)

    def pending_upload(self, token: str) -> PendingUpload | None:
        """The upload slot behind a PUT URL's token (of any tournament)."""
        found = self.submissions.pending_upload(token)
        for side in self.tournaments.values():
            found = found or side.pending_upload(token)
        return found

    def upload_tournament(self, token: str) -> int | None:
        """The tournament of the upload slot behind a PUT URL's token, None if there is none."""
        if self.submissions.pending_upload(token) is not None:
            return CLASSIC
        return next((n for n, side in self.tournaments.items() if side.pending_upload(token) is not None), None)

    def create_submission(self, filename: str, tournament: int, model_id: str | None, now: datetime) -> str:
        """Validate an uploaded file with Numerai's rules and record it (``create_submission``)."""
        return self.submissions.create_submission(filename, tournament, model_id, now)

    def live_ids(self, round_number: int) -> pd.Index:
        """The live universe of a round (the ids of its live file)."""
        return self.submissions.live_ids(round_number)

    def submissions_of(self, model_id: str) -> list[Submission]:
        """A model's submissions, oldest first."""
        return self.submissions.submissions_of(model_id)

    def resolve(self, number: int, now: datetime) -> list[Score]:
        """Score round ``number`` (once; a second call gets the same scores)."""
        return self.results.resolve(number, now)

    def side(self, tournament: int) -> SideTournament:
        """Signals (11) or Crypto (12); :class:`ApiError` for any other number."""
        if tournament not in self.tournaments:
            raise ApiError(f"Tournament {tournament} is not served by the sandbox (Classic 8, Signals 11, Crypto 12)")
        return self.tournaments[tournament]

    def _resolve_due(self, number: int, now: datetime) -> None:
        """The schedule's resolve of round ``number``: Classic's, then Signals' and Crypto's."""
        failures: list[Exception] = []
        for resolve in (self.resolve, *(side.resolve for side in self.tournaments.values())):
            try:
                resolve(number, now)
            except Exception as exc:  # one tournament's failure never holds back another's
                failures.append(exc)
        if failures:
            raise failures[0]

    def scores_of(self, model_id: str) -> list[Score]:
        """A model's scores, by round."""
        return self.results.scores_of(model_id)

    # -- admin views ----------------------------------------------------------------------------

    def uploads_json(self) -> list[dict[str, Any]]:
        """Every ``create_submission`` seen: model, round, file, rows, accepted or why not."""
        return self.submissions.uploads_json()

    def status_json(self, now: datetime) -> dict[str, Any]:
        """A summary of the sandbox for ``GET /admin/status``."""
        with self.lock:
            current = self.state.rounds[-1]
            return {
                "round": current.number,
                "open": current.is_open(now),
                "open_time": iso(current.open_time),
                "close_staking_time": iso(current.close_staking_time),
                "versions": list(self.state.versions),
                "models": {m.name: m.id for m in self.models},
                "schedule": self.options.schedule,
                "clock_offset_seconds": self.clock.offset.total_seconds(),
                "rounds": [
                    {
                        "number": r.number,
                        "status": r.status(now),
                        "open_time": iso(r.open_time),
                        "close_staking_time": iso(r.close_staking_time),
                        "live_published": r.live_published(now),
                    }
                    for r in self.state.rounds
                ],
            }
