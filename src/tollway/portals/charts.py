"""A server-rendered SVG bar chart: billable calls per day, with axis labels. No JavaScript."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from xml.sax.saxutils import escape

HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 44
WIDE, NARROW = 640, 360  # viewBox widths: a laptop's panel, a phone's (fonts stay readable)


def nice_ceiling(value: int) -> int:
    """The smallest 1/2/5 x 10^n at or above ``value`` (at least 1), for a readable y axis."""
    if value <= 1:
        return 1
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def daily_bar_chart(
    days: Sequence[tuple[date, int]], *, title: str, width: int = WIDE, css_class: str = "chart"
) -> str:
    """An accessible SVG: one bar per day, y axis with 0/half/max, every few days labelled."""
    top = nice_ceiling(max((n for _, n in days), default=0))
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1.0)
    label_every = max(1, math.ceil(len(days) / (8 if width >= WIDE else 4)))
    total = sum(n for _, n in days)
    title_id = f"chart-title-{width}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {HEIGHT}" class="{css_class}" '
        f'role="img" aria-labelledby="{title_id}">',
        f'<title id="{title_id}">{escape(title)}: {total} in total</title>',
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        value = top * fraction
        if fraction == 0.5 and top % 2:
            continue  # half of an odd maximum is no whole number of calls
        label = f"{value:g}" if value < 1_000_000 else f"{value / 1_000_000:g}M"
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{label}</text>'
        )
    for i, (when, n) in enumerate(days):
        h = plot_h * n / top
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = TOP + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" class="bar">'
            f"<title>{when.isoformat()}: {n} billable calls</title></rect>"
        )
        if i % label_every == 0:
            cx = LEFT + i * slot + slot / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" class="axis">'
                f"{when.strftime('%b %d')}</text>"
            )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" class="axis-title">'
        "Day (UTC)</text>"
        f'<text x="14" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" class="axis-title" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2:.1f})">Billable calls</text>'
        "</svg>"
    )
    return "".join(parts)


def responsive_daily_chart(days: Sequence[tuple[date, int]], *, title: str) -> str:
    """Two renderings of the same chart; the stylesheet shows the one that fits the screen."""
    wide = daily_bar_chart(days, title=title, width=WIDE, css_class="chart chart-wide")
    narrow = daily_bar_chart(days, title=title, width=NARROW, css_class="chart chart-narrow")
    return wide + narrow
