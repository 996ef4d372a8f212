"""The embedded offline sample: real 2005 IMDb rows in the official layout, same bytes every run."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from tools.sample import build_sample, matches_pin, restore_leading_article, to_official_layout


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Godfather, The", "The Godfather"),
        ("Godfather: Part II, The", "The Godfather: Part II"),
        ("Avventura, L'", "L'Avventura"),
        ("$40,000", "$40,000"),
        ("Me, Myself & Irene", "Me, Myself & Irene"),
    ],
)
def test_titles_get_their_leading_article_back(title: str, expected: str) -> None:
    assert restore_leading_article(title) == expected


def test_rows_take_the_official_layout_without_the_vote_share_columns() -> None:
    source = pd.DataFrame(
        {
            "rownames": [7, 8],
            "title": ["Thing, The", "Tiny"],
            "year": [1982, 2001],
            "length": [109, 9],
            "rating": [8.0, 6.25],
            "votes": [5000, 60],
            **{g: [0, 0] for g in ("Action", "Animation", "Comedy", "Documentary", "Romance")},
            "Drama": [1, 0],
            "Short": [0, 1],
        }
    )
    basics, ratings = to_official_layout(source)
    assert basics.iloc[0].tolist() == [
        "gg0000007", "movie", "The Thing", "The Thing", "0", "1982", "\\N", "109", "Drama",
    ]  # fmt: skip
    assert basics.iloc[1]["titleType"] == "short" and basics.iloc[1]["genres"] == "Short"
    assert ratings.iloc[1].tolist() == ["gg0000008", "6.2", "60"]
    assert not any(column.startswith("r") and column[1:].isdigit() for column in ratings)


@pytest.mark.slow
def test_building_twice_gives_identical_bytes(tmp_path: Path) -> None:
    digests = []
    for name in ("one", "two"):
        build_sample(tmp_path / name)
        digests.append(
            {
                p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in (tmp_path / name).iterdir()
            }
        )
    assert digests[0] == digests[1]
    with gzip.open(tmp_path / "one" / "title.basics.tsv.gz", "rt") as stream:
        header, first = stream.readline(), stream.readline()
    assert header.startswith("tconst\ttitleType\tprimaryTitle")
    assert first.startswith("gg0000001\t")
    with gzip.open(tmp_path / "one" / "title.ratings.tsv.gz", "rt") as stream:
        assert sum(1 for _ in stream) == 58_788 + 1  # header + every film


def test_a_fresh_clone_with_an_empty_cache_matches_the_pin(repo_copy: Path) -> None:
    assert not (repo_copy / ".dvc" / "cache").exists()
    assert matches_pin(repo_copy)


def test_changed_sample_bytes_do_not_match_the_pin(repo_copy: Path) -> None:
    readme = repo_copy / "data" / "sample" / "README.md"
    readme.write_text(readme.read_text() + "edited\n")
    assert not matches_pin(repo_copy)
