"""A server-rendered SVG bar chart: billable calls per day, with axis labels. No JavaScript."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from tollway.pricing.currency import minor_unit

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


# ---------------------------------------------------------------------------------------------
# A wallet's balance over time (burn-down): one step line through each entry's balance after it


def nice_decimal_ceiling(value: Decimal) -> Decimal:
    """The smallest 1/2/5 x 10^n at or above ``value`` (n may be negative: 0.25 -> 0.5); 1 for 0."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()  # value = d.ddd x 10^exponent, 1 <= d < 10
    for step in (1, 2, 5, 10):
        candidate = Decimal(step).scaleb(exponent)
        if candidate >= value:
            return candidate
    return Decimal(10).scaleb(exponent)  # pragma: no cover - 10 x 10^n >= any d.ddd x 10^n


def _amount_label(value: Decimal, places: int = 0) -> str:
    """``value`` in plain digits, with at least ``places`` decimals (the currency's: "7.50")."""
    text = format(value.normalize(), "f")
    if text in ("0", "-0"):
        text = "0"
    whole, _, fraction = text.partition(".")
    fraction = fraction.ljust(places, "0")
    return f"{whole}.{fraction}" if fraction else whole


def balance_step_chart(
    points: Sequence[tuple[datetime, Decimal]],
    *,
    title: str,
    currency: str,
    now: datetime,
    width: int = WIDE,
    css_class: str = "chart",
) -> str:
    """An accessible SVG of the balance after each entry (oldest first), held until the next one and
    drawn on to ``now``; a dot per entry. "" when there are no entries (nothing to draw)."""
    if not points:
        return ""
    values = [balance for _, balance in points]
    top = nice_decimal_ceiling(max(max(values), Decimal(0)))
    lowest = min(values)
    bottom = -nice_decimal_ceiling(-lowest) if lowest < 0 else Decimal(0)
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    first, end = points[0][0], max(now, points[-1][0])
    # Before its first entry the wallet held nothing: a little of that time is shown, so that even a
    # wallet with one entry made a second ago draws a visible step up to its balance.
    start = first - max((end - first) / 20, timedelta(minutes=1))
    span = (end - start).total_seconds()

    def x_of(moment: datetime) -> float:
        return LEFT + plot_w * (moment - start).total_seconds() / span

    def y_of(value: Decimal) -> float:
        return TOP + plot_h * float((top - value) / (top - bottom))

    title_id = f"balance-title-{width}"
    places = minor_unit(currency)
    last = values[-1]
    summary = (
        f"{escape(title)}: {len(points)} {'entry' if len(points) == 1 else 'entries'}, "
        f"from {_amount_label(values[0], places)} to {_amount_label(last, places)} {escape(currency)}"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {HEIGHT}" class="{css_class}" '
        f'role="img" aria-labelledby="{title_id}">',
        f'<title id="{title_id}">{summary}</title>',
    ]
    drawn: list[float] = []
    for value in (Decimal(0), top, bottom if bottom < 0 else top / 2):
        y = y_of(value)
        if any(abs(y - other) < 14 for other in drawn):
            continue  # too close to a label already drawn to be read
        drawn.append(y)
        tick = _amount_label(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{tick}</text>'
        )
    path = [f"M{x_of(start):.1f},{y_of(Decimal(0)):.1f}"]
    for moment, balance in points:
        path.append(f"H{x_of(moment):.1f}V{y_of(balance):.1f}")
    path.append(f"H{x_of(end):.1f}")
    parts.append(
        f'<path d="{"".join(path)}" class="balance-line" fill="none" stroke="#1f5fbf" stroke-width="2"/>'
    )
    for moment, balance in points:
        label = _amount_label(balance, places)
        parts.append(
            f'<circle cx="{x_of(moment):.1f}" cy="{y_of(balance):.1f}" r="3" class="bar" '
            f'data-balance="{label}">'
            f"<title>{moment.strftime('%Y-%m-%d %H:%M')} UTC: {label} {escape(currency)}</title></circle>"
        )
    seconds = (end - start).total_seconds()
    short = seconds < 2 * 86_400
    clock = "%H:%M:%S" if seconds < 3_600 else "%H:%M"
    label_count = 3 if width >= WIDE else 2
    for i in range(label_count):
        moment = start + (end - start) * (i / (label_count - 1))
        anchor = "start" if i == 0 else "end" if i == label_count - 1 else "middle"
        words = moment.strftime(clock if short else "%b %d")
        parts.append(
            f'<text x="{x_of(moment):.1f}" y="{TOP + plot_h + 16}" text-anchor="{anchor}" class="axis">'
            f"{words}</text>"
        )
    axis = "Time (UTC)" if short else "Day (UTC)"
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" class="axis-title">'
        f"{axis}</text>"
        f'<text x="14" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" class="axis-title" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2:.1f})">Balance ({escape(currency)})</text>'
        "</svg>"
    )
    return "".join(parts)


def responsive_balance_chart(
    points: Sequence[tuple[datetime, Decimal]], *, title: str, currency: str, now: datetime
) -> str:
    """Two renderings of the same balance chart; the stylesheet shows the one that fits the screen."""
    if not points:
        return ""
    wide = balance_step_chart(
        points, title=title, currency=currency, now=now, width=WIDE, css_class="chart chart-wide"
    )
    narrow = balance_step_chart(
        points, title=title, currency=currency, now=now, width=NARROW, css_class="chart chart-narrow"
    )
    return wide + narrow
