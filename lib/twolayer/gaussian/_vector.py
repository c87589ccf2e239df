"""erf and exp of the SGD step in a form the compiler vectorises (the wide-layer path of the
compiled engine; chapter "Setting" (introduction), the SGD rule).

``math.erf`` and ``math.exp`` are calls into the C library, one value at a time.  At many hidden
units a step evaluates g for all K + M pre-activations and g' for the K students; as calls these
took about a sixth of a step at K = M = 40, N = 512 (``benchmarks/README.md``).  Here both are
branch-free polynomials (the branches are computed and selected), so a loop over the K units runs
on whole vector registers:

    erf(x) = x P(2 x^2 - 1)                                  for |x| < 1
    erf(x) = sign(x) (1 - exp(-a^2) F(tau)),  a = min(|x|, 6)  for |x| >= 1

with P and F interpolants of erf(sqrt z)/sqrt z and of erfcx(a) = exp(a^2) erfc(a) at Chebyshev
points, and exp(y) = 2^k p(r) after the Cody-Waite reduction y = k ln 2 + r.  The coefficients are
derived by ``scripts/fit_erf_poly.py`` (which prints the literals below).  Accuracy, tested
(``tests/test_vector_activations.py``): within 2 units in the last place of ``math.erf`` and 1 of
``math.exp``; NaN stays NaN.  The kernels are compiled without reassociation (``_FLAGS``), so
the reduction keeps its precision when they are inlined into a kernel that allows it.
"""

from __future__ import annotations

import math

import numba as nb
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

#: Compiled without "reassoc" (it would undo the two-part ln 2 of the reduction); "contract"
#: lets the Horner steps be fused multiply-adds.  error_model "numpy": a division by zero gives
#: inf rather than raising, which keeps the branch-free loops vectorisable (none can occur here).
_FLAGS = dict(fastmath={"contract"}, error_model="numpy")

# coefficients: scripts/fit_erf_poly.py (monomials in tau in [-1, 1], lowest degree first)
_A0, _C, _X_MAX = 1.0, 3.0, 6.0
_T_LO, _T_HI = -0.5, 0.3333333333333333
_LN2_HI, _LN2_LO = 0.6931471805598903, 5.497923018708371e-14
_P = (
    0.9654687386698673, -0.1405360890227171, 0.019852496688983708,
    -0.0022854855611441132, 0.00021751715604159932, -1.7537169441124866e-05,
    1.223382738359897e-06, -7.511569286591727e-08, 4.115800583208149e-09,
    -2.035228405815769e-10, 9.167619596865806e-12, -3.8078824063194953e-13,
    1.4543887079465116e-14,
)
_F = (
    0.20798329133342885, -0.15436117429436919, 0.0496984454033948,
    -0.012713147695691885, 0.002479314697072363, -0.0003316029605799961,
    1.956358330912599e-05, 2.4255574907715406e-06, -5.541277487093558e-07,
    -4.526754371197066e-09, 1.1340277301679147e-08, -2.6372742689188984e-10,
    -2.5812773816849115e-10, 5.964770303709497e-12, 6.749114911711018e-12,
    4.175763047157879e-14, -1.8687934535183138e-13, -8.765105855252548e-15,
    4.441389598921855e-15,
)
_EXP = (
    1.0, 1.0, 0.5,
    0.16666666666666666, 0.041666666666666664, 0.008333333333333333,
    0.001388888888888889, 0.0001984126984126984, 2.48015873015873e-05,
    2.7557319223985893e-06, 2.755731922398589e-07, 2.505210838544172e-08,
    2.08767569878681e-09, 1.6059043836821613e-10,
)
_INV_LN2 = 1.0 / math.log(2.0)
_Y_MIN = -700.0  # exp(y) for y below: e^-700 ~ 1e-304, against a true value that is smaller still


@intrinsic
def _f64_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bits are the int64 ``bits`` (an LLVM bitcast)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@nb.njit(inline="always", **_FLAGS)
def _horner(coefs, t):
    p = coefs[len(coefs) - 1]
    for j in range(len(coefs) - 2, -1, -1):
        p = p * t + coefs[j]
    return p


@nb.njit(inline="always", **_FLAGS)
def exp_neg(y):
    """exp(y) for y <= 0 (within 1 ulp of ``math.exp`` down to y = -700; below, exp(-700)); NaN
    stays NaN."""
    y = y if not (y < _Y_MIN) else _Y_MIN
    k = math.floor(y * _INV_LN2 + 0.5)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    return _horner(_EXP, r) * _f64_from_bits((k + 1023) << 52)


@nb.njit(inline="always", **_FLAGS)
def erf(x):
    """erf(x) within 2 ulp of ``math.erf``; NaN stays NaN."""
    a = abs(x)
    small = x * _horner(_P, (a * a) * (2.0 / (_A0 * _A0)) - 1.0)
    a = a if not (a > _X_MAX) else _X_MAX
    tau = ((a - _C) / (a + _C) - _T_LO) * (2.0 / (_T_HI - _T_LO)) - 1.0
    large = 1.0 - exp_neg(-(a * a)) * _horner(_F, tau)
    large = large if not (x < 0.0) else -large
    return small if a < _A0 else large
