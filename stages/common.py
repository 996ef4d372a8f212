"""What every stage shares: the repository's layout, its params section, logging, atomic
writes and one-line errors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = "params.yaml"
# The stages' deps and outs, as dvc.yaml lists them.
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
RAW_DIR = REPO_ROOT / "data" / "raw"
MOVIES_FILE = REPO_ROOT / "data" / "clean" / "movies.parquet"
SPARSE_MOVIES_FILE = REPO_ROOT / "data" / "clean" / "sparse_movies.parquet"
FEATURES_DIR = REPO_ROOT / "data" / "features"
MODELS_DIR = REPO_ROOT / "models"
MODEL_CARD = MODELS_DIR / "model.json"
METRICS_DIR = REPO_ROOT / "metrics"
PLOTS_DIR = METRICS_DIR / "plots"

Params = TypeVar("Params")


class StageError(Exception):
    """A failure the user can act on; reported as one line, without a traceback."""


def load_params(section: str, params_file: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Return one stage's section of params.yaml (each stage reads only its own)."""
    with Path(params_file).open(encoding="utf-8") as handle:
        params = yaml.safe_load(handle) or {}
    if section not in params:
        raise StageError(f"{params_file}: missing section '{section}'")
    return params[section]


def stage_params(params_type: type[Params], section: str, params_file=PARAMS_FILE) -> Params:
    """A stage's section of params.yaml as its frozen params type. A missing or misspelled key
    is a one-line StageError naming it, not a TypeError traceback."""
    values = load_params(section, params_file)
    declared = dataclasses.fields(params_type)
    required = [f.name for f in declared if f.default is dataclasses.MISSING]
    check_keys(values, [f.name for f in declared], required, f"{params_file} {section}")
    return params_type(**values)


def check_keys(
    values: Mapping[str, Any], declared: Sequence[str], required: Iterable[str], where: str
) -> None:
    """A StageError naming every unknown and missing key of a params mapping."""
    unknown = sorted(set(values) - set(declared))
    missing = sorted(set(required) - set(values))
    if unknown or missing:
        problems = [f"unknown key '{key}'" for key in unknown]
        problems += [f"missing key '{key}'" for key in missing]
        raise StageError(f"{where}: {'; '.join(problems)} (expected: {', '.join(declared)})")


def setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `target`, renamed onto it only if the block succeeds.

    Readers (and DVC) therefore never see a half-written output.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp makes 0600; outputs are ordinary shared files
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, payload: Any, *, compact: bool = False) -> None:
    """Sorted keys; indented for people to read and diff, unless `compact` (the feature spec and
    the model card carry the encoding tables: tens of MB on the full dump, for programs)."""
    indent = None if compact else 2
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=indent, sort_keys=True) + "\n", encoding="utf-8")


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(): log progress, report a StageError as one line and exit 1."""
    setup_logging()
    try:
        main()
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def sha256_file(path: Path) -> str:
    """The file's sha256, read in 1 MiB blocks (dumps run to gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_fraction(key: str, seed: int, purpose: str) -> float:
    """A stable pseudo-random number in [0, 1) for `key`: splits that survive data updates.

    `purpose` keeps the draws of different splits (test, folds, calibration) independent.
    """
    digest = hashlib.md5(f"{purpose}:{seed}:{key}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    errors = predicted - actual
    total = float(((actual - actual.mean()) ** 2).sum())
    return {
        "rmse": round(float(np.sqrt(np.mean(errors**2))), 6),
        "mae": round(float(np.mean(np.abs(errors))), 6),
        "r2": round(1 - float((errors**2).sum()) / total, 6) if total else float("nan"),
    }
