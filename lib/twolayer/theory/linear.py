"""Linear activation, K = M = 1: exact learning curves, the power law and the reachable error.

Chapter "Linear activation".  For g(x) = x the block error e_g = q^g - 2 r^g + t^g of each
eigenvalue group obeys a closed linear system (Eq. eq-lin-e):

    de_g/dalpha = -2 eta lambda_g e_g + eta^2 lambda_g f_g sum_h lambda_h e_h      (g trainable)
    de_g/dalpha = 0                                                              (g frozen)

and eps_g = 1/2 sum_g lambda_g e_g.  With W = diag(f^{-1/2}) the trainable block is similar to
the symmetric matrix S = -2 eta diag(lambda) + eta^2 v v^T, v_g = lambda_g sqrt(f_g), so it is
solved exactly by one symmetric eigendecomposition (Eq. eq-lin-sym).  ``finite_n=True`` /
``finite_n_curve`` / ``eta_max_finite_n``: the exact mean over the inputs of SGD at finite N
(Eq. eq-lin-finite-N), which adds 2 eta^2 lambda_g^2 e_g / N per unit alpha (relevant when
eta lambda_+ / N is not small, e.g. L = N).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gamma as _gamma
from scipy.special import gammainc

from ..config import Config
from ..data import Groups, eigenvalues, groups_for
from ..results import LearningCurve
from .ode import initial_overlaps


def _require_linear_k1(cfg: Config):
    if cfg.activation != "linear" or cfg.K != 1 or cfg.M != 1:
        raise ValueError(
            "the exact linear theory needs activation='linear' and K = M = 1 "
            f"(got activation={cfg.activation!r}, K={cfg.K}, M={cfg.M})"
        )


def initial_block_errors(cfg: Config, init="sampled", seed: int = 0, groups: Groups | None = None):
    """e_g(0) = q^g - 2 r^g + t^g for each group (K = M = 1)."""
    _require_linear_k1(cfg)
    groups = groups_for(cfg) if groups is None else groups
    q, r, t = initial_overlaps(cfg, init, seed, groups)
    return q[:, 0, 0] - 2.0 * r[:, 0, 0] + t[:, 0, 0]


def error_matrix(cfg: Config, groups: Groups | None = None) -> np.ndarray:
    """The matrix A of de/dalpha = A e (Eq. eq-lin-e), including the O(eta^2) term if cfg.eta2."""
    groups = groups_for(cfg) if groups is None else groups
    lam, f, m = groups.lam, groups.frac, groups.trainable.astype(float)
    A = np.diag(-2.0 * cfg.eta * lam * m)
    if cfg.eta2:
        A += cfg.eta**2 * np.outer(lam * f * m, lam)
    return A


def block_errors(cfg: Config, alpha, e0, finite_n: bool = False) -> np.ndarray:
    """e_g(alpha) for all alpha (P x G), exact solution of Eq. (eq-lin-e).

    ``finite_n=True``: instead the exact expectation over the inputs of SGD at finite N after
    round(alpha N) steps (Eq. eq-lin-finite-N):  e <- e + (1/N) [ -2 eta lam e + 2 eta^2 lam^2 e / N
    + eta^2 lam f (lam . e) ] per step (trainable groups; frozen groups do not move).  Its
    extra term 2 eta^2 lam_g^2 e_g / N comes from the fourth Gaussian moment of the input and is
    dropped in the ODE; it matters when eta lambda_+ / N is not small (e.g. L = N).
    """
    groups = groups_for(cfg)
    if not finite_n:
        return solve_errors(groups.lam, groups.frac, groups.trainable, cfg.eta, alpha, e0, cfg.eta2)
    alpha = np.asarray(alpha, dtype=float)
    e0 = np.asarray(e0, dtype=float)
    tr = groups.trainable
    lam, f = groups.lam, groups.frac
    out = np.empty((len(alpha), groups.size))
    out[:, ~tr] = e0[~tr]
    if not tr.any():
        return out
    lt, ft = lam[tr], f[tr]
    eta2 = cfg.eta**2 if cfg.eta2 else 0.0
    b = eta2 * lt * ft * np.dot(lam[~tr], e0[~tr])  # constant source from frozen groups
    sq = np.sqrt(ft)
    v = lt * sq
    d = -2.0 * cfg.eta * lt + 2.0 * eta2 * lt**2 / cfg.N
    S = np.diag(d) + eta2 * np.outer(v, v)
    w, U = np.linalg.eigh(S)
    x0 = U.T @ (e0[tr] / sq)
    bt = U.T @ (b / sq)
    # discrete map x <- (1 + w/N) x + bt/N, t = round(alpha N) steps; 1 + w/N >= 1/2 > 0
    t = np.round(alpha * cfg.N)
    lg = np.log1p(w / cfg.N)
    wa = np.outer(t, lg)  # log of (1 + w/N)^t
    with np.errstate(divide="ignore", invalid="ignore"):
        geo = np.where(np.abs(wa) < 1e-12, t[:, None] / cfg.N + 0.0 * wa,
                       np.expm1(wa) / np.where(w == 0, 1.0, w) * (w != 0))
    x = np.exp(wa) * x0 + geo * bt
    out[:, tr] = (x @ U.T) * sq
    return out


def solve_errors(lam, frac, trainable, eta: float, alpha, e0, eta2: bool = True) -> np.ndarray:
    """Exact solution of Eq. (eq-lin-e) for any groups: eigenvalues ``lam`` (G,), coordinate
    fractions ``frac`` (G,), a boolean ``trainable`` mask (G,).  ``e0`` is (G,) or (S, G); returns
    (P, G) or (S, P, G).  The trainable block is similar to the symmetric
    S = -2 eta diag(lambda) + eta^2 v v^T, v = lambda sqrt(f), solved by one eigendecomposition;
    frozen groups stay at e0 and act as the constant source eta^2 lambda f sum_frozen lambda e.
    Used per eigenvalue block (``block_errors``) and per coordinate of an arbitrary spectrum
    (``twolayer.theory.trainable``)."""
    lam, frac = np.asarray(lam, dtype=float), np.asarray(frac, dtype=float)
    tr = np.asarray(trainable, dtype=bool)
    alpha = np.asarray(alpha, dtype=float)
    e0 = np.asarray(e0, dtype=float)
    single = e0.ndim == 1
    E0 = np.atleast_2d(e0)
    out = np.empty((E0.shape[0], len(alpha), lam.size))
    out[:, :, ~tr] = E0[:, None, ~tr]
    if tr.any():
        lt, ft = lam[tr], frac[tr]
        c2 = eta**2 if eta2 else 0.0
        b = c2 * np.outer(E0[:, ~tr] @ lam[~tr], lt * ft)  # (S, G_t) constant source
        sq = np.sqrt(ft)
        v = lt * sq
        w, U = np.linalg.eigh(np.diag(-2.0 * eta * lt) + c2 * np.outer(v, v))
        x0 = (E0[:, tr] / sq) @ U
        bt = (b / sq) @ U
        wa = np.outer(alpha, w)
        # x(alpha) = e^{w alpha} x0 + alpha phi1(w alpha) bt
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            phi1 = np.where(np.abs(wa) < 1e-12, 1.0, np.expm1(wa) / np.where(wa == 0, 1.0, wa))
        x = np.exp(wa)[None] * x0[:, None, :] + (alpha[:, None] * phi1)[None] * bt[:, None, :]
        out[:, :, tr] = (x @ U.T) * sq
    return out[0] if single else out


def exact_curve(cfg: Config, alpha, init="sampled", seeds=(0,)) -> LearningCurve:
    """eps_g(alpha) of the exact solution, one row per seed's initial weights (Fig. 2)."""
    _require_linear_k1(cfg)
    groups = groups_for(cfg)
    seeds = list(np.atleast_1d(seeds)) if init == "sampled" else [0]
    rows = []
    for s in seeds:
        e = block_errors(cfg, alpha, initial_block_errors(cfg, init, int(s), groups))
        rows.append(0.5 * e @ groups.lam)
    return LearningCurve(alpha=np.asarray(alpha, float), eps_g=np.array(rows), method="exact")


def finite_n_curve(cfg: Config, alpha, init="sampled", seeds=(0,)) -> LearningCurve:
    """Exact mean of eps_g over the inputs of SGD at finite N (Eq. eq-lin-finite-N), one row per
    seed's initial weights.  Differs from ``exact_curve`` (N -> infinity at fixed spectrum) by
    the fourth-moment term 2 eta^2 lambda_g^2 e_g / N and by counting whole steps."""
    _require_linear_k1(cfg)
    groups = groups_for(cfg)
    seeds = list(np.atleast_1d(seeds)) if init == "sampled" else [0]
    rows = []
    for s in seeds:
        e = block_errors(cfg, alpha, initial_block_errors(cfg, init, int(s), groups), finite_n=True)
        rows.append(0.5 * e @ groups.lam)
    return LearningCurve(alpha=np.asarray(alpha, float), eps_g=np.array(rows), method="finite-N")


def small_eta_curve(cfg: Config, alpha, init="sampled", seeds=(0,)) -> LearningCurve:
    """Small-eta closed form eps_g = 1/2 sum_g lambda_g e_g(0) exp(-2 eta lambda_g alpha) (Eq. eq-lin-small)."""
    _require_linear_k1(cfg)
    groups = groups_for(cfg)
    alpha = np.asarray(alpha, dtype=float)
    rate = 2.0 * cfg.eta * groups.lam * groups.trainable
    seeds = list(np.atleast_1d(seeds)) if init == "sampled" else [0]
    rows = []
    for s in seeds:
        e0 = initial_block_errors(cfg, init, int(s), groups)
        rows.append(0.5 * np.exp(-np.outer(alpha, rate)) @ (groups.lam * e0))
    return LearningCurve(alpha=alpha, eps_g=np.array(rows), method="small-eta")


def eta_max(cfg: Config) -> float:
    """Largest stable learning rate (Eq. eq-eta-max): S is negative definite iff
    eta < 2 / sum_{g trainable} f_g lambda_g.

    (Matrix determinant lemma on S = -2 eta D + eta^2 v v^T.)  With everything trainable this is
    eta_max = 2 N / Tr Sigma = 2.
    """
    groups = groups_for(cfg)
    return 2.0 / float(np.sum(groups.frac * groups.lam * groups.trainable))


def eta_max_finite_n(cfg: Config) -> float:
    """Largest eta for which the exact finite-N mean recursion (Eq. eq-lin-finite-N) is stable:
    the root of (eta/2) sum_{g trainable} f_g lambda_g / (1 - eta lambda_g / N) = 1 with
    eta lambda_+ < N (determinant lemma, as for ``eta_max``).  Tends to ``eta_max`` when
    lambda_+ / N -> 0; for L = N (lambda_+ ~ N / zeta(1+beta)) it stays O(1) below it."""
    from scipy.optimize import brentq

    groups = groups_for(cfg)
    lam, f = groups.lam[groups.trainable], groups.frac[groups.trainable]
    N = cfg.N

    def load(eta):
        return 0.5 * eta * float(np.sum(f * lam / (1.0 - eta * lam / N))) - 1.0

    hi = min(eta_max(cfg), N / float(lam.max())) * (1.0 - 1e-12)
    if load(hi) < 0:
        return hi
    return float(brentq(load, 1e-12, hi, xtol=1e-14, rtol=1e-12))


def reachable_error(cfg: Config, init="mean", seed: int = 0) -> float:
    """eps_inf(N_l): the alpha -> infinity limit of Eq. (eq-lin-e) (Eq. eq-eps-inf).

    Steady state: e_g = (eta/2) f_g * 2 eps_inf on trainable groups, hence
    eps_inf = eps_frozen / (1 - (eta/2) sum_{g trainable} f_g lambda_g),
    eps_frozen = 1/2 sum_{g frozen} lambda_g e_g(0).  Without the O(eta^2) term the trainable
    groups reach zero and eps_inf = eps_frozen.
    """
    _require_linear_k1(cfg)
    groups = groups_for(cfg)
    e0 = initial_block_errors(cfg, init, seed, groups)
    fr = ~groups.trainable
    eps_frozen = 0.5 * float(np.dot(groups.lam[fr], e0[fr]))
    if not cfg.eta2:
        return eps_frozen
    load = 0.5 * cfg.eta * float(np.sum(groups.frac * groups.lam * groups.trainable))
    if load >= 1.0:
        raise ValueError(f"eta = {cfg.eta} is unstable (eta must be < eta_max = {eta_max(cfg):.6g})")
    return eps_frozen / (1.0 - load)


# ---------------------------------------------------------------------------------------------
# the power law  (chapter "Linear activation", Eqs. eq-lin-continuum, eq-lin-powerlaw, eq-centre-slope)
# ---------------------------------------------------------------------------------------------
def powerlaw_exponent(beta: float) -> float:
    """Predicted exponent: eps_g ~ alpha^{-beta/(1+beta)} (linear phase here; the asymptotic
    phase of the erf network has the same exponent, chapter "Asymptotic phase")."""
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    return beta / (1.0 + beta)


def powerlaw_window(cfg: Config) -> tuple[float, float]:
    """(alpha_1, alpha_L) = (1/(2 eta lambda_+), 1/(2 eta lambda_L)): the power law holds for
    alpha_1 << alpha << alpha_L (top directions learned, smallest eigenvalue not yet reached)."""
    lam = eigenvalues(cfg.L, cfg.beta)
    return 1.0 / (2.0 * cfg.eta * lam[0]), 1.0 / (2.0 * cfg.eta * lam[-1])


def continuum_curve(cfg: Config, alpha, e_per_block: float | None = None) -> np.ndarray:
    """Continuum (integral) approximation of the small-eta sum with the finite-L cut-offs:

        eps_g ~ e/(2L) (2 eta alpha lambda_+)^{1/(1+beta)} / ((1+beta) 2 eta alpha)
                * [Gamma(s, u_L) - Gamma(s, u_1)],   s = beta/(1+beta),

    u_1 = 2 eta alpha lambda_+, u_L = 2 eta alpha lambda_L (upper incomplete gammas).  For
    u_L -> 0 and u_1 -> infinity it is the pure power law.  ``e_per_block`` is L e_l(0)
    (default 1 + sigma_J^2, its expectation for N = L).
    """
    lam = eigenvalues(cfg.L, cfg.beta)
    e = (1.0 + cfg.sigma_J**2) if e_per_block is None else e_per_block
    a = np.asarray(alpha, dtype=float)
    s = powerlaw_exponent(cfg.beta)
    u1 = 2 * cfg.eta * a * lam[0]
    uL = 2 * cfg.eta * a * lam[-1]
    lower = _gamma(s) * (gammainc(s, u1) - gammainc(s, uL))  # int_{uL}^{u1} u^{s-1} e^{-u} du
    return e / (2 * cfg.L) * (u1 ** (1 / (1 + cfg.beta))) / ((1 + cfg.beta) * 2 * cfg.eta * a) * lower


def continuum_local_slope(cfg: Config, alpha) -> np.ndarray:
    """d ln eps_g / d ln alpha of ``continuum_curve``: -s + (u_1^s e^{-u_1} - u_L^s e^{-u_L}) / int."""
    lam = eigenvalues(cfg.L, cfg.beta)
    a = np.asarray(alpha, dtype=float)
    s = powerlaw_exponent(cfg.beta)
    u1 = 2 * cfg.eta * a * lam[0]
    uL = 2 * cfg.eta * a * lam[-1]
    integral = _gamma(s) * (gammainc(s, u1) - gammainc(s, uL))
    return -s + (u1**s * np.exp(-u1) - uL**s * np.exp(-uL)) / integral


def fit_exponent(alpha, eps, lo: float, hi: float) -> float:
    """Least-squares slope of ln eps against ln alpha over lo <= alpha <= hi."""
    alpha = np.asarray(alpha, dtype=float)
    eps = np.asarray(eps, dtype=float)
    sel = (alpha >= lo) & (alpha <= hi)
    if sel.sum() < 3:
        raise ValueError(f"fewer than 3 grid points in the fit window [{lo:.3g}, {hi:.3g}]")
    return float(np.polyfit(np.log(alpha[sel]), np.log(eps[sel]), 1)[0])


def centre_slope(L: int, beta: float) -> float:
    """Local slope of ``continuum_curve`` at the geometric centre of the window, alpha_c =
    sqrt(alpha_1 alpha_L), keeping only the lower cut-off (u_1 = L^{(1+beta)/2} >> 1 there):

        slope_c = -s - u_c^s / (Gamma(s) - gamma(s, u_c)),   u_c^s = L^{-beta/2},

    so the approach to -s is as slow as L^{-beta/2} (Eq. eq-centre-slope)."""
    if not (isinstance(L, (int, np.integer)) and L >= 2):
        raise ValueError(f"L must be an integer >= 2, got {L!r}")
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    s = powerlaw_exponent(beta)
    u = float(L) ** (-(1.0 + beta) / 2.0)
    lower = _gamma(s) * (1.0 - gammainc(s, u))
    return -s - u**s * np.exp(-u) / lower
