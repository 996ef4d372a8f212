"""The sources every quality benchmark measures: the embedded sample, and the official sample
when its files are there (workspace.layout.OFFICIAL_SAMPLE unless `--official` names another)."""

from __future__ import annotations

import argparse
from pathlib import Path

from workspace.layout import OFFICIAL_SAMPLE

EMBEDDED = "Embedded sample (ggplot2movies, no crew)"


def add_official_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--official", type=Path, default=OFFICIAL_SAMPLE, help="a folder in the official layout"
    )


def quality_sources(official: Path, embedded: bool = True) -> dict[str, Path | None]:
    """Title to source: the embedded sample as None (the pipeline's default source), then the
    official sample if `official` holds it (one line says it is skipped when it does not)."""
    sources: dict[str, Path | None] = {EMBEDDED: None} if embedded else {}
    if (official / "title.basics.tsv.gz").is_file():
        sources[f"Official sample ({official})"] = official
    else:
        print(f"official sample not found at {official}: skipped")
    return sources
