"""Prints the sha256 of a model card the pipeline's featurize and train code make from the test
movies: `python -m tests.reproducibility_probe`. tests/test_reproducibility.py runs it under
different BLAS kernels, CPU features and thread counts, as other machines would."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from tests.conftest import train_serving_artifact


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        card = train_serving_artifact(Path(folder))
        print(hashlib.sha256(card.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
