"""Bulk histogram updates expose exactly what one observe() per value would."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from service.telemetry import RATING_BUCKETS, observe_many


def exposition(observe) -> dict[str, float]:
    registry = CollectorRegistry()
    histogram = Histogram("ratings", "r", buckets=RATING_BUCKETS, registry=registry)
    observe(histogram)
    lines = generate_latest(registry).decode().splitlines()
    samples = (line.rsplit(" ", 1) for line in lines if not line.startswith("#"))
    return {name: float(value) for name, value in samples if "_created" not in name}


def test_observe_many_matches_observing_one_by_one() -> None:
    values = np.concatenate([np.random.default_rng(0).uniform(1, 10, 500), RATING_BUCKETS, [11.0]])

    def one_by_one(histogram):
        for value in values:
            histogram.observe(value)

    bulk, single = exposition(lambda h: observe_many(h, values)), exposition(one_by_one)
    assert bulk.pop("ratings_sum") == pytest.approx(single.pop("ratings_sum"))  # sum order
    assert bulk == single
