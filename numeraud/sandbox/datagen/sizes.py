"""The dataset catalogue: Numerai's targets and feature groups, and the sizes a sandbox dataset comes in."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Final

from numeraud.sandbox.datagen.names import MAX_FEATURES

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
FULL_WIDTH: Final = 2748
#: v5.3 ("Quantum") adds this feature group of 807 new features (its "all" set is 2,748 + 807).
QUANTUM_GROUP: Final = "quantum"
QUANTUM_WIDTH: Final = 807
#: The first dataset version with the quantum features.
QUANTUM_SINCE: Final = (5, 3)
#: The benchmark models of each version: ``<prefix>_lgbm_<target><horizon>``, trained on that target.
BENCHMARK_TARGETS: Final = ("cyrusd", "teager2b", "ender", "jasper")
#: Numerai's "CT blend" benchmark: a 50/50 blend of the cyrusd and teager models.
CT_BLEND: Final = "v5_lgbm_ct_blend"


MIN_ROWS_PER_ERA: Final = 20
MAX_ERA: Final = 9999


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
        if self.n_features > MAX_FEATURES:
            raise ValueError(f"size {self.name!r}: n_features={self.n_features} is more than the word lists allow")
        if self.train_eras < 1 or not 0 <= self.test_eras < self.validation_eras:
            raise ValueError(
                f"size {self.name!r}: need train_eras >= 1 and 0 <= test_eras < validation_eras, got "
                f"{self.train_eras}, {self.test_eras}, {self.validation_eras}"
            )
        if self.rows_per_era < MIN_ROWS_PER_ERA or self.live_rows < MIN_ROWS_PER_ERA:
            raise ValueError(
                f"size {self.name!r}: rows_per_era={self.rows_per_era} and live_rows={self.live_rows} "
                f"must be >= {MIN_ROWS_PER_ERA}"
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
    def n_quantum(self) -> int:
        """Width of v5.3's quantum group at this size: Numerai's share of it, at least one feature."""
        return max(1, round(self.n_features * QUANTUM_WIDTH / FULL_WIDTH))

    @property
    def target_columns(self) -> list[str]:
        """Every ``target_<name>_<20|60>`` column, sorted (``target`` itself excluded)."""
        return [f"target_{name}_{h}" for name in sorted(self.aux_target_names) for h in (20, 60)]


SIZES: dict[str, SizeSpec] = {
    spec.name: spec
    for spec in (
        SizeSpec("tiny", 30, 15, 6, 8, 4, 1, 80, 200, AUX_TARGET_NAMES),
        SizeSpec("small", 120, 60, 12, 40, 12, 2, 300, 1000, AUX_TARGET_NAMES),
        SizeSpec("full", FULL_WIDTH, 780, 42, 20, 10, 2, 5000, 6720, AUX_TARGET_NAMES),
    )
}
"""Built-in sizes: ``tiny`` for unit tests, ``small`` for the demo, ``full`` for Numerai's real width.

Every size has every target and every feature set and group of Numerai's, by name; the smaller
sizes have fewer columns in each set (at least one)."""


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
    if train_rows < 2 * MIN_ROWS_PER_ERA:
        raise ValueError(f"train_rows={train_rows} is too small; need at least {2 * MIN_ROWS_PER_ERA}")
    eras = max(spec.train_eras, math.ceil(train_rows / spec.rows_per_era))
    if train_rows // eras < MIN_ROWS_PER_ERA:
        eras = train_rows // MIN_ROWS_PER_ERA
    if eras + spec.validation_eras > MAX_ERA // 2:
        raise ValueError(f"train_rows={train_rows} needs {eras} eras, more than this generator supports")
    return dataclasses.replace(spec, train_eras=eras, rows_per_era=round(train_rows / eras))
