"""Numerai's benchmark models and v5.3's quantum features, for the rows of one era or live round.

Benchmark models are named as in Numerai's ``*_benchmark_models.parquet``: per version a
``<prefix>_lgbm_<target><20|60>`` column for each of cyrusd, teager2b, ender and jasper (prefix
``v5`` for v5.0, ``v51`` for v5.1, ``v52``, ``v53``, ...), plus ``v5_lgbm_ct_blend``. Each is a
ranked linear model of the signal features that follows its target's hidden weights, with a
version-specific error, so its predictions correlate with that target as a trained model's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from numeraud.common.datasets import parse_version
from numeraud.sandbox.datagen.rows import FEATURE_CUTS, Block, rank01, signal_features
from numeraud.sandbox.datagen.seeds import seeded_rng
from numeraud.sandbox.datagen.sizes import BENCHMARK_TARGETS, CT_BLEND, MAIN_TARGET, SizeSpec
from numeraud.sandbox.datagen.world import FloatArray, World

#: How far a benchmark model's weights are from its target's, relative to their spread.
_MODEL_ERROR: Final = 0.5
#: The loading of every quantum feature on the quantum group's factor.
_QUANTUM_LOADING: Final = 0.35


def version_prefix(version: str) -> str:
    """``v5.0`` → ``v5``, ``v5.2`` → ``v52``: how Numerai prefixes a version's benchmark models."""
    numbers = parse_version(version) or ()
    major, minor = (*numbers, 0, 0)[:2]
    return f"v{major}" if minor == 0 else f"v{major}{minor}"


@dataclass(frozen=True)
class BenchmarkModels:
    """A version's benchmark model columns and the weights each predicts with."""

    columns: list[str]
    weights: FloatArray  # (models, signal features); the CT blend is not a row of its own
    blend_rows: tuple[int, int]

    @classmethod
    def build(cls, world: World, spec: SizeSpec, seed: int, version: str) -> BenchmarkModels:
        """The benchmark models of ``version`` (fixed by seed, size and version)."""
        prefix = version_prefix(version)
        targets = spec.target_columns
        rng = seeded_rng(seed, version, "benchmarks")
        columns, rows = [], []
        for horizon in (20, 60):
            for name in BENCHMARK_TARGETS:
                column = f"target_{name}_{horizon}"
                target = targets.index(column) if column in targets else targets.index(MAIN_TARGET)
                weights = world.target_weights[target]
                spread = float(np.std(weights)) or 1.0
                rows.append(weights + _MODEL_ERROR * spread * rng.standard_normal(weights.size))
                columns.append(f"{prefix}_lgbm_{name}{horizon}")
        blend = (columns.index(f"{prefix}_lgbm_cyrusd20"), columns.index(f"{prefix}_lgbm_teager2b20"))
        return cls(columns=[*columns, CT_BLEND], weights=np.array(rows, dtype=np.float32), blend_rows=blend)

    def predict(self, world: World, block: Block) -> dict[str, npt.NDArray[np.float64]]:
        """Every benchmark column's predictions (in (0, 1)) for the rows of ``block``."""
        raw = self.weights @ signal_features(world, block.features)
        ranked = rank01(raw)
        values = dict(zip(self.columns, ranked, strict=False))
        first, second = self.blend_rows
        values[CT_BLEND] = rank01(ranked[first] + ranked[second])
        return values


def quantum_features(world: World, rng: np.random.Generator, rows: int) -> npt.NDArray[np.int8]:
    """v5.3's quantum features (feature by row) in 0..4: one correlated group, binned like the others."""
    count = len(world.quantum_names)
    factor = rng.standard_normal(rows, dtype=np.float32)
    latent = rng.standard_normal((count, rows), dtype=np.float32) * np.float32(np.sqrt(1 - _QUANTUM_LOADING**2))
    latent += np.float32(_QUANTUM_LOADING) * factor
    binned: npt.NDArray[np.int8] = np.searchsorted(FEATURE_CUTS, latent.ravel()).reshape(latent.shape).astype(np.int8)
    return binned
