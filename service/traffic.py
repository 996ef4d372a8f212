"""How live traffic reaches a challenger: the traffic policy, and which model answers a movie.

The policy is a small JSON file the operator edits (IMDB_TRAFFIC_POLICY), watched like the model
card: changed at run time, no restart.

    {"mode": "off"}                               # the champion alone (also: no file)
    {"mode": "shadow"}                            # both score every movie; the champion answers
    {"mode": "split", "challenger_share": 0.2}    # the challenger answers a fifth of the movies

In `split` mode a movie with a `tconst` goes to the challenger by a stable hash of its id (the
same movie, the same model, on every worker, after restarts and on every replica; raising the
share keeps the movies the challenger already had); a movie without one is drawn at random.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from imdb_rating.splits import hash_fraction

MODES = ("off", "shadow", "split")
HASH_PURPOSE = "traffic"  # keeps the assignment independent of the model's own splits


class PolicyError(ValueError):
    """A policy file this service cannot use."""


@dataclass(frozen=True)
class TrafficPolicy:
    mode: str = "off"
    challenger_share: float = 0.0  # split mode: the share of movies the challenger answers

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PolicyError(f"mode {self.mode!r}: use one of {', '.join(MODES)}")
        if not 0.0 <= self.challenger_share <= 1.0:
            raise PolicyError(f"challenger_share {self.challenger_share!r}: use 0 to 1")
        if self.mode == "split" and self.challenger_share == 0.0:
            raise PolicyError("split mode needs a challenger_share above 0")

    @classmethod
    def read(cls, path: Path | None) -> TrafficPolicy:
        """The policy in `path`; `off` when there is no such file."""
        if path is None:
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as error:
            raise PolicyError(f"{path}: unreadable ({error})") from None
        if not isinstance(data, dict):
            raise PolicyError(f"{path}: not a JSON object")
        try:
            return cls(**data)
        except TypeError as error:
            raise PolicyError(f"{path}: {error}") from None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def write(self, path: Path) -> None:
        """Write the policy where a service watches it, in one rename (never half a file)."""
        temporary = path.with_name(f".{path.name}.new")
        temporary.write_text(json.dumps(self.to_dict()) + "\n", encoding="utf-8")
        temporary.replace(path)


def challenger_answers(tconsts: Sequence[str | None], share: float) -> np.ndarray:
    """Per movie, whether the challenger answers it (split mode)."""
    return np.array(
        [
            (hash_fraction(tconst, 0, HASH_PURPOSE) if tconst else random.random()) < share  # noqa: S311 (an assignment, not a secret)
            for tconst in tconsts
        ],
        dtype=bool,
    )
