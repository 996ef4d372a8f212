"""The live comparison (python -m tools.live_comparison) on logs the service wrote: paired in
shadow mode, two samples in split mode, joined with a later title.ratings in the official
layout; one answer with an exit code each, as JSON and as an HTML page that opens offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests import challengers
from tests.challengers import as_requests
from tests.conftest import synthetic_movies
from tests.test_two_models import Served
from tools import live_comparison

BETTER, WORSE, UNDECIDED, ERROR = 0, 3, 4, 1


@pytest.fixture(scope="module")
def movies() -> pd.DataFrame:
    """Movies of the champion's world (its director effects; it trained on most of them), with
    the ratings IMDb publishes later. Another seed draws other director effects, which neither
    model could know."""
    return synthetic_movies()


@pytest.fixture(scope="module")
def worse_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return challengers.uninformed(tmp_path_factory.mktemp("worse"))


@pytest.fixture(scope="module")
def later_ratings(tmp_path_factory: pytest.TempPathFactory, movies: pd.DataFrame) -> Path:
    return challengers.write_later_ratings(tmp_path_factory.mktemp("later-dump"), movies)


def serve(folder: Path, champion: Path, challenger: Path, movies: list[dict], **policy) -> Path:
    """Run the service with `policy`, send the movies in batches; the log's folder."""
    served = Served(folder, champion)
    served.challenger(challenger)
    served.policy(**policy)
    for start in range(0, len(movies), 500):
        served.batch(movies[start : start + 500])
    served.log()  # flushed and closed
    return served.log_dir


def compare(log_dir: Path, ratings: Path, out: Path, *extra: str) -> tuple[int, dict, str]:
    code = live_comparison.main(
        [str(log_dir), "--ratings", str(ratings), "--out", str(out), *extra]
    )
    if code == ERROR:
        return code, {}, ""
    report = json.loads((out / "comparison.json").read_text())
    return code, report, (out / "comparison.html").read_text()


def test_shadow_mode_a_worse_challenger_is_found_worse_on_the_same_movies(
    tmp_path, model_card_path, worse_card, movies, later_ratings, model_id
) -> None:
    log_dir = serve(tmp_path, model_card_path, worse_card, as_requests(movies), mode="shadow")
    code, report, page = compare(log_dir, later_ratings, tmp_path / "out")
    assert code == WORSE and report["answer"] == "challenger worse"
    assert report["design"] == "paired" and report["champion"] == model_id
    assert report["movies_rated"] == len(movies)
    result = report["comparison"]
    assert result["challenger_rmse"] > result["champion_rmse"]
    rmse = result["rmse_difference"]
    assert 0 < rmse["low"] < rmse["estimate"] < rmse["high"]
    assert result["more_rows_needed"] == 0
    assert "challenger worse" in page and "<svg" in page
    assert not re.search(r"""(src|href)=["']https?:""", page)  # opens offline


def test_split_mode_compares_two_samples_and_reversed_roles_say_better(
    tmp_path, model_card_path, worse_card, movies, later_ratings
) -> None:
    sent = as_requests(movies)
    split_log = serve(tmp_path / "split", model_card_path, worse_card, sent, mode="split",
                      challenger_share=0.5)  # fmt: skip
    code, report, _ = compare(split_log, later_ratings, tmp_path / "split-out")
    assert code == WORSE and report["design"] == "split"

    reversed_log = serve(tmp_path / "reversed", worse_card, model_card_path, sent, mode="shadow")
    code, report, _ = compare(reversed_log, later_ratings, tmp_path / "reversed-out")
    assert code == BETTER and report["answer"] == "challenger better"
    assert report["comparison"]["rmse_difference"]["high"] < 0


def test_few_rated_movies_are_not_yet_decided_with_the_movies_still_needed(
    tmp_path, model_card_path, worse_card, movies, later_ratings
) -> None:
    log_dir = serve(tmp_path, model_card_path, worse_card, as_requests(movies.head(60)),
                    mode="shadow")  # fmt: skip
    code, report, page = compare(log_dir, later_ratings, tmp_path / "out")
    assert code == UNDECIDED and report["answer"] == "not yet decided"
    assert report["movies_rated"] == 60
    assert report["comparison"]["more_rows_needed"] >= 40  # at least up to the minimum, 100
    assert "not yet decided" in page


def test_a_movie_requested_twice_counts_once(
    tmp_path, model_card_path, worse_card, movies, later_ratings
) -> None:
    sent = as_requests(movies.head(300))
    log_dir = serve(tmp_path, model_card_path, worse_card, sent + sent, mode="shadow")
    _, report, _ = compare(log_dir, later_ratings, tmp_path / "out")
    assert report["records"] == 600 and report["movies_rated"] == 300


def test_a_log_without_two_models_is_an_error_in_one_line(
    tmp_path, model_card_path, worse_card, movies, later_ratings, capsys
) -> None:
    log_dir = serve(tmp_path, model_card_path, worse_card, as_requests(movies.head(50)), mode="off")
    code, _, _ = compare(log_dir, later_ratings, tmp_path / "out")
    assert code == ERROR
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["error: the log has no record of two models in traffic (shadow or split)"]
