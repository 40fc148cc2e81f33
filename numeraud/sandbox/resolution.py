"""Resolving a round: every model's selected submission scored against the round's hidden targets."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from numeraud.numerai.submission import read_predictions_csv, validate_predictions
from numeraud.sandbox.datagen import DatasetGenerator
from numeraud.sandbox.errors import AdminError
from numeraud.sandbox.records import Round, SandboxState, Score
from numeraud.sandbox.scoring import percentiles, score_predictions

#: The scores a resolved round gives each submission, by Numerai's display name.
SCORE_NAMES = ("v2_corr20", "mmc")


class Resolver:
    """Scores rounds once each and keeps the scores (in ``state``, under ``lock``)."""

    def __init__(
        self,
        state: SandboxState,
        *,
        lock: threading.RLock,
        generator: DatasetGenerator,
        find_round: Callable[[int], Round],
    ) -> None:
        """Score against the hidden truth ``generator`` wrote for each round."""
        self.state = state
        self.lock = lock
        self.generator = generator
        self.find_round = find_round
        #: Held for a whole resolve: checking ``Round.resolved`` and marking it are one step.
        self._resolve_lock = threading.Lock()

    def resolve(self, number: int, now: datetime) -> list[Score]:
        """Score every model's selected submission for round ``number`` against hidden targets.

        Resolves are serialised: the tick thread and an admin call resolving the same round at
        once score it once, and both get its scores. Other API calls are not held up meanwhile.
        """
        with self._resolve_lock:
            return self._resolve(number, now)

    def _resolve(self, number: int, now: datetime) -> list[Score]:
        target_round = self.find_round(number)
        if target_round.is_open(now):
            raise AdminError(f"round {number} is still open")
        with self.lock:
            if target_round.resolved:
                return [s for s in self.state.scores if s.round == number]
            chosen = [s for s in self.state.submissions if s.round == number and s.selected]
            version = self.state.versions[0]
        truth = self.generator.live_truth(version, number)
        results: dict[str, dict[str, float]] = {name: {} for name in SCORE_NAMES}
        for submission in chosen:
            predictions = validate_predictions(
                truth.index, read_predictions_csv(submission.path.read_bytes())
            ).predictions
            score = score_predictions(predictions, truth)
            results["v2_corr20"][submission.id] = score.corr
            results["mmc"][submission.id] = score.mmc
        new_scores = []
        for name, values in results.items():
            ranks = percentiles(values)
            for submission in chosen:
                new_scores.append(
                    Score(
                        model_id=submission.model_id,
                        round=number,
                        submission_id=submission.id,
                        display_name=name,
                        value=values[submission.id],
                        percentile=ranks[submission.id],
                        date=now,
                    )
                )
        with self.lock:
            target_round.resolved = True
            target_round.virtual_resolve = None
            target_round.resolve_time = min(target_round.resolve_time, now)
            self.state.scores.extend(new_scores)
        return new_scores

    def scores_of(self, model_id: str) -> list[Score]:
        """A model's scores, by round."""
        with self.lock:
            return sorted((s for s in self.state.scores if s.model_id == model_id), key=lambda s: s.round)
