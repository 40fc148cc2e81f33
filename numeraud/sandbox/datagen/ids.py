"""Row ids (``"n"`` + 15 hex digits), distinct across eras and rounds, and era names."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

# Id counter layout (before scrambling): 4 bits of kind, 24 bits of era or round, 32 bits of row.
_ID_BITS: Final = 60
KIND_HISTORIC: Final = 1
KIND_LIVE: Final = 2
MAX_ROUND: Final = 1 << 24


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


def row_ids(key: int, kind: int, number: int, rows: int) -> list[str]:
    """Ids for the rows of one era (``kind`` historic) or one live round (``kind`` live)."""
    base = (kind << 56) | (number << 32)
    return _scramble_ids(np.uint64(base) + np.arange(rows, dtype=np.uint64), key)


def era_name(number: int) -> str:
    """Numerai's era name of era ``number``: four digits, zero-padded."""
    return f"{number:04d}"
