"""Server-side SVG charts (no library, no script): values per day on a date axis, and horizontal bars per label.

The charts are fluid: horizontal positions are percentages of the chart's width and the height is fixed, so the
text stays at its real size (12px) on a phone instead of shrinking with a scaled viewBox. Each chart names
itself (role="img" and a <title>), says its unit above the value axis, labels round ticks and readable dates, and
shows every value: written on the chart when there is room (few days), always in each day's <title> (the
browser's tooltip) and, on hover, above its mark; the whole day's column is the hover target. More than one
series stacks in the columns and gets a legend.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence

from markupsafe import Markup

ACCENT = "#3451d1"
BAR_COLOR, LINE_COLOR, AXIS_COLOR, GRID_COLOR, TEXT_COLOR = ACCENT, ACCENT, "#555d6e", "#e4e7ef", "#1d2433"
# the stacked series' colours, distinguishable for the common colour blindnesses and ≥ 3:1 against white
SERIES_COLORS = (ACCENT, "#c2410c", "#0f766e", "#7e22ce")
HEIGHT = 240
TOP, BOTTOM = 30, 26  # the unit caption above the plot; the dates below it
MAX_DATE_LABELS = 8
ALWAYS_SHOWN = 16  # up to this many days every value is written on the chart, not only on hover
EMPTY = Markup('<p class="muted chart-empty">No data in this range.</p>')
# Markup.format escapes every value put into these templates (labels come from CRM data)
STYLE = Markup(
    '<style>.chart text {{ fill: {text}; }} .chart .axis text {{ fill: {axis}; }}'
    ' .chart .halo {{ paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }}'
    ' .chart .hit {{ fill: #1d2433; fill-opacity: 0; }} .chart g.day:hover .hit {{ fill-opacity: .06; }}'
    ' .chart g.day .val {{ visibility: hidden; font-weight: 600; }}'
    ' .chart g.day:hover .val, .chart g.day .val.always {{ visibility: visible; }}'
    ' @media (max-width: 600px) {{ .chart .date.alt {{ display: none; }}'
    ' .chart[data-many] g.day .val.always {{ visibility: hidden; }}'
    ' .chart g.day:hover .val {{ visibility: visible; }} }}'
    '</style>').format(text=TEXT_COLOR, axis=AXIS_COLOR)
SVG_OPEN = Markup('<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{title}" class="{cls}"{extra} '
                  'width="100%" height="{h}" font-family="system-ui, sans-serif" font-size="12">'
                  '<title>{title}</title>{desc}')
CLOSE = Markup("</svg>")
COLUMN = Markup('<rect class="mark" x="{x:.2f}%" y="{y:.1f}" width="{w:.2f}%" height="{h:.1f}" fill="{fill}"/>')
POINT = Markup('<circle class="mark" cx="{x:.2f}%" cy="{y:.1f}" r="4" fill="{fill}" stroke="#fff" '
               'stroke-width="1.5"/>')
SEGMENT = Markup('<line class="seg" x1="{x1:.2f}%" y1="{y1:.1f}" x2="{x2:.2f}%" y2="{y2:.1f}" stroke="{c}" '
                 'stroke-width="2.5" stroke-linecap="round"/>')


def number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def nice_ticks(top: float, whole: bool = True) -> list[float]:
    """0 and three to five round steps (1, 2, 2.5 or 5 × 10ⁿ) reaching at least `top`."""
    top = max(top, 1.0 if whole else 1e-9)
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    return [i * step for i in range(int(math.ceil(top / step - 1e-9)) + 1)]


def day_chart(days: Sequence[dt.date], values: Sequence[float | None], *, title: str, what: str = "",
              unit: str = "", fmt: Callable[[float], str] = number, value_fmt: Callable[[float], str] | None = None,
              line: bool = False, whole: bool = True, series: Sequence[tuple[str, Sequence[float]]] = ()) -> Markup:
    """One value per day on a date axis: columns for counts; a line with a marker per day for a measure
    (`line`), except when a single day has a value, which is a column (a lone dot reads as nothing).

    `fmt` writes the axis ticks, `value_fmt` (default `fmt`) each day's value. `unit` is written above the value
    axis (default: `what`). `series` ((name, values per day), …) splits each
    day's column into stacked parts with a legend; `values` are then the days' totals."""
    value_fmt = value_fmt or fmt
    known = [v for v in values if v is not None]
    if not days or not any(known):
        return EMPTY
    ticks = nice_ticks(max(known), whole)
    plot_h = HEIGHT - TOP - BOTTOM
    step = 100 / len(days)  # percent of the width per day

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / ticks[-1])

    many = len(days) > ALWAYS_SHOWN // 2  # on a phone, values of more than 8 days only on hover
    desc = Markup("<desc>{}</desc>").format("Series: " + ", ".join(name for name, _ in series)) if series else ""
    extra = Markup(' data-many="1"') if many else ""
    parts = [SVG_OPEN.format(h=HEIGHT, cls="chart day-chart", extra=extra, title=title, desc=desc),
             STYLE, _value_axis(ticks, y, fmt, unit or what), _date_axis(days, step)]
    as_line = line and len(known) > 1 and not series
    if as_line:
        parts.append(_segments(values, step, y))
    always = len(days) <= ALWAYS_SHOWN
    for i, (day, v) in enumerate(zip(days, values, strict=True)):
        if v is None:
            continue
        tip = f"{day:%a %Y-%m-%d}: {value_fmt(v)}{(' ' + what) if what else ''}"
        if series:
            tip += " (" + ", ".join(f"{number(s[i])} {name.lower()}" for name, s in series) + ")"
        center = (i + .5) * step
        marks = _marks(i, v, center, step, y, series) if not as_line else [POINT.format(x=center, y=y(v),
                                                                                         fill=LINE_COLOR)]
        shown = always and (v or as_line)
        parts.append(Markup('<g class="day"><title>{tip}</title><rect class="hit" x="{hx:.2f}%" y="{top}" '
                            'width="{hw:.2f}%" height="{hh}"/>{marks}<text class="val halo{always}" x="{cx:.2f}%" '
                            'y="{vy:.1f}" text-anchor="middle">{value}</text></g>').format(
            tip=tip, hx=i * step, top=TOP, hw=step, hh=plot_h, marks=Markup("").join(marks),
            always=" always" if shown else "", cx=center, vy=max(TOP - 4, y(v) - 8), value=value_fmt(v)))
    parts.append(CLOSE)
    chart = Markup("").join(parts)
    return chart + _legend(series) if series else chart


def _marks(i: int, total: float, center: float, step: float, y: Callable[[float], float],
           series: Sequence[tuple[str, Sequence[float]]]) -> list[Markup]:
    """The day's column, stacked from the bottom in the series' order when there are series."""
    width = min(max(.4, step * .7), 12.0)
    x = center - width / 2
    if not series:
        if not total:
            return []  # an empty day: its tooltip says 0, no sliver of a column
        return [COLUMN.format(x=x, y=y(total), w=width, h=y(0) - y(total), fill=BAR_COLOR)]
    marks, base = [], 0.0
    for n, (_, values) in enumerate(series):
        part = values[i] or 0
        if part:
            marks.append(COLUMN.format(x=x, y=y(base + part), w=width, h=y(base) - y(base + part),
                                       fill=SERIES_COLORS[n % len(SERIES_COLORS)]))
        base += part
    return marks


def _value_axis(ticks: list[float], y: Callable[[float], float], fmt: Callable[[float], str],
                unit: str) -> Markup:
    """Gridlines with their values written on them at the left (haloed over a column), the unit above."""
    caption = Markup('<text class="unit" x="0" y="12" font-weight="600">{}</text>').format(unit) if unit else ""
    lines = Markup("").join(Markup('<line x1="0" x2="100%" y1="{y:.1f}" y2="{y:.1f}" stroke="{c}"/>'
                                   '<text class="tick halo" x="2" y="{ty:.1f}">{label}</text>').format(
        y=y(t), c=GRID_COLOR, ty=y(t) - 4, label=fmt(t)) for t in ticks)
    return Markup('<g class="axis value-axis">{}{}</g>').format(caption, lines)


def _date_axis(days: Sequence[dt.date], step: float) -> Markup:
    """The baseline and up to MAX_DATE_LABELS dates, evenly spaced, the first and the last always labelled; every
    other one is hidden on a phone."""
    every = max(1, math.ceil(len(days) / MAX_DATE_LABELS))
    shown = sorted({*range(0, len(days), every), len(days) - 1})
    if len(shown) > 2 and shown[-1] - shown[-2] <= every / 2:
        shown.pop(-2)  # the last label would sit on its neighbour
    years = {d.year for d in days}
    last = len(shown) - 1

    def anchor(n: int) -> str:  # the first and last dates stay inside the chart
        return "start" if n == 0 and len(shown) > 1 else "end" if n == last and len(shown) > 1 else "middle"

    labels = Markup("").join(Markup('<text class="date{alt}" x="{x:.2f}%" y="{y}" text-anchor="{a}">{label}</text>')
                             .format(alt=" alt" if 0 < n < last and n % 2 else "",
                                     x=0 if anchor(n) == "start" else 100 if anchor(n) == "end" else (i + .5) * step,
                                     y=HEIGHT - 8, a=anchor(n),
                                     label=f"{days[i]:%b} {days[i].day}" + (f" {days[i].year}" if len(years) > 1
                                                                          else ""))
                             for n, i in enumerate(shown))
    base = Markup('<line x1="0" x2="100%" y1="{y}" y2="{y}" stroke="{a}"/>').format(y=HEIGHT - BOTTOM, a=AXIS_COLOR)
    return Markup('<g class="axis date-axis">{}{}</g>').format(base, labels)


def _segments(values: Sequence[float | None], step: float, y: Callable[[float], float]) -> Markup:
    """The line between consecutive days with a value: a day without one is a gap, not a drop to zero."""
    return Markup("").join(SEGMENT.format(x1=(i + .5) * step, y1=y(a), x2=(i + 1.5) * step, y2=y(b), c=LINE_COLOR)
                           for i, (a, b) in enumerate(zip(values, values[1:], strict=False))
                           if a is not None and b is not None)


def _legend(series: Sequence[tuple[str, Sequence[float]]]) -> Markup:
    items = Markup("").join(Markup('<li><span class="swatch" style="background: {c}"></span>{name}</li>').format(
        c=SERIES_COLORS[n % len(SERIES_COLORS)], name=name) for n, (name, _) in enumerate(series))
    return Markup('<ul class="chart-legend" aria-label="Legend">{}</ul>').format(items)


def bar_chart(labels: Sequence[str], values: Sequence[float], *, bar: int = 16, title: str = "",
              what: str = "") -> Markup:
    """Horizontal bars, one per label (written above its bar, so a long email keeps the width), scaled to the
    largest value, with the value after each bar and in its <title>."""
    if not values:
        return EMPTY
    top = max(max(values), 1)
    row = bar + 26
    height = len(values) * row + 22
    ticks = nice_ticks(top)
    room = 88.0  # percent of the width for the longest bar; the rest for its value
    parts = [SVG_OPEN.format(h=height, cls="chart bar-chart", extra="", title=title, desc=""), STYLE]
    axis = Markup("").join(Markup('<line x1="{x:.2f}%" x2="{x:.2f}%" y1="4" y2="{b}" stroke="{c}"/>').format(
        x=room * t / ticks[-1], b=height - 18, c=GRID_COLOR) for t in ticks)
    axis += Markup("").join(Markup('<text class="tick" x="{x:.2f}%" y="{y}" text-anchor="{a}">{v}</text>').format(
        x=room * t / ticks[-1], y=height - 4, a="start" if not t else "middle", v=number(t)) for t in ticks)
    if what:
        axis += Markup('<text class="unit" x="100%" y="{y}" text-anchor="end">{w}</text>').format(y=height - 4, w=what)
    parts.append(Markup('<g class="axis value-axis">{}</g>').format(axis))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + i * row
        length = max(.3, room * value / ticks[-1]) if value else 0
        parts.append(Markup('<g class="day"><title>{tip}</title><text class="label" x="0" y="{ly}">{label}</text>'
                            '<rect class="mark" x="0" y="{by}" width="{w:.2f}%" height="{h}" fill="{fill}" rx="2"/>'
                            '<text class="val always" x="{vx:.2f}%" y="{vy}" dx="6">{value}</text></g>').format(
            tip=f"{label}: {number(value)}{(' ' + what) if what else ''}", ly=y + 12, label=str(label)[:60],
            by=y + 17, w=length, h=bar, fill=BAR_COLOR, vx=length, vy=y + 17 + bar - 4, value=number(value)))
    parts.append(CLOSE)
    return Markup("").join(parts)
