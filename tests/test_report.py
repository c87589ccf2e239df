"""Presenting numbers (twolayer.report): signs and bounds at the shown precision."""

import pytest

from twolayer import report


def test_signed_drops_the_sign_of_a_zero_at_the_shown_precision():
    assert report.signed(-0.004) == "0.00"
    assert report.signed(0.004) == "0.00"
    assert report.signed(-0.35) == "-0.35"
    assert report.signed(0.12) == "+0.12"
    assert report.signed(-0.0004, 3) == "0.000"
    with pytest.raises(ValueError, match="decimals"):
        report.signed(1.0, -1)


def test_bound_hides_digits_below_the_threshold():
    assert report.bound(3e-5, 1e-4) == "< 10⁻⁴"
    assert report.bound(0.0123, 1e-4) == "0.012"


def test_numbers_in_e_notation_are_written_as_powers_of_ten():
    assert report.num(1.64e-11, 2) == "1.6×10⁻¹¹"
    assert report.num(2.3e4, 2) == "2.3×10⁴"
    assert report.num(0.0123, 2) == "0.012"
    assert report.num(-3.2e-7, 2) == "-3.2×10⁻⁷"
    assert report.powers_of_ten("C in [3.9e+02, 1e+06]") == "C in [3.9×10², 10⁶]"
    assert report.powers_of_ten("seed 1e3x and v1.2e5") == "seed 1e3x and v1.2e5"  # not numbers
    assert report.bound(2e-13, 1e-12) == "< 10⁻¹²"


def test_tex_labels_become_unicode_text():
    cases = {"$\\epsilon_g$": "ε_g", "$\\sigma\\,\\alpha_{\\rm esc}$": "σ α_esc",
             "$R^{(k)}$": "R⁽ᵏ⁾", "$Q^{(3)}_{11}$": "Q⁽³⁾₁₁", "$N_l^*$ exponent": "Nₗ* exponent",
             "$\\max|\\Delta \\ln \\epsilon_g|$": "max|Δ ln ε_g|", "fit ± sem": "fit ± sem",
             "$\\langle\\lambda^2\\rangle$": "⟨λ²⟩", "$\\hat\\epsilon_g$": "ε\u0302_g",
             "$\\bar{x}$ and $\\tilde{\\alpha}^2$": "x\u0304 and α\u0303²", "$\\hat{ab}$": "hat(ab)"}
    for tex, text in cases.items():
        assert report.tex_text(tex) == text
    with pytest.raises(ValueError, match="unmatched"):
        report.tex_text("$\\alpha")


def test_table_headers_are_math_in_html_and_unicode_in_text():
    import pandas as pd
    t = report.frame(pd.DataFrame({"$\\epsilon_g$": [1.6e-11, 0.25], "L": [1, 16]}))
    assert repr(t).splitlines() == ["      ε_g  L", "1.6×10⁻¹¹  1", "     0.25 16"]
    html = t._repr_html_()
    assert '<th><span class="math notranslate nohighlight">\\(\\epsilon_g\\)</span></th>' in html
    assert "<td>1.6×10⁻¹¹</td>" in html
    c = report.captioned(t, "at $\\alpha = 10$")
    assert repr(c).splitlines()[0] == "at α = 10"
