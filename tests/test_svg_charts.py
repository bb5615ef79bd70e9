"""The server-side charts (marketplace/svg.py): named, with a unit over the value axis and readable dates, every
value in a tooltip (and written on the chart when the days are few), a legend for stacked series, CRM text
escaped, and fluid horizontal positions so the text keeps its size on a phone."""
from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from marketplace.console_kpi import duration, short_duration
from marketplace.svg import EMPTY, bar_chart, day_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(5)]


def parse(markup: str) -> ET.Element:
    """The <svg> element, parsed as XML: the chart is well-formed whatever the labels were."""
    # the app's own output, built in this test: no entity tricks to guard against
    return ET.fromstring(re.search(r"<svg .*?</svg>", str(markup), re.S).group(0))  # noqa: S314


def texts(svg: ET.Element, cls: str) -> list[str]:
    return [t.text for t in svg.iter(f"{SVG}text") if cls in (t.get("class") or "").split()]


def axis_texts(svg: ET.Element, axis: str) -> list[str]:
    group = next(g for g in svg.iter(f"{SVG}g") if axis in (g.get("class") or "").split())
    return [t.text for t in group.iter(f"{SVG}text")]


def test_a_day_chart_names_itself_and_labels_both_axes_with_the_unit():
    svg = parse(day_chart(DAYS, [3, 0, 5, 1, 2], title="Leads per day", what="leads", unit="Leads"))
    assert svg.get("role") == "img" and svg.get("aria-label") == "Leads per day"
    assert svg.find(f"{SVG}title").text == "Leads per day"
    value_axis = axis_texts(svg, "value-axis")
    assert value_axis[0] == "Leads"  # the unit, above the ticks
    assert value_axis[1:] == ["0", "2", "4", "6"]  # round ticks reaching the largest value
    assert axis_texts(svg, "date-axis") == ["Mar 1", "Mar 2", "Mar 3", "Mar 4", "Mar 5"]


def test_every_value_is_in_its_days_tooltip_and_written_when_the_days_are_few():
    svg = parse(day_chart(DAYS, [3, 0, 5, 1, 2], title="Leads per day", what="leads"))
    days = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "day"]
    assert [g.find(f"{SVG}title").text for g in days][:2] == ["Fri 2024-03-01: 3 leads", "Sat 2024-03-02: 0 leads"]
    values = {t.text: t.get("class") for g in days for t in g.iter(f"{SVG}text")}
    assert values["5"] == "val halo always" and values["0"] == "val halo"  # no "0" floating on an empty day


def test_a_month_writes_values_on_hover_only_and_thins_dates_on_a_phone():
    month = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(30)]
    markup = str(day_chart(month, list(range(30)), title="Leads per day", what="leads"))
    svg = parse(markup)
    values = [t.get("class") for t in svg.iter(f"{SVG}text") if "val" in (t.get("class") or "").split()]
    assert len(values) == 30 and not any("always" in c for c in values)  # day 1 is 0: no mark, still a tooltip
    dates = [t for t in svg.iter(f"{SVG}text") if "date" in (t.get("class") or "").split()]
    assert 2 < len(dates) <= 8 and dates[0].text == "Mar 1" and dates[-1].text == "Mar 30"
    assert dates[0].get("text-anchor") == "start" and dates[-1].get("text-anchor") == "end"  # inside the chart
    assert any("alt" in t.get("class") for t in dates) and ".chart .date.alt { display: none; }" in markup


def test_positions_are_fluid_so_text_keeps_its_size_on_a_phone():
    svg = parse(day_chart(DAYS, [3, 0, 5, 1, 2], title="Leads per day"))
    assert svg.get("width") == "100%" and svg.get("viewBox") is None and svg.get("font-size") == "12"
    marks = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "mark"]
    assert len(marks) == 4 and all(r.get("x").endswith("%") and r.get("width").endswith("%") for r in marks)


def test_a_measure_is_a_line_with_markers_and_a_gap_where_a_day_has_no_value():
    svg = parse(day_chart(DAYS, [12, None, 300, 240, None], title="Median speed-to-owner per day",
                          fmt=short_duration, value_fmt=duration, line=True, whole=False, unit="Median time"))
    assert len(list(svg.iter(f"{SVG}circle"))) == 3
    assert len([s for s in svg.iter(f"{SVG}line") if s.get("class") == "seg"]) == 1  # only days 3-4 are joined
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert "Sun 2024-03-03: 5 min" in titles and "Mon 2024-03-04: 4 min" in titles
    assert "2.5 min" in axis_texts(svg, "value-axis") or "5 min" in axis_texts(svg, "value-axis")


def test_stacked_series_get_a_legend_and_their_split_in_the_tooltip():
    markup = str(day_chart(DAYS[:2], [3, 2], title="Leads per day", what="leads",
                           series=[("Routed automatically", [2, 2]), ("Sent to review", [1, 0])]))
    svg = parse(markup)
    assert "Fri 2024-03-01: 3 leads (2 routed automatically, 1 sent to review)" in [
        t.text for t in svg.iter(f"{SVG}title")]
    assert len([r for r in svg.iter(f"{SVG}rect") if r.get("class") == "mark"]) == 3  # 2 + 1 parts
    legend = re.search(r'<ul class="chart-legend"[^>]*>(.*?)</ul>', markup).group(1)
    assert re.findall(r"</span>([^<]+)</li>", legend) == ["Routed automatically", "Sent to review"]


def test_crm_text_is_escaped_in_labels_titles_and_the_name():
    owner = '<script>alert(1)</script>&"x"@acme.com'
    markup = str(bar_chart([owner, "b@acme.com"], [4, 1], title='Leads per owner <b>"all"</b>', what="leads"))
    assert "<script>" not in markup and "<b>" not in markup
    svg = parse(markup)  # well-formed: nothing the labels carried broke out of its attribute or element
    assert owner in texts(svg, "label") and svg.get("aria-label") == 'Leads per owner <b>"all"</b>'
    assert f"{owner}: 4 leads" in [t.text for t in svg.iter(f"{SVG}title")]
    assert "leads" in axis_texts(svg, "value-axis") and "0" in axis_texts(svg, "value-axis")


def test_bars_are_scaled_to_the_largest_value_and_show_it():
    svg = parse(bar_chart(["a@acme.com", "b@acme.com"], [4, 1], title="Leads per owner", what="leads"))
    widths = [float(r.get("width").rstrip("%")) for r in svg.iter(f"{SVG}rect") if r.get("class") == "mark"]
    assert widths[0] == 4 * widths[1] and widths[0] <= 100
    assert texts(svg, "val") == ["4", "1"]


def test_nothing_to_draw_says_so():
    assert day_chart(DAYS, [0, 0, None, 0, 0], title="x") == EMPTY
    assert bar_chart([], [], title="x") == EMPTY
    assert nice_ticks(7) == [0, 2, 4, 6, 8] and nice_ticks(0.3, whole=False)[-1] >= 0.3
