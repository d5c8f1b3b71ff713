"""Server-side inline SVG charts for the monitor (monitor.md §5, §8: no CDN, no JavaScript).

Every chart is a self-contained ``<svg>`` with a ``viewBox`` (scales with its container), a
``<title>`` naming the chart, a ``<title>`` tooltip on every mark, axis labels, and an
accessible palette: known PanDA states keep their conventional colours (also written out in the
tooltip, so colour is never the only cue), other categories use the Okabe-Ito palette. All labels
are XML-escaped. An empty data set renders a chart that says so instead of an empty frame.
Pages show each chart next to its data table or JSON.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
HEIGHT = 360
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 36
MARGIN_BOTTOM = 84
EMPTY_MESSAGE = "No data for this selection"

# Conventional PanDA state colours (job and task states), chosen to stay distinguishable for the
# common colour-vision deficiencies; the state name is always in the tooltip and the data table.
STATE_COLOURS = {
    "finished": "#1a7f37",
    "done": "#1a7f37",
    "failed": "#b42318",
    "broken": "#7a0e0e",
    "exhausted": "#d4583a",
    "running": "#0b5cad",
    "starting": "#56b4e9",
    "sent": "#56b4e9",
    "activated": "#9ecae1",
    "assigned": "#c6dbef",
    "defined": "#dadada",
    "pending": "#bdbdbd",
    "waiting": "#bdbdbd",
    "throttled": "#e69f00",
    "holding": "#f0c05a",
    "merging": "#009e73",
    "transferring": "#7fc9b0",
    "cancelled": "#6e4a00",
    "aborted": "#6e4a00",
    "closed": "#8c6d31",
    "paused": "#cc79a7",
    "ready": "#9ecae1",
    "scouting": "#56b4e9",
    "submitting": "#c6dbef",
    "registered": "#dadada",
}
# Okabe & Ito (2008): distinguishable by the common forms of colour blindness.
PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"]
AXIS_COLOUR = "#5b6670"
GRID_COLOUR = "#e3e7eb"


def colour_for(label: str, index: int) -> str:
    """The state colour for a known state name, else the ``index``-th palette colour."""
    return STATE_COLOURS.get(str(label).lower(), PALETTE[index % len(PALETTE)])


def pie(items: list[tuple[str, int]], *, title: str) -> SafeString:
    """A pie of ``(label, count)``; zero and negative counts are left out."""
    items = [(str(label), value) for label, value in items if value and value > 0]
    total = sum(value for _, value in items)
    if not total:
        return _empty(title)
    cx, cy, radius = 170, HEIGHT / 2 + 10, 140
    parts = []
    angle = -math.pi / 2
    for index, (label, value) in enumerate(items):
        share = value / total
        colour = colour_for(label, index)
        tip = f"{label}: {_number(value)} ({share:.1%})"
        if len(items) == 1:
            shape = f'<circle cx="{cx}" cy="{cy}" r="{radius}" fill="{colour}">'
        else:
            end = angle + share * 2 * math.pi
            x1, y1 = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
            x2, y2 = cx + radius * math.cos(end), cy + radius * math.sin(end)
            large = 1 if share > 0.5 else 0
            shape = (
                f'<path d="M{cx},{cy} L{_f(x1)},{_f(y1)} A{radius},{radius} 0 {large} 1 {_f(x2)},{_f(y2)} Z" '
                f'fill="{colour}" stroke="#fff" stroke-width="1">'
            )
            angle = end
        parts.append(f'<g class="slice">{shape}<title>{escape(tip)}</title></{shape[1 : shape.index(" ")]}></g>')
    parts.append(
        _legend(
            [(f"{label} ({_number(value)})", colour_for(label, i)) for i, (label, value) in enumerate(items)], x=310
        )
    )
    return _svg(title, "".join(parts))


def bars(items: list[tuple[str, int | float]], *, title: str, xlabel: str = "", ylabel: str = "") -> SafeString:
    """Vertical bars, one per ``(label, value)``, in the given order."""
    items = [(str(label), value) for label, value in items if value is not None]
    if not items:
        return _empty(title)
    return stacked_bars(
        [(label, {"": value}) for label, value in items], title=title, xlabel=xlabel, ylabel=ylabel, _single=True
    )


def stacked_bars(
    items: list[tuple[str, dict[str, int | float]]],
    *,
    title: str,
    xlabel: str = "",
    ylabel: str = "",
    _single: bool = False,
) -> SafeString:
    """Bars per ``(label, {series: value})``, series stacked in first-seen order (e.g. job states per queue)."""
    items = [(str(label), {str(k): v for k, v in parts.items() if v}) for label, parts in items]
    series: list[str] = []
    for _, parts in items:
        series.extend(name for name in parts if name not in series)
    totals = [sum(parts.values()) for _, parts in items]
    if not items or not any(totals):
        return _empty(title)
    top = max(max(totals), 0)
    bottom = min(min(totals), 0)
    ticks = nice_ticks(bottom, top)
    lo, hi = ticks[0], ticks[-1]
    legend_width = 0 if _single else 150
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT - legend_width
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_w / len(items)
    bar_w = max(slot * 0.8, 1)

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_h - (value - lo) / (hi - lo) * plot_h

    parts_svg = [_y_axis(ticks, y_of, ylabel)]
    label_every = max(1, math.ceil(len(items) / 10))
    for index, ((label, parts), total) in enumerate(zip(items, totals, strict=True)):
        x = MARGIN_LEFT + index * slot + (slot - bar_w) / 2
        base = 0.0
        for name in series:
            value = parts.get(name)
            if not value:
                continue
            y1, y2 = y_of(base), y_of(base + value)
            base += value
            tip = f"{label}: {_number(value)}" if _single else f"{label} · {name}: {_number(value)} of {_number(total)}"
            colour = PALETTE[0] if _single else colour_for(name, series.index(name))
            parts_svg.append(
                f'<rect class="bar" x="{_f(x)}" y="{_f(min(y1, y2))}" width="{_f(bar_w)}" height="{_f(abs(y1 - y2))}" '
                f'fill="{colour}"><title>{escape(tip)}</title></rect>'
            )
        if index % label_every == 0:
            lx, ly = x + bar_w / 2, MARGIN_TOP + plot_h + 12
            parts_svg.append(
                f'<text x="{_f(lx)}" y="{_f(ly)}" font-size="10" text-anchor="end" '
                f'transform="rotate(-30 {_f(lx)} {_f(ly)})">{escape(_short(label))}</text>'
            )
    parts_svg.append(_x_label(xlabel, MARGIN_LEFT + plot_w / 2))
    if not _single:
        parts_svg.append(
            _legend([(name, colour_for(name, i)) for i, name in enumerate(series)], x=WIDTH - legend_width + 8)
        )
    return _svg(title, "".join(parts_svg))


def histogram_bins(values: Iterable[float], *, bins: int = 20) -> list[tuple[float, float, int]]:
    """``(low, high, count)`` per bin over the range of ``values`` (the data table beside a histogram)."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    data = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not data:
        return []
    low, high = min(data), max(data)
    if low == high:
        return [(low, high, len(data))]
    width = (high - low) / bins
    counts = [0] * bins
    for value in data:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return [(low + i * width, low + (i + 1) * width, counts[i]) for i in range(bins)]


def histogram(values: list[float], *, bins: int = 20, title: str, xlabel: str) -> SafeString:
    """Counts of ``values`` in ``bins`` equal-width bins; tooltips give each bin's range and count."""
    table = histogram_bins(values, bins=bins)
    if not table:
        return _empty(title)
    items = [(f"{_number(lo)}–{_number(hi)}", count) for lo, hi, count in table]
    return bars(items, title=title, xlabel=xlabel, ylabel="count")


def lines(series: dict[str, list[tuple[dt.datetime | float, float]]], *, title: str, ylabel: str = "") -> SafeString:
    """One polyline per series of ``(x, y)`` points; ``x`` is a number or a datetime (then the x axis is time)."""
    clean = {
        str(name): sorted(((_x(x), float(y)) for x, y in points), key=lambda p: p[0])
        for name, points in series.items()
        if points
    }
    if not clean:
        return _empty(title)
    is_time = any(isinstance(x, dt.datetime) for points in series.values() for x, _ in points)
    xs = [x for points in clean.values() for x, _ in points]
    ys = [y for points in clean.values() for _, y in points]
    x_lo, x_hi = min(xs), max(xs)
    if x_lo == x_hi:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    ticks = nice_ticks(min(min(ys), 0), max(ys))
    lo, hi = ticks[0], ticks[-1]
    legend_width = 150
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT - legend_width
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x_of(value: float) -> float:
        return MARGIN_LEFT + (value - x_lo) / (x_hi - x_lo) * plot_w

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_h - (value - lo) / (hi - lo) * plot_h

    parts = [_y_axis(ticks, y_of, ylabel)]
    for fraction in (0, 0.5, 1):
        value = x_lo + fraction * (x_hi - x_lo)
        text = _time_text(value) if is_time else _number(value)
        anchor = {0: "start", 0.5: "middle", 1: "end"}[fraction]
        parts.append(
            f'<text x="{_f(x_of(value))}" y="{MARGIN_TOP + plot_h + 16}" font-size="10" '
            f'text-anchor="{anchor}">{escape(text)}</text>'
        )
    parts.append(_x_label("time (UTC)" if is_time else "", MARGIN_LEFT + plot_w / 2))
    for index, (name, points) in enumerate(clean.items()):
        colour = colour_for(name, index)
        coords = " ".join(f"{_f(x_of(x))},{_f(y_of(y))}" for x, y in points)
        parts.append(
            f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" points="{coords}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        for x, y in points:
            tip = f"{name} at {_time_text(x) if is_time else _number(x)}: {_number(y)}"
            parts.append(
                f'<circle cx="{_f(x_of(x))}" cy="{_f(y_of(y))}" r="2.5" fill="{colour}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    parts.append(_legend([(name, colour_for(name, i)) for i, name in enumerate(clean)], x=WIDTH - legend_width + 8))
    return _svg(title, "".join(parts))


def gantt(rows: Sequence[tuple[str, dt.datetime, dt.datetime, str]], *, title: str) -> SafeString:
    """One horizontal bar per ``(label, start, end, state)`` on a shared time axis (e.g. a task chain),
    top to bottom in the given order, coloured by state; the tooltip gives the span and the state."""
    rows = [(str(label), start, end, str(state)) for label, start, end, state in rows if start and end]
    if not rows:
        return _empty(title)
    x_lo = min(_x(start) for _, start, _, _ in rows)
    x_hi = max(_x(end) for _, _, end, _ in rows)
    if x_hi <= x_lo:
        x_hi = x_lo + 60
    label_w = 120
    legend_width = 130
    row_h = 22
    height = MARGIN_TOP + 30 + row_h * len(rows) + 24
    plot_left = label_w
    plot_w = WIDTH - plot_left - MARGIN_RIGHT - legend_width

    def x_of(value: float) -> float:
        return plot_left + (value - x_lo) / (x_hi - x_lo) * plot_w

    axis_y = MARGIN_TOP + 16
    parts = []
    for fraction in (0, 0.5, 1):
        value = x_lo + fraction * (x_hi - x_lo)
        anchor = {0: "start", 0.5: "middle", 1: "end"}[fraction]
        parts.append(
            f'<line x1="{_f(x_of(value))}" x2="{_f(x_of(value))}" y1="{axis_y + 4}" y2="{height - 20}" '
            f'stroke="{GRID_COLOUR}"/>'
            f'<text x="{_f(x_of(value))}" y="{axis_y}" font-size="10" text-anchor="{anchor}">'
            f"{escape(_time_text(value))}</text>"
        )
    states: list[str] = []
    for index, (label, start, end, state) in enumerate(rows):
        if state not in states:
            states.append(state)
        colour = colour_for(state, states.index(state))
        y = axis_y + 10 + index * row_h
        x1, x2 = x_of(_x(start)), x_of(_x(end))
        tip = f"{label}: {state}, {_time_text(_x(start))} to {_time_text(_x(end))}"
        parts.append(
            f'<text x="{label_w - 6}" y="{_f(y + row_h / 2)}" font-size="11" text-anchor="end" '
            f'dominant-baseline="middle">{escape(_short(label, 18))}</text>'
            f'<rect class="span" x="{_f(x1)}" y="{_f(y + 3)}" width="{_f(max(x2 - x1, 2))}" height="{row_h - 6}" '
            f'fill="{colour}"><title>{escape(tip)}</title></rect>'
        )
    parts.append(
        f'<text class="xlabel" x="{_f(plot_left + plot_w / 2)}" y="{height - 6}" font-size="11" '
        f'text-anchor="middle">time (UTC)</text>'
    )
    parts.append(_legend([(state, colour_for(state, i)) for i, state in enumerate(states)], x=WIDTH - legend_width + 8))
    return _svg(title, "".join(parts), height=max(height, MARGIN_TOP + 80))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]`` (1, 2, 2.5, 5 × 10^n steps)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = [start]
    while ticks[-1] < high - 1e-9 * step:
        ticks.append(ticks[-1] + step)
    return [round(t, 10) for t in ticks]


# --- drawing helpers -----------------------------------------------------------------------------


def _svg(title: str, body: str, *, height: int = HEIGHT) -> SafeString:
    label = escape(title)
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{label}" font-family="system-ui, sans-serif">'
        f"<title>{label}</title>"
        f'<text x="{WIDTH / 2}" y="20" font-size="14" font-weight="600" text-anchor="middle">{label}</text>'
        f"{body}</svg>"
    )


def _empty(title: str) -> SafeString:
    return _svg(
        title,
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" font-size="13" fill="{AXIS_COLOUR}" '
        f'text-anchor="middle">{EMPTY_MESSAGE}</text>',
    )


def _y_axis(ticks: Sequence[float], y_of, ylabel: str) -> str:
    plot_right = WIDTH - MARGIN_RIGHT
    parts = []
    for tick in ticks:
        y = _f(y_of(tick))
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{plot_right}" y1="{y}" y2="{y}" stroke="{GRID_COLOUR}"/>')
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y}" font-size="10" text-anchor="end" '
            f'dominant-baseline="middle">{_number(tick)}</text>'
        )
    bottom, top = _f(y_of(ticks[0])), _f(y_of(ticks[-1]))
    parts.append(f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT}" y1="{top}" y2="{bottom}" stroke="{AXIS_COLOUR}"/>')
    if ylabel:
        mid = (HEIGHT - MARGIN_BOTTOM + MARGIN_TOP) / 2
        parts.append(
            f'<text class="ylabel" x="14" y="{_f(mid)}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 14 {_f(mid)})">{escape(ylabel)}</text>'
        )
    return "".join(parts)


def _x_label(xlabel: str, centre: float) -> str:
    if not xlabel:
        return ""
    return (
        f'<text class="xlabel" x="{_f(centre)}" y="{HEIGHT - 6}" font-size="11" '
        f'text-anchor="middle">{escape(xlabel)}</text>'
    )


def _legend(entries: list[tuple[str, str]], *, x: float) -> str:
    parts = ['<g class="legend">']
    for index, (label, colour) in enumerate(entries[:14]):
        y = MARGIN_TOP + index * 18
        parts.append(f'<rect x="{_f(x)}" y="{y}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{_f(x + 18)}" y="{y + 10}" font-size="11">{escape(_short(label, 28))}</text>')
    if len(entries) > 14:
        parts.append(
            f'<text x="{_f(x)}" y="{MARGIN_TOP + 14 * 18 + 10}" font-size="11">… {len(entries) - 14} more</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _x(value: dt.datetime | float) -> float:
    if isinstance(value, dt.datetime):
        # PanDA stores naive UTC times (USE_TZ = False): never read them as local time.
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    return float(value)


def _time_text(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def _short(label: str, length: int = 16) -> str:
    return label if len(label) <= length else label[: length - 1] + "…"


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if magnitude >= 1 else f"{value:.3g}"


def _f(value: float) -> str:
    return f"{value:.1f}"
