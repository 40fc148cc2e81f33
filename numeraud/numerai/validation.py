"""Validation of a submission to any Numerai tournament with Numerai's own rules (numerai-tools).

Pure: no files, no network. :func:`validate_submission` takes the tournament (8 Classic,
11 Signals, 12 Crypto), the round's live universe and the submitted frame, and either returns
what it learned (:class:`ValidatedFile`) or raises :class:`~numeraud.numerai.submission.SubmissionInvalid`
with the message numerai-tools gives (``invalid_submission_headers: …``, ``invalid_submission_ids: …``,
``invalid_submission_values: …``), which is the message Numerai answers an upload with.

The universe is what the tournament's validator takes: Classic the live ids (a Series or
Index), Signals a frame with one column per ticker type (``numerai_ticker``, ``composite_figi``,
``bloomberg_ticker``, ...), Crypto a frame with a ``symbol`` column.

numerai-tools accepts ids outside the universe and drops them (they are reported in
:attr:`ValidatedFile.invalid_ids`); a file is refused only when fewer than the tournament's
minimum remain (every live id for Classic, 100 for Signals and Crypto): a file of unknown
tickers or symbols is refused with ``invalid_submission_ids: Not enough stocks submitted…``.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass

import pandas as pd
from numerai_tools.submissions import (
    CRYPTO_ALLOWED_ID_COLS,
    SIGNALS_ALLOWED_DATE_COLS,
    SIGNALS_ALLOWED_ID_COLS,
    validate_submission_crypto,
    validate_submission_signals,
)

from numeraud.common.tournaments import CLASSIC, CRYPTO, SIGNALS
from numeraud.numerai.submission import UNREADABLE, SubmissionInvalid, read_predictions_csv, validate_predictions

#: The column Numerai's Signals universe files name each stock by (``ticker_universe()`` reads it).
SIGNALS_TICKER = "numerai_ticker"
#: The column Crypto's universe names each token by.
CRYPTO_SYMBOL = "symbol"
_ID_COLUMNS = {CLASSIC: ("id",), SIGNALS: tuple(SIGNALS_ALLOWED_ID_COLS), CRYPTO: tuple(CRYPTO_ALLOWED_ID_COLS)}
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class ValidatedFile:
    """What validation learned about an accepted submission.

    ``predictions`` are the accepted values indexed by the submission's own id column (``id``,
    a Signals ticker type or ``symbol``), only for ids in the universe, sorted.
    """

    tournament: int
    id_column: str
    prediction_column: str
    date_column: str | None
    rows: int
    live_rows: int
    invalid_ids: tuple[str, ...]
    predictions: pd.Series


def read_submission(data: bytes, tournament: int) -> pd.DataFrame:
    """Parse an uploaded submission (CSV, or Parquet for Signals and Crypto) with ids kept as strings.

    Raises :class:`SubmissionInvalid` (``invalid_submission_file: …``) if it is neither.
    """
    if tournament == CLASSIC:
        return read_predictions_csv(data)
    id_types = dict.fromkeys(_ID_COLUMNS[tournament], str)
    try:
        if data.startswith(_PARQUET_MAGIC):
            frame = pd.read_parquet(io.BytesIO(data))
            if not isinstance(frame.index, pd.RangeIndex):
                frame = frame.reset_index()  # an id-indexed frame: the ids become a column
            frame = frame.astype({name: str for name in id_types if name in frame.columns})
        else:
            frame = pd.read_csv(io.BytesIO(data), dtype=id_types)
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise SubmissionInvalid(f"{UNREADABLE}: could not read the file as CSV or Parquet ({exc})") from exc
    if frame.empty:
        raise SubmissionInvalid(f"{UNREADABLE}: the file has no rows")
    return frame


def validate_submission(
    tournament: int, universe: pd.Series | pd.Index | pd.DataFrame, frame: pd.DataFrame, *, require_date: bool = False
) -> ValidatedFile:
    """Validate ``frame`` against a round's live ``universe`` for ``tournament`` (see the module docstring).

    ``require_date`` (Signals only) refuses a file without a ``friday_date``/``date`` column, as
    numerai-tools' ``assert_date_col`` does. ``frame`` is not modified.
    """
    if sys.flags.optimize:
        # numerai-tools validates with assert statements, which `python -O` strips.
        raise RuntimeError("submission validation needs assertions enabled: run Python without -O")
    if tournament == CLASSIC:
        if isinstance(universe, pd.DataFrame):
            raise TypeError("a Classic universe is the live ids (a Series or Index), not a frame")
        classic = validate_predictions(universe, frame)
        return ValidatedFile(
            tournament=CLASSIC,
            id_column=classic.id_column,
            prediction_column=classic.prediction_column,
            date_column=None,
            rows=classic.rows,
            live_rows=classic.live_rows,
            invalid_ids=classic.invalid_ids,
            predictions=classic.predictions,
        )
    if not isinstance(universe, pd.DataFrame):
        raise TypeError("a Signals or Crypto universe is a frame with one column per id type")
    submission = frame.copy()
    date_col: str | None = None
    try:
        if tournament == SIGNALS:
            id_col, pred_col, date_col, filtered, invalid = validate_submission_signals(
                universe, submission, assert_date_col=require_date
            )
        elif tournament == CRYPTO:
            id_col, pred_col, filtered, invalid = validate_submission_crypto(universe, submission)
        else:
            raise ValueError(f"tournament {tournament} is not one of 8, 11, 12")
    except AssertionError as exc:
        raise SubmissionInvalid(str(exc)) from exc
    except KeyError as exc:
        raise SubmissionInvalid(f"invalid_submission_ids: the live universe has no {exc} column") from exc
    except (TypeError, ValueError) as exc:
        raise SubmissionInvalid(f"invalid_submission_values: {exc}") from exc
    predictions = filtered.set_index(id_col)[pred_col].astype(float).sort_index()
    return ValidatedFile(
        tournament=tournament,
        id_column=str(id_col),
        prediction_column=str(pred_col),
        date_column=date_col if date_col in SIGNALS_ALLOWED_DATE_COLS else None,
        rows=len(frame),
        live_rows=len(filtered),
        invalid_ids=tuple(sorted(str(i) for i in invalid)),
        predictions=predictions,
    )
