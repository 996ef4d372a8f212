"""One way of reading a dump in the official layout, in a process of its own (so that
`/usr/bin/time` measures it alone): bench.full_scale times both side by side.

    python -m bench.dump_readers clean FOLDER    # the clean stage (stages.clean.clean)
    python -m bench.dump_readers pandas FOLDER   # pandas.read_csv of the whole files
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from imdb_data.official import BASICS, CREW, RATINGS
from stages.clean import CleanParams, clean
from workspace.params import stage_params


def read_with_clean(folder: Path) -> None:
    movies, _, quality = clean(folder, stage_params(CleanParams, "clean"))
    print("kept", len(movies), "of", quality["rows_read"])


def read_with_pandas(folder: Path) -> None:
    """As the original system read the files: each one whole, every column."""
    for name in (BASICS, RATINGS, CREW):
        frame = pd.read_csv(folder / name, sep="\t", na_values="\\N", quoting=3, low_memory=False)
        print(name, len(frame))


READERS = {"clean": read_with_clean, "pandas": read_with_pandas}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reader", choices=sorted(READERS))
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    READERS[args.reader](args.folder)


if __name__ == "__main__":
    main()
