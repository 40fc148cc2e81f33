"""Uploads through the real numerapi client: accepted, rejected with Numerai's reasons, scored."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numerapi
import numpy as np
import pandas as pd
import pytest

from numeraud.sandbox import Sandbox
from numeraud.sandbox.records import Score


def live_predictions(sandbox: Sandbox, round_number: int = 1) -> pd.DataFrame:
    """A valid predictions frame (``id`` and ``prediction`` columns) for a round's live ids."""
    ids = sandbox.core.live_ids(round_number)
    values = np.random.default_rng(round_number).random(len(ids))
    return pd.DataFrame({"id": ids, "prediction": values})


def test_upload_from_dataframe_is_accepted_and_listed(napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    model_id = sandbox.model_ids()["sandbox_model_1"]
    submission_id = napi.upload_predictions(df=live_predictions(sandbox), model_id=model_id)
    assert [s["id"] for s in napi.submission_ids(model_id)] == [submission_id]
    (upload,) = sandbox.uploads()
    assert upload["accepted"] is True
    assert upload["model"] == "sandbox_model_1"
    assert upload["round"] == 1
    assert upload["rows"] == len(sandbox.core.live_ids(1))


def test_upload_from_file_is_accepted(napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    live_predictions(sandbox).to_csv(path, index=False)
    model_id = sandbox.model_ids()["sandbox_model_2"]
    submission_id = napi.upload_predictions(str(path), model_id=model_id)
    assert submission_id in {s["id"] for s in napi.submission_ids(model_id)}
    assert sandbox.uploads()[0]["filename"] == "preds.csv"


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda df: df.assign(prediction=0.5), "invalid_submission_values: submission must have non-zero"),
        (
            lambda df: df.assign(prediction=df["prediction"] + 1.5),
            "invalid_submission_values: values must be",
        ),
        (lambda df: df.iloc[5:], "invalid_submission_ids: Not enough stocks submitted"),
        (lambda df: pd.concat([df, df.iloc[:3]]), "invalid_submission_ids: Duplicates detected"),
        (lambda df: df.assign(era="X"), "invalid_submission_headers"),
        (lambda df: df.rename(columns={"prediction": "pred"}), "invalid_submission_headers"),
        (
            lambda df: df.assign(prediction=np.where(df.index < 2, np.nan, df["prediction"])),
            "must not contain NaNs",
        ),
    ],
    ids=["constant", "out-of-range", "missing-ids", "duplicate-ids", "extra-column", "wrong-header", "nan"],
)
def test_bad_upload_is_rejected_with_numerais_reason_and_not_recorded(
    napi: numerapi.NumerAPI, sandbox: Sandbox, mangle: object, reason: str
) -> None:
    model_id = sandbox.model_ids()["sandbox_model_1"]
    bad = mangle(live_predictions(sandbox))  # type: ignore[operator]
    with pytest.raises(ValueError, match=reason):
        napi.upload_predictions(df=bad, model_id=model_id)
    assert napi.submission_ids(model_id) == []
    (upload,) = sandbox.uploads()
    assert upload["accepted"] is False
    assert reason.split(":", maxsplit=1)[0] in upload["reason"]


def test_not_a_csv_is_rejected(napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_bytes(b"\x00\x01\x02 not csv at all")
    with pytest.raises(ValueError, match="invalid_submission"):
        napi.upload_predictions(str(path), model_id=sandbox.model_ids()["sandbox_model_1"])


def test_second_upload_replaces_the_selected_submission(napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    model_id = sandbox.model_ids()["sandbox_model_1"]
    napi.upload_predictions(df=live_predictions(sandbox), model_id=model_id)
    second = napi.upload_predictions(df=live_predictions(sandbox), model_id=model_id)
    filenames = napi.get_submission_filenames(model_id=model_id)
    assert len(filenames) == 1
    assert filenames[0]["round_num"] == 1
    selected = [s for s in sandbox.core.submissions_of(model_id) if s.selected]
    assert [s.id for s in selected] == [second]


def test_resolved_round_reports_corr_and_mmc_per_model(napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    models = sandbox.model_ids()
    for model_id in models.values():
        napi.upload_predictions(df=live_predictions(sandbox), model_id=model_id)
    sandbox.close_round()
    assert sandbox.resolve(1) == 2 * len(models)
    for model_id in models.values():
        with pytest.warns(DeprecationWarning, match="submission_scores"):  # numerapi's, still served
            (performance,) = napi.round_model_performances_v2(model_id)
        assert performance["roundNumber"] == 1
        assert performance["roundResolved"] is True
        names = {s["displayName"] for s in performance["submissionScores"]}
        assert names == {"v2_corr20", "mmc"}
        scores = napi.submission_scores(model_id)
        assert {s["roundNumber"] for s in scores} == {1}


def test_concurrent_resolves_of_a_round_score_it_exactly_once(napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    # The tick thread and admin calls may resolve the same round at the same moment.
    models = sandbox.model_ids()
    for model_id in models.values():
        napi.upload_predictions(df=live_predictions(sandbox), model_id=model_id)
    sandbox.close_round()
    callers = 8
    start = threading.Barrier(callers)
    results: list[list[Score]] = []

    def resolve() -> None:
        start.wait(timeout=10)
        results.append(sandbox.core.resolve(1, datetime.now(UTC)))

    threads = [threading.Thread(target=resolve) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == callers
    scored = [(s.model_id, s.display_name) for s in sandbox.core.state.scores]
    assert sorted(scored) == sorted((m, name) for m in models.values() for name in ("v2_corr20", "mmc"))
    assert all(sorted(map(id, r)) == sorted(map(id, results[0])) for r in results)  # the same scores, once
    for model_id in models.values():
        assert len(napi.submission_scores(model_id)) == 2


def test_unresolved_round_has_no_scores_yet(napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    model_id = sandbox.model_ids()["sandbox_model_1"]
    napi.upload_predictions(df=live_predictions(sandbox), model_id=model_id)
    with pytest.warns(DeprecationWarning, match="submission_scores"):
        (performance,) = napi.round_model_performances_v2(model_id)
    assert performance["submissionScores"] is None
    assert napi.submission_scores(model_id) == []


def test_upload_after_close_is_recorded_late(napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    model_id = sandbox.model_ids()["sandbox_model_1"]
    sandbox.close_round()
    submission_id = napi.upload_predictions(df=live_predictions(sandbox), model_id=model_id)
    (submission,) = sandbox.core.submissions_of(model_id)
    assert submission.id == submission_id
    assert submission.late is True


def test_model_upload_refuses_a_file_that_is_not_a_pickle(
    napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(b"not a pickle name")
    with pytest.raises(ValueError, match=r"must be a \.pkl file"):
        napi.model_upload(str(path), model_id=sandbox.model_ids()["sandbox_model_1"])
    assert sandbox.core.state.model_uploads == []


def test_model_upload_create_without_the_put_is_refused(napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    model_id = sandbox.model_ids()["sandbox_model_1"]
    auth = napi.raw_query(
        "query($filename: String! $modelId: String) { computePickleUploadAuth(filename: $filename modelId: $modelId)"
        " { filename url } }",
        {"filename": "model.pkl", "modelId": model_id},
        authorization=True,
    )["data"]["computePickleUploadAuth"]
    with pytest.raises(ValueError, match="No model file was uploaded"):
        napi.raw_query(
            "mutation($filename: String! $tournament: Int! $modelId: String) { createComputePickleUpload("
            "filename: $filename tournament: $tournament modelId: $modelId) { id } }",
            {"filename": auth["filename"], "tournament": 8, "modelId": model_id},
            authorization=True,
        )


def test_model_upload_with_an_unknown_data_version_id_is_refused(
    napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x05N.")
    with pytest.raises(ValueError, match="Unknown data version id"):
        napi.model_upload(
            str(path),
            model_id=sandbox.model_ids()["sandbox_model_1"],
            data_version="00000000-0000-4000-8000-000000000000",
        )


def test_model_upload_needs_keys(public_napi: numerapi.NumerAPI, tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x05N.")
    with pytest.raises(ValueError, match="API keys required"):
        public_napi.model_upload(str(path), model_id="x")
