"""Synthetic Numerai datasets for the sandbox: Numerai's schema, real signal, deterministic from a seed.

Layout under ``root`` (what :class:`DatasetGenerator` writes)::

    root/<version>/features.json
    root/<version>/train.parquet
    root/<version>/validation.parquet                  # grows with update_validation()
    root/<version>/validation_example_preds.parquet    # column "prediction"
    root/<version>/meta_model.parquet                  # column "numerai_meta_model", every validation id
    root/<version>/live_<round>.parquet                # targets all NaN
    root/<version>/live_example_preds_<round>.parquet  # column "prediction"
    root/.hidden/<version>/live_<round>.parquet        # the truth: target, target_*, numerai_meta_model
    root/.hidden/<version>/generator.json              # seed and size the version was made with
    root/.hidden/<version>/validation.json             # how many weekly updates validation has had

Everything public is id-indexed (``id`` = ``"n"`` + 15 hex digits). Every parquet file is written
one era per row group to a dot-prefixed ``*.tmp`` name in the same directory and then
fsynced and renamed into place (``numeraud.common.files.replace_durably``), so a reader never
sees a partial file.

Eras: train is ``0001`` .. ``train_eras``; validation continues right after train. The live file
of round ``r`` has the single era ``train_eras + validation_eras + r`` (validation_eras as at the
version's release), zero-padded to four digits: unique per round and after every release-time
validation era. Weekly validation updates add eras after the release-time ones, so with many
updates a validation era number can equal a live era number; the two never share ids.

The signal: a hidden, seed-determined weight vector over a subset of the features (a larger
share of them in the ``small`` and ``medium`` sets), plus noise, gives a latent score per row that
is binned per era into 5/20/50/20/5 % of {0, .25, .5, .75, 1}. Auxiliary targets mix that weight
vector with their own. Feature names, feature sets and the signal depend on the seed and the size
only, so every live round follows the signal a model learnt from train.

Versions: as in Numerai, all versions share the universe. An era's (or a live round's) ids, row
count, targets and meta model depend on (seed, era or round) only, so a submission made from any
version's live file is scored against the same truth. Each version re-draws a few feature columns
per era (and its example predictions follow its own features), so versions differ a little.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from numeraud.common.datasets import is_version
from numeraud.common.files import atomic_write, replace_durably

__all__ = ["SIZES", "DatasetGenerator", "SizeSpec", "size_spec"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

#: The 20 auxiliary target names of v5.2; each has a ``_20`` and a ``_60`` column.
AUX_TARGET_NAMES: Final = (
    "agnes",
    "alpha",
    "bravo",
    "caroline",
    "charlie",
    "claudia",
    "cyrusd",
    "delta",
    "echo",
    "ender",
    "jasper",
    "jeremy",
    "ralph",
    "rowan",
    "sam",
    "teager2b",
    "tyler",
    "victor",
    "waldo",
    "xerxes",
)
#: ``target`` is an alias of this column (as in v5.2).
MAIN_TARGET: Final = "target_ender_20"

#: Feature groups with Numerai's v5 sizes in the "all" set; a synthetic set is split in these proportions.
FEATURE_GROUPS: Final = {
    "intelligence": 35,
    "charisma": 290,
    "strength": 135,
    "dexterity": 51,
    "constitution": 335,
    "wisdom": 140,
    "agility": 145,
    "serenity": 95,
    "sunshine": 325,
    "rain": 666,
    "midnight": 244,
    "faith": 372,
}
#: Legacy feature sets as a share of v5.2's 2,748 features.
LEGACY_SETS: Final = {"v2_equivalent_features": 304, "v3_equivalent_features": 1000, "fncv3_features": 400}
_FULL_WIDTH: Final = 2748

# Word lists for obfuscated feature names (kept compact; ruff would put one word per line).
# fmt: off
_FIRST_WORDS: Final = (
    "abactinal", "abiogenetic", "acaudate", "acronychal", "adnate", "aeolotropic", "agnate", "alary",
    "amygdaloid", "anatropous", "antistrophic", "apodal", "areolate", "aspheric", "atrophied", "baric",
    "bicipital", "brumal", "caducous", "callous", "caudate", "chthonic", "cismontane", "clastic",
    "coelomate", "conchal", "coralline", "cortical", "crenate", "cuneal", "decussate", "deltoid", "dentate",
    "dioecious", "distal", "echinate", "emarginate", "ensiform", "epigeal", "faveolate", "fictile",
    "fimbriate", "flexuous", "fossorial", "fulvous", "galactic", "geodic", "glabrous", "hastate", "hemal",
    "hispid", "hyaline", "imbricate", "lenticular", "lithoid", "lobate", "lunate",
)
_SECOND_WORDS: Final = (
    "striate", "sulcate", "tessellate", "testaceous", "torose", "tumid", "umbonate", "unguiculate",
    "venose", "vermiform", "villous", "vitreous", "zonate", "acerose", "alated", "amentaceous", "aquiline",
    "arcuate", "bifid", "bracteate", "calcific", "carinate", "cernuous", "ciliate", "clavate", "cordate",
    "cristate", "cupular", "cymose", "digitate", "discoid", "echinoid", "falcate", "ferruginous", "fissile",
    "foliate", "fusiform", "gemmate", "globose", "gyral", "hirsute", "incurved", "laminar", "lanceolate",
    "ligulate", "linear", "lyrate", "mucronate", "napiform", "nodose", "obovate", "ocellate", "ovate",
)
_THIRD_WORDS: Final = (
    "conscriptionist", "abolitionist", "alienist", "annalist", "antiquarian", "apiarist", "archivist",
    "assayer", "augur", "balladeer", "bibliophile", "botanist", "calligrapher", "cartographer", "chandler",
    "chronicler", "cooper", "cosmographer", "cryptographer", "diarist", "dramaturge", "emblematist",
    "engraver", "essayist", "farrier", "fabulist", "geodesist", "glossarist", "hagiographer", "herbalist",
    "hydrographer", "illuminator", "lapidary", "lexicographer", "luthier", "mechanist", "metallurgist",
    "miniaturist", "navigator", "numismatist", "oculist", "orrerist", "palaeographer", "philatelist",
    "pilgrim", "polymath", "quarrier", "rhetorician", "scrivener", "surveyor", "vintner",
)
# fmt: on

#: Quantile cut points of the standard normal at 20/40/60/80 %: latent features are binned into 5 equal bins.
_FEATURE_CUTS: Final = np.array([-0.8416212, -0.2533471, 0.2533471, 0.8416212], dtype=np.float32)
#: Cumulative share of each target bin: 5/20/50/20/5 %.
_TARGET_CUTS: Final = np.array([0.05, 0.25, 0.75, 0.95])
#: Correlation of the main target's latent score with the features' signal (caps the CORR a model can reach).
_SIGNAL_STRENGTH: Final = 0.16
#: Per-era wobble of the signal weights, relative to their spread (Numerai's signal drifts too).
_ERA_DRIFT: Final = 0.2
#: Share of feature columns a dataset version re-draws in each era (versions differ a little).
_VERSION_CHURN: Final = 0.03
#: Chance that a feature is missing (all values 2) for a whole era.
_MISSING_FEATURE_RATE: Final = 0.005
_ROW_JITTER: Final = 0.2
_MIN_ROWS_PER_ERA: Final = 20
_MAX_ERA: Final = 9999
_FORMAT: Final = 1
# Id counter layout (before scrambling): 4 bits of kind, 24 bits of era or round, 32 bits of row.
_ID_BITS: Final = 60
_KIND_HISTORIC: Final = 1
_KIND_LIVE: Final = 2
_MAX_ROUND: Final = 1 << 24


@dataclass(frozen=True)
class SizeSpec:
    """How big a generated dataset is; see :data:`SIZES` for the built-in ones.

    ``n_features``/``n_medium``/``n_small`` size the "all"/"medium"/"small" feature sets.
    ``validation_eras`` counts the eras in validation.parquet at the version's release, of which
    the newest ``test_eras`` are "test" (no targets). ``rows_per_era`` is the mean row count of a
    train or validation era (each era varies by up to ±20 %); a live round has exactly
    ``live_rows`` rows. Every name in ``aux_target_names`` gets ``target_<name>_20`` and
    ``target_<name>_60`` columns; it must include "ender", which ``target`` aliases.
    """

    name: str
    n_features: int
    n_medium: int
    n_small: int
    train_eras: int
    validation_eras: int
    test_eras: int
    rows_per_era: int
    live_rows: int
    aux_target_names: tuple[str, ...]

    def __post_init__(self) -> None:
        """Reject inconsistent sizes with a ValueError naming the bad field."""
        if not 1 <= self.n_small <= self.n_medium <= self.n_features:
            raise ValueError(
                f"size {self.name!r}: need 1 <= n_small <= n_medium <= n_features, got "
                f"{self.n_small}, {self.n_medium}, {self.n_features}"
            )
        if self.n_features < len(FEATURE_GROUPS):
            raise ValueError(f"size {self.name!r}: n_features={self.n_features} is below {len(FEATURE_GROUPS)}")
        if self.n_features > len(_FIRST_WORDS) * len(_SECOND_WORDS) * len(_THIRD_WORDS):
            raise ValueError(f"size {self.name!r}: n_features={self.n_features} is more than the word lists allow")
        if self.train_eras < 1 or not 0 <= self.test_eras < self.validation_eras:
            raise ValueError(
                f"size {self.name!r}: need train_eras >= 1 and 0 <= test_eras < validation_eras, got "
                f"{self.train_eras}, {self.test_eras}, {self.validation_eras}"
            )
        if self.rows_per_era < _MIN_ROWS_PER_ERA or self.live_rows < _MIN_ROWS_PER_ERA:
            raise ValueError(
                f"size {self.name!r}: rows_per_era={self.rows_per_era} and live_rows={self.live_rows} "
                f"must be >= {_MIN_ROWS_PER_ERA}"
            )
        unknown = sorted(set(self.aux_target_names) - set(AUX_TARGET_NAMES))
        if (
            "ender" not in self.aux_target_names
            or unknown
            or len(set(self.aux_target_names)) < len(self.aux_target_names)
        ):
            raise ValueError(
                f"size {self.name!r}: aux_target_names must be distinct names from {AUX_TARGET_NAMES} "
                f"including 'ender', got {self.aux_target_names}"
            )

    @property
    def target_columns(self) -> list[str]:
        """Every ``target_<name>_<20|60>`` column, sorted (``target`` itself excluded)."""
        return [f"target_{name}_{h}" for name in sorted(self.aux_target_names) for h in (20, 60)]


SIZES: dict[str, SizeSpec] = {
    spec.name: spec
    for spec in (
        SizeSpec("tiny", 30, 15, 6, 8, 4, 1, 80, 200, ("caroline", "cyrusd", "ender")),
        SizeSpec("small", 120, 60, 12, 40, 12, 2, 300, 1000, ("agnes", "caroline", "cyrusd", "ender", "jeremy")),
        SizeSpec("full", _FULL_WIDTH, 780, 42, 20, 10, 2, 5000, 6720, AUX_TARGET_NAMES),
    )
}
"""Built-in sizes: ``tiny`` for unit tests, ``small`` for the demo, ``full`` for Numerai's real width."""


def size_spec(size: str | SizeSpec, *, train_rows: int | None = None) -> SizeSpec:
    """Resolve a size name; ``train_rows`` (if given) sets the number of train rows (±the per-era jitter).

    Fewer rows than the size's default keep its eras and shrink ``rows_per_era`` (validation shrinks
    with it); more rows keep ``rows_per_era`` and add train eras, as Numerai's history grows.
    """
    if isinstance(size, SizeSpec):
        spec = size
    elif size in SIZES:
        spec = SIZES[size]
    else:
        raise ValueError(f"unknown dataset size {size!r}; expected one of {sorted(SIZES)}")
    if train_rows is None:
        return spec
    if train_rows < 2 * _MIN_ROWS_PER_ERA:
        raise ValueError(f"train_rows={train_rows} is too small; need at least {2 * _MIN_ROWS_PER_ERA}")
    eras = max(spec.train_eras, math.ceil(train_rows / spec.rows_per_era))
    if train_rows // eras < _MIN_ROWS_PER_ERA:
        eras = train_rows // _MIN_ROWS_PER_ERA
    if eras + spec.validation_eras > _MAX_ERA // 2:
        raise ValueError(f"train_rows={train_rows} needs {eras} eras, more than this generator supports")
    return dataclasses.replace(spec, train_eras=eras, rows_per_era=round(train_rows / eras))


def _stable_seed(*parts: object) -> int:
    """A 128-bit integer from ``parts``, the same in every process (unlike ``hash()``)."""
    text = "\x1f".join(repr(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


def _rng(*parts: object) -> np.random.Generator:
    """A generator seeded from a stable hash of ``parts``."""
    return np.random.default_rng(_stable_seed(*parts))


def _validate_version(version: str) -> None:
    if not is_version(version, parts=2):
        raise ValueError(f"bad dataset version {version!r}; expected something like 'v5.2'")


def _validate_round(round_number: int) -> None:
    if isinstance(round_number, bool) or not isinstance(round_number, int) or not 1 <= round_number < _MAX_ROUND:
        raise ValueError(f"bad round number {round_number!r}; expected an integer from 1 to {_MAX_ROUND - 1}")


def _apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` (at least ``len(weights)``) in proportion to ``weights``, at least 1 each."""
    spare = total - len(weights)
    raw = [spare * w / sum(weights) for w in weights]
    counts = [1 + int(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _ranks01(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Ranks along the last axis scaled into (0, 1): ``(rank + 0.5) / n``."""
    n = values.shape[-1]
    order = np.argsort(values, axis=-1, kind="stable")
    ranks = np.empty(values.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(n, dtype=np.float64), values.shape), axis=-1)
    scaled: npt.NDArray[np.float64] = (ranks + 0.5) / n
    return scaled


def _bin_targets(latent: FloatArray) -> FloatArray:
    """Bin each row of ``latent`` by rank into 5/20/50/20/5 % of {0, .25, .5, .75, 1}."""
    bins = np.searchsorted(_TARGET_CUTS, _ranks01(latent), side="right")
    return (bins * 0.25).astype(np.float32)


@dataclass(frozen=True)
class _World:
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

    @classmethod
    def build(cls, seed: int, spec: SizeSpec) -> _World:
        """Derive the world from ``seed`` and ``spec`` only (not the version)."""
        names = _feature_names(seed, spec.n_features)
        sets, group_of = _feature_sets(seed, spec, names)
        rng = _rng(seed, spec.n_features, "signal")
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
        )


def _feature_names(seed: int, count: int) -> list[str]:
    """``count`` unique ``feature_<word>_<word>_<word>`` names; a smaller count gives a prefix."""
    n2, n3 = len(_SECOND_WORDS), len(_THIRD_WORDS)
    picks = _rng(seed, "feature-names").permutation(len(_FIRST_WORDS) * n2 * n3)[:count]
    return [
        f"feature_{_FIRST_WORDS[p // (n2 * n3)]}_{_SECOND_WORDS[p // n3 % n2]}_{_THIRD_WORDS[p % n3]}"
        for p in picks.tolist()
    ]


def _feature_sets(seed: int, spec: SizeSpec, names: list[str]) -> tuple[dict[str, list[str]], IntArray]:
    """Size tiers (small ⊂ medium ⊂ all), legacy sets and a partition of all features into groups."""
    rng = _rng(seed, spec.n_features, "feature-sets")
    n = spec.n_features

    def subset(indices: npt.NDArray[np.int64], size: int) -> npt.NDArray[np.int64]:
        return np.sort(rng.choice(indices, size=size, replace=False))

    medium = subset(np.arange(n), spec.n_medium)
    small = subset(medium, spec.n_small)
    group_sizes = _apportion(n, list(FEATURE_GROUPS.values()))
    group_of = rng.permutation(np.repeat(np.arange(len(group_sizes)), group_sizes)).astype(np.int64)
    sets = {"small": small, "medium": medium, "all": np.arange(n)}
    for name, full_size in LEGACY_SETS.items():
        sets[name] = subset(np.arange(n), max(1, round(n * full_size / _FULL_WIDTH)))
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


@dataclass(frozen=True)
class _Block:
    """One era's rows: features (feature by row), targets (target by row), model outputs in (0, 1)."""

    features: npt.NDArray[np.int8]
    targets: FloatArray
    example: npt.NDArray[np.float64]
    meta: npt.NDArray[np.float64]

    @property
    def rows(self) -> int:
        """Number of rows in the era."""
        return int(self.features.shape[1])


def _make_block(world: _World, rng: np.random.Generator, version_rng: np.random.Generator, rows: int) -> _Block:
    """One era (or live round) of ``rows`` rows.

    ``rng`` fixes what every version shares (targets, meta model, the features before the
    version's noise); ``version_rng`` re-draws a few whole feature columns, so versions differ a
    little but the same ids keep the same targets, as in Numerai.
    """
    features = _features(world, rng, rows)
    targets = _targets(world, rng, _signal_features(world, features))
    meta = _ranks01(world.model_weights[1] @ _signal_features(world, features))
    features[rng.random(features.shape[0]) < _MISSING_FEATURE_RATE] = 2
    churned = np.flatnonzero(version_rng.random(features.shape[0]) < _VERSION_CHURN)
    features[churned] = version_rng.integers(0, 5, (churned.size, rows), dtype=np.int8)
    example = _ranks01(world.model_weights[0] @ _signal_features(world, features))
    return _Block(features=features, targets=targets, example=example, meta=meta)


def _features(world: _World, rng: np.random.Generator, rows: int) -> npt.NDArray[np.int8]:
    """Feature values (feature by row) in 0..4: group-correlated normals cut into 5 equal bins."""
    factors = rng.standard_normal((len(FEATURE_GROUPS), rows), dtype=np.float32)
    latent = rng.standard_normal((world.group_of.size, rows), dtype=np.float32)
    latent *= np.sqrt(1 - world.loading * world.loading)[:, None]
    latent += world.loading[:, None] * factors[world.group_of]
    features: npt.NDArray[np.int8] = (latent > _FEATURE_CUTS[0]).view(np.int8).copy()
    for cut in _FEATURE_CUTS[1:]:
        features += (latent > cut).view(np.int8)
    return features


def _signal_features(world: _World, features: npt.NDArray[np.int8]) -> FloatArray:
    """The signal-carrying features, centred on 0 (signal feature by row)."""
    centred: FloatArray = features[world.signal_idx].astype(np.float32) - np.float32(2.0)
    return centred


def _targets(world: _World, rng: np.random.Generator, centred: FloatArray) -> FloatArray:
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


def _scramble_ids(counters: npt.NDArray[np.uint64], key: int) -> list[str]:
    """``"n"`` + 15 hex digits from a keyed bijection of 60-bit counters: distinct counters, distinct ids."""
    mask = np.uint64((1 << _ID_BITS) - 1)
    k1, k2 = np.uint64(key & int(mask)), np.uint64((key >> 64) & int(mask))
    x = (counters ^ k1) & mask
    # Multiplying by an odd constant, xor-shifting and adding are each invertible modulo 2**60.
    for multiplier, shift in ((0x9E3779B97F4A7C15, 29), (0xBF58476D1CE4E5B9, 31), (0x94D049BB133111EB, 30)):
        x = (x * np.uint64(multiplier)) & mask
        x ^= x >> np.uint64(shift)
    x = (x + k2) & mask
    shifts = np.arange(_ID_BITS - 4, -1, -4, dtype=np.uint64)
    nibbles = ((x[:, None] >> shifts) & np.uint64(15)).astype(np.intp)
    chars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles]
    prefixed = np.concatenate([np.full((x.size, 1), ord("n"), dtype=np.uint8), chars], axis=1)
    return [row.decode() for row in prefixed.view("S16").ravel().tolist()]


def _ids(key: int, kind: int, number: int, rows: int) -> list[str]:
    """Ids for the rows of one era (``kind`` historic) or one live round (``kind`` live)."""
    base = (kind << 56) | (number << 32)
    return _scramble_ids(np.uint64(base) + np.arange(rows, dtype=np.uint64), key)


def _era(number: int) -> str:
    return f"{number:04d}"


def _frame_schema(*columns: tuple[Sequence[str], str]) -> pa.Schema:
    """Arrow schema with pandas metadata for an ``id``-indexed frame; ``columns`` are (names, dtype) runs."""
    index = pd.Index([], dtype="str", name="id")
    # One block per dtype run: building thousands of empty Series one by one takes seconds.
    blocks = [pd.DataFrame(np.empty((0, len(names)), dtype=dtype), columns=list(names)) for names, dtype in columns]
    empty = pd.concat(blocks, axis=1).set_axis(index, axis=0)
    schema = pa.Schema.from_pandas(empty, preserve_index=True)
    # pandas < 3 keeps an empty "str" column as object, which arrow types as null; it holds text,
    # typed as pandas 3 types it, so the files are the same whichever pandas wrote them.
    for position, column in enumerate(schema):
        if pa.types.is_null(column.type):
            schema = schema.set(position, column.with_type(pa.large_string()))
    return schema


def _table(schema: pa.Schema, ids: list[str], values: dict[str, Any]) -> pa.Table:
    """A table in ``schema``'s column order from the ids and a column name → values mapping."""
    arrays = [pa.array(ids if field.name == "id" else values[field.name], type=field.type) for field in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")


@contextmanager
def _atomic_writers(paths: Sequence[Path], schemas: Sequence[pa.Schema]) -> Iterator[list[pq.ParquetWriter]]:
    """Parquet writers to temp files that replace ``paths`` (in order) only if the block succeeds."""
    temps = [_temp_path(path) for path in paths]
    writers: list[pq.ParquetWriter] = []
    try:
        for temp, schema in zip(temps, schemas, strict=True):
            temp.parent.mkdir(parents=True, exist_ok=True)
            writers.append(pq.ParquetWriter(temp, schema))
        yield writers
        for writer in writers:
            writer.close()
    except BaseException:
        for writer in writers:
            writer.close()
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    for temp, path in zip(temps, paths, strict=True):
        replace_durably(temp, path)


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write(path, text, mode=0o644)


class DatasetGenerator:
    """Writes synthetic Numerai dataset files under ``root`` (see the module docstring for the layout).

    Files are generated on first request and then left alone, so every method is idempotent and
    cheap to call again. Methods are safe to call from several threads of one process.
    """

    def __init__(
        self, root: Path, size: str | SizeSpec = "tiny", seed: int = 0, *, train_rows: int | None = None
    ) -> None:
        """Use ``root`` for the files; ``size``, ``seed`` and ``train_rows`` fix their content."""
        self.root = Path(root)
        self.spec = size_spec(size, train_rows=train_rows)
        self.seed = int(seed)
        self._world = _World.build(self.seed, self.spec)
        self._lock = threading.Lock()
        self._id_key = _stable_seed(self.seed, "ids")
        targets = (["target", *self.spec.target_columns], "float32")
        features = (self._world.feature_names, "int8")
        self._data_schema = _frame_schema((["era", "data_type"], "str"), features, targets)
        self._truth_schema = _frame_schema(targets, (["numerai_meta_model"], "float64"))
        self._prediction_schema = _frame_schema((["prediction"], "float64"))
        self._meta_schema = _frame_schema((["numerai_meta_model"], "float64"))

    def feature_names(self) -> list[str]:
        """The "all" feature set, in column order; the same for every version of one seed and size."""
        return list(self._world.feature_names)

    def live_era(self, round_number: int) -> str:
        """The era string of round ``round_number``'s live file."""
        _validate_round(round_number)
        return _era(self.spec.train_eras + self.spec.validation_eras + round_number)

    def ensure_version(self, version: str) -> list[str]:
        """Write the version's features.json, train, validation, example preds and meta model if missing.

        Returns their names relative to ``root`` (``"v5.2/train.parquet"``, ...). A validation file
        already grown by :meth:`update_validation` is kept.
        """
        _validate_version(version)
        with self._lock:
            self._check_generator_stamp(version)
            public = self.root / version
            if not (public / "features.json").exists():
                _write_text(public / "features.json", json.dumps(self._features_json(), indent=2) + "\n")
            if not (public / "train.parquet").exists():
                self._write_train(version)
            validation_files = [public / name for name in _VALIDATION_FILES]
            if not all(path.exists() for path in validation_files):
                self._write_validation(version, self._validation_extra(version))
        return [f"{version}/{name}" for name in ("features.json", "train.parquet", *_VALIDATION_FILES)]

    def ensure_live(self, version: str, round_number: int) -> list[str]:
        """Write round ``round_number``'s live file, its example preds and the hidden truth if missing.

        Returns the public names relative to ``root``: ``"v5.2/live_<round>.parquet"`` and
        ``"v5.2/live_example_preds_<round>.parquet"``.
        """
        _validate_version(version)
        _validate_round(round_number)
        names = [f"live_{round_number}.parquet", f"live_example_preds_{round_number}.parquet"]
        with self._lock:
            self._check_generator_stamp(version)
            paths = [self.root / version / name for name in names]
            paths.append(self._hidden(version) / f"live_{round_number}.parquet")
            if not all(path.exists() for path in paths):
                self._write_live(version, round_number, paths)
        return [f"{version}/{name}" for name in names]

    def live_truth(self, version: str, round_number: int) -> pd.DataFrame:
        """The id-indexed truth of a live round: ``target``, every ``target_*`` and ``numerai_meta_model``."""
        self.ensure_live(version, round_number)
        return pd.read_parquet(self._hidden(version) / f"live_{round_number}.parquet")

    def update_validation(self, version: str, extra_eras: int) -> list[str]:
        """Numerai's weekly validation update: validation now has ``validation_eras + extra_eras`` eras.

        ``extra_eras`` counts from the version's release (calling again with the same number does
        nothing). Eras that were "test" gain targets; the newest ``test_eras`` eras are "test".
        Rewrites validation.parquet, validation_example_preds.parquet and meta_model.parquet and
        returns their names relative to ``root``.
        """
        _validate_version(version)
        if isinstance(extra_eras, bool) or not isinstance(extra_eras, int) or extra_eras < 0:
            raise ValueError(f"bad extra_eras {extra_eras!r}; expected an integer >= 0")
        if self.spec.train_eras + self.spec.validation_eras + extra_eras > _MAX_ERA:
            raise ValueError(f"extra_eras={extra_eras} would take validation past era {_MAX_ERA}")
        self.ensure_version(version)
        with self._lock:
            if self._validation_extra(version) != extra_eras:
                self._write_validation(version, extra_eras)
        return [f"{version}/{name}" for name in _VALIDATION_FILES]

    # -- internals ---------------------------------------------------------------------------------

    def _hidden(self, version: str) -> Path:
        return self.root / ".hidden" / version

    def _check_generator_stamp(self, version: str) -> None:
        """Refuse to mix files made with another seed or size in one version directory."""
        stamp = {"format": _FORMAT, "seed": self.seed, "spec": dataclasses.asdict(self.spec)}
        wanted = json.loads(json.dumps(stamp))
        path = self._hidden(version) / "generator.json"
        if not path.exists():
            _write_text(path, json.dumps(wanted, indent=2) + "\n")
            return
        found = json.loads(path.read_text(encoding="utf-8"))
        if found != wanted:
            raise ValueError(
                f"{self.root / version} was generated with seed {found.get('seed')!r} and size "
                f"{found.get('spec', {}).get('name')!r}, not seed {self.seed} and size {self.spec.name!r} "
                "with these dimensions; use another root or delete it"
            )

    def _validation_extra(self, version: str) -> int:
        path = self._hidden(version) / "validation.json"
        if not path.exists():
            return 0
        return int(json.loads(path.read_text(encoding="utf-8"))["extra_eras"])

    def _features_json(self) -> dict[str, Any]:
        return {
            "feature_sets": self._world.feature_sets,
            "targets": ["target", *self.spec.target_columns],
        }

    def _era_rows(self, era: int) -> int:
        """Rows in a historic era: ``rows_per_era`` ± 20 %, fixed by (seed, era)."""
        jitter = _rng(self.seed, "rows", era).uniform(-_ROW_JITTER, _ROW_JITTER)
        return max(_MIN_ROWS_PER_ERA, round(self.spec.rows_per_era * (1 + jitter)))

    def _historic_block(self, version: str, era: int) -> tuple[list[str], _Block]:
        """Ids and data of a train or validation era; the same whatever file it lands in."""
        rows = self._era_rows(era)
        block = _make_block(self._world, _rng(self.seed, "era", era), _rng(self.seed, version, "era", era), rows)
        return _ids(self._id_key, _KIND_HISTORIC, era, rows), block

    def _data_values(self, era: str, data_type: str, block: _Block, target_nan: IntArray | None) -> dict[str, Any]:
        """Column values of one era for a data file; ``target_nan`` lists the target rows to blank."""
        targets = block.targets.copy()
        if target_nan is not None:
            targets[target_nan] = np.nan
        values: dict[str, Any] = {"era": [era] * block.rows, "data_type": [data_type] * block.rows}
        values.update(zip(self._world.feature_names, block.features, strict=True))
        values.update(zip(self.spec.target_columns, targets, strict=True))
        values["target"] = targets[self._world.main_index]
        return values

    def _write_train(self, version: str) -> None:
        aux_late = self._world.nan_until_era
        with _atomic_writers([self.root / version / "train.parquet"], [self._data_schema]) as (writer,):
            for era in range(1, self.spec.train_eras + 1):
                ids, block = self._historic_block(version, era)
                blank = np.flatnonzero(aux_late >= era)
                writer.write_table(_table(self._data_schema, ids, self._data_values(_era(era), "train", block, blank)))

    def _write_validation(self, version: str, extra_eras: int) -> None:
        first = self.spec.train_eras + 1
        last = self.spec.train_eras + self.spec.validation_eras + extra_eras
        first_test = last - self.spec.test_eras + 1
        all_targets = np.arange(len(self.spec.target_columns), dtype=np.int64)
        # 60-day targets resolve later than 20-day ones: the newest labelled era has no _60 values yet.
        horizon_60 = np.array([i for i, c in enumerate(self.spec.target_columns) if c.endswith("_60")], dtype=np.int64)
        paths = [self.root / version / name for name in _VALIDATION_FILES]
        schemas = [self._data_schema, self._prediction_schema, self._meta_schema]
        with _atomic_writers(paths, schemas) as (data, example, meta):
            for era in range(first, last + 1):
                ids, block = self._historic_block(version, era)
                is_test = era >= first_test
                blank = all_targets if is_test else horizon_60 if era == first_test - 1 else None
                data_type = "test" if is_test else "validation"
                data.write_table(_table(self._data_schema, ids, self._data_values(_era(era), data_type, block, blank)))
                example.write_table(_table(self._prediction_schema, ids, {"prediction": block.example}))
                meta.write_table(_table(self._meta_schema, ids, {"numerai_meta_model": block.meta}))
        _write_text(self._hidden(version) / "validation.json", json.dumps({"extra_eras": extra_eras}) + "\n")

    def _write_live(self, version: str, round_number: int, paths: list[Path]) -> None:
        rows = self.spec.live_rows
        base_rng, version_rng = (
            _rng(self.seed, "live", round_number),
            _rng(self.seed, version, "live", round_number),
        )
        block = _make_block(self._world, base_rng, version_rng, rows)
        ids = _ids(self._id_key, _KIND_LIVE, round_number, rows)
        public = self._data_values(self.live_era(round_number), "live", block, np.arange(len(block.targets)))
        truth: dict[str, Any] = dict(zip(self.spec.target_columns, block.targets, strict=True))
        truth["target"] = block.targets[self._world.main_index]
        truth["numerai_meta_model"] = block.meta
        schemas = [self._data_schema, self._prediction_schema, self._truth_schema]
        with _atomic_writers(paths, schemas) as (live, example, hidden):
            live.write_table(_table(self._data_schema, ids, public))
            example.write_table(_table(self._prediction_schema, ids, {"prediction": block.example}))
            hidden.write_table(_table(self._truth_schema, ids, truth))


_VALIDATION_FILES: Final = ("validation.parquet", "validation_example_preds.parquet", "meta_model.parquet")
