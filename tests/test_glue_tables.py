"""Glueing a DataFrame's numbers for the prose by a naming rule (report.glue_frame, glue_range)."""

import numpy as np
import pandas as pd
import pytest

from twolayer import report


@pytest.fixture
def glued(monkeypatch):
    store = {}
    monkeypatch.setattr(report, "_myst_glue", lambda name, value, display: store.__setitem__(name, value))
    return store


def test_glue_frame_names_every_cell_by_the_rule(glued):
    df = pd.DataFrame({"esc": [595.4321, 1234.5], "cexit": [1.8312, 2.25]}, index=["fig4", "grid"])
    report.glue_frame(df, "{index}_{column}", {"esc": 3, "cexit": 2})
    assert glued == {"fig4_esc": 595, "fig4_cexit": 1.8, "grid_esc": 1230, "grid_cexit": 2.2}
    assert isinstance(glued["fig4_esc"], int)          # 3 significant digits of 595.4: a whole number


def test_glue_frame_rejects_a_rule_that_names_two_cells_alike(glued):
    df = pd.DataFrame({"a": [1.0, 2.0]}, index=["lo", "hi"])
    with pytest.raises(ValueError, match="same name"):
        report.glue_frame(df, "x_{column}")
    with pytest.raises(ValueError, match="must contain"):
        report.glue_frame(df, "x")
    with pytest.raises(ValueError, match="columns the frame does not have"):
        report.glue_frame(df, "{column}_{index}", {"b": 2})
    with pytest.raises(ValueError, match="DataFrame"):
        report.glue_frame({"a": [1.0]})
    assert glued == {}


def test_glue_range_glues_min_and_max_of_each_column_skipping_nan(glued):
    df = pd.DataFrame({"prod": [7.312, np.nan, 16.84], "lin": [30.4, 86.1, 55.0]})
    report.glue_range(df, "grid_{column}", 2)
    assert glued == {"grid_prod_lo": 7.3, "grid_prod_hi": 17, "grid_lin_lo": 30, "grid_lin_hi": 86}
    assert glued["grid_prod_lo"] == pytest.approx(7.3, abs=1e-12)
    with pytest.raises(ValueError, match="column"):
        report.glue_range(df, "grid")


def test_interval_never_prints_a_reversed_range():
    assert report.interval((65.8123, 404.2)) == "[65.8, 404]"
    assert report.interval((3000.0, 6000.0)) == "[3e+03, 6e+03]"
    assert report.interval((9.41, 381.0), 2) == "[9.4, 3.8e+02]"
    assert report.interval((793.0, 25.0)) == "empty"        # lo above hi: no point in it
    assert report.interval((np.nan, np.nan)) == "none"
    assert report.interval(None) == "none"
    with pytest.raises(ValueError, match="bounds"):
        report.interval((1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="digits"):
        report.interval((1.0, 2.0), 0)
    table = report.frame(pd.DataFrame({"L": [64, 1024], "fit range": [(793.0, 25.0), (65.8, 404.0)]}),
                         formats={"fit range": report.interval})
    assert repr(table).splitlines() == ["   L   fit range", "  64       empty", "1024 [65.8, 404]"]
