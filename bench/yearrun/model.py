"""The year's model handler: the bundled model, with the trouble the bench plans for some rounds.

``options.trouble_dir`` holds a file ``<model>_<round>.json`` for each round where this model
misbehaves, ``{"kind": "raise" | "hang", "until": EPOCH}``: ``raise`` fails the round's
``new_tournament_data`` until that moment (a bug fixed meanwhile: the redelivery after it
succeeds), ``hang`` blocks it until then (a hung callback). ``options.min_train_seconds`` (how long
a retraining lasts) applies to trainings in the background only: the first one runs at once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from handlers.model import ModelHandler
from handlers.training import fit


def trouble_file(directory: Path, model: str, round_number: int) -> Path:
    """Where the bench plans ``model``'s trouble in round ``round_number``."""
    return directory / f"{model}_{round_number}.json"


class YearModel(ModelHandler):
    """The bundled model handler, raising or hanging where the bench says (see the module docstring)."""

    def on_new_tournament_data(self, round_number: int) -> None:
        """Raise or hang while the round's trouble lasts, then predict as the bundled model does."""
        path = trouble_file(Path(str(self.options["trouble_dir"])), self.model_name, round_number)
        if path.exists():
            trouble = json.loads(path.read_text())
            left = float(trouble["until"]) - time.time()
            if left > 0 and trouble["kind"] == "raise":
                raise RuntimeError(f"a bug in the model for round {round_number} ({left:.1f} s more)")
            if left > 0:
                self.log.warning("model_hangs", round=round_number, seconds=round(left, 1))
                time.sleep(left)
        super().on_new_tournament_data(round_number)

    def train(self, round_number: int, files: dict[str, str]) -> None:
        """The first training (or one with ``retrain = "before"``), without the retraining's hold."""
        model_file = self._dir() / "models" / f"model_round_{round_number}.joblib"
        options = {k: v for k, v in self.options.items() if k != "min_train_seconds"}
        result = fit(files, options, model_file, log=self.log, failpoints=self.failpoints)
        self._adopt(result | self._provenance(round_number))
