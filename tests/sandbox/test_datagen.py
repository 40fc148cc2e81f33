"""The synthetic Numerai dataset generator: schema, determinism, NaN rules, real signal, sizes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numerai_tools.scoring import numerai_corr
from sklearn.linear_model import Ridge

import numeraud
from numeraud.sandbox.datagen import SIZES, DatasetGenerator, SizeSpec, size_spec
from numeraud.sandbox.datagen.sizes import FEATURE_GROUPS

VERSION = "v5.2"
ID_RE = re.compile(r"^n[0-9a-f]{15}$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> DatasetGenerator:
    """A tiny version with live rounds 1 and 2, shared by the read-only tests."""
    generator = DatasetGenerator(tmp_path_factory.mktemp("tiny"), "tiny", seed=7)
    generator.ensure_version(VERSION)
    generator.ensure_live(VERSION, 1)
    generator.ensure_live(VERSION, 2)
    return generator


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DatasetGenerator:
    """The demo size with one live round."""
    generator = DatasetGenerator(tmp_path_factory.mktemp("small"), "small", seed=0)
    generator.ensure_version(VERSION)
    generator.ensure_live(VERSION, 3)
    return generator


def read(generator: DatasetGenerator, name: str) -> pd.DataFrame:
    return pd.read_parquet(generator.root / VERSION / name)


def features_json(generator: DatasetGenerator) -> dict[str, dict[str, list[str]] | list[str]]:
    loaded: dict[str, dict[str, list[str]] | list[str]] = json.loads(
        (generator.root / VERSION / "features.json").read_text()
    )
    return loaded


def per_era_corr(predictions: pd.Series, data: pd.DataFrame) -> float:
    frame = data.assign(prediction=predictions)
    scores = [numerai_corr(era[["prediction"]], era["target"]).iloc[0] for _, era in frame.groupby("era")]
    return float(np.mean(scores))


# -- schema ------------------------------------------------------------------------------------


def test_ensure_version_returns_the_relative_names_of_the_files_it_wrote(tmp_path: Path) -> None:
    names = DatasetGenerator(tmp_path, "tiny").ensure_version(VERSION)
    assert names == [
        "v5.2/features.json",
        "v5.2/train.parquet",
        "v5.2/train_benchmark_models.parquet",
        "v5.2/validation.parquet",
        "v5.2/validation_example_preds.parquet",
        "v5.2/validation_benchmark_models.parquet",
        "v5.2/meta_model.parquet",
        "v5.2/validation_example_preds.csv",
    ]
    assert all((tmp_path / name).is_file() for name in names)


def test_ensure_live_returns_the_public_names_and_hides_the_truth(tmp_path: Path) -> None:
    names = DatasetGenerator(tmp_path, "tiny").ensure_live(VERSION, 5)
    assert names == [
        "v5.2/live_5.parquet",
        "v5.2/live_example_preds_5.parquet",
        "v5.2/live_benchmark_models_5.parquet",
        "v5.2/live_example_preds_5.csv",
    ]
    assert all((tmp_path / name).is_file() for name in names)
    assert (tmp_path / ".hidden" / VERSION / "live_5.parquet").is_file()


@pytest.mark.parametrize("name", ["train.parquet", "validation.parquet", "live_1.parquet"])
def test_data_files_have_numerais_columns_dtypes_and_id_index(tiny: DatasetGenerator, name: str) -> None:
    data = read(tiny, name)
    spec = tiny.spec
    assert data.index.name == "id"
    assert data.index.map(lambda i: bool(ID_RE.match(i))).all()
    expected = ["era", "data_type", *tiny.feature_names(), "target", *spec.target_columns]
    assert list(data.columns) == expected
    features = data[tiny.feature_names()]
    assert (features.dtypes == np.int8).all()
    assert features.min().min() >= 0
    assert features.max().max() <= 4
    assert (data[["target", *spec.target_columns]].dtypes == np.float32).all()
    assert data["era"].map(lambda e: bool(re.fullmatch(r"\d{4}", e))).all()


def test_train_eras_run_from_0001_and_validation_continues_after_them(tiny: DatasetGenerator) -> None:
    train, validation = read(tiny, "train.parquet"), read(tiny, "validation.parquet")
    spec = tiny.spec
    assert sorted(train["era"].unique()) == [f"{e:04d}" for e in range(1, spec.train_eras + 1)]
    first, last = spec.train_eras + 1, spec.train_eras + spec.validation_eras
    assert sorted(validation["era"].unique()) == [f"{e:04d}" for e in range(first, last + 1)]
    assert set(train["data_type"]) == {"train"}


def test_the_newest_validation_eras_are_test_and_the_rest_validation(tiny: DatasetGenerator) -> None:
    validation = read(tiny, "validation.parquet")
    eras = sorted(validation["era"].unique())
    test_eras = eras[-tiny.spec.test_eras :]
    assert set(validation.loc[validation["era"].isin(test_eras), "data_type"]) == {"test"}
    assert set(validation.loc[~validation["era"].isin(test_eras), "data_type"]) == {"validation"}


def test_live_file_is_one_era_after_the_validation_eras_offset_by_round(tiny: DatasetGenerator) -> None:
    spec = tiny.spec
    for round_number in (1, 2):
        live = read(tiny, f"live_{round_number}.parquet")
        era = f"{spec.train_eras + spec.validation_eras + round_number:04d}"
        assert set(live["era"]) == {era} == {tiny.live_era(round_number)}
        assert set(live["data_type"]) == {"live"}
        assert len(live) == spec.live_rows


def test_rows_per_era_vary_within_twenty_percent(tiny: DatasetGenerator) -> None:
    counts = read(tiny, "train.parquet").groupby("era").size()
    rows = tiny.spec.rows_per_era
    assert counts.between(0.8 * rows - 1, 1.2 * rows + 1).all()
    assert counts.nunique() > 1


def test_prediction_files_are_id_indexed_in_the_open_unit_interval(tiny: DatasetGenerator) -> None:
    validation = read(tiny, "validation.parquet")
    for name, column, ids in [
        ("validation_example_preds.parquet", "prediction", validation.index),
        ("meta_model.parquet", "numerai_meta_model", validation.index),
        ("live_example_preds_1.parquet", "prediction", read(tiny, "live_1.parquet").index),
    ]:
        preds = read(tiny, name)
        assert preds.index.name == "id"
        assert list(preds.columns) == [column]
        assert preds.index.equals(ids)
        assert preds[column].gt(0).all()
        assert preds[column].lt(1).all()


def test_live_truth_has_targets_and_meta_model_for_every_live_id(tiny: DatasetGenerator) -> None:
    truth = tiny.live_truth(VERSION, 1)
    live = read(tiny, "live_1.parquet")
    assert truth.index.equals(live.index)
    assert list(truth.columns) == ["target", *tiny.spec.target_columns, "numerai_meta_model"]
    assert truth.notna().all().all()


def test_live_truth_generates_the_round_when_missing(tmp_path: Path) -> None:
    generator = DatasetGenerator(tmp_path, "tiny")
    truth = generator.live_truth(VERSION, 9)
    assert len(truth) == generator.spec.live_rows
    assert (tmp_path / VERSION / "live_9.parquet").is_file()


# -- ids ---------------------------------------------------------------------------------------


def test_ids_are_unique_across_splits_eras_and_rounds(tiny: DatasetGenerator) -> None:
    ids = pd.Index(
        [
            *read(tiny, "train.parquet").index,
            *read(tiny, "validation.parquet").index,
            *read(tiny, "live_1.parquet").index,
            *read(tiny, "live_2.parquet").index,
        ]
    )
    assert ids.is_unique
    assert ids.map(lambda i: bool(ID_RE.match(i))).all()


def test_versions_share_ids_and_targets_but_not_every_feature(tmp_path: Path) -> None:
    generator = DatasetGenerator(tmp_path, "small")
    generator.ensure_live("v5.2", 1)
    generator.ensure_live("v5.3", 1)
    a, b = read_live(tmp_path, "v5.2", 1), read_live(tmp_path, "v5.3", 1)
    assert a.index.equals(b.index)
    assert generator.live_truth("v5.2", 1).equals(generator.live_truth("v5.3", 1))
    features = generator.feature_names()
    assert not a[features].equals(b[features])
    assert (a[features] == b[features]).to_numpy().mean() > 0.9


def read_live(root: Path, version: str, round_number: int) -> pd.DataFrame:
    return pd.read_parquet(root / version / f"live_{round_number}.parquet")


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    names = []
    for root in (tmp_path / "a", tmp_path / "b"):
        generator = DatasetGenerator(root, "tiny", seed=3)
        names = generator.ensure_version(VERSION) + generator.ensure_live(VERSION, 4)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    hidden = Path(".hidden") / VERSION / "live_4.parquet"
    assert (tmp_path / "a" / hidden).read_bytes() == (tmp_path / "b" / hidden).read_bytes()


def test_another_seed_gives_other_names_ids_and_values(tmp_path: Path) -> None:
    one = DatasetGenerator(tmp_path / "a", "tiny", seed=1)
    two = DatasetGenerator(tmp_path / "b", "tiny", seed=2)
    one.ensure_live(VERSION, 1)
    two.ensure_live(VERSION, 1)
    assert one.feature_names() != two.feature_names()
    live_one, live_two = read_live(one.root, VERSION, 1), read_live(two.root, VERSION, 1)
    assert not set(live_one.index) & set(live_two.index)
    assert not np.array_equal(live_one.iloc[:, 2:32].to_numpy(), live_two.iloc[:, 2:32].to_numpy())


def test_feature_names_are_unique_obfuscated_triples_fixed_by_the_seed(tmp_path: Path) -> None:
    names = DatasetGenerator(tmp_path, "full", seed=5).feature_names()
    assert len(names) == len(set(names)) == 2748
    assert all(re.fullmatch(r"feature_[a-z]+_[a-z]+_[a-z]+", name) for name in names)
    assert DatasetGenerator(tmp_path / "other", "full", seed=5).feature_names() == names


def test_every_version_uses_the_same_feature_columns_and_v53_adds_the_quantum_ones(tmp_path: Path) -> None:
    generator = DatasetGenerator(tmp_path, "tiny")
    for version in ("v5.0", "v5.2", "v5.3"):
        generator.ensure_version(version)
    columns = {v: read_parquet_columns(tmp_path / v / "train.parquet") for v in ("v5.0", "v5.2", "v5.3")}
    assert columns["v5.0"] == columns["v5.2"]
    assert [c for c in columns["v5.2"] if c.startswith("feature_")] == generator.feature_names("v5.2")
    quantum = json.loads((tmp_path / "v5.3" / "features.json").read_text())["feature_sets"]["quantum"]
    assert [c for c in columns["v5.3"] if c.startswith("feature_")] == generator.feature_names("v5.2") + quantum
    assert generator.feature_names("v5.3") == generator.feature_names("v5.2") + quantum
    shared = generator.feature_names("v5.2")
    v52, v53 = (pd.read_parquet(tmp_path / v / "train.parquet", columns=["target", *shared]) for v in ("v5.2", "v5.3"))
    assert v52.index.equals(v53.index)
    assert v52["target"].equals(v53["target"])


def read_parquet_columns(path: Path) -> list[str]:
    return list(pd.read_parquet(path).columns)


# -- targets -----------------------------------------------------------------------------------


def test_targets_take_five_values_binned_5_20_50_20_5_per_era(tiny: DatasetGenerator) -> None:
    train = read(tiny, "train.parquet")
    values = train[["target", *tiny.spec.target_columns]].to_numpy()
    assert set(np.unique(values[~np.isnan(values)])) == {0.0, 0.25, 0.5, 0.75, 1.0}
    for _, era in train.groupby("era"):
        shares = era["target"].value_counts(normalize=True).reindex([0, 0.25, 0.5, 0.75, 1]).to_numpy()
        np.testing.assert_allclose(shares, [0.05, 0.2, 0.5, 0.2, 0.05], atol=0.02)


def test_target_is_an_alias_of_target_ender_20(tiny: DatasetGenerator) -> None:
    for name in ("train.parquet", "validation.parquet"):
        data = read(tiny, name)
        pd.testing.assert_series_equal(data["target"], data["target_ender_20"], check_names=False)
    truth = tiny.live_truth(VERSION, 1)
    pd.testing.assert_series_equal(truth["target"], truth["target_ender_20"], check_names=False)


def test_train_target_is_never_nan(tiny: DatasetGenerator) -> None:
    assert read(tiny, "train.parquet")["target"].notna().all()


def test_live_files_have_only_nan_targets(tiny: DatasetGenerator) -> None:
    live = read(tiny, "live_1.parquet")
    assert live[["target", *tiny.spec.target_columns]].isna().all().all()


def test_test_eras_have_nan_targets_and_validation_eras_have_targets(tiny: DatasetGenerator) -> None:
    validation = read(tiny, "validation.parquet")
    test = validation[validation["data_type"] == "test"]
    assert test[["target", *tiny.spec.target_columns]].isna().all().all()
    assert validation.loc[validation["data_type"] == "validation", "target"].notna().all()


def test_aux_targets_have_a_few_percent_nan_in_whole_eras(tiny: DatasetGenerator) -> None:
    train = read(tiny, "train.parquet")
    aux = train[tiny.spec.target_columns]
    share = aux.isna().to_numpy().mean()
    assert 0 < share < 0.15
    nan_by_era = aux.isna().groupby(train["era"]).mean()
    assert set(np.unique(nan_by_era.to_numpy())) <= {0.0, 1.0}


# -- features.json -----------------------------------------------------------------------------


def test_features_json_lists_the_file_columns_with_nested_tiers(tiny: DatasetGenerator) -> None:
    meta = features_json(tiny)
    sets = meta["feature_sets"]
    assert isinstance(sets, dict)
    train = read(tiny, "train.parquet")
    assert sets["all"] == [c for c in train.columns if c.startswith("feature_")] == tiny.feature_names()
    assert meta["targets"] == [c for c in train.columns if c.startswith("target")]
    assert set(sets["small"]) < set(sets["medium"]) < set(sets["all"])
    assert (len(sets["small"]), len(sets["medium"])) == (tiny.spec.n_small, tiny.spec.n_medium)


def test_features_json_has_every_group_and_the_groups_split_all(tiny: DatasetGenerator) -> None:
    sets = features_json(tiny)["feature_sets"]
    assert isinstance(sets, dict)
    groups = list(FEATURE_GROUPS)
    assert set(groups) <= set(sets)
    grouped = [name for group in groups for name in sets[group]]
    assert sorted(grouped) == sorted(sets["all"])
    assert all(sets[group] for group in groups)


# -- signal ------------------------------------------------------------------------------------


def test_ridge_trained_on_small_train_scores_positive_on_validation(small: DatasetGenerator) -> None:
    features = small.feature_names()
    train = read(small, "train.parquet")
    model = Ridge(alpha=1.0).fit(train[features], train["target"])
    validation = read(small, "validation.parquet")
    validation = validation[validation["data_type"] == "validation"]
    score = per_era_corr(pd.Series(model.predict(validation[features]), index=validation.index), validation)
    assert 0.02 < score < 0.3


def test_ridge_trained_on_small_train_scores_positive_on_live_truth(small: DatasetGenerator) -> None:
    features = small.feature_names()
    train = read(small, "train.parquet")
    model = Ridge(alpha=1.0).fit(train[features], train["target"])
    live = read(small, "live_3.parquet")
    predictions = pd.DataFrame({"prediction": model.predict(live[features])}, index=live.index)
    score = numerai_corr(predictions, small.live_truth(VERSION, 3)["target"]).iloc[0]
    assert 0.02 < score < 0.3


def test_example_preds_and_meta_model_score_positive_on_validation(small: DatasetGenerator) -> None:
    validation = read(small, "validation.parquet")
    labelled = validation[validation["data_type"] == "validation"]
    example = read(small, "validation_example_preds.parquet")["prediction"]
    meta = read(small, "meta_model.parquet")["numerai_meta_model"]
    assert 0.02 < per_era_corr(example.loc[labelled.index], labelled) < 0.5
    assert 0.02 < per_era_corr(meta.loc[labelled.index], labelled) < 0.5


def test_live_example_preds_and_meta_model_score_positive_on_live_truth(small: DatasetGenerator) -> None:
    truth = small.live_truth(VERSION, 3)
    example = read(small, "live_example_preds_3.parquet")
    assert numerai_corr(example, truth["target"]).iloc[0] > 0.02
    assert numerai_corr(truth[["numerai_meta_model"]], truth["target"]).iloc[0] > 0.02


# -- idempotence and updates ---------------------------------------------------------------------


def mtimes(root: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in root.rglob("*") if path.is_file()}


def test_second_ensure_version_and_ensure_live_rewrite_nothing(tmp_path: Path) -> None:
    generator = DatasetGenerator(tmp_path, "tiny")
    first = generator.ensure_version(VERSION) + generator.ensure_live(VERSION, 1)
    before = mtimes(tmp_path)
    again = DatasetGenerator(tmp_path, "tiny")
    assert again.ensure_version(VERSION) + again.ensure_live(VERSION, 1) == first
    assert mtimes(tmp_path) == before


def test_generation_leaves_no_temporary_files(tmp_path: Path) -> None:
    generator = DatasetGenerator(tmp_path, "tiny")
    generator.ensure_version(VERSION)
    generator.ensure_live(VERSION, 1)
    generator.update_validation(VERSION, 2)
    assert not [path for path in tmp_path.rglob("*") if path.name.endswith(".tmp")]


def test_update_validation_adds_eras_and_promotes_old_test_eras(tmp_path: Path) -> None:
    generator = DatasetGenerator(tmp_path, "tiny")
    generator.ensure_version(VERSION)
    before = read(generator, "validation.parquet")
    old_test = before.index[before["data_type"] == "test"]
    assert generator.update_validation(VERSION, 2) == [
        "v5.2/validation.parquet",
        "v5.2/validation_example_preds.parquet",
        "v5.2/validation_benchmark_models.parquet",
        "v5.2/meta_model.parquet",
        "v5.2/validation_example_preds.csv",
    ]
    after = read(generator, "validation.parquet")
    spec = generator.spec
    assert after["era"].nunique() == spec.validation_eras + 2
    assert set(after.loc[old_test, "data_type"]) == {"validation"}
    assert after.loc[old_test, "target"].notna().all()
    newest = sorted(after["era"].unique())[-spec.test_eras :]
    assert set(after.loc[after["data_type"] == "test", "era"]) == set(newest)
    pd.testing.assert_frame_equal(after.loc[before.index, generator.feature_names()], before[generator.feature_names()])
    assert read(generator, "meta_model.parquet").index.equals(after.index)
    assert read(generator, "validation_example_preds.parquet").index.equals(after.index)
    assert read(generator, "validation_benchmark_models.parquet").index.equals(after.index)
    csv = pd.read_csv(tmp_path / VERSION / "validation_example_preds.csv", index_col="id")
    assert csv.index.equals(after.index)


def test_update_validation_with_the_same_count_rewrites_nothing(tmp_path: Path) -> None:
    generator = DatasetGenerator(tmp_path, "tiny")
    generator.update_validation(VERSION, 1)
    before = mtimes(tmp_path)
    generator.update_validation(VERSION, 1)
    generator.ensure_version(VERSION)
    assert mtimes(tmp_path) == before
    assert read(generator, "validation.parquet")["era"].nunique() == generator.spec.validation_eras + 1


def test_a_root_made_with_another_seed_is_refused(tmp_path: Path) -> None:
    DatasetGenerator(tmp_path, "tiny", seed=1).ensure_version(VERSION)
    with pytest.raises(ValueError, match="seed 1"):
        DatasetGenerator(tmp_path, "tiny", seed=2).ensure_version(VERSION)


# -- sizes and validation of arguments -------------------------------------------------------------


def test_unknown_size_name_is_a_value_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'huge'"):
        DatasetGenerator(tmp_path, "huge")


@pytest.mark.parametrize("version", ["5.2", "v5", "v5.2/../x", ""])
def test_bad_version_string_is_a_value_error_naming_it(tmp_path: Path, version: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(version))):
        DatasetGenerator(tmp_path, "tiny").ensure_version(version)


@pytest.mark.parametrize("round_number", [0, -1])
def test_round_below_one_is_a_value_error_naming_it(tmp_path: Path, round_number: int) -> None:
    with pytest.raises(ValueError, match=str(round_number)):
        DatasetGenerator(tmp_path, "tiny").ensure_live(VERSION, round_number)


def test_inconsistent_size_spec_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="n_small"):
        SizeSpec("odd", 30, 10, 20, 8, 4, 1, 80, 200, ("ender",))


def test_train_rows_below_the_default_shrink_rows_per_era_and_keep_eras() -> None:
    spec = size_spec("full", train_rows=5000)
    assert spec.train_eras == SIZES["full"].train_eras
    assert spec.train_eras * spec.rows_per_era == 5000
    assert spec.n_features == 2748


def test_train_rows_above_the_default_add_eras_and_keep_rows_per_era() -> None:
    spec = size_spec("full", train_rows=2_000_000)
    assert spec.rows_per_era == SIZES["full"].rows_per_era
    assert spec.train_eras == 400


def test_train_rows_scale_the_written_train_file(tmp_path: Path) -> None:
    generator = DatasetGenerator(tmp_path, "tiny", train_rows=2000)
    generator.ensure_version(VERSION)
    assert 0.9 * 2000 < len(read(generator, "train.parquet")) < 1.1 * 2000


@pytest.mark.slow
def test_full_width_live_round_and_version_stay_under_one_and_a_half_gb(tmp_path: Path) -> None:
    # The child reports its own peak RSS: RUSAGE_CHILDREN here would include other tests' children.
    script = textwrap.dedent(
        f"""
        import resource
        from pathlib import Path
        from numeraud.sandbox.datagen import DatasetGenerator
        generator = DatasetGenerator(Path({str(tmp_path)!r}), "full", seed=0, train_rows=5000)
        generator.ensure_live("v5.2", 1200)
        generator.ensure_version("v5.2")
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    package_root = str(Path(numeraud.__file__).resolve().parents[1])
    paths = [package_root, *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    child = subprocess.run(
        [sys.executable, "-c", script], check=True, env=env, timeout=240, capture_output=True, text=True
    )
    assert int(child.stdout.split()[-1]) / 1024 < 1500
    live = pd.read_parquet(tmp_path / "v5.2" / "live_1200.parquet")
    assert live.shape == (6720, 2 + 2748 + 41)
    assert live.filter(like="feature_").shape[1] == 2748
    train = pd.read_parquet(tmp_path / "v5.2" / "train.parquet", columns=["era", "target"])
    assert len(train) == pytest.approx(5000, rel=0.1)
    meta = json.loads((tmp_path / "v5.2" / "features.json").read_text())
    sets = meta["feature_sets"]
    assert (len(sets["small"]), len(sets["medium"]), len(sets["all"])) == (42, 780, 2748)
    assert len(sets) == 18
    assert len(meta["targets"]) == 41
