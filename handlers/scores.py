"""The bundled scores collector: each model's round scores from Numerai, kept and charted.

On every ``round_begin`` (and ``round_resolved`` if anything emits it) it fetches each model's
submission scores with numerapi (``submission_scores``, public, by model id; the latest day of
each round), stores them in ``scores.json`` in its state directory and renders ``scores.png``:
per-round CORR and MMC per model. ``numeraudctl scores`` shows the table::

    [handlers.scores]
    class = "numeraud_handlers.scores:ScoresHandler"
    options = { models = ["my_model", "my_other_model"] }   # default: every model of the account

Model ids are resolved with the account's keys when they are available; without keys, give
``model_ids = { my_model = "uuid" }``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from numeraud import EventHandler, HandlerEvent
from numeraud.common.files import atomic_path, atomic_write
from numeraud.numerai.client import NUMERAI_API_URL, NumeraiClient, NumeraiError
from numeraud.numerai.credentials import load_keys

SCORES_FILE = "scores.json"
CHART_FILE = "scores.png"


def load_scores(state_dir: Path) -> list[dict[str, Any]]:
    """The stored score rows (``model``, ``round``, ``name``, ``value``, ``resolved``), oldest round first."""
    try:
        rows: list[dict[str, Any]] = json.loads((state_dir / SCORES_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return rows


def render_chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Plot per-round scores per model (one panel per score name) into a PNG, atomically."""
    import matplotlib  # noqa: PLC0415 - imported lazily: only this handler needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    names = sorted({row["name"] for row in rows}) or ["v2_corr20"]
    figure, axes = plt.subplots(len(names), 1, figsize=(9, 3.2 * len(names)), squeeze=False)
    for axis, name in zip(axes[:, 0], names, strict=True):
        for model in sorted({row["model"] for row in rows}):
            points = sorted((r["round"], r["value"]) for r in rows if r["model"] == model and r["name"] == name)
            if points:
                axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=model)
        axis.axhline(0, color="grey", linewidth=0.8)
        axis.set_title(name)
        axis.set_xlabel("round")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend(loc="best", fontsize="small")
    figure.tight_layout()
    try:
        with atomic_path(path, mode=0o644) as temp:
            figure.savefig(temp, dpi=90, format="png")
    finally:
        plt.close(figure)


class ScoresHandler(EventHandler):
    """Collects resolved round scores (see the module docstring)."""

    def on_start(self) -> None:
        """Build the client (keys optional)."""
        keys = load_keys(self.options)
        api_url = str(self.options.get("api_url") or self.numerai_api_url or NUMERAI_API_URL)
        self.client = NumeraiClient(api_url, keys.public_id if keys else None, keys.secret_key if keys else None)

    def _model_ids(self) -> dict[str, str]:
        given = self.options.get("model_ids")
        if isinstance(given, dict) and given:
            return {str(k): str(v) for k, v in given.items()}
        account = {k.lower(): v for k, v in self.client.get_models().items()}
        wanted = self.options.get("models")
        if not wanted:
            return account
        missing = [m for m in wanted if m.lower() not in account]
        if missing:
            raise ValueError(f"options.models: the account has no model(s) {', '.join(missing)}")
        return {m.lower(): account[m.lower()] for m in wanted}

    def collect(self) -> list[dict[str, Any]]:
        """Fetch every model's round performances and store them with the chart."""
        latest: dict[tuple[str, int, str], dict[str, Any]] = {}
        for model, model_id in sorted(self._model_ids().items()):
            for score in self.client.submission_scores(model_id):
                # Numerai scores a round daily until it resolves: keep each metric's latest day.
                key = (model, int(score["roundNumber"]), str(score["displayName"]))
                if key in latest and int(score.get("day") or 0) < latest[key]["day"]:
                    continue
                latest[key] = {
                    "model": model,
                    "round": key[1],
                    "name": key[2],
                    "value": float(score["value"]),
                    "percentile": score.get("percentile"),
                    "resolved": bool(score.get("resolved")),
                    "day": int(score.get("day") or 0),
                }
        rows = list(latest.values())
        rows.sort(key=lambda r: (r["round"], r["model"], r["name"]))
        state_dir = self.state_dir or Path(".")
        state_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(state_dir / SCORES_FILE, json.dumps(rows, indent=1))
        render_chart(rows, state_dir / CHART_FILE)
        self.persistent_state["rounds_scored"] = sorted({r["round"] for r in rows})
        self.log.info("scores_collected", rows=len(rows), rounds=len(self.persistent_state["rounds_scored"]))
        return rows

    def on_round_begin(self, round_number: int) -> None:
        """A new round is a good moment to look for newly resolved ones."""
        try:
            self.collect()
        except NumeraiError as exc:
            self.log.warning("scores_unavailable", error=str(exc))

    def on_round_resolved(self, event: HandlerEvent) -> None:
        """Collect at once when told a round resolved."""
        self.collect()
