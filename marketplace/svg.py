"""Server-side SVG charts (no library, no script): values per day on a date axis, and horizontal bars per label.

Every chart scales to its card's width, has a value axis with round ticks, and shows each value on hover (an SVG
<title> per day or bar, which browsers show as a tooltip; the whole column is the hover target, not a 2-pixel dot).
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence

from markupsafe import Markup

BAR_COLOR, LINE_COLOR, AXIS_COLOR, GRID_COLOR = "#3451d1", "#3451d1", "#5d6475", "#e6e8ef"
WIDTH, HEIGHT = 900, 240  # the width of a console card: a chart fills it
LEFT, RIGHT, TOP, BOTTOM = 56, 14, 12, 28  # room for the value labels (left) and the dates (bottom)
MAX_DATE_LABELS = 8
EMPTY = Markup('<p class="muted">No data in this range.</p>')
# Markup.format escapes every value put into these templates (labels come from CRM data)
SVG_OPEN = Markup('<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {w} {h}" class="{cls}" '
                  'style="width: 100%; max-width: {w}px; height: auto" font-family="system-ui, sans-serif" '
                  'font-size="12"><title>{title}</title>'
                  '<style>.hit {{ fill: #1d2433; fill-opacity: 0; }} g.day:hover .hit {{ fill-opacity: .06; }}'
                  ' g.day:hover .mark {{ fill: #1d2f9e; }} g.day .val {{ visibility: hidden; font-weight: 600; }}'
                  ' g.day:hover .val {{ visibility: visible; }}</style>')
CLOSE = Markup("</svg>")
BAR = Markup('<g class="day"><title>{tip}</title><text x="{lx}" y="{ty}" text-anchor="end">{label}</text>'
             '<rect class="mark" x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}"/>'
             '<text x="{vx}" y="{ty}">{value}</text></g>')
# Each day: a <title> (the browser's tooltip, and what a screen reader says) and the value written above its mark,
# shown at once while the pointer is anywhere over the day's column.
COLUMN = Markup('<g class="day"><title>{tip}</title><rect class="hit" x="{hx:.1f}" y="{top}" width="{hw:.1f}" '
                'height="{hh}"/><rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                'fill="{fill}" rx="1.5"/><text class="val" x="{cx:.1f}" y="{vy:.1f}" text-anchor="middle">{value}'
                '</text></g>')
POINT = Markup('<g class="day"><title>{tip}</title><rect class="hit" x="{hx:.1f}" y="{top}" width="{hw:.1f}" '
               'height="{hh}"/><circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{fill}"/>'
               '<text class="val" x="{x:.1f}" y="{vy:.1f}" text-anchor="middle">{value}</text></g>')


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
              fmt: Callable[[float], str] = number, line: bool = False, whole: bool = True) -> Markup:
    """One value per day on a date axis: columns for counts; a line with a dot per day for a measure (`line`),
    except when a single day has a value, which is a column (a lone dot reads as nothing)."""
    known = [v for v in values if v is not None]
    if not days or not any(known):
        return EMPTY
    ticks = nice_ticks(max(known), whole)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / len(days)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / ticks[-1])

    parts = [SVG_OPEN.format(w=WIDTH, h=HEIGHT, cls="chart day-chart", title=title), _value_axis(ticks, y, fmt),
             _date_axis(days, step)]
    as_line = line and len(known) > 1
    if as_line:
        parts.append(_polylines(values, step, y))
    for i, (day, v) in enumerate(zip(days, values, strict=True)):
        if v is None:
            continue
        tip = f"{day:%a %Y-%m-%d}: {fmt(v)}{(' ' + what) if what else ''}"
        common = {"tip": tip, "hx": LEFT + i * step, "top": TOP, "hw": step, "hh": plot_h, "fill": BAR_COLOR,
                  "value": fmt(v), "vy": max(TOP + 10, y(v) - 7)}
        center = LEFT + (i + .5) * step
        if as_line:
            parts.append(POINT.format(x=center, y=y(v), **common))
        else:
            width = min(max(1.0, step * .7), 80.0)
            parts.append(COLUMN.format(x=center - width / 2, cx=center, y=y(v), w=width, h=TOP + plot_h - y(v),
                                       **common))
    parts.append(CLOSE)
    return Markup("").join(parts)


def _value_axis(ticks: list[float], y: Callable[[float], float], fmt: Callable[[float], str]) -> Markup:
    lines = Markup("").join(Markup('<line x1="{x1}" x2="{x2}" y1="{y:.1f}" y2="{y:.1f}" stroke="{c}"/>'
                                   '<text x="{tx}" y="{ty:.1f}" text-anchor="end" fill="{a}">{label}</text>').format(
        x1=LEFT, x2=WIDTH - RIGHT, y=y(t), c=GRID_COLOR, tx=LEFT - 6, ty=y(t) + 4, a=AXIS_COLOR, label=fmt(t))
        for t in ticks)
    return lines


def _date_axis(days: Sequence[dt.date], step: float) -> Markup:
    """The baseline and up to MAX_DATE_LABELS dates, evenly spaced, the first and the last always labelled."""
    every = max(1, math.ceil(len(days) / MAX_DATE_LABELS))
    shown = sorted({*range(0, len(days), every), len(days) - 1})
    if len(shown) > 2 and shown[-1] - shown[-2] <= every / 2:
        shown.pop(-2)  # the last label would sit on its neighbour
    years = {d.year for d in days}
    labels = Markup("").join(Markup('<text x="{x:.1f}" y="{y}" text-anchor="middle" fill="{a}">{label}</text>').format(
        x=LEFT + (i + .5) * step, y=HEIGHT - 8, a=AXIS_COLOR,
        label=f"{days[i]:%b} {days[i].day}" + (f" {days[i].year}" if len(years) > 1 else "")) for i in shown)
    base = Markup('<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{a}"/>').format(
        x1=LEFT, x2=WIDTH - RIGHT, y=HEIGHT - BOTTOM, a=AXIS_COLOR)
    return base + labels


def _polylines(values: Sequence[float | None], step: float, y: Callable[[float], float]) -> Markup:
    """One polyline per run of days with a value: a day without one is a gap, not a drop to zero."""
    runs, run = [], []
    for i, v in enumerate(values):
        if v is None:
            runs, run = runs + [run] if run else runs, []
        else:
            run.append(f"{LEFT + (i + .5) * step:.1f},{y(v):.1f}")
    runs += [run] if run else []
    return Markup("").join(Markup('<polyline fill="none" stroke="{c}" stroke-width="2" points="{p}"/>').format(
        c=LINE_COLOR, p=" ".join(r)) for r in runs if len(r) > 1)


def bar_chart(labels: Sequence[str], values: Sequence[float], *, width: int = WIDTH, bar: int = 18,
              label_width: int = 240, title: str = "", what: str = "") -> Markup:
    """Horizontal bars, one per label, scaled to the largest value; the value after each bar and on hover."""
    if not values:
        return EMPTY
    top = max(max(values), 1)
    room = width - label_width - 60
    height = len(values) * (bar + 6) + 6
    parts = [SVG_OPEN.format(w=width, h=height, cls="chart bar-chart", title=title)]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 6 + i * (bar + 6)
        length = max(1.0, room * value / top) if value else 0
        parts.append(BAR.format(tip=f"{label}: {number(value)}{(' ' + what) if what else ''}", lx=label_width - 8,
                                ty=y + bar - 5, label=str(label)[:36], x=label_width, y=y, w=f"{length:.1f}", h=bar,
                                fill=BAR_COLOR, vx=f"{label_width + length + 5:.1f}", value=number(value)))
    parts.append(CLOSE)
    return Markup("").join(parts)
