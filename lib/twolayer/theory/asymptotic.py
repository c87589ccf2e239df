"""The asymptotic phase: relaxation to the specialised fixed point, exponential and power law.

Chapter "The asymptotic phase" (``chapters/04_asymptotic.md``).

At the specialised fixed point every student unit copies one teacher unit, J_i = B_i, so in
every eigenvalue group q^g = r^g = t^g (Eq. asy-fp).  There y = sigma for every input, so the
O(eta^2) term E[delta delta^T] vanishes as well and the point is an exact fixed point of the
block ODEs.  Writing r^g = t^g + d^g and q^g = t^g + w^g + d^g + d^gT, the exact block ODEs
(``twolayer.theory.ode``) give (Eqs. asy-w, asy-d)

    dw^g/dalpha = eta lambda_g (G_lam w^g + w^g G_lam + C d^gT + d^g C^T) + eta^2 lambda_g f_g E
    dd^g/dalpha = eta lambda_g (G_lam d^g + C t^g),          C = G_lam + G_rho,

with C = 0 at the fixed point.  Linearised (C is linear in the global deviations):
w^g relaxes on its own with the Lyapunov operator -eta lambda_g (P w + w P) (P = G_rho at the
fixed point) plus the O(eta^2) feed-back through W = sum_h lambda_h w^h; d^g relaxes with
-eta lambda_g P d^g plus the global coupling C(D, W) t^g.  In the coordinates (w, d) the Jacobian
is block triangular, so its spectrum splits into "w rates" nu and "d rates" mu.  Near the fixed
point eps_g = 1/2 tr(P W) + (quadratic form in D = sum_g lambda_g d^g)  (Eq. asy-eps),
so eps_g decays with the rates nu and 2 mu: for L = 1 the rate is kappa = min(nu_min, 2 mu_min)
(Eq. asy-rate).

For many groups the slow groups are still unlearned when the plateau ends, d^g = -t^g, and
w^g(alpha) = exp(-eta lambda_g P alpha) t^g exp(-eta lambda_g P alpha), so that (Eq. asy-sum)

    eps_g ~ S(alpha) = 1/2 sum_g lambda_g tr( P exp(-eta lambda_g P alpha) t^g exp(-eta lambda_g P alpha) )
          ~ 1/2 sum_k p_k sum_g lambda_g f_g exp(-2 eta p_k lambda_g alpha),

whose continuum limit is a power law alpha^{-beta/(1+beta)} (Eq. asy-power) in the window
1/(2 eta p_min lambda_1) << alpha << 1/(2 eta p_max lambda_L)  (Eq. asy-window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gamma as _gamma
from scipy.special import gammainc

from ..config import Config
from ..data import groups_for
from .ode import initial_overlaps
from .overlaps import eps_g as _eps_g
from .overlaps import global_overlaps, stein_coefficients
from .linear import fit_exponent, powerlaw_exponent  # shared with the linear chapter (re-exported)
from .plateau import escape_time  # the book's one escape criterion (re-exported)

__all__ = [
    "RelaxationRates",
    "Plateau",
    "continuum_curve",
    "decoupled_curve",
    "escape_time",
    "eta2_renormalisation",
    "evaluation_floor",
    "fit_exponential_rate",
    "fit_powerlaw",
    "fixed_point_P",
    "jacobian",
    "learning_curves",
    "local_slope",
    "plateau",
    "powerlaw_exponent",
    "powerlaw_window",
    "relaxation_rates",
    "renormalised_curve",
    "slope_window",
    "specialised_point",
]


def _check_erf_square(cfg: Config):
    if cfg.activation != "erf":
        raise ValueError(f"activation must be 'erf' for the specialised fixed point, got {cfg.activation!r}")
    if cfg.K != cfg.M:
        raise ValueError(f"K must equal M (the specialised point J_i = B_i), got K={cfg.K}, M={cfg.M}")
    if cfg.trainable is not None and cfg.trainable != cfg.N:
        raise ValueError("trainable must be None (all directions trained) for the specialised point")


def specialised_point(cfg: Config, init="sampled", seed: int = 0):
    """Block overlaps (q, r, t) of the specialised fixed point J = B: q^g = r^g = t^g (Eq. asy-fp).

    ``t`` is the teacher of ``init`` ("sampled": the teacher of ``seed``; "mean": t^g = f_g I).
    """
    _check_erf_square(cfg)
    _, _, t = initial_overlaps(cfg, init, seed)
    return t.copy(), t.copy(), t


def fixed_point_P(cfg: Config, init="sampled", seed: int = 0) -> np.ndarray:
    """P = G_rho = -G_lam = E[g'(rho_i) g'(rho_j)] at the specialised point (K x K)."""
    q, r, t = specialised_point(cfg, init, seed)
    lam = groups_for(cfg).lam
    Q, R, T = global_overlaps(q, r, t, lam)
    G_lam, G_rho = stein_coefficients(Q, R, T, cfg.activation, cfg.a_student, cfg.a_teacher)
    return G_rho


def _sym_index(K):
    return np.triu_indices(K)


def _pack(w, d):
    iu = _sym_index(w.shape[-1])
    return np.concatenate([w[:, iu[0], iu[1]].ravel(), d.ravel()])


def _unpack(x, G, K, M):
    iu = _sym_index(K)
    n_w = G * len(iu[0])
    w = np.zeros((G, K, K))
    w[:, iu[0], iu[1]] = x[:n_w].reshape(G, -1)
    w = w + np.triu(w, 1).swapaxes(-1, -2)
    d = x[n_w:].reshape(G, K, M)
    return w, d


def jacobian(cfg: Config, init="sampled", seed: int = 0):
    """Jacobian of the block ODEs at the specialised point, in the coordinates
    x = (w^g upper triangles, d^g) of Eqs. (asy-w), (asy-d).

    It is ``twolayer.theory.plateau.jacobian_matrix`` (the library's one linearisation of
    ``twolayer.theory.ode.rhs``, in the overlaps (q^g, r^g)) after the linear change of variables
    r = t + d, q = t + w + d + d^T.  Returns (A, n_w): A is (n, n) with n = G (K(K+1)/2 + K M);
    the first n_w coordinates are w.
    """
    from .plateau import _pack as _pack_qr
    from .plateau import _unpack as _unpack_qr
    from .plateau import jacobian_matrix

    q0, r0, t = specialised_point(cfg, init, seed)
    groups = groups_for(cfg)
    G, K, M = groups.size, cfg.K, cfg.M
    if G > 64:
        raise ValueError(f"jacobian is meant for few groups (L <= 64), got L={cfg.L}")
    n_w = G * K * (K + 1) // 2
    n = n_w + G * K * M
    Jqr = jacobian_matrix(cfg, q0, r0, t, groups)
    to_qr = np.empty((n, n))  # columns: (w, d) unit vectors as (q, r) deviations
    to_wd = np.empty((n, n))  # columns: (q, r) unit vectors as (w, d) deviations
    for j, e in enumerate(np.eye(n)):
        w, d = _unpack(e, G, K, M)
        to_qr[:, j] = _pack_qr(w + d + d.swapaxes(-1, -2), d).ravel()
        q, r = _unpack_qr(e.reshape(G, -1), K, M)
        to_wd[:, j] = _pack(q - r - r.swapaxes(-1, -2), r)
    return to_wd @ Jqr @ to_qr, n_w


@dataclass(frozen=True)
class RelaxationRates:
    """Linear relaxation at the specialised point (chapter 04, Eq. asy-rate).

    p: eigenvalues of P; nu: decay rates of the w block; mu: decay rates of the d block (all
    ascending); coupling_wd: largest |dw'/dd| (zero: the Jacobian is block triangular);
    kappa = min(nu_min, 2 mu_min): the predicted exponential rate of eps_g (one group).
    """

    p: np.ndarray
    nu: np.ndarray
    mu: np.ndarray
    coupling_wd: float

    @property
    def kappa(self) -> float:
        return float(min(self.nu[0], 2 * self.mu[0]))


def relaxation_rates(cfg: Config, init="sampled", seed: int = 0) -> RelaxationRates:
    """Decay rates of the linearised block ODEs at the specialised point (Eq. asy-rate)."""
    A, n_w = jacobian(cfg, init, seed)
    nu = np.sort(-np.linalg.eigvals(A[:n_w, :n_w]).real)
    mu = np.sort(-np.linalg.eigvals(A[n_w:, n_w:]).real)
    p = np.linalg.eigvalsh(fixed_point_P(cfg, init, seed))
    return RelaxationRates(p=p, nu=nu, mu=mu, coupling_wd=float(np.abs(A[:n_w, n_w:]).max()))


def decoupled_curve(cfg: Config, alpha, init="sampled", seed: int = 0) -> np.ndarray:
    """S(alpha) of Eq. (asy-sum): every group starts unlearned (J_g = 0) and relaxes with
    -eta lambda_g P, without the global coupling and without the O(eta^2) term."""
    _check_erf_square(cfg)
    q, r, t = specialised_point(cfg, init, seed)
    groups = groups_for(cfg)
    P = fixed_point_P(cfg, init, seed)
    p, V = np.linalg.eigh(P)
    tt = np.einsum("ka,gkl,ka->ga", V, t, V)  # diagonal of t^g in the eigenbasis of P
    alpha = np.asarray(alpha, dtype=float)
    # tr(P E t E) = sum_a p_a (V^T t V)_aa exp(-2 eta lambda_g p_a alpha)
    amp = groups.lam[:, None] * p[None, :] * tt  # (G, K)
    rate = 2 * cfg.eta * groups.lam[:, None] * p[None, :]
    return 0.5 * np.einsum("ga,pga->p", amp, np.exp(-rate[None] * alpha[:, None, None]))


def continuum_curve(cfg: Config, alpha, p, cutoffs: bool = True) -> np.ndarray:
    """Continuum limit of S(alpha) for t^g = f_g I (Eq. asy-power): with c_k = 2 eta p_k lambda_+
    and s = beta/(1+beta),

        S ~ 1/2 sum_k p_k (lambda_+/L) (c_k alpha)^{-s} / (1+beta) int_{x_L}^{x_1} x^{s-1} e^{-x} dx,

    x_l = c_k alpha l^{-(1+beta)} (block sum as an integral over l in [1/2, L+1/2]).  Without
    ``cutoffs`` the integral is Gamma(s): the pure power law."""
    from ..data import lambda_plus

    lp = lambda_plus(cfg.L, cfg.beta)
    b = cfg.beta
    x = powerlaw_exponent(b)
    alpha = np.asarray(alpha, dtype=float)
    out = np.zeros_like(alpha)
    for pk in np.atleast_1d(p):
        c = 2 * cfg.eta * lp * pk * alpha
        integral = _gamma(x)
        if cutoffs:
            integral = _gamma(x) * (gammainc(x, c * 0.5 ** (-(1 + b))) - gammainc(x, c * (cfg.L + 0.5) ** (-(1 + b))))
        out += 0.5 * pk * (lp / cfg.L) * c ** (-x) / (1 + b) * integral
    return out


def powerlaw_window(cfg: Config, p) -> tuple[float, float]:
    """(1/(2 eta p_min lambda_1), 1/(2 eta p_max lambda_L)): the window of Eq. (asy-window) in
    which every mode of S(alpha) is a power law."""
    from ..data import eigenvalues

    lam = eigenvalues(cfg.L, cfg.beta)
    p = np.atleast_1d(p)
    return 1.0 / (2 * cfg.eta * p.min() * lam[0]), 1.0 / (2 * cfg.eta * p.max() * lam[-1])


def local_slope(alpha, eps) -> np.ndarray:
    """d ln eps / d ln alpha by centred differences on the (log) grid."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.gradient(np.log(np.asarray(eps, float)), np.log(np.asarray(alpha, float)), axis=-1)


def _mask(alpha, eps, alpha_range, eps_range):
    alpha, eps = np.asarray(alpha, float), np.asarray(eps, float)
    m = np.isfinite(eps) & (eps > 0)
    if alpha_range is not None:
        m &= (alpha >= alpha_range[0]) & (alpha <= alpha_range[1])
    if eps_range is not None:
        m &= (eps >= eps_range[0]) & (eps <= eps_range[1])
    if m.sum() < 3:
        raise ValueError(f"fewer than 3 points in the fit range (alpha {alpha_range}, eps {eps_range})")
    return alpha[m], eps[m]


def fit_exponential_rate(alpha, eps, alpha_range=None, eps_range=None) -> float:
    """kappa of eps ~ exp(-kappa alpha): least squares of ln eps against alpha on the points
    inside ``alpha_range`` and ``eps_range`` (keep eps_range above the precision floor)."""
    a, e = _mask(alpha, eps, alpha_range, eps_range)
    return float(-np.polyfit(a, np.log(e), 1)[0])


def fit_powerlaw(alpha, eps, alpha_range=None, eps_range=None) -> float:
    """gamma of eps ~ alpha^{-gamma}: least squares of ln eps against ln alpha in the ranges."""
    a, e = _mask(alpha, eps, alpha_range, eps_range)
    return -fit_exponent(a, e, a.min(), a.max())


@dataclass(frozen=True)
class Plateau:
    """The plateau of a learning curve: its flattest point (alpha_p, eps_p, local slope there)
    and the escape time alpha_esc (first alpha after alpha_p with eps < eps_p / 2)."""

    alpha_p: float
    eps_p: float
    slope_p: float
    alpha_esc: float


def plateau(alpha, eps, alpha_min: float = 1.0, eps_min: float = 1e-3) -> Plateau:
    """Plateau value and escape time of an (ODE) curve.

    The plateau value is eps at the flattest point (smallest |d ln eps / d ln alpha|) among the
    points with alpha >= ``alpha_min`` (after the initial drop) that come before the curve first
    falls below ``eps_min`` (the asymptotic phase).  The escape time is the first grid alpha after
    it with eps below half the plateau value, refined by log-linear interpolation.
    """
    alpha, eps = np.asarray(alpha, float), np.asarray(eps, float)
    s = local_slope(alpha, np.maximum(eps, 1e-300))
    m = (alpha >= alpha_min) & (np.minimum.accumulate(eps) > eps_min)
    if not m.any():
        raise ValueError("no point with alpha >= alpha_min before eps falls below eps_min")
    i = np.flatnonzero(m)[np.argmin(np.abs(s[m]))]
    eps_p = eps[i]
    below = np.flatnonzero(eps[i:] < eps_p / 2)
    if len(below) == 0:
        return Plateau(float(alpha[i]), float(eps_p), float(s[i]), float("nan"))
    return Plateau(float(alpha[i]), float(eps_p), float(s[i]), escape_time(alpha, eps, eps_p, after=alpha[i]))


def evaluation_floor(cfg: Config, seed: int = 0, samples: int = 64, ulps: float = 4.0):
    """Precision floor of eps_g evaluated in float64 near the specialised point.

    Returns (floor_weights, floor_overlaps): the largest |eps_g| over ``samples`` states that are
    the fixed point up to a relative rounding of ``ulps`` units in the last place, where the true
    eps_g is below 1e-28: (a) weights J = B (1 + u) evaluated like the simulation (overlaps of
    the weights, then the closed form); (b) block overlaps q = t (1 + u), r = t (1 + u') as in the
    ODE state.  Deterministic (seeded).
    """
    from ..data import coordinate_eigenvalues
    from ..models import init_weights, overlaps

    _check_erf_square(cfg)
    rng = np.random.default_rng(12345 + seed)
    eps_u = ulps * np.finfo(float).eps
    _, B = init_weights(cfg, seed)
    lam = coordinate_eigenvalues(cfg.N, cfg.L, cfg.beta)
    groups = groups_for(cfg)
    q, r, t = specialised_point(cfg, "sampled", seed)
    fw, fo = 0.0, 0.0
    for _ in range(samples):
        J = B * (1 + eps_u * rng.uniform(-1, 1, B.shape))
        Q, R, T = overlaps(J, B, lam)
        fw = max(fw, abs(float(_eps_g(Q, R, T, cfg.activation, cfg.a_student, cfg.a_teacher))))
        qq = t * (1 + eps_u * rng.uniform(-1, 1, t.shape))
        qq = 0.5 * (qq + qq.swapaxes(-1, -2))
        rr = t * (1 + eps_u * rng.uniform(-1, 1, t.shape))
        Q, R, T = global_overlaps(qq, rr, t, groups.lam)
        fo = max(fo, abs(float(_eps_g(Q, R, T, cfg.activation, cfg.a_student, cfg.a_teacher))))
    return fw, fo


def eta2_renormalisation(cfg: Config, init="sampled", seed: int = 0) -> np.ndarray:
    """The O(eta^2) feed-back as a constant factor on the late-time W (Eq. asy-renorm).

    Summing Eq. (asy-w) over the groups with weights lambda_g and Laplace transforming, at small
    Laplace variable (late times, many groups) the term eta^2 lambda_g f_g E(W) multiplies W by
    the operator (1 - eta S^{-1} E)^{-1}, with S(w) = P w + w P and E(W) = dE[delta delta^T]/dW at
    the fixed point (sum_g lambda_g f_g = 1).  Returned as a (K, K, K, K) array Rop with
    W_ij -> sum_kl Rop_ijkl W_kl.
    """
    from .overlaps import delta_delta

    _check_erf_square(cfg)
    q, r, t = specialised_point(cfg, init, seed)
    lam = groups_for(cfg).lam
    _, _, T = global_overlaps(q, r, t, lam)
    P = fixed_point_P(cfg, init, seed)
    K = cfg.K
    n = K * K
    h = 1e-6
    Smat = np.zeros((n, n))
    Emat = np.zeros((n, n))
    for k in range(K):
        for l in range(K):
            W = np.zeros((K, K))
            W[k, l] += 0.5
            W[l, k] += 0.5
            Smat[:, k * K + l] = (P @ W + W @ P).ravel()
            Emat[:, k * K + l] = (delta_delta(T + h * W, T, T, cfg.activation, cfg.a_student, cfg.a_teacher)
                                  - delta_delta(T - h * W, T, T, cfg.activation, cfg.a_student, cfg.a_teacher)).ravel() / (2 * h)
    # S is invertible on symmetric matrices; use the pseudo-inverse on the full K^2 space
    Rop = np.linalg.inv(np.eye(n) - cfg.eta * np.linalg.pinv(Smat) @ Emat)
    return Rop.reshape(K, K, K, K)


def renormalised_curve(cfg: Config, alpha, init="sampled", seed: int = 0) -> np.ndarray:
    """S(alpha) with the O(eta^2) renormalisation of Eq. (asy-renorm): 1/2 tr(P Rop[W_0(alpha)])."""
    _check_erf_square(cfg)
    q, r, t = specialised_point(cfg, init, seed)
    groups = groups_for(cfg)
    P = fixed_point_P(cfg, init, seed)
    p, V = np.linalg.eigh(P)
    alpha = np.asarray(alpha, dtype=float)
    E = np.exp(-cfg.eta * groups.lam[None, :, None] * p[None, None, :] * alpha[:, None, None])  # (A, G, K)
    tt = np.einsum("ka,gkl,lb->gab", V, t, V)
    W0 = np.einsum("g,xga,gab,xgb->xab", groups.lam, E, tt, E)  # in the eigenbasis of P
    W0 = np.einsum("ka,xab,lb->xkl", V, W0, V)
    W = np.einsum("ijkl,xkl->xij", eta2_renormalisation(cfg, init, seed), W0)
    return 0.5 * np.einsum("ij,xji->x", P, W)


def learning_curves(cfg: Config, L_values, alpha_max: dict, sim_alpha_max: dict, seeds=(0,),
                    points: int = 150, alpha_min: float = 0.1, workers: int = 2):
    """ODE and SGD learning curves for several L (the runs of chapter 04, Fig. 1).

    ODE (init "sampled", one curve per seed: the ODE started from each seed's initial weights,
    so that its seed mean pairs with the SGD seed mean) for every L in ``L_values`` up to
    ``alpha_max[L]``:
    rtol = 1e-7 with steps <= 20 for L <= 4 (their curves fall to 1e-13, see Sec. "precision
    floors"), rtol = 1e-5 otherwise.  SGD for every L in ``sim_alpha_max`` and every seed, up to
    ``sim_alpha_max[L]``, in ``workers`` threads while the ODEs run.  Returns two dicts
    L -> LearningCurve (ode, sgd).
    """
    from concurrent.futures import ThreadPoolExecutor

    from ..results import LearningCurve, alpha_grid
    from ..sgd import simulate_seed
    from .ode import integrate

    seeds = [int(s) for s in np.atleast_1d(seeds)]
    for L in list(L_values) + list(sim_alpha_max):
        if L not in alpha_max:
            raise ValueError(f"alpha_max has no entry for L={L}")
    grids = {L: alpha_grid(sim_alpha_max[L], points, cfg.N, alpha_min=alpha_min) for L in sim_alpha_max}
    jobs = [(L, s) for L in sim_alpha_max for s in seeds]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        futs = {js: pool.submit(simulate_seed, cfg.replace(L=js[0]), js[1], grids[js[0]]) for js in jobs}
        ode = {}
        for L in L_values:
            c = cfg.replace(L=L)
            a = np.geomspace(alpha_min, alpha_max[L], points)
            kw = dict(rtol=1e-7, h_max=20.0) if L <= 4 else dict(rtol=1e-5)
            rows = [integrate(c, a, init="sampled", seed=s, **kw).eps_g() for s in seeds]
            ode[L] = LearningCurve(alpha=a, eps_g=np.array(rows), method="ode", meta={"cfg": c, "seeds": seeds})
        sgd = {}
        for L in sim_alpha_max:
            rows = [futs[(L, s)].result()[0] for s in seeds]
            sgd[L] = LearningCurve(alpha=grids[L], eps_g=np.array(rows), method="sgd",
                                   meta={"cfg": cfg.replace(L=L), "seeds": seeds})
    return ode, sgd


def slope_window(alpha, eps, target: float, tol: float):
    """(alpha_lo, alpha_hi) of the longest run of grid points whose local slope
    d ln eps / d ln alpha is within ``tol`` of ``target``; (nan, nan) if there is none."""
    alpha = np.asarray(alpha, float)
    ok = np.abs(local_slope(alpha, np.abs(np.asarray(eps, float))) - target) < tol
    best, start, best_run = 0, None, (float("nan"), float("nan"))
    for i, v in enumerate(np.append(ok, False)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            if i - start > best:
                best, best_run = i - start, (float(alpha[start]), float(alpha[i - 1]))
            start = None
    return best_run
