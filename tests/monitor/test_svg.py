"""The inline SVG charts: well-formed, labelled, escaped, accessible, and honest about empty data."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from apps.monitor.plots import svg

NS = "{http://www.w3.org/2000/svg}"


def parse(markup):
    return ET.fromstring(str(markup))


def tooltips(root):
    return [el.text for el in root.iter(f"{NS}title")]


def texts(root):
    return [el.text for el in root.iter(f"{NS}text")]


def test_a_pie_has_one_slice_per_positive_value_with_share_tooltips():
    root = parse(svg.pie([("finished", 3), ("failed", 1), ("running", 0)], title="Job states"))
    assert root.get("viewBox") == f"0 0 {svg.WIDTH} {svg.HEIGHT}"
    assert root.get("role") == "img"
    assert tooltips(root)[0] == "Job states"
    slices = root.findall(f"{NS}g[@class='slice']")
    assert len(slices) == 2
    assert "finished: 3 (75.0%)" in tooltips(root)
    assert "failed: 1 (25.0%)" in tooltips(root)


def test_a_pie_uses_the_state_colours_for_known_states():
    root = parse(svg.pie([("finished", 1), ("failed", 1)], title="t"))
    fills = [el.get("fill") for el in root.iter(f"{NS}path")]
    assert fills == [svg.STATE_COLOURS["finished"], svg.STATE_COLOURS["failed"]]


def test_a_pie_of_a_single_value_is_a_full_circle():
    root = parse(svg.pie([("finished", 5)], title="t"))
    assert root.find(f"{NS}g/{NS}circle") is not None
    assert "finished: 5 (100.0%)" in tooltips(root)


@pytest.mark.parametrize(
    "chart",
    [
        lambda: svg.pie([], title="Nothing <here>"),
        lambda: svg.pie([("a", 0)], title="Nothing <here>"),
        lambda: svg.bars([], title="Nothing <here>"),
        lambda: svg.histogram([], title="Nothing <here>", xlabel="s"),
        lambda: svg.lines({}, title="Nothing <here>"),
        lambda: svg.stacked_bars([("q", {})], title="Nothing <here>"),
    ],
)
def test_every_chart_says_so_when_there_is_no_data(chart):
    root = parse(chart())
    assert svg.EMPTY_MESSAGE in texts(root)
    assert tooltips(root) == ["Nothing <here>"]


def test_labels_are_escaped_so_the_markup_stays_well_formed():
    hostile = '<script>alert("x")</script> & co'
    markup = str(svg.bars([(hostile, 2)], title=hostile, xlabel=hostile, ylabel="n"))
    assert "<script>" not in markup
    root = parse(markup)
    assert hostile in tooltips(root)
    assert f"{hostile}: 2" in tooltips(root)


def test_bars_carry_axis_labels_and_a_tooltip_per_bar():
    root = parse(svg.bars([("CERN", 10), ("BNL", 4.5)], title="Errors", xlabel="site", ylabel="errors"))
    rects = [el for el in root.iter(f"{NS}rect") if el.get("class") == "bar"]
    assert len(rects) == 2
    assert float(rects[0].get("height")) > float(rects[1].get("height"))
    assert "site" in texts(root) and "errors" in texts(root)
    assert {"CERN: 10", "BNL: 4.50"} <= set(tooltips(root))


def test_stacked_bars_stack_each_series_and_name_it_in_the_legend():
    root = parse(
        svg.stacked_bars(
            [("QUEUE_A", {"running": 3, "failed": 1}), ("QUEUE_B", {"running": 2})], title="Per queue", ylabel="jobs"
        )
    )
    rects = [el for el in root.iter(f"{NS}rect") if el.get("class") == "bar"]
    assert len(rects) == 3
    assert "QUEUE_A · failed: 1 of 4" in tooltips(root)
    legend = root.find(f"{NS}g[@class='legend']")
    assert [el.text for el in legend.iter(f"{NS}text")] == ["running", "failed"]


def test_histogram_bins_cover_the_range_and_count_every_value():
    table = svg.histogram_bins([0, 1, 2, 3, 4, 10], bins=5)
    assert len(table) == 5
    assert table[0][0] == 0 and table[-1][1] == 10
    assert sum(count for _, _, count in table) == 6
    assert table[-1][2] == 1


def test_histogram_bins_of_identical_values_form_one_bin_and_reject_zero_bins():
    assert svg.histogram_bins([3, 3, 3]) == [(3.0, 3.0, 3)]
    with pytest.raises(ValueError):
        svg.histogram_bins([1], bins=0)


def test_a_histogram_draws_one_bar_per_non_empty_bin():
    root = parse(svg.histogram([1, 1, 2, 9], bins=4, title="Duration", xlabel="minutes"))
    rects = [el for el in root.iter(f"{NS}rect") if el.get("class") == "bar"]
    assert len(rects) == 2
    assert "minutes" in texts(root)


def test_lines_over_time_have_a_point_tooltip_per_value_and_a_time_axis():
    t0 = dt.datetime(2026, 1, 1)  # naive UTC, as PanDA stores times
    root = parse(
        svg.lines(
            {"finished": [(t0, 0), (t0 + dt.timedelta(hours=1), 5)], "failed": [(t0, 1)]},
            title="Progress",
            ylabel="jobs",
        )
    )
    assert len(list(root.iter(f"{NS}polyline"))) == 2
    assert "finished at 2026-01-01 01:00: 5" in tooltips(root)
    assert "time (UTC)" in texts(root)
    assert "2026-01-01 00:00" in texts(root)


def test_nice_ticks_are_round_and_cover_the_data():
    assert svg.nice_ticks(0, 7) == [0, 2, 4, 6, 8]
    assert svg.nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    ticks = svg.nice_ticks(-3, 3)
    assert ticks[0] <= -3 and ticks[-1] >= 3


def test_a_gantt_chart_draws_one_span_per_row_in_order_with_its_state_and_times():
    start = dt.datetime(2025, 6, 1, 12, 0)
    rows = [
        ("701", start, start + dt.timedelta(hours=2), "done"),
        ("· 702 <simul>", start + dt.timedelta(hours=2), start + dt.timedelta(hours=5), "running"),
    ]

    root = parse(svg.gantt(rows, title="Chain"))

    spans = [el for el in root.iter(f"{NS}rect") if el.get("class") == "span"]
    assert len(spans) == 2
    assert float(spans[0].get("y")) < float(spans[1].get("y"))
    assert float(spans[0].get("x")) < float(spans[1].get("x"))
    assert spans[0].get("fill") == svg.STATE_COLOURS["done"]
    assert "· 702 <simul>: running, 2025-06-01 14:00 to 2025-06-01 17:00" in tooltips(root)


def test_a_gantt_chart_grows_with_its_rows_and_says_so_when_empty():
    start = dt.datetime(2025, 6, 1)
    few = parse(svg.gantt([("a", start, start, "done")], title="t"))
    many = parse(svg.gantt([(str(n), start, start + dt.timedelta(hours=n), "done") for n in range(30)], title="t"))

    assert float(many.get("viewBox").split()[3]) > float(few.get("viewBox").split()[3])
    assert svg.EMPTY_MESSAGE in str(svg.gantt([], title="t"))
