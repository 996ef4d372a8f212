"""bench.batch_scoring's reference, in a process of its own: the same rows as tools.score (its
reader and checks) and `build_matrix`, then scikit-learn's `predict` instead of the flattened
walk. Writes the matrix and predictions (for the model-only comparison: ~0.1 s) and the time
of each phase into OUT.

    python -m bench.sklearn_scoring DUMP CARD OUT
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from imdb_rating.artifact import load_verified_model
from imdb_rating.features import build_matrix
from imdb_rating.movie import movie_fields
from tools.score import check_rows, open_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", type=Path, help="a folder in the official layout")
    parser.add_argument("card", type=Path, help="the model card")
    parser.add_argument("out", type=Path, help="a folder for the results")
    args = parser.parse_args()
    model, card = load_verified_model(args.card)
    spec = card.feature_spec
    fields = movie_fields(spec.crew_roles, spec.genres)  # as a Predictor's, without flattening
    clock = time.perf_counter()
    source = open_source(args.dump, "imdb", spec.crew_roles, "tconst", 50_000)
    phases = {"read": time.perf_counter() - clock, "check": 0.0, "features": 0.0}
    blocks = []
    for chunk in source.chunks:
        clock = time.perf_counter()
        _, columns, _ = check_rows(chunk.frame, source.text, fields)
        checked = time.perf_counter()
        blocks.append(build_matrix(columns, spec))
        phases["check"] += checked - clock
        phases["features"] += time.perf_counter() - checked
    matrix = np.vstack(blocks)
    clock = time.perf_counter()
    predictions = model.predict(matrix)
    phases["sklearn_predict"] = time.perf_counter() - clock
    np.save(args.out / "matrix.npy", matrix)
    np.save(args.out / "sklearn.npy", predictions)
    (args.out / "phases.json").write_text(json.dumps(phases))


if __name__ == "__main__":
    main()
