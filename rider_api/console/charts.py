"""Server-rendered, accessible SVG bar charts (no script, no chart library).

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by its
``<desc>``; the numbers are also given as a real table (the page shows it under the
chart) so nothing is only visual.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Bar", "bar_chart"]

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def bar_chart(
    title: str,
    desc: str,
    bars: Sequence[Bar],
    *,
    width: int = 640,
    bar_height: int = 22,
    label_width: int = 140,
) -> Markup:
    """A horizontal bar chart; labels and values are written as text, not only drawn."""
    uid = next(_ids)
    gap = 6
    height = max(1, len(bars)) * (bar_height + gap) + gap
    top = max((b.value for b in bars), default=0.0) or 1.0
    room = width - label_width - 60
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="chart-t{uid} chart-d{uid}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-t{uid}">{escape(title)}</title>',
        f'<desc id="chart-d{uid}">{escape(desc)}</desc>',
    ]
    for i, bar in enumerate(bars):
        y = gap + i * (bar_height + gap)
        w = max(0.0, bar.value) / top * room
        mid = y + bar_height / 2
        parts.append(
            f'<text x="{label_width - 8}" y="{mid:.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(bar.label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar_height}" '
            f'class="bar"/>'
            f'<text x="{label_width + w + 6:.1f}" y="{mid:.1f}" '
            f'dominant-baseline="middle">{escape(_fmt(bar.value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece above is escaped
