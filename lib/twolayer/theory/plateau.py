"""The symmetric plateau: fixed point, heights, escape rate and predicted length.

Chapter "The symmetric plateau" (``chapters/03_plateau.md``), Eqs. {eq}`eq-plateau-fp`,
{eq}`eq-plateau-blocks`, {eq}`eq-plateau-secular`, {eq}`eq-plateau-length`.

Symmetric manifold.  All K students are the same vector, J_i = J, so per group g the block
overlaps are q^g = b_g 1 1^T and r^g = 1 v_g^T.  On it G_h 1 = gamma 1 and G_rho = 1 c^T (Stein
coefficients at the global overlaps), and E[delta delta^T] = e 1 1^T.  The block ODEs vanish for
every trained group iff (Eq. {eq}`eq-plateau-blocks`)

    v_g = -t^g c / gamma,      b_g = -(c . v_g + eta f_g e / 2) / gamma,

and summing with lambda_g gives the closed (M + 1)-dimensional problem for the global overlaps
(Eq. {eq}`eq-plateau-fp`) gamma v + T c = 0, gamma b + c . v + eta <lambda> e / 2 = 0, which
involves the spectrum only through T: the global plateau is that of L = 1 with the same T.

Escape.  The Jacobian of the block ODE at the fixed point has the structure
d(dx_g)/dalpha = s_g (A dx_g + B_g dX), dX = sum_h lambda_h dx_h; its leading eigenvalue solves the
d x d secular problem (Eq. {eq}`eq-plateau-secular`) at a cost O(G d^3) instead of O((G d)^3).

The fixed point needs identical student units: equal (or all-ones) student second-layer weights
and a fixed second layer; any activation with its averages works (erf, ReLU, tanh, ...).

Where the escape rate does not exist.  The linearisation needs a differentiable right-hand side.
On the symmetric manifold the students are identical, so the covariance of the pre-activations
is singular, and for an activation with a kink (ReLU: g'' a delta function) the averages have
square-root terms there.  Those of the O(eta) terms cancel in the right-hand side, those of the
O(eta^2) average E[delta delta^T] do not (``rate_defect``): with ``eta2`` the Jacobian does not
exist and a finite-difference "rate" grows like h^(-1/2) with the step h (ReLU, K = M = 4,
L = 16: 5.0, 32, 298 at h = 1e-4, 1e-6, 1e-8), without it the rate exists (1.8285 for every h).
``rate_defect`` decides it from the activation's ``smooth`` property
(``twolayer.gaussian.activations``) and the covariance; for an activation of unknown smoothness
(a user activation) ``escape_rate`` compares the rates at two steps 100 h, h (a differentiable
right-hand side: equal up to O(h^2), measured <= 1e-7 relative; a square-root kink: a factor 10
apart).  Where the rate does not exist ``escape_rate`` returns None and
``Plateau.escape_rate_reason`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg as sla
from scipy import optimize

from ..gaussian.averages import covariance
from ..problem.checks import check_bool, check_choice, check_constant_rate, check_float
from ..problem.config import Config
from ..problem.errors import IntegrationError
from ..problem.resources import Budget, check_budget
from ..problem.spectrum import Groups
from ..state.blocks import global_overlaps, pack, unpack
from ..state.setting import Setting, resolve
from .blocks import coefficients, drift, rhs_frozen

__all__ = ["Plateau", "Stationary", "escape_rate", "jacobian_blocks", "jacobian_matrix", "plateau",
           "predicted_escape", "rate_defect", "residual", "saad_solla", "secular_matrix", "spectrum",
           "stationary_point"]

#: Finite-difference step of the Jacobian (in the global overlaps).
H_JACOBIAN = 1e-6
#: Distance to a singular covariance (smallest eigenvalue of the correlation matrix of students and
#: teachers) below which an activation with a kink has no linearisation with the O(eta^2) term:
#: the finite differences with step H_JACOBIAN cannot resolve the square-root terms there.
SINGULAR_TOL = 1e-6
#: Step check of the rate for an activation of unknown smoothness: rates at H_JACOBIAN * 100 and
#: H_JACOBIAN must agree to this relative tolerance (measured for erf and tanh: <= 1e-7).
STEP_RTOL = 1e-4


def _sym_coefficients(b, v, T, st: Setting, eta2: bool):
    """(gamma, c, e) on the symmetric manifold Q = b 1 1^T, R = 1 v^T."""
    K = st.K
    Q = np.full((K, K), b)
    R = np.tile(v, (K, 1))
    G_h, G_rho = st.stein(Q, R, T)
    gamma = float(G_h.sum(axis=1).mean())
    c = G_rho.mean(axis=0)
    e = float(st.delta_delta(Q, R, T).mean()) if eta2 else 0.0
    return gamma, c, e


def saad_solla(K: int, M: int | None = None, readout: str = "sum") -> tuple[float, float]:
    """Closed-form plateau for erf, T = I, K = M, sum readout, eta -> 0 (Eq.
    {eq}`eq-plateau-saad-solla`): all students equal J = (K (2K - 1))^(-1/2) sum_n B_n, so
    Q_ii = Q_ij = 1 / (2K - 1) and R_in = 1 / sqrt(K (2K - 1)).  Returns (Q_ij, R_in)."""
    M = K if M is None else M
    if K != M or readout != "sum":
        raise ValueError("the closed form is for K = M and readout='sum' only")
    return 1.0 / (2 * K - 1), 1.0 / np.sqrt(K * (2 * K - 1))


def _fixed_point(st: Setting, T, mean_lam: float, eta2: bool):
    config = st.config
    M = config.M
    c0 = 1.0 / np.sqrt(M * (2 * M - 1))
    x0 = np.concatenate([[c0 * c0 * T.sum()], c0 * T.sum(axis=1)])

    def res(x):
        b, v = x[0], x[1:]
        gamma, c, e = _sym_coefficients(b, v, T, st, eta2)
        return np.concatenate([[gamma * b + c @ v + 0.5 * config.eta * mean_lam * e], gamma * v + T @ c])

    with np.errstate(all="ignore"):
        sol = optimize.root(res, x0, method="hybr", options={"xtol": 1e-14})
        r = res(sol.x)
    if not (np.all(np.isfinite(r)) and np.max(np.abs(r)) <= 1e-11 and sol.x[0] > 0):
        raise ValueError(
            f"no symmetric plateau (fixed point) found for K={config.K}, M={config.M}, eta={config.eta:g} "
            f"(residual {np.max(np.abs(r)) if np.all(np.isfinite(r)) else float('inf'):.2g}); for K > M or "
            f"large eta the symmetric state may not exist")
    gamma, c, e = _sym_coefficients(sol.x[0], sol.x[1:], T, st, eta2)
    return sol.x[0], sol.x[1:], gamma, c, e


@dataclass(frozen=True)
class Plateau:
    """The symmetric fixed point of the block ODEs (chapter "The symmetric plateau").

    ``eps_p`` its generalisation error, ``q``, ``r``, ``t`` the block overlaps (group-first),
    ``escape_rate`` the largest real eigenvalue of the linearised block ODE: nan when not
    computed (``rate=False``), None where it does not exist (ReLU: the block ODE is not
    differentiable at the symmetric plateau), with ``escape_rate_reason`` saying why (None
    when the rate is a number)."""

    config: Config
    eps_p: float
    q: np.ndarray
    r: np.ndarray
    t: np.ndarray
    escape_rate: float | None
    eta2: bool = True
    escape_rate_reason: str | None = None

    @property
    def groups(self) -> Groups:
        return resolve(self.config).groups

    def overlaps(self, power: int = 1):
        """(Q^(k), R^(k), T^(k)) at the fixed point (k = ``power``)."""
        return global_overlaps(self.q, self.r, self.t, self.groups.lam, power)


def _check_config(config) -> Setting:
    st = resolve(config)
    config = st.config
    if config.activation == "linear":
        raise ValueError("the linear network has no plateau; activation must be nonlinear")
    if config.trainable is not None and config.trainable != config.N:
        raise ValueError(f"trainable must be None (all coordinates trained) for the plateau, got {config.trainable}")
    if config.train_readout or len(set(config.student_weights.tolist())) != 1:
        raise ValueError("the symmetric plateau needs identical student units (a fixed, uniform student second layer)")
    return st


def plateau(config, t=None, *, rate: bool = True, eta2: bool = True, budget: Budget | None = None) -> Plateau:
    """The symmetric plateau for teacher block overlaps ``t`` (default the expected teacher
    t^g = f_g I): Eq. {eq}`eq-plateau-fp` for the global overlaps, Eq. {eq}`eq-plateau-blocks` for
    the blocks, and (``rate``) the escape rate of Eq. {eq}`eq-plateau-secular` (``escape_rate``
    with ``method="auto"``; None, with ``escape_rate_reason``, where the linearisation does not
    exist: ``rate_defect``).  K and M may differ.  Raises ValueError when no symmetric fixed point
    exists, ``BudgetError`` when the escape rate needs more memory or time than ``budget``."""
    check_constant_rate(config, "the plateau theory (plateau)")
    st = _check_config(config)
    config = st.config
    rate = check_bool("rate", rate)
    eta2 = check_bool("eta2", eta2)
    grp = st.groups
    G, K, M = grp.size, config.K, config.M
    t = grp.frac[:, None, None] * np.eye(M) if t is None else np.asarray(t, dtype=np.float64)
    if t.shape != (G, M, M) or not np.all(np.isfinite(t)):
        raise ValueError(f"t must be finite with shape {(G, M, M)}, got {t.shape}")
    T = np.einsum("g,gij->ij", grp.lam, t)
    mean_lam = float(grp.lam @ grp.frac)
    # the fixed point evaluates the Gaussian averages on the symmetric manifold: K (K + M) pair
    # terms, and with eta2 the K^2 (K + M)^2 four-point terms of E[delta delta^T] (a few
    # temporaries of that size)
    terms = K * K * (K + M) ** 2 if eta2 else K * (K + M)
    check_budget(f"the plateau fixed point with K={K}, M={M}" + (" (eta2)" if eta2 else ""),
                 8.0 * 6 * terms, None, budget)
    _, _, gamma, c, e = _fixed_point(st, T, mean_lam, eta2)
    v_g = -(t @ c) / gamma
    b_g = -(v_g @ c + 0.5 * config.eta * grp.frac * e) / gamma
    q = b_g[:, None, None] * np.ones((G, K, K))
    r = np.repeat(v_g[:, None, :], K, axis=1)
    Q, R, Tg = global_overlaps(q, r, t, grp.lam)
    eps_p = float(st.eps_g(Q, R, Tg))
    if rate:
        sigma, why = _escape_rate(st, q, r, t, eta2=eta2, method="auto", budget=budget, h=H_JACOBIAN)
    else:
        sigma, why = float("nan"), "not computed (rate=False)"
    return Plateau(config=config, eps_p=eps_p, q=q, r=r, t=t, escape_rate=sigma, eta2=eta2, escape_rate_reason=why)


def residual(p: Plateau) -> float:
    """max |rhs| of the block ODE at the plateau (0 at an exact fixed point)."""
    st = resolve(p.config)
    dq, dr = rhs_frozen(p.q, p.r, p.t, st, coefficients(p.q, p.r, p.t, st, eta2=p.eta2))
    return float(max(np.abs(dq).max(), np.abs(dr).max()))


@dataclass(frozen=True)
class Stationary:
    """A fixed point of the block ODE found by ``stationary_point``: block overlaps, eps_g there,
    the final max |rhs| and the largest real part of the Jacobian's spectrum (< 0: stable)."""

    q: np.ndarray
    r: np.ndarray
    t: np.ndarray
    eps_g: float
    residual: float
    growth_rate: float


def stationary_point(config, q, r, t, *, eta2: bool = True, tol: float = 1e-13,
                     max_iter: int = 60) -> Stationary:
    """The fixed point of the block ODE (Eq. {eq}`eq-dyn-block`) nearest to the block state
    (q, r): Newton's method on the packed state with the dense Jacobian (``jacobian_matrix``;
    least-squares steps, so marginal directions do no harm).  Used for the long-time state of a
    run, e.g. the reachable error of an under-parameterised student (chapter "Beyond the paper").
    Raises ``IntegrationError`` when max |rhs| does not fall below ``tol`` x the state's size."""
    check_constant_rate(config, "the plateau theory (stationary_point)")
    st = resolve(config)
    config = st.config
    if config.train_readout:
        raise ValueError("stationary_point is written for fixed second layers")
    tol = check_float("tol", tol, lo=0.0, lo_open=True)
    eta2 = check_bool("eta2", eta2)
    grp = st.groups
    K, M = config.K, config.M
    q = np.array(q, dtype=np.float64)
    r = np.array(r, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if q.shape != (grp.size, K, K) or r.shape != (grp.size, K, M) or t.shape != (grp.size, M, M):
        raise ValueError(f"q, r, t must have shapes {(grp.size, K, K)}, {(grp.size, K, M)}, {(grp.size, M, M)}")
    train = np.repeat(grp.trainable, pack(q[:1], r[:1]).shape[-1])

    def f(qq, rr):
        dq, dr = rhs_frozen(qq, rr, t, st, coefficients(qq, rr, t, st, eta2=eta2))
        return pack(dq, dr).ravel()

    scale = max(1.0, float(np.abs(pack(q, r)).max()))
    res = float("inf")
    for _ in range(max_iter):
        F = f(q, r)
        res = float(np.abs(F).max())
        if res <= tol * scale:
            break
        J = jacobian_matrix(st, q, r, t, eta2=eta2)[np.ix_(train, train)]
        step = np.zeros_like(F)
        step[train] = np.linalg.lstsq(J, -F[train], rcond=1e-12)[0]
        x = pack(q, r) + step.reshape(grp.size, -1)
        q, r = unpack(x, K, M)
    else:
        raise IntegrationError(f"stationary_point: Newton did not converge (max |rhs| = {res:.2g})")
    growth = float(np.max(np.linalg.eigvals(jacobian_matrix(st, q, r, t, eta2=eta2)[np.ix_(train, train)]).real))
    eps = float(st.eps_g(*global_overlaps(q, r, t, grp.lam)))
    return Stationary(q=q, r=r, t=t, eps_g=eps, residual=res, growth_rate=growth)


# ---------------------------------------------------------------------------------------------
# linearisation
# ---------------------------------------------------------------------------------------------
def jacobian_blocks(config, q, r, t, *, eta2: bool = True, h: float = 1e-6):
    """The structure of the Jacobian at (q, r): d(dx_g)/dalpha = s_g (A dx_g + B_g dX).

    Returns (s (G,), lam (G,), A (d, d), B (G, d, d)) with dX = sum_h lambda_h dx_h and x the
    packed state.  A is exact (the frozen-coefficient rhs is linear); B_g by central
    differences of the coefficients in the global overlaps (step h)."""
    check_constant_rate(config, "the plateau theory (jacobian_blocks)")
    st = resolve(config)
    return _blocks(st, st.lam, st.rate, st.second_order, q, r, t, eta2, h)


def _blocks(st: Setting, lam, s, second_order, q, r, t, eta2: bool, h: float = 1e-6):
    """``jacobian_blocks`` for groups with eigenvalues ``lam``, rates ``s`` and O(eta^2) weights
    ``second_order`` (the setting's, or one group standing for all: ``_rate``)."""
    K, M = st.K, st.M
    d = pack(q, r).shape[-1]
    Q, R, T = global_overlaps(q, r, t, lam)
    qe, re = unpack(np.eye(d), K, M)
    # the frozen-coefficient right-hand side is linear in (q, r): A is its matrix at unit rate
    # without the source E; column j is the image of unit vector j
    A = pack(*drift(qe, re, np.zeros((d, M, M)), (*st.stein(Q, R, T), np.zeros_like(Q)), np.zeros(d))).T
    B = np.empty((lam.shape[0], d, d))
    safe = np.where(s > 0, s, 1.0)
    for j in range(d):
        outs = []
        for sign in (1.0, -1.0):
            Qp, Rp = Q + sign * h * qe[j], R + sign * h * re[j]
            coef = (*st.stein(Qp, Rp, T), st.delta_delta(Qp, Rp, T) if eta2 else np.zeros_like(Qp))
            dq, dr = drift(q, r, t, coef, second_order)
            outs.append(pack(s[:, None, None] * dq, s[:, None, None] * dr))
        B[:, :, j] = (outs[0] - outs[1]) / (2 * h) / safe[:, None]
    return s, lam, A, B


def jacobian_matrix(config, q, r, t, *, eta2: bool = True) -> np.ndarray:
    """The dense Jacobian (G d x G d) assembled from ``jacobian_blocks`` (for small G d)."""
    check_constant_rate(config, "the plateau theory (jacobian_matrix)")
    s, lam, A, B = jacobian_blocks(config, q, r, t, eta2=eta2)
    G, d = B.shape[0], A.shape[0]
    check_budget(f"a dense Jacobian of size {G * d}", 8.0 * (G * d) ** 2 * 3)
    Jm = np.zeros((G * d, G * d))
    for g in range(G):
        Jm[g * d:(g + 1) * d, :] = s[g] * np.kron(lam[None, :], B[g])
        Jm[g * d:(g + 1) * d, g * d:(g + 1) * d] += s[g] * A
    return Jm


def spectrum(config, q, r, t, *, eta2: bool = True) -> np.ndarray | None:
    """All eigenvalues of the dense linearised block ODE, largest real part first; None where the
    linearisation does not exist (``rate_defect``)."""
    check_constant_rate(config, "the plateau theory (spectrum)")
    if rate_defect(config, q, r, t, eta2=eta2) is not None:
        return None
    w = np.linalg.eigvals(jacobian_matrix(config, q, r, t, eta2=eta2))
    return w[np.argsort(-w.real)]


def secular_matrix(sigma: float, s, lam, A, B) -> np.ndarray:
    """M(sigma) = sum_g lambda_g s_g (sigma - s_g A)^(-1) B_g (Eq. {eq}`eq-plateau-secular`):
    sigma is an eigenvalue of the Jacobian (and not one of the s_g A) iff M(sigma) has the
    eigenvalue 1."""
    d = A.shape[0]
    lhs = sigma * np.eye(d)[None] - s[:, None, None] * A[None]
    return np.linalg.solve(lhs, (lam * s)[:, None, None] * B).sum(axis=0)


class _Secular:
    """The largest real eigenvalue of M(sigma), fast when A is diagonalisable:
    M(sigma) = W sum_g [lambda_g s_g / (sigma - s_g a)] W^-1 B_g."""

    def __init__(self, s, lam, A, B):
        self.s, self.lam, self.A, self.B = s, lam, A, B
        a, W = np.linalg.eig(A)
        self.diag = np.linalg.cond(W) < 1e8
        if self.diag:
            self.a, self.W = a, W
            self.C = np.linalg.solve(W[None], B.astype(complex))

    def __call__(self, sigma):
        if self.diag:
            w = (self.lam * self.s)[:, None] / (sigma - self.s[:, None] * self.a[None, :])
            Mt = self.W @ np.einsum("gi,gij->ij", w, self.C)
        else:
            Mt = secular_matrix(sigma, self.s, self.lam, self.A, self.B)
        return float(np.max(np.linalg.eigvals(Mt).real))


def _proportional(q, r, t, frac):
    """(q, r, t) / f_g of the first group when every group's block state is f_g times the same
    state (the plateau of the expected teacher t^g = f_g I), else None."""
    f = frac[:, None, None]
    out = []
    for x in (q, r, t):
        y = x / f
        if not np.allclose(y, y[:1], rtol=1e-12, atol=1e-15 * max(1.0, float(np.abs(y).max()))):
            return None
        out.append(y[:1])
    return tuple(out)


def rate_defect(config, q, r, t, *, eta2: bool = True) -> str | None:
    """Why the block ODE has no linearisation at (q, r, t), or None if it has one.

    Decided from the activation's ``smooth`` property (``twolayer.gaussian.activations``).  A
    smooth activation (erf, tanh, linear) has one everywhere.  For an activation with a kink
    (ReLU) the averages have square-root terms where the covariance of the pre-activations is
    singular.  In the O(eta) terms they cancel: where a student is parallel to another unit,
    u_a = kappa u_b (b a student or a teacher), the right-hand side contains them only in the
    combination kappa E[g''(u_a) g(u_b)] + E[g'(u_a) g'(u_b)] (the Stein coefficients act on
    overlap rows that are kappa times each other), which for ReLU is
    (pi - theta + sin theta) / (2 pi) = 1/2 + O(theta^3), theta ~ sqrt(distance): differentiable
    (measured: the ReLU rate with ``eta2=False`` agrees to 1e-8 for h = 1e-4 .. 1e-8).  The
    O(eta^2) average E[delta_i delta_j] has no such partner: E[(delta_i - delta_j)^2]
    grows like the square root of the distance between two identical students, so with ``eta2``
    there is no linearisation where the covariance of students and teachers is singular (smallest
    eigenvalue of the correlation matrix below ``SINGULAR_TOL``), which includes the symmetric
    plateau (identical students).  An activation of unknown smoothness (a user activation) gives
    None here and is checked numerically by ``escape_rate``."""
    check_constant_rate(config, "the plateau theory (rate_defect)")
    st = resolve(config)
    act = st.activation
    if act.smooth is not False or not eta2:
        return None
    grp = st.groups
    Q, R, T = global_overlaps(np.asarray(q, dtype=np.float64), np.asarray(r, dtype=np.float64),
                              np.asarray(t, dtype=np.float64), grp.lam)
    C = covariance(Q, R, T)
    d = np.sqrt(np.clip(np.diagonal(C), 0.0, None))
    live = d > 0
    corr = C[np.ix_(live, live)] / np.outer(d[live], d[live])
    w = float(np.linalg.eigvalsh(corr)[0]) if corr.size else 1.0
    if w > SINGULAR_TOL:
        return None
    return (f"no linearisation: the covariance of students and teachers is singular (smallest eigenvalue of "
            f"their correlation matrix below {SINGULAR_TOL:g}; at the symmetric plateau all students are identical), and "
            f"{act.name} has a kink (g'' is not a function), so the O(eta^2) average E[delta delta^T] has "
            f"square-root terms there (the O(eta) ones cancel); the Jacobian does not exist (a finite-difference "
            f"rate grows like h^-1/2).  With eta2=False the rate exists")


def escape_rate(config, q, r, t, *, eta2: bool = True, method: str = "auto",
                budget: Budget | None = None, h: float = H_JACOBIAN) -> float | None:
    """Largest real eigenvalue of the linearised block ODE at (q, r): the escape rate; None
    where the block ODE has no linearisation (``rate_defect``, ``Plateau.escape_rate_reason``).

    Parameters
    ----------
    config, q, r, t : the setting and the block overlaps of the fixed point
    eta2 : keep the O(eta^2) term
    method : ``"secular"`` solves the d x d secular problem (Eq. {eq}`eq-plateau-secular`): the
        largest sigma above the poles max_g s_g Re a(A) at which M(sigma) has the eigenvalue 1
        (bisection on the largest eigenvalue of M, which decreases to 0 as sigma grows); cost
        O(G d^3), memory 3 G d^2 numbers.  ``"proportional"`` needs block states f_g times one state
        (the expected teacher) and ``eta2=False``: then B_g = f_g B and the escape mode
        dx_g = s_g f_g u with A u = 0 solves the secular problem with
        sigma = eta <lambda^2> b (Eq. {eq}`eq-plateau-rate-L`), b the leading eigenvalue of the
        one-group matrix A + B, whose eigenvector must satisfy A u = 0 (true for erf, whose
        g'' = -x g' makes the student-difference modes marginal; not for ReLU); cost O(d^3),
        independent of the number of groups.  ``"auto"``: ``"proportional"`` where it applies,
        else ``"secular"``.
    budget : memory/time limits (the secular method at large G d)
    h : finite-difference step of the Jacobian in the global overlaps

    Returns
    -------
    sigma (0 when the fixed point is stable in every direction but marginal ones), or None:
    where ``rate_defect`` finds no linearisation, and, for an activation of unknown smoothness
    (a user activation), where the rates at steps 100 h and h differ by more than ``STEP_RTOL``
    (a differentiable right-hand side gives equal rates up to O(h^2)).
    """
    check_constant_rate(config, "the plateau theory (escape_rate)")
    return _escape_rate(config, q, r, t, eta2=eta2, method=method, budget=budget, h=h)[0]


def _escape_rate(config, q, r, t, *, eta2: bool, method: str, budget: Budget | None, h: float):
    """(escape rate or None, reason or None): ``escape_rate`` with the reason."""
    st = resolve(config)
    method = check_choice("method", method, ("auto", "secular", "proportional"))
    h = check_float("h", h, lo=0.0, hi=1e-2, lo_open=True)
    why = rate_defect(st, q, r, t, eta2=eta2)
    if why is not None:
        return None, why
    sigma = _rate(st, q, r, t, eta2, method, budget, h)
    if st.activation.smooth is None:  # unknown smoothness: the rate must not depend on the step
        coarse = _rate(st, q, r, t, eta2, method, budget, 100.0 * h)
        if not abs(coarse - sigma) <= STEP_RTOL * max(abs(coarse), abs(sigma)) + 1e-12 * abs(st.eta):
            return None, (f"no linearisation: the rate depends on the finite-difference step ({coarse:.6g} at "
                          f"h = {100 * h:g}, {sigma:.6g} at h = {h:g}), so the block ODE of activation "
                          f"{st.activation.name!r} is not differentiable here (a kink of g at a singular "
                          f"covariance, e.g. identical students)")
    return sigma, None


def _rate(st: Setting, q, r, t, eta2: bool, method: str, budget: Budget | None, h: float) -> float:
    """The largest real eigenvalue of the finite-difference Jacobian (step h): ``escape_rate``'s
    computation, without the check that the Jacobian exists."""
    grp = st.groups
    K, M = st.K, st.M
    d = K * (K + 1) // 2 + K * M
    prop = _proportional(np.asarray(q), np.asarray(r), np.asarray(t), grp.frac) if not eta2 else None
    if method == "proportional" and prop is None:
        raise ValueError("method='proportional' needs eta2=False and block states proportional to f_g "
                         "(the plateau of the expected teacher)")
    if method != "secular" and prop is not None:
        check_budget(f"the one-group escape problem with K={K}, M={M}", 8.0 * 6 * d * d + 64e6,
                     1e-8 * d**3 + 2e-4 * d, budget)
        # one group (lambda = 1, f = 1) stands for all: B_g = f_g B
        eta1 = st.eta * np.ones(1)
        _, _, A, B = _blocks(st, np.ones(1), eta1, eta1, *prop, eta2=False, h=h)
        C = A + B[0]
        w = np.linalg.eigvals(C)
        i = int(np.argmax(w.real))
        u = _eigenvector(C, w[i])
        marginal = np.linalg.norm(A @ u) <= 1e-6 * max(1.0, np.abs(A).max()) * np.linalg.norm(u)
        if marginal:
            weight = float(np.sum(grp.frac * grp.lam**2 * grp.trainable))
            return max(0.0, float(st.eta * weight * w[i].real))
        if method == "proportional":
            raise ValueError("the leading one-group mode is not marginal under frozen coefficients (A u != 0); "
                             "use method='secular'")
    check_budget(f"the plateau linearisation with {grp.size} groups, K={K}, M={M}",
                 8.0 * (3 * grp.size * d * d + (K + M) ** 4) + 64e6,
                 1e-8 * grp.size * d**3 + 1e-8 * K**2 * (K + M) ** 2 * d, budget)
    s, lam, A, B = jacobian_blocks(st, q, r, t, eta2=eta2, h=h)
    a_max = float(np.max(np.linalg.eigvals(A).real))
    pole = max(0.0, float(np.max(s)) * a_max) if a_max > 0 else 0.0
    scale = float(np.max(s)) * (np.abs(A).max() + np.abs(B).max() * float(lam.sum()))
    lo = pole + 1e-12 * scale
    mu = _Secular(s, lam, A, B)
    if mu(lo) <= 1.0:
        return pole
    hi = max(scale, 2 * lo)
    while mu(hi) > 1.0:
        hi *= 2
    return float(optimize.brentq(lambda x: mu(x) - 1.0, lo, hi, xtol=1e-15, rtol=1e-12))


def _eigenvector(C: np.ndarray, w: complex) -> np.ndarray:
    """A unit eigenvector of ``C`` for its (computed) eigenvalue ``w``, by inverse iteration: three
    solves with one LU factorisation of C - w' I, w' = w shifted by 1e-10 of C's scale so that the
    factorisation is never exactly singular.  For the one-group matrix of K = M = 40
    (2420 x 2420) this and ``eigvals`` take about half the time of ``np.linalg.eig``, which
    computes every eigenvector.  For a repeated eigenvalue: a vector of its eigenspace."""
    d = C.shape[0]
    scale = max(1.0, float(np.abs(C).max()))
    real = w.imag == 0.0
    shift = (w.real if real else w) + 1e-10 * scale
    lu = sla.lu_factor(C - shift * np.eye(d), check_finite=False)
    x = np.ones(d) if real else np.ones(d, dtype=complex)
    for _ in range(3):
        x = sla.lu_solve(lu, x, check_finite=False)
        x /= np.linalg.norm(x)
    return x


def predicted_escape(a_u: float, R_p: float, sigma: float | None, c_exit: float = 0.0) -> float | None:
    """Eq. {eq}`eq-plateau-length`: alpha_esc = [ln(R_p / a_u) + c_exit] / sigma: the unstable
    asymmetry a_u e^{sigma alpha} reaches the size R_p of the plateau overlaps, after which the
    nonlinear exit to eps_g = eps_p / 2 takes a further c_exit / sigma.  None when there is no
    escape rate (``sigma`` None: ``Plateau.escape_rate_reason``)."""
    if sigma is None:
        return None
    a_u = check_float("a_u", a_u, lo=0.0, lo_open=True)
    R_p = check_float("R_p", R_p, lo=0.0, lo_open=True)
    sigma = check_float("sigma (escape rate)", sigma, lo=0.0, lo_open=True)
    return (np.log(R_p / a_u) + c_exit) / sigma
