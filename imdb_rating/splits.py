"""Splits by a seeded hash of the tconst: a movie keeps its side when the dump grows, and which
movies a model held out can be told from its feature spec alone (its `features.Split`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


def hash_fraction(key: str, seed: int, purpose: str) -> float:
    """A stable pseudo-random number in [0, 1) for `key`: splits that survive data updates.

    `purpose` keeps the draws of different splits (test, folds, calibration) independent.
    """
    digest = hashlib.md5(f"{purpose}:{seed}:{key}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def share_mask(tconsts: Iterable[str], share: float, seed: int, purpose: str) -> np.ndarray:
    """True for about `share` of the movies, the same ones on every run and dump."""
    return np.array([hash_fraction(t, seed, purpose) < share for t in tconsts], dtype=bool)


def fold_ids(tconsts: Iterable[str], folds: int, seed: int, purpose: str) -> np.ndarray:
    """Each movie's fold, 0 to folds - 1."""
    return np.array([int(hash_fraction(t, seed, purpose) * folds) for t in tconsts])


def temporal_cutoff(years: np.ndarray, test_share: float) -> int:
    """The last year to learn from: about `test_share` of the movies are released after it."""
    return int(np.quantile(years, 1 - test_share))
