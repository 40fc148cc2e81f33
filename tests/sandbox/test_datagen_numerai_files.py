"""The files Numerai lists besides train/validation/live: benchmark models, CSV example preds, features.json sets.

Generated with the real generator at every built-in size, read back with pandas as a user's code would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from numeraud.sandbox.datagen import DatasetGenerator
from numeraud.sandbox.datagen.benchmarks import version_prefix
from numeraud.sandbox.datagen.sizes import AUX_TARGET_NAMES, FEATURE_GROUPS, LEGACY_SETS

#: Numerai's v5.2 features.json: 18 feature sets (size tiers, legacy sets, 12 groups); v5.3 adds quantum.
V52_SETS = {"small", "medium", "all", *LEGACY_SETS, *FEATURE_GROUPS}
BENCHMARK_MODELS = [f"lgbm_{t}{h}" for h in (20, 60) for t in ("cyrusd", "teager2b", "ender", "jasper")]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DatasetGenerator:
    """v5.2 and v5.3 at the demo size, with live round 1."""
    generator = DatasetGenerator(tmp_path_factory.mktemp("small"), "small")
    for version in ("v5.2", "v5.3"):
        generator.ensure_version(version)
        generator.ensure_live(version, 1)
    return generator


def feature_sets(root: Path, version: str) -> dict[str, list[str]]:
    loaded: dict[str, list[str]] = json.loads((root / version / "features.json").read_text())["feature_sets"]
    return loaded


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_features_json_has_every_numerai_set_group_and_target_at_every_size(tmp_path: Path, size: str) -> None:
    generator = DatasetGenerator(tmp_path, size)
    for version in ("v5.2", "v5.3"):
        generator.ensure_version(version)
    v52, v53 = feature_sets(tmp_path, "v5.2"), feature_sets(tmp_path, "v5.3")
    assert set(v52) == V52_SETS
    assert len(v52) == 18
    assert set(v53) == V52_SETS | {"quantum"}
    assert all(v53[name] for name in v53), "every set has at least one column"
    groups = [*FEATURE_GROUPS, "quantum"]
    assert sorted(n for g in groups for n in v53[g]) == sorted(v53["all"]), "the groups split all"
    assert v53["all"] == v52["all"] + v53["quantum"]
    assert v53["medium"] == v52["medium"]
    assert v53["small"] == v52["small"]
    targets = json.loads((tmp_path / "v5.3" / "features.json").read_text())["targets"]
    assert len(targets) == 41
    assert targets == ["target", *(f"target_{n}_{h}" for n in sorted(AUX_TARGET_NAMES) for h in (20, 60))]
    train_columns = pd.read_parquet(tmp_path / "v5.3" / "train.parquet").columns
    assert [c for c in train_columns if c.startswith("target")] == targets


def test_quantum_is_scaled_to_numerais_share_of_the_features(tmp_path: Path) -> None:
    generator = DatasetGenerator(tmp_path, "full")
    assert len(generator.feature_names("v5.2")) == 2748
    assert len(generator.feature_names("v5.3")) == 3555


@pytest.mark.parametrize(
    ("version", "prefix"), [("v5.0", "v5"), ("v5.1", "v51"), ("v5.2", "v52"), ("v5.3", "v53"), ("v6.0", "v6")]
)
def test_benchmark_models_are_prefixed_with_the_version_as_numerai_does(version: str, prefix: str) -> None:
    assert version_prefix(version) == prefix


@pytest.mark.parametrize("kind", ["train", "validation", "live"])
def test_benchmark_files_have_numerais_columns_and_the_data_files_ids(small: DatasetGenerator, kind: str) -> None:
    suffix = "_1" if kind == "live" else ""
    benchmarks = pd.read_parquet(small.root / "v5.3" / f"{kind}_benchmark_models{suffix}.parquet")
    data = pd.read_parquet(small.root / "v5.3" / f"{kind}{suffix}.parquet", columns=["era"])
    assert list(benchmarks.columns) == [f"v53_{m}" for m in BENCHMARK_MODELS] + ["v5_lgbm_ct_blend"]
    assert list(benchmarks.columns) == small.benchmark_columns("v5.3")
    assert benchmarks.index.name == "id"
    assert benchmarks.index.equals(data.index)
    values = benchmarks.to_numpy()
    assert not np.isnan(values).any()
    assert values.min() > 0
    assert values.max() < 1


def test_each_benchmark_model_predicts_its_own_target(small: DatasetGenerator) -> None:
    benchmarks = pd.read_parquet(small.root / "v5.2" / "validation_benchmark_models.parquet")
    validation = pd.read_parquet(small.root / "v5.2" / "validation.parquet")
    labelled = validation[validation["data_type"] == "validation"]
    for name in ("cyrusd", "teager2b", "ender", "jasper"):
        target = labelled[f"target_{name}_20"].dropna()
        corr = np.corrcoef(benchmarks.loc[target.index, f"v52_lgbm_{name}20"], target)[0, 1]
        assert corr > 0.05, (name, corr)


@pytest.mark.parametrize("name", ["validation_example_preds", "live_example_preds_1"])
def test_csv_example_preds_are_the_parquet_ones_with_numerais_header(small: DatasetGenerator, name: str) -> None:
    path = small.root / "v5.3" / f"{name}.csv"
    assert path.read_text().splitlines()[0] == "id,prediction"
    csv = pd.read_csv(path, index_col="id")
    parquet = pd.read_parquet(small.root / "v5.3" / f"{name}.parquet")
    pd.testing.assert_frame_equal(csv, parquet, check_index_type=False)


def test_a_directory_generated_by_an_older_format_is_refused_with_the_reason(tmp_path: Path) -> None:
    stamp = tmp_path / ".hidden" / "v5.2" / "generator.json"
    stamp.parent.mkdir(parents=True)
    stamp.write_text(json.dumps({"format": 1, "seed": 0, "spec": {"name": "tiny"}}))
    with pytest.raises(ValueError, match=r"generated by another numeraud \(data format 1, this one writes 2\)"):
        DatasetGenerator(tmp_path, "tiny").ensure_version("v5.2")
