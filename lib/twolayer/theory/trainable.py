"""Training only the leading N_l eigen-coordinates: linear K = M = 1 theory for ANY spectrum.

Chapter "Scaling with the number of trainable dimensions" (chapters/02_trainable_dims).

Per-coordinate form of the exact linear theory (Eq. (eq-tr-coord)).  With d = J - B (K = M = 1,
linear activation) and one eigen-coordinate per group, the error of coordinate i is
e_i = d_i^2 / N (so eps_g = 1/2 sum_i lambda_i e_i, Eq. (eq-tr-eps)), and in the limit N -> infinity
at fixed alpha = steps / N

    de_i/dalpha = -2 eta lambda_i e_i + (eta^2 / N) lambda_i sum_j lambda_j e_j    (i < N_l)
    de_i/dalpha = 0                                                               (i >= N_l)

This is ``twolayer.theory.linear``'s block system with every coordinate its own block
(f_i = 1/N), so it needs no power law: ``lam`` may be any non-negative spectrum, e.g. the
empirical spectrum of real image patches.  For a power law it reproduces ``linear.exact_curve``
to rounding (summing the coordinates of one block gives the block equation).

Reachable error (Eq. (eq-tr-epsinf)): the steady state of the trainable coordinates is
e_i = (eta / N) eps_inf, hence

    eps_inf(N_l) = eps_frozen / (1 - (eta / 2N) sum_{i < N_l} lambda_i),
    eps_frozen   = 1/2 sum_{i >= N_l} lambda_i e_i(0),   E[e_i(0)] = (1 + sigma_J^2) / N.

Power law lambda_l = lambda_+ l^{-(1+beta)} with N = L (Eq. (eq-tr-law)):
(1/L) sum_{l > N_l} lambda_l ~ lambda_+ / (beta L) (N_l^{-beta} - L^{-beta}) (continuum), or
with the midpoint rule lambda_+ / (beta L) ((N_l + 1/2)^{-beta} - (L + 1/2)^{-beta}).

Indices in the code are 0-based (coordinates 0 .. N_l - 1 are trained; the chapter counts from 1).
Online SGD on real inputs (paper Fig. 3 right) is ``twolayer.images.simulate_on_inputs``.
"""

from __future__ import annotations


import numpy as np

from ..config import _check_int, _check_pos
from ..data import eigenvalues, lambda_plus
from .linear import solve_errors

__all__ = [
    "coordinate_errors",
    "mean_coordinate_errors",
    "eta_max_spectrum",
    "exact_errors_spectrum",
    "exact_curve_spectrum",
    "reachable_error_spectrum",
    "frozen_tail",
    "frozen_tail_continuum",
    "reachable_error_powerlaw",
    "fit_scaling_law",
]


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
def _check_lam(lam) -> np.ndarray:
    lam = np.asarray(lam, dtype=np.float64)
    if lam.ndim != 1 or lam.size < 1:
        raise ValueError(f"lam must be a 1-d array of N >= 1 eigenvalues, got shape {lam.shape}")
    if not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise ValueError("lam must hold finite eigenvalues >= 0")
    return lam


def _check_e0(e0, N: int, sigma_J: float) -> np.ndarray:
    if e0 is None:
        return mean_coordinate_errors(N, sigma_J)
    e0 = np.asarray(e0, dtype=np.float64)
    if e0.ndim not in (1, 2) or e0.shape[-1] != N:
        raise ValueError(f"e0 must have shape ({N},) or (S, {N}), got {e0.shape}")
    if not np.all(np.isfinite(e0)) or np.any(e0 < 0):
        raise ValueError("e0 must hold finite per-coordinate errors >= 0")
    return e0


def _check_alpha(alpha) -> np.ndarray:
    alpha = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
    if alpha.ndim != 1 or not np.all(np.isfinite(alpha)) or np.any(alpha < 0):
        raise ValueError("alpha must be a 1-d array of finite values >= 0")
    return alpha


def _check_common(lam, eta, sigma_J, n_trainable):
    lam = _check_lam(lam)
    eta = _check_pos("eta", eta)
    sigma_J = _check_pos("sigma_J", sigma_J, allow_zero=True)
    n_trainable = _check_int("n_trainable (N_l)", n_trainable, 0, lam.size)
    return lam, eta, sigma_J, n_trainable


# ---------------------------------------------------------------------------------------------
# initial errors
# ---------------------------------------------------------------------------------------------
def coordinate_errors(J, B) -> np.ndarray:
    """e_i(0) = (J_i - B_i)^2 / N of K = M = 1 weights (shape (1, N) or (N,)); returns (N,)."""
    J = np.asarray(J, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if J.shape != B.shape or J.ndim not in (1, 2) or (J.ndim == 2 and J.shape[0] != 1):
        raise ValueError(f"J and B must both have shape (1, N) or (N,) (K = M = 1), got {J.shape}, {B.shape}")
    d = (J - B).reshape(-1)
    return d * d / d.size


def mean_coordinate_errors(N: int, sigma_J: float) -> np.ndarray:
    """E[e_i(0)] = (1 + sigma_J^2) / N (teacher N(0, 1), student N(0, sigma_J^2), independent)."""
    N = _check_int("N", N, 1)
    sigma_J = _check_pos("sigma_J", sigma_J, allow_zero=True)
    return np.full(N, (1.0 + sigma_J**2) / N)


# ---------------------------------------------------------------------------------------------
# exact solution for an arbitrary spectrum
# ---------------------------------------------------------------------------------------------
def eta_max_spectrum(lam, n_trainable: int) -> float:
    """Largest stable eta: 2 N / sum_{i < N_l} lambda_i (matrix determinant lemma, as in
    ``linear.eta_max``); infinite when nothing (or only zero eigenvalues) is trained."""
    lam = _check_lam(lam)
    n_trainable = _check_int("n_trainable (N_l)", n_trainable, 0, lam.size)
    s = float(np.sum(lam[:n_trainable]))
    return np.inf if s == 0 else 2.0 * lam.size / s


def exact_errors_spectrum(lam, eta: float, sigma_J: float, n_trainable: int, alpha, e0=None,
                          eta2: bool = True) -> np.ndarray:
    """Per-coordinate errors e_i(alpha) of Eq. (eq-tr-coord): shape (P, N), or (S, P, N) for e0 (S, N).

    ``lam`` (N,) is any spectrum in the order of the coordinates; the first ``n_trainable`` are
    trained.  ``e0`` defaults to the expectation (1 + sigma_J^2)/N.  Each coordinate is its own
    group (f = 1/N) of ``twolayer.theory.linear.solve_errors``; the frozen coordinates act as a
    constant source (eta^2/N) lambda_i sum_{frozen} lambda_j e_j.  ``eta2=False`` drops the
    O(eta^2) terms.
    """
    lam, eta, sigma_J, n_l = _check_common(lam, eta, sigma_J, n_trainable)
    alpha = _check_alpha(alpha)
    N = lam.size
    e0 = _check_e0(e0, N, sigma_J)
    if eta2 and n_l and eta >= eta_max_spectrum(lam, n_l):
        raise ValueError(f"eta must be < eta_max = {eta_max_spectrum(lam, n_l):.6g} for this spectrum "
                         f"and N_l = {n_l}, got {eta}")
    return solve_errors(lam, np.full(N, 1.0 / N), np.arange(N) < n_l, eta, alpha, e0, eta2)


def exact_curve_spectrum(lam, eta: float, sigma_J: float, n_trainable: int, alpha, e0=None,
                         eta2: bool = True, weights=None) -> np.ndarray:
    """eps_g(alpha) = 1/2 sum_i w_i e_i(alpha) of Eq. (eq-tr-coord) (Eq. (eq-tr-eps)); (P,) or (S, P).

    ``weights`` defaults to ``lam`` (the error on the distribution whose spectrum drives the
    dynamics); pass another covariance diagonal (in the same basis) to predict the error on
    different inputs, e.g. held-out data.
    """
    lam = _check_lam(lam)
    w = lam if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != lam.shape:
        raise ValueError(f"weights must have shape {lam.shape}, got {w.shape}")
    e = exact_errors_spectrum(lam, eta, sigma_J, n_trainable, alpha, e0, eta2)
    return 0.5 * e @ w


def reachable_error_spectrum(lam, eta: float, sigma_J: float, n_trainable: int, e0=None,
                             eta2: bool = True):
    """eps_inf(N_l) = eps_frozen / (1 - (eta/2N) sum_{i<N_l} lambda_i) (Eq. (eq-tr-epsinf)).

    eps_frozen = 1/2 sum_{i >= N_l} lambda_i e_i(0); float, or (S,) for e0 of shape (S, N).
    """
    lam, eta, sigma_J, n_l = _check_common(lam, eta, sigma_J, n_trainable)
    e0 = _check_e0(e0, lam.size, sigma_J)
    eps_frozen = 0.5 * (e0[..., n_l:] @ lam[n_l:])
    if not eta2:
        return eps_frozen if e0.ndim == 2 else float(eps_frozen)
    load = 0.5 * eta * float(np.sum(lam[:n_l])) / lam.size
    if load >= 1.0:
        raise ValueError(f"eta must be < eta_max = {eta_max_spectrum(lam, n_l):.6g}, got {eta}")
    out = eps_frozen / (1.0 - load)
    return out if e0.ndim == 2 else float(out)


# ---------------------------------------------------------------------------------------------
# the power law N_l^{-beta}
# ---------------------------------------------------------------------------------------------
def _check_nl(n_l, L):
    n = np.asarray(n_l, dtype=np.float64)
    if not np.all(np.isfinite(n)) or np.any(n < 1) or np.any(n > L):
        raise ValueError(f"n_trainable (N_l, in units of eigenvalue blocks) must be in [1, L={L}]")
    return n


def frozen_tail(L: int, beta: float, n_trainable):
    """Exact (1/L) sum_{l > N_l}^{L} lambda_l of the power-law spectrum (N = L; N_l integer)."""
    lam = eigenvalues(L, beta)
    n = np.asarray(n_trainable)
    if not np.all(n == np.round(n)):
        raise ValueError("n_trainable (N_l) must be integers for the exact sum")
    n = _check_nl(n, L).astype(int)
    tail = np.concatenate([np.cumsum(lam[::-1])[::-1], [0.0]]) / L  # tail[k] = (1/L) sum_{l>k}
    out = tail[n]
    return float(out) if np.ndim(out) == 0 else out


def frozen_tail_continuum(L: int, beta: float, n_trainable, midpoint: bool = False):
    """Continuum form of ``frozen_tail`` (Eq. (eq-tr-law)):

        (1/L) sum_{l>N_l} lambda_l ~ lambda_+ / (beta L) (N_l^{-beta} - L^{-beta}),

    the finite-L correction being the - L^{-beta}.  ``midpoint=True`` integrates from N_l + 1/2 to
    L + 1/2 (midpoint rule), which is accurate to O(N_l^{-2}) instead of O(N_l^{-1}).
    """
    L = _check_int("L", L, 1)
    beta = _check_pos("beta", beta)
    n = _check_nl(n_trainable, L)
    h = 0.5 if midpoint else 0.0
    out = lambda_plus(L, beta) / (beta * L) * ((n + h) ** (-beta) - (L + h) ** (-beta))
    return float(out) if np.ndim(out) == 0 else out


def reachable_error_powerlaw(L: int, beta: float, eta: float, sigma_J: float, n_trainable,
                             continuum: bool = False, midpoint: bool = False):
    """eps_inf(N_l) for the power law with N = L at the mean initialisation (Eq. (eq-tr-law)):

        eps_inf = (1 + sigma_J^2)/2 * tail(N_l) / (1 - eta/2 (1 - tail(N_l))),

    tail = ``frozen_tail`` (exact) or ``frozen_tail_continuum`` (``continuum=True``); the trainable
    load uses (1/L) sum_{l <= N_l} lambda_l = 1 - tail.
    """
    eta = _check_pos("eta", eta)
    sigma_J = _check_pos("sigma_J", sigma_J, allow_zero=True)
    if continuum:
        tail = frozen_tail_continuum(L, beta, n_trainable, midpoint)
    else:
        tail = frozen_tail(L, beta, n_trainable)
    return 0.5 * (1.0 + sigma_J**2) * tail / (1.0 - 0.5 * eta * (1.0 - np.asarray(tail)))


def fit_scaling_law(n_trainable, eps_inf, L: int | None = None, midpoint: bool = False) -> dict:
    """Fit the reachable errors against N_l.

    Returns ``{"slope": s, "beta": b, "amplitude": A}``: ``s`` the plain least-squares slope of
    ln eps_inf on ln N_l (a pure power law N_l^{-beta} gives s = -beta), and, when ``L`` is given,
    ``beta``/``A`` of the finite-L form eps_inf = A (N_l^{-beta} - L^{-beta}) fitted in log space
    (bounded 1-d minimisation over beta with the optimal A in closed form); ``midpoint=True``
    fits A ((N_l + 1/2)^{-beta} - (L + 1/2)^{-beta}) instead (the midpoint-rule form of
    ``frozen_tail_continuum``).
    """
    n = np.asarray(n_trainable, dtype=np.float64)
    e = np.asarray(eps_inf, dtype=np.float64)
    if n.ndim != 1 or n.shape != e.shape or n.size < 2:
        raise ValueError("n_trainable and eps_inf must be 1-d arrays of the same length >= 2")
    if np.any(n <= 0) or np.any(e <= 0):
        raise ValueError("n_trainable and eps_inf must be > 0")
    slope = float(np.polyfit(np.log(n), np.log(e), 1)[0])
    out = {"slope": slope}
    if L is not None:
        L = _check_int("L", L, 2)
        if np.any(n >= L):
            raise ValueError(f"n_trainable must be < L = {L} for the finite-L fit (eps_inf(L) = 0)")
        y = np.log(e)
        h = 0.5 if midpoint else 0.0

        def resid(b):
            g = np.log((n + h) ** (-b) - (L + h) ** (-b))
            lnA = np.mean(y - g)
            return float(np.sum((y - g - lnA) ** 2)), float(np.exp(lnA))

        from scipy.optimize import minimize_scalar

        res = minimize_scalar(lambda b: resid(b)[0], bounds=(1e-3, 10.0), method="bounded",
                              options={"xatol": 1e-10})
        out["beta"] = float(res.x)
        out["amplitude"] = resid(res.x)[1]
    return out
