"""Prints hashes of what the pipeline's code makes, in a process of its own, for the tests that
hold them equal across processes and machines:

    python -m tests.reproducibility_probe archives  # sha256 of dump_model's bytes, two models
    python -m tests.reproducibility_probe card [--family F]
        # sha256 of a model card made from the test movies by featurize and train, with the
        # train.model family F (params.yaml's by default)
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

from imdb_rating.artifact import dump_model
from stages.families import FAMILIES
from tests.conftest import train_serving_artifact


def archives() -> None:
    x = [[float(i % 7), float(i % 3)] for i in range(200)]
    y = [float(i % 5) for i in range(200)]
    for model in (
        HistGradientBoostingRegressor(max_iter=5, random_state=0),
        RandomForestRegressor(3, random_state=0),
    ):
        print(hashlib.sha256(dump_model(model.fit(x, y))).hexdigest())


def card(family: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = train_serving_artifact(
            Path(folder), train_overrides={"model": family} if family else None
        )
        print(hashlib.sha256(path.read_bytes()).hexdigest())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=["archives", "card"])
    parser.add_argument("--family", choices=FAMILIES)
    args = parser.parse_args()
    if args.probe == "card":
        card(args.family)
    else:
        archives()


if __name__ == "__main__":
    main()
