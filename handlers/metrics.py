"""Per-era validation scores with Numerai's own scoring code (numerai-tools), and their summary."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd
from numerai_tools.scoring import correlation_contribution, numerai_corr


@dataclass(frozen=True)
class Summary:
    """Mean, standard deviation, sharpe and maximum drawdown of a per-era score series."""

    mean: float
    std: float
    sharpe: float
    max_drawdown: float
    eras: int

    def as_dict(self) -> dict[str, float]:
        """JSON-ready (NaN becomes None-free 0.0 so state files stay strict JSON)."""
        return {
            key: (0.0 if isinstance(value, float) and math.isnan(value) else value)
            for key, value in asdict(self).items()
        }


def summarize(scores: pd.Series) -> Summary:
    """Summarize per-era scores; max drawdown is the deepest fall of their running sum."""
    scores = scores.dropna()
    cumulative = scores.cumsum()
    drawdown = float((cumulative - cumulative.cummax()).min()) if len(scores) else 0.0
    std = float(scores.std(ddof=0)) if len(scores) else 0.0
    mean = float(scores.mean()) if len(scores) else 0.0
    return Summary(mean=mean, std=std, sharpe=mean / std if std > 0 else 0.0, max_drawdown=drawdown, eras=len(scores))


def per_era_corr(frame: pd.DataFrame, prediction: str = "prediction", target: str = "target") -> pd.Series:
    """Numerai's CORR (``numerai_corr``) of ``prediction`` against ``target``, per era."""
    return frame.groupby("era")[[prediction, target]].apply(
        lambda era: float(numerai_corr(era[[prediction]], era[target])[prediction])
    )


def per_era_mmc(
    frame: pd.DataFrame, prediction: str = "prediction", meta: str = "numerai_meta_model", target: str = "target"
) -> pd.Series:
    """Numerai's MMC (``correlation_contribution``) against the meta model, per era with one."""
    usable = frame.dropna(subset=[meta])
    return usable.groupby("era")[[prediction, meta, target]].apply(
        lambda era: float(correlation_contribution(era[[prediction]], era[meta], era[target])[prediction])
    )
