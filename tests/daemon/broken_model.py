"""The bundled model handler, broken on purpose while a file exists (numeraudctl's tests)."""

from __future__ import annotations

from pathlib import Path

from numeraud_handlers.model import ModelHandler


class BrokenModel(ModelHandler):  # type: ignore[misc]  # numeraud_handlers is untyped for mypy (pyproject)
    """Raises in ``on_new_tournament_data`` while ``options.break_file`` exists."""

    def on_new_tournament_data(self, round_number: int) -> None:
        """Fail while the break file exists, else predict as the bundled handler does."""
        if Path(str(self.options["break_file"])).exists():
            raise RuntimeError(f"broken on purpose for round {round_number}")
        super().on_new_tournament_data(round_number)
