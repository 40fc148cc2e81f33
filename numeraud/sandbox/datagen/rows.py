"""The rows of one era or live round: binned features, binned targets, example and meta model outputs.

Features are group-correlated normals cut into 5 equal bins; a row's latent score is the era's
(slightly drifted) signal plus noise, binned per era into 5/20/50/20/5 % of {0, .25, .5, .75, 1}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from numeraud.sandbox.datagen.sizes import FEATURE_GROUPS
from numeraud.sandbox.datagen.world import FloatArray, World

#: Quantile cut points of the standard normal at 20/40/60/80 %: latent features are binned into 5 equal bins.
FEATURE_CUTS: Final = np.array([-0.8416212, -0.2533471, 0.2533471, 0.8416212], dtype=np.float32)
#: Cumulative share of each target bin: 5/20/50/20/5 %.
_TARGET_CUTS: Final = np.array([0.05, 0.25, 0.75, 0.95])
#: Per-era wobble of the signal weights, relative to their spread (Numerai's signal drifts too).
_ERA_DRIFT: Final = 0.2
#: Share of feature columns a dataset version re-draws in each era (versions differ a little).
_VERSION_CHURN: Final = 0.03
#: Chance that a feature is missing (all values 2) for a whole era.
_MISSING_FEATURE_RATE: Final = 0.005


def rank01(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Ranks along the last axis scaled into (0, 1): ``(rank + 0.5) / n``."""
    n = values.shape[-1]
    order = np.argsort(values, axis=-1, kind="stable")
    ranks = np.empty(values.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(n, dtype=np.float64), values.shape), axis=-1)
    scaled: npt.NDArray[np.float64] = (ranks + 0.5) / n
    return scaled


def _bin_targets(latent: FloatArray) -> FloatArray:
    """Bin each row of ``latent`` by rank into 5/20/50/20/5 % of {0, .25, .5, .75, 1}."""
    bins = np.searchsorted(_TARGET_CUTS, rank01(latent), side="right")
    return (bins * 0.25).astype(np.float32)


@dataclass(frozen=True)
class Block:
    """One era's rows: features (feature by row), targets (target by row), model outputs in (0, 1)."""

    features: npt.NDArray[np.int8]
    targets: FloatArray
    example: npt.NDArray[np.float64]
    meta: npt.NDArray[np.float64]

    @property
    def rows(self) -> int:
        """Number of rows in the era."""
        return int(self.features.shape[1])


def make_block(world: World, rng: np.random.Generator, version_rng: np.random.Generator, rows: int) -> Block:
    """One era (or live round) of ``rows`` rows.

    ``rng`` fixes what every version shares (targets, meta model, the features before the
    version's noise); ``version_rng`` re-draws a few whole feature columns, so versions differ a
    little but the same ids keep the same targets, as in Numerai.
    """
    features = _features(world, rng, rows)
    targets = _targets(world, rng, signal_features(world, features))
    meta = rank01(world.model_weights[1] @ signal_features(world, features))
    features[rng.random(features.shape[0]) < _MISSING_FEATURE_RATE] = 2
    churned = np.flatnonzero(version_rng.random(features.shape[0]) < _VERSION_CHURN)
    features[churned] = version_rng.integers(0, 5, (churned.size, rows), dtype=np.int8)
    example = rank01(world.model_weights[0] @ signal_features(world, features))
    return Block(features=features, targets=targets, example=example, meta=meta)


def _features(world: World, rng: np.random.Generator, rows: int) -> npt.NDArray[np.int8]:
    """Feature values (feature by row) in 0..4: group-correlated normals cut into 5 equal bins."""
    factors = rng.standard_normal((len(FEATURE_GROUPS), rows), dtype=np.float32)
    latent = rng.standard_normal((world.group_of.size, rows), dtype=np.float32)
    latent *= np.sqrt(1 - world.loading * world.loading)[:, None]
    latent += world.loading[:, None] * factors[world.group_of]
    features: npt.NDArray[np.int8] = (latent > FEATURE_CUTS[0]).view(np.int8).copy()
    for cut in FEATURE_CUTS[1:]:
        features += (latent > cut).view(np.int8)
    return features


def signal_features(world: World, features: npt.NDArray[np.int8]) -> FloatArray:
    """The signal-carrying features, centred on 0 (signal feature by row)."""
    centred: FloatArray = features[world.signal_idx].astype(np.float32) - np.float32(2.0)
    return centred


def _targets(world: World, rng: np.random.Generator, centred: FloatArray) -> FloatArray:
    """Every target column (target by row): signal from this era's weights plus shared and own noise."""
    rows = centred.shape[1]
    drift = rng.standard_normal(world.signal_idx.size, dtype=np.float32) * np.float32(_ERA_DRIFT)
    signal = _standardize((world.target_weights + drift) @ centred)
    main_noise = rng.standard_normal((1, rows), dtype=np.float32)
    own_noise = rng.standard_normal((len(world.target_strength), rows), dtype=np.float32)
    share = world.noise_share[:, None]
    noise = share * main_noise + np.sqrt(1 - share * share) * own_noise
    strength = world.target_strength[:, None]
    return _bin_targets(strength * signal + np.sqrt(1 - strength * strength) * noise)


def _standardize(x: FloatArray) -> FloatArray:
    """Centre and scale each row to unit variance (rows with no spread become 0)."""
    centred = x - x.mean(axis=1, keepdims=True)
    std = centred.std(axis=1, keepdims=True)
    scaled: FloatArray = np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)
    return scaled
