"""Server-rendered, accessible bar charts (no script, no chart library).

Each chart is a ``<figure>`` named by its caption and described in words; every label
and value is HTML text on the page's solid background, and only the bars themselves are
drawn (an SVG each, hidden from assistive technology): text over a drawing is text whose
contrast no checker can decide. The numbers are also given as a real table (the page
shows it under the chart).
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


def bar_chart(title: str, desc: str, bars: Sequence[Bar]) -> Markup:
    """A horizontal bar chart: label, bar and value on each row, as text and drawing."""
    uid = next(_ids)
    top = max((b.value for b in bars), default=0.0) or 1.0
    parts = [
        f'<figure class="chart" aria-labelledby="chart-t{uid}" aria-describedby="chart-d{uid}">',
        f'<figcaption><span id="chart-t{uid}" class="chart-title">{escape(title)}</span> '
        f'<span id="chart-d{uid}" class="hint">{escape(desc)}</span></figcaption>',
        '<ul class="bars">',
    ]
    for bar in bars:
        w = max(0.0, bar.value) / top * 100
        parts.append(
            f'<li><span class="bar-label">{escape(bar.label)}</span>'
            f'<svg class="bar-track" viewBox="0 0 100 10" preserveAspectRatio="none" '
            f'aria-hidden="true" focusable="false"><rect class="bar" x="0" y="0" '
            f'width="{w:.2f}" height="10"/></svg>'
            f'<span class="bar-value">{escape(_fmt(bar.value))}</span></li>'
        )
    parts.append("</ul></figure>")
    return Markup("".join(parts))  # noqa: S704 - every piece above is escaped
