"""Reliability drills against the real service under Gunicorn on 127.0.0.1, with figures.

    python -m bench.reliability [--requests 100000] [--connections 64]

Needs `make repro` first (models/, data/features/). Each drill starts a fresh service on a
loopback port with bounded request counts and durations, and prints one Markdown row: what
was tried, what had to hold, what was measured. tests/test_reliability.py runs the same drills
at a smaller size in the test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from harness.drills import graceful_shutdown, hostile_inputs, load, rollout, worker_crash
from harness.loopback import GunicornService
from imdb_rating.artifact import dump_model
from imdb_rating.features import FeatureSpec
from stages.train import TrainParams, fit, model_card, write_serving_artifact
from workspace.layout import FEATURES_DIR, REPO_ROOT
from workspace.params import load_params


def train_next_model(folder: Path) -> Path:
    """The repository's model retrained with another seed: the next model to roll out."""
    features = FEATURES_DIR
    spec = FeatureSpec.from_dict(json.loads((features / "spec.json").read_text()))
    params = TrainParams(**{**load_params("train"), "seed": 4242})
    train, test = (pd.read_parquet(features / f"{s}.parquet") for s in ("train", "test"))
    model, intervals, metrics = fit(train, test, spec.feature_names, params)
    payload = dump_model(model)
    card = model_card(params, payload, metrics, intervals, spec, "drill")
    folder.mkdir(parents=True)
    write_serving_artifact(folder, payload, card)
    return folder / "model.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="reliability-"))
    next_card = train_next_model(tmp / "next")
    quiet = {"IMDB_LOG_LEVEL": "warning", "IMDB_MODEL_POLL_SECONDS": "0.5"}
    drills = []
    for name, run in (
        ("load", lambda s, _: load(s, args.requests, args.connections)),
        ("crash", lambda s, _: worker_crash(s)),
        ("rollout", lambda s, deployed: rollout(s, deployed, next_card)),
        ("hostile", lambda s, _: hostile_inputs(s)),
        ("shutdown", lambda s, _: graceful_shutdown(s)),
    ):
        deployed = tmp / name / "models"  # each drill rolls out on its own copy
        shutil.copytree(REPO_ROOT / "models", deployed)
        service = GunicornService(tmp / name, deployed / "model.json", env=quiet).start()
        try:
            drills.append(run(service, deployed))
        finally:
            service.stop()
    print("| drill | what was tried | result | measured |\n|---|---|---|---|")
    for drill in drills:
        print(drill.row())
    sys.exit(0 if all(d.held for d in drills) else 1)


if __name__ == "__main__":
    main()
