#!/usr/bin/env python
"""Derive the polynomial coefficients of ``twolayer.gaussian._vector`` (erf and exp in a form the
compiler vectorises), and print them as the Python literals that module holds.

    python scripts/fit_erf_poly.py

erf(x) = x P(tau_A),  tau_A = 2 x^2 / A0^2 - 1,           for |x| < A0 = 1
erf(x) = sign(x) (1 - exp(-a^2) F(tau_B)),  a = min(|x|, 6),
         t = (a - C) / (a + C), tau_B = 2 (t - t_lo) / (t_hi - t_lo) - 1,   for |x| >= A0

P interpolates erf(sqrt z) / sqrt z on z in [0, A0^2] and F interpolates erfcx(a) = exp(a^2)
erfc(a) on a in [A0, 6] (t = (a - C)/(a + C) maps it to [t_lo, t_hi] and makes erfcx, which
decays like 1/a, smooth in t), both at the Chebyshev points of degree DEG_A, DEG_B in 40-digit
arithmetic (mpmath), then rewritten in the monomial basis of tau in [-1, 1].  The last Chebyshev
coefficients (printed) bound the truncation error far below the double rounding error.  Beyond
|x| = 6, erfc(x) < 2.2e-17 and erf rounds to +-1, which the clamp a = min(|x|, 6) gives.  exp
uses the Taylor polynomial of degree 13 on |r| <= ln(2)/2 (remainder < 5e-18 relative) after
the Cody-Waite reduction y = k ln 2 + r with ln 2 split so that k ln2_hi is exact for |k| < 2^10.
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 40
A0, C, X_MAX = 1.0, 3.0, 6.0
DEG_A, DEG_B, DEG_EXP = 12, 18, 13


def chebyshev_monomials(f, lo, hi, deg):
    """Interpolate f on [lo, hi] at the deg + 1 Chebyshev points; returns (monomial coefficients
    in tau in [-1, 1], lowest first; Chebyshev coefficients)."""
    n = deg + 1
    nodes = [mp.cos(mp.pi * (k + mp.mpf(0.5)) / n) for k in range(n)]
    vals = [f(lo + (hi - lo) * (t + 1) / 2) for t in nodes]
    cheb = [2 * sum(vals[k] * mp.cos(mp.pi * j * (k + mp.mpf(0.5)) / n) for k in range(n)) / n for j in range(n)]
    cheb[0] /= 2
    basis = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]  # T_j in monomials
    for _ in range(2, n):
        a = [mp.mpf(0)] + [2 * x for x in basis[-1]]
        b = basis[-2] + [mp.mpf(0)] * (len(a) - len(basis[-2]))
        basis.append([x - y for x, y in zip(a, b)])
    mono = [mp.mpf(0)] * n
    for j in range(n):
        for i, x in enumerate(basis[j]):
            mono[i] += cheb[j] * x
    return mono, cheb


def main() -> None:
    def erf_over_x(z):
        return mp.erf(mp.sqrt(z)) / mp.sqrt(z) if z > 0 else 2 / mp.sqrt(mp.pi)

    def erfcx_of_t(t):
        a = C * (1 + t) / (1 - t)
        return mp.erfc(a) * mp.exp(a * a)

    t_lo, t_hi = mp.mpf(A0 - C) / (A0 + C), mp.mpf(X_MAX - C) / (X_MAX + C)
    pa, ca = chebyshev_monomials(erf_over_x, mp.mpf(0), mp.mpf(A0) ** 2, DEG_A)
    pb, cb = chebyshev_monomials(erfcx_of_t, t_lo, t_hi, DEG_B)
    ln2 = mp.log(2)
    ln2_hi = mp.mpf(int(mp.nint(ln2 * 2**43))) / 2**43
    print(f"# last Chebyshev coefficients: P {mp.nstr(abs(ca[-1]), 3)}, F {mp.nstr(abs(cb[-1]), 3)}")
    print(f"_A0, _C, _X_MAX = {A0!r}, {C!r}, {X_MAX!r}")
    print(f"_T_LO, _T_HI = {float(t_lo)!r}, {float(t_hi)!r}")
    print(f"_LN2_HI, _LN2_LO = {float(ln2_hi)!r}, {float(ln2 - ln2_hi)!r}")
    for name, coefs in (("_P", pa), ("_F", pb), ("_EXP", [1 / mp.factorial(k) for k in range(DEG_EXP + 1)])):
        body = ",\n    ".join(", ".join(repr(float(c)) for c in coefs[i:i + 3]) for i in range(0, len(coefs), 3))
        print(f"{name} = (\n    {body},\n)")


if __name__ == "__main__":
    main()
