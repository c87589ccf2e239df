"""The symmetric plateau of the erf student: fixed point, heights, escape rate and length.

Chapter "The symmetric plateau" (chapters/03_plateau.md), Eqs. (eq-plateau-fp), (eq-plateau-blocks),
(eq-escape-secular), (eq-plateau-length).

Symmetric manifold.  All K students are the same vector, J_i = J for every i, so per eigenvalue
group g the block overlaps are q^g = b_g 1 1^T (K x K, diagonal = off-diagonal) and r^g = 1 v_g^T
(every row the same M-vector v_g).  On it G_lam 1 = gamma 1 and G_rho = 1 c^T (Stein coefficients
at the global overlaps), and E[delta delta^T] = e 1 1^T.  The block ODEs (``theory.ode``) then
vanish for every trainable group iff  (Eq. eq-plateau-blocks)

    v_g = -t^g c / gamma,      b_g = -(c . v_g + eta f_g e / 2) / gamma,

i.e. the blocks are fixed *linear* functions of the teacher blocks t^g.  Summing with lambda_g
gives the closed (M + 1)-dimensional fixed-point problem for the global overlaps
(Eq. eq-plateau-fp)

    gamma(Q, R, T) v + T c(Q, R, T) = 0,   gamma b + c . v + eta <lambda> e / 2 = 0,
    Q = b 1 1^T,  R = 1 v^T,  <lambda> = sum_g f_g lambda_g = 1,

which depends on the spectrum only through the global teacher overlap T: the global plateau is
that of an L = 1 problem with the same T (Saad & Solla's for T = I), for every L and beta.

Escape.  The Jacobian of the block ODE at the fixed point has the structure
d(dx_g)/dalpha = s_g (A dx_g + B_g dX), dX = sum_h lambda_h dx_h (s_g = eta lambda_g), with one
d x d matrix A (frozen coefficients) and one B_g per group (change of the coefficients with the
global overlaps); the escape rate is its eigenvalue of largest real part (Eq. eq-escape-secular).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ..config import Config
from ..data import Groups, groups_for
from .ode import coefficients, rhs, rhs_frozen
from .overlaps import delta_delta, eps_g, global_overlaps, stein_coefficients

__all__ = ["Plateau", "plateau", "plateau_global", "saad_solla", "residual", "jacobian_blocks",
           "jacobian_matrix", "spectrum", "secular_matrix", "escape_rate", "escape_time",
           "plateau_entry", "asymmetry", "unstable_amplitude", "predicted_escape"]


# ---------------------------------------------------------------------------------------------
# fixed point
# ---------------------------------------------------------------------------------------------
def _sym_coefficients(b, v, T, cfg: Config):
    """(gamma, c, e) on the symmetric manifold Q = b 1 1^T, R = 1 v^T."""
    K = cfg.K
    Q = np.full((K, K), b)
    R = np.tile(v, (K, 1))
    G_lam, G_rho = stein_coefficients(Q, R, T, cfg.activation, cfg.a_student, cfg.a_teacher)
    gamma = float(G_lam.sum(axis=1).mean())
    c = G_rho.mean(axis=0)
    e = float(delta_delta(Q, R, T, cfg.activation, cfg.a_student, cfg.a_teacher).mean()) if cfg.eta2 else 0.0
    return gamma, c, e


def saad_solla(K: int, M: int | None = None, readout: str = "sum") -> tuple[float, float]:
    """Closed-form plateau (Eq. eq-saad-solla) for erf, T = I, K = M, sum readout, eta -> 0:
    all students equal J = (K (2K - 1))^(-1/2) sum_n B_n, so Q_ii = Q_ij = 1 / (2K - 1) and
    R_in = 1 / sqrt(K (2K - 1)).  Returns (Q_ij, R_in)."""
    M = K if M is None else M
    if K != M or readout != "sum":
        raise ValueError("the closed form is for K = M and readout='sum' only")
    return 1.0 / (2 * K - 1), 1.0 / np.sqrt(K * (2 * K - 1))


def plateau_global(cfg: Config, T, mean_lam: float = 1.0):
    """Solve Eq. (eq-plateau-fp) for (b, v) given the global teacher overlap T; returns
    (b, v, gamma, c, e)."""
    T = np.asarray(T, float)
    M = cfg.M
    # start: all students equal, J = c sum_n B_n, with Saad & Solla's amplitude c^2 = 1/(M(2M-1))
    c0 = 1.0 / np.sqrt(M * (2 * M - 1))
    v0 = c0 * T.sum(axis=1)
    b0 = c0 * c0 * T.sum()

    def res(x):
        b, v = x[0], x[1:]
        gamma, c, e = _sym_coefficients(b, v, T, cfg)
        return np.concatenate([[gamma * b + c @ v + 0.5 * cfg.eta * mean_lam * e], gamma * v + T @ c])

    sol = optimize.root(res, np.concatenate([[b0], v0]), method="hybr", options={"xtol": 1e-14})
    x = sol.x
    if np.max(np.abs(res(x))) > 1e-11 or x[0] <= 0:
        raise RuntimeError(f"plateau fixed point not found ({sol.message}); residual {np.max(np.abs(res(x))):.2g}")
    gamma, c, e = _sym_coefficients(x[0], x[1:], T, cfg)
    return x[0], x[1:], gamma, c, e


@dataclass(frozen=True)
class Plateau:
    """The symmetric fixed point of the block ODEs (chapter "The symmetric plateau")."""

    cfg: Config
    eps_p: float  # eps_g at the symmetric fixed point
    q: np.ndarray  # (G, K, K) block overlaps at the fixed point
    r: np.ndarray  # (G, K, M)
    t: np.ndarray  # (G, M, M) teacher block overlaps used
    escape_rate: float  # largest real part of the eigenvalues of the linearised block ODE
    groups: Groups | None = None

    def overlaps(self, power: int = 1):
        """(Q^(k), R^(k), T^(k)) at the fixed point (k = ``power``)."""
        lam = (self.groups if self.groups is not None else groups_for(self.cfg)).lam
        return global_overlaps(self.q, self.r, self.t, lam, power)


def _check_cfg(cfg: Config):
    if cfg.activation != "erf":
        raise ValueError(f"activation must be 'erf' for the plateau (the linear network has none), got {cfg.activation!r}")
    if cfg.trainable is not None and cfg.trainable != cfg.N:
        raise ValueError(f"trainable must be None (all coordinates trained) for the plateau, got {cfg.trainable}")


def default_teacher(cfg: Config, groups: Groups | None = None):
    """Expected teacher block overlaps t^g = f_g I (``init="mean"``)."""
    groups = groups_for(cfg) if groups is None else groups
    return groups.frac[:, None, None] * np.eye(cfg.M)


def plateau(cfg: Config, t=None, rate: bool = True) -> Plateau:
    """The symmetric plateau of ``cfg`` for teacher block overlaps ``t`` (default f_g I).

    Solves Eq. (eq-plateau-fp) for the global overlaps, fills in the blocks with
    Eq. (eq-plateau-blocks) and (if ``rate``) computes the escape rate (Eq. eq-escape-secular).
    K and M may differ.
    """
    _check_cfg(cfg)
    groups = groups_for(cfg)
    G, K, M = groups.size, cfg.K, cfg.M
    t = default_teacher(cfg, groups) if t is None else np.asarray(t, float)
    if t.shape != (G, M, M):
        raise ValueError(f"t must have shape {(G, M, M)}, got {t.shape}")
    T = np.einsum("g,gij->ij", groups.lam, t)
    mean_lam = float(groups.lam @ groups.frac)
    b, v, gamma, c, e = plateau_global(cfg, T, mean_lam)
    v_g = -(t @ c) / gamma  # (G, M)
    b_g = -(v_g @ c + 0.5 * cfg.eta * groups.frac * e) / gamma
    q = b_g[:, None, None] * np.ones((G, K, K))
    r = np.repeat(v_g[:, None, :], K, axis=1)
    Q, R, Tg = global_overlaps(q, r, t, groups.lam)
    eps_p = float(eps_g(Q, R, Tg, cfg.activation, cfg.a_student, cfg.a_teacher))
    sigma = escape_rate(cfg, q, r, t, groups) if rate else float("nan")
    return Plateau(cfg=cfg, eps_p=eps_p, q=q, r=r, t=t, escape_rate=sigma, groups=groups)


def residual(p: Plateau) -> float:
    """max |rhs| of the block ODE at the plateau (0 at an exact fixed point)."""
    dq, dr = rhs(p.q, p.r, p.t, p.groups, p.cfg)
    return float(max(np.abs(dq).max(), np.abs(dr).max()))


# ---------------------------------------------------------------------------------------------
# linearisation
# ---------------------------------------------------------------------------------------------
def _pack(q, r):
    """State of the block ODE as vectors per group: upper triangle of q, then r."""
    K = q.shape[-1]
    iu = np.triu_indices(K)
    return np.concatenate([q[..., iu[0], iu[1]], r.reshape(r.shape[:-2] + (-1,))], axis=-1)


def _unpack(x, K, M):
    iu = np.triu_indices(K)
    nq = len(iu[0])
    q = np.zeros(x.shape[:-1] + (K, K))
    q[..., iu[0], iu[1]] = x[..., :nq]
    q[..., iu[1], iu[0]] = x[..., :nq]
    r = x[..., nq:].reshape(x.shape[:-1] + (K, M))
    return q, r


def jacobian_blocks(cfg: Config, q, r, t, groups: Groups | None = None, h: float = 1e-6):
    """The structure of the Jacobian at (q, r):  d(dx_g)/dalpha = s_g (A dx_g + B_g dX).

    Returns (s (G,), lam (G,), A (d, d), B (G, d, d)) with dX = sum_h lambda_h dx_h and x the
    packed state (upper triangle of q^g, then r^g).  A is exact (the frozen-coefficient rhs is
    linear); B_g by central differences of the coefficients in the global overlaps (step h).
    """
    groups = groups_for(cfg) if groups is None else groups
    K, M = cfg.K, cfg.M
    x = _pack(q, r)
    d = x.shape[-1]
    s = cfg.eta * groups.lam * groups.trainable
    coef = coefficients(q, r, t, groups.lam, cfg)
    # A: frozen coefficients, one group with unit eigenvalue, no teacher forcing
    eye = np.eye(d)
    qe, re = _unpack(eye, K, M)
    one = Groups(lam=np.ones(d), frac=np.zeros(d), trainable=np.ones(d, bool), start=np.zeros(d, int),
                 stop=np.zeros(d, int), block=np.zeros(d, int))
    cfg1 = cfg.replace(eta=1.0)
    dq, dr = rhs_frozen(qe, re, np.zeros((d, M, M)), one, cfg1, coef)
    A = _pack(dq, dr).T  # column j = image of unit vector j
    # B_g: perturb the global overlaps X = (Q, R) by h e_j; rhs_frozen with the new coefficients
    Q, R, T = global_overlaps(q, r, t, groups.lam)
    Xq, Xr = _unpack(eye, K, M)
    B = np.empty((groups.size, d, d))
    safe = np.where(s > 0, s, 1.0)
    for j in range(d):
        outs = []
        for sign in (1.0, -1.0):
            Qp, Rp = Q + sign * h * Xq[j], R + sign * h * Xr[j]
            G_lam, G_rho = stein_coefficients(Qp, Rp, T, cfg.activation, cfg.a_student, cfg.a_teacher)
            E = delta_delta(Qp, Rp, T, cfg.activation, cfg.a_student, cfg.a_teacher) if cfg.eta2 else np.zeros_like(Qp)
            dq, dr = rhs_frozen(q, r, t, groups, cfg, (G_lam, G_rho, E))
            outs.append(_pack(dq, dr))
        B[:, :, j] = (outs[0] - outs[1]) / (2 * h) / safe[:, None]
    return s, groups.lam, A, B


def jacobian_matrix(cfg: Config, q, r, t, groups: Groups | None = None):
    """The dense Jacobian (G d x G d) assembled from ``jacobian_blocks``."""
    s, lam, A, B = jacobian_blocks(cfg, q, r, t, groups)
    G, d = B.shape[0], A.shape[0]
    Jm = np.zeros((G * d, G * d))
    for g in range(G):
        Jm[g * d:(g + 1) * d, :] = s[g] * np.kron(lam[None, :], B[g])
        Jm[g * d:(g + 1) * d, g * d:(g + 1) * d] += s[g] * A
    return Jm


def _leading(Jm, n: int = 0):
    w = np.linalg.eigvals(Jm)
    return w[np.argsort(-w.real)]


def spectrum(cfg: Config, q, r, t, groups: Groups | None = None):
    """All eigenvalues of the dense linearised block ODE, largest real part first (for small
    G d; used to check ``escape_rate``)."""
    return _leading(jacobian_matrix(cfg, q, r, t, groups), 0)


def secular_matrix(sigma: float, s, lam, A, B):
    """M(sigma) = sum_g lambda_g s_g (sigma - s_g A)^(-1) B_g  (Eq. eq-escape-secular).

    sigma is an eigenvalue of the Jacobian (and not one of the s_g A) iff M(sigma) has the
    eigenvalue 1: eliminate dx_g = s_g (sigma - s_g A)^(-1) B_g dX and sum with lambda_g."""
    d = A.shape[0]
    lhs = sigma * np.eye(d)[None] - s[:, None, None] * A[None]
    X = np.linalg.solve(lhs, (lam * s)[:, None, None] * B)
    return X.sum(axis=0)


class _Secular:
    """Fast evaluation of the largest real eigenvalue of M(sigma): with A = W diag(a) W^-1
    (when W is well conditioned) M(sigma) = W sum_g [lambda_g s_g / (sigma - s_g a)] W^-1 B_g."""

    def __init__(self, s, lam, A, B):
        self.s, self.lam, self.A, self.B = s, lam, A, B
        a, W = np.linalg.eig(A)
        self.diag = np.linalg.cond(W) < 1e8
        if self.diag:
            self.a, self.W = a, W
            self.C = np.linalg.solve(W[None], B.astype(complex))  # (G, d, d)

    def __call__(self, sigma):
        if self.diag:
            w = (self.lam * self.s)[:, None] / (sigma - self.s[:, None] * self.a[None, :])  # (G, d)
            Mt = self.W @ np.einsum("gi,gij->ij", w, self.C)
        else:
            Mt = secular_matrix(sigma, self.s, self.lam, self.A, self.B)
        return float(np.max(np.linalg.eigvals(Mt).real))


def escape_rate(cfg: Config, q, r, t, groups: Groups | None = None) -> float:
    """Largest real eigenvalue of the linearised block ODE at (q, r) (the escape rate).

    Solved from the d x d secular problem (Eq. eq-escape-secular): the largest sigma above the
    poles max_g s_g Re a(A) at which M(sigma) has the eigenvalue 1 (bisection on the largest
    eigenvalue of M, which decreases to 0 as sigma grows); cost O(G d^3) instead of O((G d)^3).
    Checked against the dense Jacobian in tests/test_plateau.py.
    """
    groups = groups_for(cfg) if groups is None else groups
    s, lam, A, B = jacobian_blocks(cfg, q, r, t, groups)
    a_max = float(np.max(np.linalg.eigvals(A).real))
    pole = max(0.0, float(np.max(s)) * a_max) if a_max > 0 else 0.0
    scale = float(np.max(s)) * (np.abs(A).max() + np.abs(B).max() * float(lam @ np.ones_like(lam)))
    lo = pole + 1e-12 * scale
    mu = _Secular(s, lam, A, B)
    if mu(lo) <= 1.0:
        return pole  # no root above the poles
    hi = max(scale, 2 * lo)
    while mu(hi) > 1.0:
        hi *= 2
    return float(optimize.brentq(lambda x: mu(x) - 1.0, lo, hi, xtol=1e-15, rtol=1e-12))


# ---------------------------------------------------------------------------------------------
# measured and predicted plateau length
# ---------------------------------------------------------------------------------------------
def escape_time(alpha, eps, eps_p: float, fraction: float = 0.5, after: float = 0.0) -> float:
    """First alpha > ``after`` at which eps_g falls below ``fraction * eps_p`` (interpolated
    linearly in ln alpha and ln eps between grid points); nan if it never does.  The one escape
    criterion of the book (chapters on the plateau and on the asymptotic phase)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    alpha, eps = np.asarray(alpha, float), np.asarray(eps, float)
    level = fraction * eps_p
    below = np.nonzero((eps < level) & (alpha > after))[0]
    if len(below) == 0:
        return float("nan")
    i = below[0]
    if i == 0:
        return float(alpha[0])
    a0, a1 = np.log(alpha[i - 1]), np.log(alpha[i])
    e0, e1 = np.log(eps[i - 1]), np.log(eps[i])
    return float(np.exp(a0 + (np.log(level) - e0) * (a1 - a0) / (e1 - e0)))


def plateau_entry(alpha, eps, eps_p: float, tol: float = 0.1) -> float:
    """First alpha at which eps_g is within ``tol`` (relative) of the plateau value."""
    alpha, eps = np.asarray(alpha, float), np.asarray(eps, float)
    near = np.nonzero(np.abs(eps / eps_p - 1.0) < tol)[0]
    return float(alpha[near[0]]) if len(near) else float("nan")


def asymmetry(r, lam=None) -> np.ndarray:
    """Size of the student asymmetry: rms over (i, n) of R_in - mean_i R_in (global R from the
    blocks ``r`` (..., G, K, M) with eigenvalues ``lam``, or ``r`` already global (..., K, M))."""
    R = np.asarray(r, float) if lam is None else np.einsum("g,...gij->...ij", np.asarray(lam, float), r)
    D = R - R.mean(axis=-2, keepdims=True)
    return np.sqrt((D**2).mean(axis=(-2, -1)))


def unstable_amplitude(traj, p: Plateau, linear_until: float = 0.95):
    """Amplitude a_u of the growing student asymmetry of an ODE trajectory on the plateau.

    On the plateau the asymmetry a(alpha) (``asymmetry``) is a marginal part plus the unstable
    mode, a(alpha) = a_m + a_u exp(sigma alpha) with sigma = ``p.escape_rate``; (a_m, a_u) are
    fitted by linear least squares between plateau entry (eps_g within 10 % of eps_p) and the
    last alpha with eps_g > ``linear_until`` eps_p (the linear regime).  Returns (a_u, alpha_entry).
    """
    e = traj.eps_g()
    al = traj.alpha
    a_in = plateau_entry(al, e, p.eps_p)
    if not np.isfinite(a_in):
        return float("nan"), float("nan")
    late = np.nonzero((al >= a_in) & (e < linear_until * p.eps_p))[0]
    stop = late[0] if len(late) else len(al)
    sel = np.arange(int(np.searchsorted(al, a_in)), stop)
    if len(sel) < 3:
        return float("nan"), a_in
    a = asymmetry(traj.r[sel], traj.groups.lam)
    X = np.stack([np.ones(len(sel)), np.exp(p.escape_rate * al[sel])], axis=1)
    coef = np.linalg.lstsq(X / a[:, None], np.ones(len(sel)), rcond=None)[0]  # relative residuals
    return float(coef[1]), a_in


def predicted_escape(a_u: float, R_p: float, sigma: float, c_exit: float) -> float:
    """Eq. (eq-plateau-length): alpha_esc = [ln(R_p / a_u) + c_exit] / sigma: the unstable
    asymmetry a_u e^{sigma alpha} reaches the size R_p of the plateau overlaps, after which the
    nonlinear exit to eps_g = eps_p / 2 takes a further c_exit / sigma."""
    if sigma <= 0:
        raise ValueError(f"sigma (escape rate) must be > 0, got {sigma}")
    return (np.log(R_p / a_u) + c_exit) / sigma
