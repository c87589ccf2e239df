"""The asymptotic phase: relaxation to the specialised fixed point, exponential and power law.

Chapter "The asymptotic phase" (``chapters/04_asymptotic.md``).  At the specialised fixed point
every student unit copies one teacher unit, J_i = B_i, so in every group q^g = r^g = t^g
(Eq. {eq}`eq-asy-fp`); there y = sigma for every input, E[delta delta^T] = 0 too, and the point is
an exact fixed point of the block ODEs.  Writing r^g = t^g + d^g and q^g = t^g + w^g + d^g + d^gT
the block ODEs give without approximation (Eqs. {eq}`eq-asy-w`, {eq}`eq-asy-d`)

    dw^g/dalpha = eta lambda_g (G_h w^g + w^g G_h + C d^gT + d^g C^T) + eta^2 lambda_g f_g E
    dd^g/dalpha = eta lambda_g (G_h d^g + C t^g),          C = G_h + G_rho,

with C = 0 at the fixed point.  Linearised, the Jacobian is block triangular in (w, d), its
spectrum splits into w rates nu and d rates mu, and eps_g decays with the rates nu and 2 mu: for
L = 1 the rate is kappa = min(nu_min, 2 mu_min) (Eq. {eq}`eq-asy-rate`).  For many groups the
slow groups are unlearned when the plateau ends and relax on their own with -eta lambda_g P
(P = G_rho at the fixed point), giving the superposition S(alpha) of Eq. {eq}`eq-asy-sum`, a power
law alpha^{-beta/(1+beta)} inside its window (``twolayer.theory.spectral``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..gaussian.averages import delta_delta
from ..problem.checks import (
    check_alpha,
    check_constant_rate,
    check_float,
    check_int,
    check_seed,
)
from ..problem.config import Config
from ..problem.spectrum import coordinate_eigenvalues, groups
from ..state.blocks import global_overlaps, pack, unpack
from ..state.setting import Setting, resolve
from ..state.weights import init_weights, initial_state, overlaps
from . import spectral
from .plateau import jacobian_matrix

__all__ = [
    "RelaxationRates",
    "continuum_curve",
    "decoupled_curve",
    "eta2_renormalisation",
    "evaluation_floor",
    "fixed_point_P",
    "jacobian",
    "noise_floor",
    "powerlaw_window",
    "relaxation_rates",
    "renormalised_curve",
    "specialised_point",
]


def _check(config) -> Setting:
    st = resolve(config)
    config = st.config
    if config.activation == "linear":
        raise ValueError("activation must be nonlinear for the specialised fixed point")
    if config.K != config.M:
        raise ValueError(f"K must equal M (the specialised point J_i = B_i), got K={config.K}, M={config.M}")
    if config.trainable is not None and config.trainable != config.N:
        raise ValueError("trainable must be None (all directions trained) for the specialised point")
    if not config.uniform_readout:
        raise ValueError("the specialised point is written for fixed, uniform second layers")
    return st


def specialised_point(config: Config, init="sampled", seed: int = 0):
    """Block overlaps (q, r, t) of the specialised fixed point J = B: q^g = r^g = t^g
    (Eq. {eq}`eq-asy-fp`), with the teacher of ``init`` (the seed's, or t^g = f_g I)."""
    check_constant_rate(config, "the asymptotic-phase theory (specialised_point)")
    _check(config)
    t = initial_state(config, init, seed).t
    return t.copy(), t.copy(), t


def fixed_point_P(config: Config, init="sampled", seed: int = 0) -> np.ndarray:
    """P = G_rho = -G_h = E[g'(rho_i) g'(rho_j)] at the specialised point (K x K)."""
    check_constant_rate(config, "the asymptotic-phase theory (fixed_point_P)")
    st = resolve(config)
    q, r, t = specialised_point(st, init, seed)
    return st.stein(*global_overlaps(q, r, t, st.lam))[1]


def _pack_wd(w, d):
    """x = (every group's upper triangle of w, then every d^g): ``pack`` per group, w block first."""
    n = w.shape[-1] * (w.shape[-1] + 1) // 2
    x = pack(w, d)
    return np.concatenate([x[:, :n].ravel(), x[:, n:].ravel()])


def _unpack_wd(x, G, K, M):
    n_w = G * K * (K + 1) // 2
    return unpack(np.concatenate([x[:n_w].reshape(G, -1), x[n_w:].reshape(G, -1)], axis=1), K, M)


def jacobian(config: Config, init="sampled", seed: int = 0, *, eta2: bool = True):
    """The Jacobian of the block ODEs at the specialised point in the coordinates
    x = (w^g upper triangles, d^g) of Eqs. {eq}`eq-asy-w`, {eq}`eq-asy-d`: the library's one
    linearisation (``plateau.jacobian_matrix``) after the linear change of variables
    r = t + d, q = t + w + d + d^T; ``eta2=False`` drops the O(eta^2) term.  Returns (A, n_w); the
    first n_w coordinates are w."""
    check_constant_rate(config, "the asymptotic-phase theory (jacobian)")
    q0, r0, t = specialised_point(config, init, seed)
    G, K, M = groups(config).size, config.K, config.M
    if G > 64:
        raise ValueError(f"jacobian is meant for few groups (L <= 64), got L={config.L}")
    n_w = G * K * (K + 1) // 2
    n = n_w + G * K * M
    Jqr = jacobian_matrix(config, q0, r0, t, eta2=eta2)
    to_qr = np.empty((n, n))
    to_wd = np.empty((n, n))
    for j, e in enumerate(np.eye(n)):
        w, d = _unpack_wd(e, G, K, M)
        to_qr[:, j] = pack(w + d + d.swapaxes(-1, -2), d).ravel()
        q, r = unpack(e.reshape(G, -1), K, M)
        to_wd[:, j] = _pack_wd(q - r - r.swapaxes(-1, -2), r)
    return to_wd @ Jqr @ to_qr, n_w


@dataclass(frozen=True)
class RelaxationRates:
    """Linear relaxation at the specialised point (Eq. {eq}`eq-asy-rate`).

    p: eigenvalues of P; nu: decay rates of the w block; mu: of the d block (ascending);
    coupling_wd: largest |dw'/dd| (zero: the Jacobian is block triangular);
    kappa = min(nu_min, 2 mu_min): the predicted exponential rate of eps_g."""

    p: np.ndarray
    nu: np.ndarray
    mu: np.ndarray
    coupling_wd: float

    @property
    def kappa(self) -> float:
        return float(min(self.nu[0], 2 * self.mu[0]))


def relaxation_rates(config: Config, init="sampled", seed: int = 0, *, eta2: bool = True) -> RelaxationRates:
    """Decay rates of the linearised block ODEs at the specialised point (Eq. {eq}`eq-asy-rate`);
    ``eta2=False``: of the small-eta ODE without the O(eta^2) term."""
    check_constant_rate(config, "the asymptotic-phase theory (relaxation_rates)")
    A, n_w = jacobian(config, init, seed, eta2=eta2)
    nu = np.sort(-np.linalg.eigvals(A[:n_w, :n_w]).real)
    mu = np.sort(-np.linalg.eigvals(A[n_w:, n_w:]).real)
    p = np.linalg.eigvalsh(fixed_point_P(config, init, seed))
    return RelaxationRates(p=p, nu=nu, mu=mu, coupling_wd=float(np.abs(A[:n_w, n_w:]).max()))


def decoupled_curve(config: Config, alpha, init="sampled", seed: int = 0) -> np.ndarray:
    """S(alpha) of Eq. {eq}`eq-asy-sum`: every group starts unlearned and relaxes with
    -eta lambda_g P, without the global coupling and the O(eta^2) term."""
    check_constant_rate(config, "the asymptotic-phase theory (decoupled_curve)")
    _check(config)
    alpha = check_alpha(alpha, allow_zero=True)
    _, _, t = specialised_point(config, init, seed)
    grp = groups(config)
    p, V = np.linalg.eigh(fixed_point_P(config, init, seed))
    tt = np.einsum("ka,gkl,la->ga", V, t, V)  # diagonal of t^g in the eigenbasis of P
    amp = grp.lam[:, None] * p[None, :] * tt
    rate = 2 * resolve(config).rate[:, None] * p[None, :]
    return 0.5 * np.einsum("ga,pga->p", amp, np.exp(-rate[None] * alpha[:, None, None]))


def continuum_curve(config: Config, alpha, p, cutoffs: bool = True) -> np.ndarray:
    """The continuum limit of S(alpha) for t^g = f_g I (Eq. {eq}`eq-asy-power`):
    ``spectral.continuum_sum`` with rates 2 eta p_k and amplitudes p_k / 2."""
    check_constant_rate(config, "the asymptotic-phase theory (continuum_curve)")
    p = np.atleast_1d(np.asarray(p, dtype=np.float64))
    return spectral.continuum_sum(config.L, config.beta, alpha, 2 * config.eta * p, 0.5 * p, cutoffs)


def powerlaw_window(config: Config, p) -> tuple[float, float]:
    """(1/(2 eta p_min lambda_1), 1/(2 eta p_max lambda_L)): the window of Eq. {eq}`eq-asy-window`."""
    check_constant_rate(config, "the asymptotic-phase theory (powerlaw_window)")
    return spectral.powerlaw_window(config.L, config.beta, 2 * config.eta * np.atleast_1d(p))


def eta2_renormalisation(config: Config, init="sampled", seed: int = 0) -> np.ndarray:
    """The O(eta^2) feed-back as a constant factor on the late-time W (Eq. {eq}`eq-asy-renorm`):
    W -> (1 - eta S^{-1} E)^{-1} W with S(w) = P w + w P and E = dE[delta delta^T]/dW at the
    fixed point; returned as a (K, K, K, K) array."""
    check_constant_rate(config, "the asymptotic-phase theory (eta2_renormalisation)")
    q, r, t = specialised_point(config, init, seed)
    _, _, T = global_overlaps(q, r, t, groups(config).lam)
    P = fixed_point_P(config, init, seed)
    K = config.K
    n = K * K
    h = 1e-6
    Smat, Emat = np.zeros((n, n)), np.zeros((n, n))
    st = resolve(config)
    for k in range(K):
        for l in range(K):
            W = np.zeros((K, K))
            W[k, l] += 0.5
            W[l, k] += 0.5
            Smat[:, k * K + l] = (P @ W + W @ P).ravel()
            # without label noise: its own stationary floor is ``noise_floor``
            Emat[:, k * K + l] = (delta_delta(T + h * W, T, T, st.activation, st.v, st.vT)
                                  - delta_delta(T - h * W, T, T, st.activation, st.v, st.vT)).ravel() / (2 * h)
    return np.linalg.inv(np.eye(n) - config.eta * np.linalg.pinv(Smat) @ Emat).reshape(K, K, K, K)


def renormalised_curve(config: Config, alpha, init="sampled", seed: int = 0) -> np.ndarray:
    """S(alpha) with the O(eta^2) renormalisation of Eq. {eq}`eq-asy-renorm`."""
    check_constant_rate(config, "the asymptotic-phase theory (renormalised_curve)")
    alpha = check_alpha(alpha, allow_zero=True)
    _, _, t = specialised_point(config, init, seed)
    grp = groups(config)
    P = fixed_point_P(config, init, seed)
    p, V = np.linalg.eigh(P)
    E = np.exp(-resolve(config).rate[None, :, None] * p[None, None, :] * alpha[:, None, None])
    tt = np.einsum("ka,gkl,lb->gab", V, t, V)
    W0 = np.einsum("g,xga,gab,xgb->xab", grp.lam, E, tt, E)
    W0 = np.einsum("ka,xab,lb->xkl", V, W0, V)
    W = np.einsum("ijkl,xkl->xij", eta2_renormalisation(config, init, seed), W0)
    return 0.5 * np.einsum("ij,xji->x", P, W)


def noise_floor(config: Config, init="sampled", seed: int = 0, *, leading: bool = False) -> float:
    """The stationary eps_g with label noise of variance ``config.noise``^2 (eps_g without the
    noise variance itself), Eq. {eq}`eq-beyond-noise-floor`.

    At the specialised point the noise feeds the w blocks through the O(eta^2) term,
    eta^2 lambda_g f_g noise^2 P; the linearised block ODE (``jacobian``, with its own O(eta^2)
    feedback) relaxes against it to the stationary state x = -A^{-1} b, whose eps_g is returned.
    ``leading=True`` returns the leading order in eta instead: P W + W P = eta noise^2 P gives
    W = eta noise^2 I / 2 and eps_g = eta noise^2 tr(P) / 4, the same for every spectrum."""
    check_constant_rate(config, "the asymptotic-phase theory (noise_floor)")
    _check(config)
    if config.noise == 0.0:
        return 0.0
    P = fixed_point_P(config, init, seed)
    if leading:
        return float(config.eta * config.noise**2 * np.trace(P) / 4.0)
    A, n_w = jacobian(config, init, seed)
    q0, r0, t = specialised_point(config, init, seed)
    grp = groups(config)
    K, M = config.K, config.M
    src_q = (resolve(config).rate2[:, None, None] * config.noise**2) * P[None]
    b = _pack_wd(src_q, np.zeros((grp.size, K, M)))
    x = np.linalg.solve(A, -b)
    w, d = _unpack_wd(x, grp.size, K, M)
    Q, R, T = global_overlaps(t + w + d + d.swapaxes(-1, -2), t + d, t, grp.lam)
    return float(_raw_eps(Q, R, T, resolve(config)))


def evaluation_floor(config: Config, seed: int = 0, samples: int = 64, ulps: float = 4.0):
    """Precision floor of eps_g in float64 near the specialised point: the largest |eps_g| over
    ``samples`` states that are the fixed point up to ``ulps`` units in the last place (the true
    eps_g is below 1e-28): (a) weights J = B (1 + u) evaluated like the simulation, (b) block
    overlaps q = t (1 + u), r = t (1 + u') as in the ODE state.  Returns (floor_a, floor_b)."""
    check_constant_rate(config, "the asymptotic-phase theory (evaluation_floor)")
    _check(config)
    seed = check_seed(seed)
    samples = check_int("samples", samples, 1, 10_000)
    ulps = check_float("ulps", ulps, lo=0.0, lo_open=True)
    rng = np.random.default_rng(12345 + seed)
    u = ulps * np.finfo(float).eps
    _, B = init_weights(config, seed)
    lam = coordinate_eigenvalues(config)
    grp = groups(config)
    _, _, t = specialised_point(config, "sampled", seed)
    st = resolve(config)
    fw = fo = 0.0
    for _ in range(samples):
        J = B * (1 + u * rng.uniform(-1, 1, B.shape))
        Q, R, T = overlaps(J, B, lam)
        Q = 0.5 * (Q + Q.T)
        fw = max(fw, abs(_raw_eps(Q, R, T, st)))
        qq = t * (1 + u * rng.uniform(-1, 1, t.shape))
        qq = 0.5 * (qq + qq.swapaxes(-1, -2))
        rr = t * (1 + u * rng.uniform(-1, 1, t.shape))
        Q, R, T = global_overlaps(qq, rr, t, grp.lam)
        fo = max(fo, abs(_raw_eps(Q, R, T, st)))
    return fw, fo


def _raw_eps(Q, R, T, st: Setting) -> float:
    """1/2 (v g v + vT g vT - 2 v g vT) without the clamp at zero (to see the round-off)."""
    act, v, vT = st.activation, st.v, st.vT
    dQ, dT = np.diag(Q), np.diag(T)
    qq = np.einsum("i,j,ij->", v, v, act.gg(dQ[:, None], dQ[None, :], Q))
    ss = np.einsum("i,j,ij->", vT, vT, act.gg(dT[:, None], dT[None, :], T))
    rr = np.einsum("i,j,ij->", v, vT, act.gg(dQ[:, None], dT[None, :], R))
    return float(0.5 * (qq + ss - 2.0 * rr))
