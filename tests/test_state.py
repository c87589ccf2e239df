"""The resolved setting, the block state and the block ODE's right-hand side (twolayer.state,
twolayer.theory.blocks), and a chapter's preamble and tables (twolayer.book, twolayer.report)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import twolayer as tl
from twolayer.state import BlockState, global_overlaps, pack, unpack
from twolayer.theory.blocks import rhs

CFG = tl.Config(N=96, L=6, K=3, M=2, eta=0.3, noise=0.2, trainable=64)


def test_setting_is_built_once_with_the_rates():
    st = tl.resolve(CFG)
    assert tl.resolve(CFG) is st and tl.resolve(st) is st
    g = st.groups
    assert np.array_equal(st.rate, CFG.eta * g.lam * g.trainable)
    assert np.array_equal(st.rate2, st.rate * CFG.eta * g.frac)
    assert np.array_equal(st.second_order, CFG.eta * g.frac)
    assert st.rate[~g.trainable].max() == 0.0 and st.rate[g.trainable].min() > 0.0
    assert np.array_equal(st.v, CFG.student_weights) and np.array_equal(st.vT, CFG.teacher_weights)
    assert st.noise2 == pytest.approx(0.04, rel=1e-15)
    assert st.eta2_strength == pytest.approx(0.09 * float(np.sum(g.frac * g.trainable * g.lam**2)), rel=1e-15)
    assert not st.rate.flags.writeable
    with pytest.raises(ValueError, match="config must be a Config"):
        tl.resolve({"N": 4})


def test_setting_averages_are_the_gaussian_ones():
    st = tl.resolve(CFG)
    s0 = tl.initial_state(CFG, "sampled", 3)
    Q, R, T = s0.global_overlaps(st.lam)
    assert st.eps_g(Q, R, T) == tl.eps_g(Q, R, T, "erf", CFG.student_weights, CFG.teacher_weights)
    E = tl.delta_delta(Q, R, T, "erf", CFG.student_weights, CFG.teacher_weights, CFG.noise)
    assert np.array_equal(st.delta_delta(Q, R, T), E)


def test_initial_state_sampled_and_mean():
    st = tl.resolve(CFG)
    J, B = tl.init_weights(CFG, 5)
    s = tl.initial_state(CFG, "sampled", 5)
    Q, R, T = tl.overlaps(J, B, tl.problem.spectrum.coordinate_eigenvalues(CFG))
    Qs, Rs, Ts = s.global_overlaps(st.lam)
    assert np.allclose(Qs, Q, rtol=1e-12, atol=1e-15) and np.allclose(Rs, R, rtol=1e-12, atol=1e-15)
    m = tl.initial_state(CFG, "mean")
    assert np.allclose(m.q, CFG.sigma_J**2 * st.groups.frac[:, None, None] * np.eye(3), rtol=1e-15)
    assert not m.r.any()


@pytest.mark.parametrize("change, match", [
    (lambda q, r, t: (q[:1], r, t), "q0 must have shape"),
    (lambda q, r, t: (q, r * np.nan, t), "r0 must be finite"),
    (lambda q, r, t: (q, r + 10.0, t), "not a covariance"),
    (lambda q, r, t: (q + np.triu(np.ones(3), 1), r, t), "q0 must be symmetric"),
])
def test_block_state_checked_rejects(change, match):
    s = tl.initial_state(CFG, "mean")
    with pytest.raises(ValueError, match=match):
        tl.initial_state(CFG, change(s.q, s.r, s.t))


def test_pack_unpack_round_trip():
    s = tl.initial_state(CFG, "sampled", 1)
    q, r = unpack(pack(s.q, s.r), 3, 2)
    assert np.array_equal(q, s.q) and np.array_equal(r, s.r)
    assert s.pack().shape == (tl.resolve(CFG).groups.size, 6 + 6)


def test_rhs_is_the_integrators_derivative():
    """d Q / d alpha of the integrated ODE over a short step agrees with rhs (to O(h))."""
    cfg = CFG.replace(train_readout=True)
    st = tl.resolve(cfg)
    s0 = tl.initial_state(cfg, "sampled", 2)
    d = rhs(0.0, s0, st)
    assert isinstance(d, BlockState) and not d.t.any()
    h = 1e-5
    tr = tl.solve_ode(cfg, [h], seeds=(2,), rtol=1e-10, atol=1e-16)
    dQ = (tr.Q[0, 0] - s0.global_overlaps(st.lam)[0]) / h
    dQ_rhs = global_overlaps(d.q, d.r, d.t, st.lam)[0]
    assert np.allclose(dQ, dQ_rhs, rtol=1e-3, atol=1e-3 * np.abs(dQ_rhs).max())
    assert np.allclose((tr.v[0, 0] - s0.v) / h, d.v, rtol=1e-3, atol=1e-3 * np.abs(d.v).max())


def test_rhs_vanishes_at_the_plateau():
    cfg = tl.Config(N=64, L=4, K=2, M=2, eta=0.1)
    p = tl.theory.plateau.plateau(cfg, rate=False)
    d = rhs(0.0, BlockState(p.q, p.r, p.t, cfg.student_weights), cfg)
    assert max(np.abs(d.q).max(), np.abs(d.r).max()) < 1e-12


def test_book_setup_reads_the_environment():
    run = tl.book.setup(environ={"TWOLAYER_SCALE": "paper", "TWOLAYER_STORE": "/tmp/s"})
    assert run.paper and run.pick(1, 2) == 2 and run.store == "/tmp/s" and run.client is None
    assert run.figures == "../_build/figures"
    d = tl.book.setup(environ={})
    assert not d.paper and d.pick(1, 2) == 1 and d.store is None and d.scheduler is None
    with pytest.raises(ValueError, match="TWOLAYER_SCALE must be one of"):
        tl.book.setup(environ={"TWOLAYER_SCALE": "huge"})


def test_report_frame_prints_numbers_at_their_precision():
    df = pd.DataFrame({"L": [1, 16], "eps": [0.0123456, np.nan], "dev": [3e-7, 0.02], "ok": [True, False]})
    t = tl.report.frame(df, 2, formats={"dev": tl.report.sig, "eps": ".3f"})
    lines = repr(t).splitlines()
    assert lines[0].split() == ["L", "eps", "dev", "ok"]
    assert lines[1].split() == ["1", "0.012", "3×10⁻⁷", "True"]
    assert lines[2].split() == ["16", "-", "0.02", "False"]
    with pytest.raises(ValueError, match="formats names columns"):
        tl.report.frame(df, formats={"nope": 2})
    with pytest.raises(ValueError, match="characters wide"):
        tl.report.frame(pd.DataFrame({"x" * 120: [1.0]}))
