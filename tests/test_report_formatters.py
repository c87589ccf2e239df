"""Table formatters of twolayer.report passed to frame(): bound_to and condition."""

import pandas as pd
import pytest

from twolayer import report


def test_bound_to_is_bound_at_a_fixed_threshold():
    fmt = report.bound_to(1e-4)
    assert fmt(3e-5) == "< 10⁻⁴"
    assert fmt(0.0123) == "0.012"
    t = report.frame(pd.DataFrame({"L": [1, 2], "dev": [2e-6, 3.4e-3]}), formats={"dev": fmt})
    assert repr(t).splitlines()[1:] == ["1 < 10⁻⁴", "2 0.0034"]
    with pytest.raises(ValueError, match="threshold"):
        report.bound_to(0.0)


def test_condition_shows_the_power_of_ten_up_to_1e15():
    assert report.condition(1.0) == "1e0"
    assert report.condition(2.6e7) == "1e7"
    assert report.condition(4e14) == "1e15"  # log10 = 14.6 rounds up
    assert report.condition(1e15) == "> 1e15"
    assert report.condition(float("inf")) == "> 1e15"
    with pytest.raises(ValueError, match="condition number"):
        report.condition(0.5)


def test_captioned_puts_the_caption_line_directly_above_the_table():
    t = report.frame(pd.DataFrame({"N_l": [16, 64], "dev": [0.0123, 0.5]}), 2)
    c = report.captioned(t, "held-out patches:")
    assert repr(c).splitlines() == ["held-out patches:", "N_l   dev", " 16 0.012", " 64   0.5"]
    html = c._repr_html_()
    assert html.index("<caption>held-out patches:</caption>") < html.index("<thead>")
    assert c.frame is t.frame
    with pytest.raises(ValueError, match="caption"):
        report.captioned(t, "two\nlines")
    with pytest.raises(ValueError, match="Table"):
        report.captioned(pd.DataFrame(), "x")
