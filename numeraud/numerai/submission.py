"""Validation of Numerai Classic prediction files with Numerai's own rules (numerai-tools).

Used by the sandbox (to accept or reject an upload the way Numerai does) and by the uploader (to
refuse a bad file before it is sent). Numerai's validator signals problems with ``assert``; this
module turns them into :class:`SubmissionInvalid` with the same prefixed message Numerai returns
(``invalid_submission_headers: …``, ``invalid_submission_ids: …``, ``invalid_submission_values: …``).
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass

import pandas as pd
from numerai_tools.submissions import validate_submission_numerai

#: Numerai's message prefix for a file that is not parseable CSV at all.
UNREADABLE = "invalid_submission_file"


class SubmissionInvalid(ValueError):
    """A predictions file that Numerai would reject; ``str(exc)`` is Numerai's message."""


@dataclass(frozen=True)
class ValidatedSubmission:
    """What validation learned about an accepted predictions file."""

    id_column: str
    prediction_column: str
    rows: int
    live_rows: int
    invalid_ids: tuple[str, ...]
    predictions: pd.Series


def read_predictions_csv(data: bytes) -> pd.DataFrame:
    """Parse uploaded CSV bytes the way Numerai does (ids kept as strings).

    Raises :class:`SubmissionInvalid` if the bytes are not CSV with a header row.
    """
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype={"id": str})
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SubmissionInvalid(f"{UNREADABLE}: could not read the file as CSV ({exc})") from exc
    if frame.empty:
        raise SubmissionInvalid(f"{UNREADABLE}: the file has no rows")
    return frame


def validate_predictions(live_ids: pd.Series | pd.Index, submission: pd.DataFrame) -> ValidatedSubmission:
    """Validate ``submission`` (columns ``id`` and ``prediction``/``probability``) for a round.

    ``live_ids`` are the round's live ids. Raises :class:`SubmissionInvalid` with Numerai's message
    when Numerai would reject the file.
    """
    if sys.flags.optimize:
        # numerai-tools validates with assert statements, which `python -O` strips.
        raise RuntimeError("submission validation needs assertions enabled: run Python without -O")
    universe = pd.Series(live_ids, dtype=str)
    try:
        id_col, pred_col, filtered, invalid = validate_submission_numerai(universe, submission)
    except AssertionError as exc:
        raise SubmissionInvalid(str(exc)) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise SubmissionInvalid(f"invalid_submission_values: {exc}") from exc
    predictions = filtered.set_index(id_col)[pred_col].astype(float)
    return ValidatedSubmission(
        id_column=id_col,
        prediction_column=pred_col,
        rows=len(submission),
        live_rows=len(filtered),
        invalid_ids=tuple(sorted(invalid)),
        predictions=predictions,
    )
