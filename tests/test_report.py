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
    assert report.bound(3e-5, 1e-4) == "< 1e-04"
    assert report.bound(0.0123, 1e-4) == "0.012"
