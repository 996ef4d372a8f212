"""Outputs written whole or not at all, JSON for people and programs, and file hashes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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


def sha256_file(path: Path) -> str:
    """The file's sha256, read in 1 MiB blocks (dumps run to gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
