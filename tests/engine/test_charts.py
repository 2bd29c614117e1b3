"""engine.charts: deterministic, self-contained SVG."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from engine.charts import bars, heatmap, histogram, lines, nice_ticks, waterfall

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.find(f"{SVG}title") is not None
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")    # no external asset
    return root


def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(-3.2, 7.9) == [-5, -2.5, 0, 2.5, 5, 7.5, 10]
    assert nice_ticks(5, 5)[0] <= 5 <= nice_ticks(5, 5)[-1]
    with pytest.raises(ValueError):
        nice_ticks(0, float("nan"))


def test_histogram_counts_every_value_and_is_deterministic():
    values = [1.0, 2.0, 2.5, 3.0, 10.0]
    a = histogram(values, title="IRR", x_label="%", bins=3, markers=[("P50", 2.5)])
    assert a == histogram(values, title="IRR", x_label="%", bins=3, markers=[("P50", 2.5)])
    root = _parse(a)
    heights = [float(r.get("height")) for r in root.iter(f"{SVG}rect")]
    assert len(heights) == 3 and heights[0] > heights[2] > 0 and heights[1] == 0
    assert "P50" in a


def test_bars_waterfall_lines_heatmap_render_and_escape():
    assert "&lt;b&gt;" in bars([("<b>", 1.0), ("x", -2.0)], title="t", y_label="USD")
    w = _parse(waterfall("base", 100.0, [("gas x2", 40.0), ("hub -10", -15.0)], title="bridge",
                         y_label="USD"))
    assert len(list(w.iter(f"{SVG}rect"))) == 4                   # base, 2 deltas, total
    _parse(lines(["2026", "2027", "2028"], [("P50", [1, 2, 3])], title="CFADS", y_label="USD",
                 bands=[("P10-P90", [0, 1, 2], [2, 3, 4])]))
    _parse(heatmap(["00", "01"], ["d1", "d2"], [[0.2, None], [1.0, 0.5]], title="CFE",
                   value_label="CFE share"))
    with pytest.raises(ValueError):
        lines(["a"], [("x", [float("inf")])], title="t", y_label="y")
