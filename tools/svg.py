"""Plots as inline SVG for the reports' self-contained HTML pages (no script, no asset from
the internet: the pages open offline and in any mail client)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
WIDTH, HEIGHT, MARGIN = 560, 360, 48


def svg_plot(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    x_ticks: Sequence[tuple[float, str]],
    y_ticks: Sequence[float],
    lines: bool,
    guides: Sequence[tuple[tuple[float, float], tuple[float, float], str]] = (),
) -> str:
    """Points per series (joined by lines when `lines`), dashed guide segments, axes."""

    def x(value: float) -> float:
        span = (x_range[1] - x_range[0]) or 1
        return MARGIN + (value - x_range[0]) / span * (WIDTH - 2 * MARGIN)

    def y(value: float) -> float:
        span = (y_range[1] - y_range[0]) or 1
        return HEIGHT - MARGIN - (value - y_range[0]) / span * (HEIGHT - 2 * MARGIN)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{html.escape(title)}" font-size="11" font-family="sans-serif">',
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13">'
        f"{html.escape(title)}</text>",
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{WIDTH - 2 * MARGIN}" '
        f'height="{HEIGHT - 2 * MARGIN}" fill="none" stroke="#999"/>',
    ]
    for value, label in x_ticks:
        parts.append(
            f'<text x="{x(value):.1f}" y="{HEIGHT - MARGIN + 14}" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    for value in y_ticks:
        parts.append(
            f'<text x="{MARGIN - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:g}</text>'
        )
    for (x0, y0), (x1, y1), label in guides:
        parts.append(
            f'<line x1="{x(x0):.1f}" y1="{y(y0):.1f}" x2="{x(x1):.1f}" y2="{y(y1):.1f}" '
            f'stroke="#555" stroke-dasharray="4 3"><title>{html.escape(label)}</title></line>'
        )
    for index, (name, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        if lines and len(points) > 1:
            path = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}"/>')
        radius, opacity = (3, 1) if lines else (1.8, 0.5)
        parts += [
            f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="{radius}" fill="{colour}" '
            f'fill-opacity="{opacity}"/>'
            for a, b in points
        ]
        parts.append(
            f'<text x="{WIDTH - MARGIN}" y="{MARGIN - 6 - 12 * index}" text-anchor="end" '
            f'fill="{colour}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
