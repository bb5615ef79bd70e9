"""Tiny server-side SVG charts (no library, no script): a horizontal bar chart and a sparkline."""
from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

BAR_COLOR, LINE_COLOR = "#3451d1", "#1d2433"
EMPTY = Markup('<p class="muted">No data in this range.</p>')
# Markup.format escapes every value put into these templates (labels come from CRM data)
SVG_OPEN = Markup('<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{w}" height="{h}" '
                  'viewBox="0 0 {w} {h}" class="{cls}"><title>{title}</title>')
BAR = Markup('<text x="{lx}" y="{ty}" text-anchor="end" font-size="12">{label}</text>'
             '<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}"/>'
             '<text x="{vx}" y="{ty}" font-size="12">{value}</text>')
LINE = Markup('<polyline fill="none" stroke="{stroke}" stroke-width="1.5" points="{points}"/>'
              '<circle cx="{x}" cy="{y}" r="2.5" fill="{fill}"/></svg>')


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def bar_chart(labels: Sequence[str], values: Sequence[float], *, width: int = 640, bar: int = 18,
              label_width: int = 200, title: str = "") -> Markup:
    """Horizontal bars, one per label, scaled to the largest value; the value is written after each bar."""
    if not values:
        return EMPTY
    top = max(max(values), 1)
    room = width - label_width - 60
    height = len(values) * (bar + 6) + 6
    parts = [SVG_OPEN.format(w=width, h=height, cls="chart bar-chart", title=title)]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 6 + i * (bar + 6)
        length = max(1.0, room * value / top) if value else 0
        parts.append(BAR.format(lx=label_width - 6, ty=y + bar - 5, label=str(label)[:32], x=label_width, y=y,
                                w=f"{length:.1f}", h=bar, fill=BAR_COLOR, vx=f"{label_width + length + 4:.1f}",
                                value=_number(value)))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def sparkline(values: Sequence[float | None], *, width: int = 640, height: int = 60, title: str = "") -> Markup:
    """A line over the values in order (None: a gap, e.g. a day without data), with the last value marked."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return EMPTY
    top = max(max(v for _, v in points), 1e-9)
    step = (width - 10) / max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[str, str]:
        return f"{5 + i * step:.1f}", f"{height - 5 - (height - 10) * v / top:.1f}"

    line = " ".join(",".join(xy(i, v)) for i, v in points)
    x, y = xy(*points[-1])
    return Markup("").join([SVG_OPEN.format(w=width, h=height, cls="chart sparkline", title=title),
                            LINE.format(stroke=LINE_COLOR, points=line, x=x, y=y, fill=BAR_COLOR)])
