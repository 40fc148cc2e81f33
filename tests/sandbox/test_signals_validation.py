"""``numeraud.numerai.validation``: Numerai's rules for Classic, Signals and Crypto files, pure functions."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from numeraud.common.tournaments import CLASSIC, CRYPTO, SIGNALS, tournament_number
from numeraud.numerai.submission import SubmissionInvalid
from numeraud.numerai.validation import read_submission, validate_submission

TICKERS = [f"T{i:03d} US" for i in range(150)]
SIGNALS_UNIVERSE = pd.DataFrame(
    {
        "numerai_ticker": TICKERS,
        "bloomberg_ticker": [f"{t} Equity" for t in TICKERS],
        "ticker": [t.split()[0] for t in TICKERS],
        "sedol": [f"S{i:06d}" for i in range(150)],
        "composite_figi": [f"BBG{i:09d}" for i in range(150)],
    }
)
CRYPTO_UNIVERSE = pd.DataFrame({"symbol": ["BTC", "ETH", "NMR", *(f"C{i}" for i in range(117))]})


def signals_file() -> pd.DataFrame:
    return pd.DataFrame({"numerai_ticker": TICKERS, "signal": np.linspace(0.01, 0.99, len(TICKERS))})


def test_a_good_signals_file_gives_its_predictions_by_ticker() -> None:
    result = validate_submission(SIGNALS, SIGNALS_UNIVERSE, signals_file())
    assert (result.tournament, result.id_column, result.prediction_column) == (SIGNALS, "numerai_ticker", "signal")
    assert (result.rows, result.live_rows, result.invalid_ids) == (150, 150, ())
    assert list(result.predictions.index) == sorted(TICKERS)


def test_validation_does_not_modify_the_frame() -> None:
    frame = signals_file().assign(date="2026-01-02", data_type="live")
    before = frame.copy()
    validate_submission(SIGNALS, SIGNALS_UNIVERSE, frame, require_date=True)
    pd.testing.assert_frame_equal(frame, before)


def test_unknown_tickers_are_dropped_and_counted_while_enough_remain() -> None:
    extra = pd.DataFrame({"numerai_ticker": ["ZZZ XX", "YYY XX"], "signal": [0.1, 0.9]})
    result = validate_submission(SIGNALS, SIGNALS_UNIVERSE, pd.concat([signals_file(), extra]))
    assert result.invalid_ids == ("YYY XX", "ZZZ XX")
    assert result.live_rows == 150


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (signals_file().iloc[:99], "invalid_submission_ids: Not enough stocks submitted"),
        (signals_file().assign(numerai_ticker=[f"X{i}" for i in range(150)]), "Not enough stocks submitted"),
        (signals_file().rename(columns={"signal": "score"}), "invalid_submission_headers"),
        (signals_file().assign(signal=np.nan), "invalid_submission_values: submission must not contain NaNs"),
    ],
    ids=["too-few", "outside-universe", "bad-header", "nan"],
)
def test_a_bad_signals_file_raises_numerai_tools_message(frame: pd.DataFrame, reason: str) -> None:
    with pytest.raises(SubmissionInvalid, match=reason):
        validate_submission(SIGNALS, SIGNALS_UNIVERSE, frame)


def test_a_missing_date_column_is_refused_only_when_required() -> None:
    validate_submission(SIGNALS, SIGNALS_UNIVERSE, signals_file())
    with pytest.raises(SubmissionInvalid, match="invalid_submission_headers: submission must contain a date column"):
        validate_submission(SIGNALS, SIGNALS_UNIVERSE, signals_file(), require_date=True)
    dated = validate_submission(
        SIGNALS, SIGNALS_UNIVERSE, signals_file().assign(friday_date=20260102), require_date=True
    )
    assert dated.date_column == "friday_date"


def test_crypto_refuses_unknown_symbols_and_accepts_the_universe() -> None:
    good = pd.DataFrame({"symbol": CRYPTO_UNIVERSE["symbol"], "prediction": np.linspace(0, 1, len(CRYPTO_UNIVERSE))})
    assert validate_submission(CRYPTO, CRYPTO_UNIVERSE, good).live_rows == 120
    unknown = good.assign(symbol=[f"NOPE{i}" for i in range(len(good))])
    with pytest.raises(SubmissionInvalid, match="invalid_submission_ids: Not enough stocks submitted"):
        validate_submission(CRYPTO, CRYPTO_UNIVERSE, unknown)


def test_classic_is_validated_as_before() -> None:
    ids = pd.Index([f"n{i:015x}" for i in range(20)])
    frame = pd.DataFrame({"id": ids, "prediction": np.linspace(0, 1, 20)})
    assert validate_submission(CLASSIC, ids, frame).live_rows == 20
    with pytest.raises(SubmissionInvalid, match="invalid_submission_ids: Not enough stocks submitted"):
        validate_submission(CLASSIC, ids, frame.iloc[1:])
    with pytest.raises(TypeError):
        validate_submission(CLASSIC, pd.DataFrame({"id": ids}), frame)
    with pytest.raises(TypeError):
        validate_submission(SIGNALS, pd.Series(TICKERS), signals_file())


def test_a_parquet_submission_reads_like_its_csv() -> None:
    frame = signals_file()
    buffer = io.BytesIO()
    frame.set_index("numerai_ticker").to_parquet(buffer)
    from_parquet = read_submission(buffer.getvalue(), SIGNALS)
    from_csv = read_submission(frame.to_csv(index=False).encode(), SIGNALS)
    pd.testing.assert_frame_equal(from_parquet, from_csv)
    with pytest.raises(SubmissionInvalid, match="invalid_submission_file"):
        read_submission(b"symbol,signal\n", CRYPTO)


@pytest.mark.parametrize(("given", "number"), [(8, 8), ("signals", 11), ("Crypto", 12), ("11", 11)])
def test_a_tournament_is_named_by_number_or_name(given: object, number: int) -> None:
    assert tournament_number(given) == number


@pytest.mark.parametrize("given", [9, "tournament", None, True])
def test_an_unknown_tournament_is_refused_with_the_choices(given: object) -> None:
    with pytest.raises(ValueError, match=r"8 \(classic\), 11 \(signals\), 12 \(crypto\)"):
        tournament_number(given)
