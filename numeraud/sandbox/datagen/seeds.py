"""Randomness that is the same in every process: generators seeded from a stable hash of their names."""

from __future__ import annotations

import hashlib

import numpy as np


def stable_seed(*parts: object) -> int:
    """A 128-bit integer from ``parts``, the same in every process (unlike ``hash()``)."""
    text = "\x1f".join(repr(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


def seeded_rng(*parts: object) -> np.random.Generator:
    """A generator seeded from a stable hash of ``parts``."""
    return np.random.default_rng(stable_seed(*parts))
