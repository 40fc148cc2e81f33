"""Scoring of resolved sandbox rounds with Numerai's own scoring code (numerai-tools)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from numerai_tools.scoring import correlation_contribution, numerai_corr


@dataclass(frozen=True)
class RoundScore:
    """CORR20v2 and MMC of one submission against a round's hidden targets."""

    corr: float
    mmc: float


def score_predictions(predictions: pd.Series, truth: pd.DataFrame) -> RoundScore:
    """Score id-indexed ``predictions`` against ``truth`` (``target`` and ``numerai_meta_model``).

    Ids without a target are dropped, as Numerai drops them; a round scores like one live era.
    """
    truth = truth.dropna(subset=["target"])
    frame = predictions.rename("prediction").to_frame()
    corr = numerai_corr(frame, truth["target"])["prediction"]
    mmc = correlation_contribution(frame, truth["numerai_meta_model"], truth["target"])["prediction"]
    return RoundScore(corr=float(corr), mmc=float(mmc))


def percentiles(values: dict[str, float]) -> dict[str, float]:
    """Each key's percentile (0..1) among ``values``, as Numerai reports it for a round."""
    if not values:
        return {}
    series = pd.Series(values)
    if len(series) == 1:
        return {key: 0.5 for key in values}
    ranks = series.rank(method="average")
    return {str(key): float((rank - 1) / (len(series) - 1)) for key, rank in ranks.items()}
