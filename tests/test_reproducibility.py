"""A model is a pure function of its data and params on any machine: its bytes do not depend on
the CPU's BLAS kernel or SIMD features, nor on the number of cores.

Each run below makes the same model card (featurize's linear score and encodings, train's model,
intervals, whose sha256 is pinned in the card) in a fresh process, the machine's differences
imposed by environment: OpenBLAS' kernel for an older CPU (as a machine without AVX2 picks),
NumPy's SIMD dispatch switched off, and one or three threads instead of two; for every model
family train.model can name.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stages.families import FAMILIES
from workspace.layout import REPO_ROOT

MACHINES = {
    "as is": {},
    "an older CPU's BLAS kernel": {"OPENBLAS_CORETYPE": "Prescott"},
    "no AVX or FMA in NumPy": {"NPY_DISABLE_CPU_FEATURES": "AVX,F16C,FMA3"},
    "one core": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    "three cores": {"OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"},
}


def card_hash(environment: dict[str, str], family: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tests.reproducibility_probe", "card", "--family", family],
        cwd=REPO_ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return result.stdout.strip()


@pytest.mark.parametrize("family", FAMILIES)
def test_the_model_card_is_the_same_bytes_on_every_kind_of_machine(family: str) -> None:
    hashes = {machine: card_hash(environment, family) for machine, environment in MACHINES.items()}
    assert len(set(hashes.values())) == 1, hashes
