"""Presentation helpers of the chapters: tables of selected columns with one dict of formats
(report.columns), glue of several numbers (report.glue_all), paired curves and learning-curve
axes (plotting.plot_paired, plotting.curve_axes)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import twolayer as tl
from twolayer import plotting, report
from twolayer.experiments import Paired
from twolayer.problem.trajectory import Trajectory


def test_columns_selects_and_formats_with_a_shared_dict():
    df = pd.DataFrame({"a": [1.23456, np.nan], "b": [2, 3], "c": [0.5, 0.25]})
    fmt = {"a": ".2f", "c": ".1e", "unused": ".3g"}
    t = report.columns(df, ["b", "a"], fmt)
    assert list(t.frame.columns) == ["b", "a"]
    assert list(t.frame["a"]) == ["1.23", "-"] and list(t.frame["b"]) == ["2", "3"]
    with pytest.raises(ValueError, match="not in df"):
        report.columns(df, ["z"], fmt)


def test_glue_all_glues_each_value_at_its_digits(monkeypatch):
    seen = {}
    monkeypatch.setattr(report, "_myst_glue", lambda name, value, display: seen.update({name: value}))
    report.glue_all(2, x=0.12345, y=380.4)
    assert seen == {"x": 0.12, "y": 380}
    report.glue_all(None, s="< 1e-02")
    assert seen["s"] == "< 1e-02"
    with pytest.raises(ValueError, match="at least one"):
        report.glue_all(2)


def test_plot_paired_and_curve_axes():
    cfg = tl.Config(N=64, L=4, K=2, M=2)
    alpha = np.geomspace(0.1, 100, 20)
    eps = np.stack([0.1 / (1 + alpha), 0.12 / (1 + alpha)])
    tr = {m: Trajectory(alpha=alpha, eps_g=eps, config=cfg, method=m, seeds=(0, 1)) for m in ("sgd", "ode")}
    fig, ax = plotting.new_figure()
    sgd_line, ode_line = plotting.plot_paired(ax, Paired(tr["sgd"], tr["ode"]), "C0", label="x")
    np.testing.assert_allclose(sgd_line.get_ydata(), eps.mean(axis=0), rtol=1e-12)
    assert ode_line.get_linestyle() == "--" and sgd_line.get_label() == "x"
    plotting.curve_axes(ax)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_legend() is not None and ax.get_xlabel() == plotting.ALPHA
    with pytest.raises(ValueError, match="pair"):
        plotting.plot_paired(ax, tr["sgd"])
    with pytest.raises(ValueError, match="legend"):
        plotting.curve_axes(ax, legend=3)
    matplotlib.pyplot.close(fig)
