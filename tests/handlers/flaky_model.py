"""A model handler that fails to predict while a flag file exists (a bug the user fixes mid-round)."""

from __future__ import annotations

from pathlib import Path

from handlers.model import ModelHandler


class FlakyModel(ModelHandler):
    """The bundled model, except that ``on_new_tournament_data`` raises while ``options.fail_while`` exists."""

    def on_new_tournament_data(self, round_number: int) -> None:
        """Raise while the flag file exists, else predict as the bundled model does."""
        if Path(str(self.options["fail_while"])).exists():
            raise RuntimeError(f"a bug in the model (round {round_number})")
        super().on_new_tournament_data(round_number)
