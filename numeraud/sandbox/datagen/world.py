"""What (seed, size) fix for every version: feature names and sets, the hidden signal, the targets' mix.

The signal: a hidden, seed-determined weight vector over a subset of the features (a larger
share of them in the ``small`` and ``medium`` sets). Auxiliary targets mix that weight vector
with their own; some start late in train (NaN for a leading stretch of eras).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from numeraud.common.datasets import parse_version
from numeraud.sandbox.datagen.names import make_feature_names
from numeraud.sandbox.datagen.seeds import seeded_rng
from numeraud.sandbox.datagen.sizes import (
    FEATURE_GROUPS,
    FULL_WIDTH,
    LEGACY_SETS,
    MAIN_TARGET,
    QUANTUM_GROUP,
    QUANTUM_SINCE,
    SizeSpec,
)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


#: Correlation of the main target's latent score with the features' signal (caps the CORR a model can reach).
_SIGNAL_STRENGTH: Final = 0.16


def _apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` (at least ``len(weights)``) in proportion to ``weights``, at least 1 each."""
    spare = total - len(weights)
    raw = [spare * w / sum(weights) for w in weights]
    counts = [1 + int(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class World:
    """Everything fixed by (seed, size): feature names and sets, the signal, the aux-target layout."""

    feature_names: list[str]
    feature_sets: dict[str, list[str]]
    group_of: IntArray  # group index of every feature
    loading: FloatArray  # how strongly each feature follows its group factor
    signal_idx: IntArray  # the features that carry signal
    target_weights: FloatArray  # (targets, signal features); row order = SizeSpec.target_columns
    target_strength: FloatArray  # per target: share of the latent explained by features
    noise_share: FloatArray  # per target: correlation of its noise with the main target's noise
    model_weights: FloatArray  # (2, signal features): example model, meta model
    nan_until_era: IntArray  # per target: NaN in historic eras <= this (0 = never)
    main_index: int
    quantum_names: list[str]  # v5.3's quantum group, after the other features in v5.3's columns

    def has_quantum(self, version: str) -> bool:
        """Whether ``version`` (v5.3 and later) has the quantum features."""
        return (parse_version(version) or ()) >= QUANTUM_SINCE

    def version_features(self, version: str) -> list[str]:
        """The "all" feature set of ``version``, in column order."""
        return self.feature_names + (self.quantum_names if self.has_quantum(version) else [])

    def version_feature_sets(self, version: str) -> dict[str, list[str]]:
        """Every feature set and group of ``version`` (v5.3 adds ``quantum``, also in "all")."""
        sets = {key: list(names) for key, names in self.feature_sets.items()}
        if self.has_quantum(version):
            sets["all"] += self.quantum_names
            sets[QUANTUM_GROUP] = list(self.quantum_names)
        return sets

    @classmethod
    def build(cls, seed: int, spec: SizeSpec) -> World:
        """Derive the world from ``seed`` and ``spec`` only (not the version)."""
        # A smaller count gives a prefix, so the quantum names leave the others as they were.
        every_name = make_feature_names(seed, spec.n_features + spec.n_quantum)
        names, quantum = every_name[: spec.n_features], every_name[spec.n_features :]
        sets, group_of = _feature_sets(seed, spec, names)
        rng = seeded_rng(seed, spec.n_features, "signal")
        loading = rng.uniform(0.15, 0.55, spec.n_features).astype(np.float32)
        position = {name: i for i, name in enumerate(names)}
        chance = np.full(spec.n_features, 0.15)
        chance[[position[n] for n in sets["medium"]]] = 0.5
        chance[[position[n] for n in sets["small"]]] = 0.8
        signal_idx = np.flatnonzero(rng.random(spec.n_features) < chance)
        if signal_idx.size < 3:
            signal_idx = np.arange(min(3, spec.n_features))
        weights = rng.standard_normal(signal_idx.size)
        columns = spec.target_columns
        main_index = columns.index(MAIN_TARGET)
        target_weights, strength, noise_share = _target_mix(rng, columns, weights)
        noisy = [weights + scale * rng.standard_normal(weights.size) for scale in (1.0, 0.6)]
        return cls(
            feature_names=names,
            feature_sets=sets,
            group_of=group_of,
            loading=loading,
            signal_idx=signal_idx.astype(np.int64),
            target_weights=target_weights,
            target_strength=strength,
            noise_share=noise_share,
            model_weights=np.array(noisy, dtype=np.float32),
            nan_until_era=_aux_nan_stretches(rng, columns, spec.train_eras),
            main_index=main_index,
            quantum_names=quantum,
        )


def _feature_sets(seed: int, spec: SizeSpec, names: list[str]) -> tuple[dict[str, list[str]], IntArray]:
    """Size tiers (small ⊂ medium ⊂ all), legacy sets and a partition of all features into groups."""
    rng = seeded_rng(seed, spec.n_features, "feature-sets")
    n = spec.n_features

    def subset(indices: npt.NDArray[np.int64], size: int) -> npt.NDArray[np.int64]:
        return np.sort(rng.choice(indices, size=size, replace=False))

    medium = subset(np.arange(n), spec.n_medium)
    small = subset(medium, spec.n_small)
    group_sizes = _apportion(n, list(FEATURE_GROUPS.values()))
    group_of = rng.permutation(np.repeat(np.arange(len(group_sizes)), group_sizes)).astype(np.int64)
    sets = {"small": small, "medium": medium, "all": np.arange(n)}
    for name, full_size in LEGACY_SETS.items():
        sets[name] = subset(np.arange(n), max(1, round(n * full_size / FULL_WIDTH)))
    for g, group in enumerate(FEATURE_GROUPS):
        sets[group] = np.flatnonzero(group_of == g)
    return {key: [names[i] for i in idx.tolist()] for key, idx in sets.items()}, group_of


def _target_mix(
    rng: np.random.Generator, columns: list[str], weights: npt.NDArray[np.float64]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weights, signal strength and noise sharing for every target column, related to the main target."""
    mixed, strength, share = [], [], []
    for column in columns:
        horizon_60 = column.endswith("_60")
        if column == MAIN_TARGET:
            rho, alpha, noise = 1.0, _SIGNAL_STRENGTH, 1.0
        elif column == "target_ender_60":
            rho, alpha, noise = 0.9, _SIGNAL_STRENGTH * 0.8, 0.6
        else:
            rho = rng.uniform(0.4, 0.9)
            alpha = _SIGNAL_STRENGTH * rng.uniform(0.6, 1.0) * (0.8 if horizon_60 else 1.0)
            noise = rng.uniform(0.2, 0.6)
        own = rng.standard_normal(weights.size)
        mixed.append(rho * weights + math.sqrt(1 - rho * rho) * own)
        strength.append(alpha)
        share.append(noise)
    return (
        np.array(mixed, dtype=np.float32),
        np.array(strength, dtype=np.float32),
        np.array(share, dtype=np.float32),
    )


def _aux_nan_stretches(rng: np.random.Generator, columns: list[str], train_eras: int) -> IntArray:
    """Some aux targets start late: NaN for a leading stretch of train eras, as in Numerai's history."""
    until = np.zeros(len(columns), dtype=np.int64)
    candidates = [i for i, column in enumerate(columns) if column != MAIN_TARGET]
    late = [i for i in candidates if rng.random() < 0.3] or candidates[:1]
    for i in late:
        until[i] = max(1, math.ceil(rng.uniform(0.05, 0.25) * train_eras))
    return until
