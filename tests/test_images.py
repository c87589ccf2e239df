"""Real natural-image inputs (``twolayer.data.images``): bundled images, patches, PCA basis, beta
fit, CIFAR-5m loader, and SGD on sampled real inputs (paper Fig. 3 right)."""

from __future__ import annotations

import importlib.metadata
import math

import numpy as np
import pytest
from scipy.special import erf

from twolayer import Config, eps_g, simulate
from twolayer.analysis import default_fit_window, fit_beta
from twolayer.data import DatasetInputs, GivenInputs, images as im
from twolayer.state import init_weights
from twolayer.experiments import simulate_on_data
from twolayer.problem.spectrum import eigenvalues as powerlaw_eigenvalues
from twolayer.problem.spectrum import lambda_plus


@pytest.fixture(scope="module")
def small():
    """8 x 8 patches (N = 64) of the bundled images: 6000 training, 800 held out."""
    return im.patch_dataset(n_patches=6000, size=8, seed=3, holdout=0.2, n_test=800)


# --------------------------------------------------------------------------------------------
# bundled images
# --------------------------------------------------------------------------------------------
def test_bundled_images_ship_in_the_scikit_image_wheel():
    paths = im.bundled_image_paths()
    assert tuple(paths) == im.BUNDLED_IMAGES
    record = {str(f).replace("\\", "/") for f in importlib.metadata.files("scikit-image")}
    for name, p in paths.items():
        assert p.is_file()
        assert p.parent.name == "data" and p.parent.parent.name == "skimage"
        assert f"skimage/data/{p.name}" in record, f"{name} is not in the installed wheel's RECORD"


def test_bundled_images_are_grayscale_unit_interval():
    imgs = im.bundled_images()
    assert len(imgs) == len(im.BUNDLED_IMAGES) == 11
    for a in imgs:
        assert a.ndim == 2 and a.dtype == np.float64 and min(a.shape) >= 300
        assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0.02
    imgs[0][:] = 0.0  # copies: the cache is not touched
    assert im.bundled_images(["astronaut"])[0].max() > 0
    half = im.bundled_images("camera", downscale=2)[0]
    full = im.bundled_images("camera")[0]
    assert half.shape == (256, 256)
    np.testing.assert_allclose(half[3, 5], full[6:8, 10:12].mean(), atol=1e-15)
    with pytest.raises(ValueError, match="names"):
        im.bundled_images(["lena"])
    with pytest.raises(ValueError, match="downscale"):
        im.bundled_images(downscale=0)


def test_grayscale_is_bt601_luma():
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
    g = im.to_grayscale(rgb)
    np.testing.assert_allclose(g, [[0.299, 0.587], [0.114, 1.0]], atol=1e-15)
    rgba = np.concatenate([rgb, np.zeros((2, 2, 1), np.uint8)], axis=-1)
    np.testing.assert_array_equal(im.to_grayscale(rgba), g)


# --------------------------------------------------------------------------------------------
# patches
# --------------------------------------------------------------------------------------------
def test_strided_patches_are_row_major_slices():
    a = np.arange(20 * 30, dtype=float).reshape(20, 30)
    b = np.arange(12 * 12, dtype=float).reshape(12, 12) + 1e4
    P = im.extract_patches([a, b], size=4, stride=5)
    expect = [img[r : r + 4, c : c + 4].ravel()
              for img in (a, b)
              for r in range(0, img.shape[0] - 3, 5)
              for c in range(0, img.shape[1] - 3, 5)]
    np.testing.assert_array_equal(P, np.array(expect))
    assert P.shape == (4 * 6 + 2 * 2, 16)


def test_random_patches_shape_validity_and_determinism():
    a = np.arange(40 * 50, dtype=float).reshape(40, 50)  # value encodes the position
    b = np.arange(33 * 33, dtype=float).reshape(33, 33) + 1e5
    P = im.extract_patches([a, b], size=6, n_patches=500, seed=11)
    assert P.shape == (500, 36)
    seen = set()
    for p in P:
        img = a if p[0] < 1e5 else b
        r, c = divmod(int(p[0] - (0 if img is a else 1e5)), img.shape[1])
        np.testing.assert_array_equal(p, img[r : r + 6, c : c + 6].ravel())
        seen.add((img is a, r, c))
    assert len(seen) == 500  # drawn without replacement
    np.testing.assert_array_equal(P, im.extract_patches([a, b], 6, 500, seed=11))
    assert not np.array_equal(P, im.extract_patches([a, b], 6, 500, seed=12))
    with pytest.raises(ValueError, match="n_patches"):
        im.extract_patches([a], 6, n_patches=10**6)
    with pytest.raises(ValueError, match="size"):
        im.extract_patches([b], size=34, n_patches=1)


def test_split_images_gives_disjoint_strips():
    a = np.arange(100 * 40, dtype=float).reshape(100, 40)
    (tr,), (te,) = im.split_images([a], holdout=0.25, size=8)
    assert tr.shape == (75, 40) and te.shape == (25, 40)
    assert np.intersect1d(tr, te).size == 0
    with pytest.raises(ValueError, match="holdout"):
        im.split_images([a], holdout=0.05, size=8)
    with pytest.raises(ValueError, match="holdout"):
        im.split_images([a], holdout=1.0, size=8)
    assert im.split_images([a], holdout=0.0, size=8)[1] == []


# --------------------------------------------------------------------------------------------
# PCA data set
# --------------------------------------------------------------------------------------------
def test_patch_dataset_centring_normalisation_and_rotation(small):
    d = small
    assert (d.N, d.side, d.n_train, d.n_test) == (64, 8, 6000, 800)
    X = d.patches
    assert X.shape == (6000, 64)
    assert np.max(np.abs(X.mean(axis=0))) < 1e-12  # centred
    lam = d.eigenvalues
    assert abs(lam.mean() - 1.0) < 1e-12  # Tr Sigma = N
    assert np.all(np.diff(lam) <= 0) and lam[-1] > 0
    np.testing.assert_array_equal(d.covariance_spectrum, lam)
    V = d.eigenvectors
    assert np.max(np.abs(V.T @ V - np.eye(64))) < 1e-10
    assert np.max(np.abs(V @ V.T - np.eye(64))) < 1e-10
    np.testing.assert_allclose(d.covariance, X.T @ X / d.n_train, rtol=0, atol=1e-10 * lam[0])
    np.testing.assert_allclose((V * lam) @ V.T, d.covariance, rtol=0, atol=1e-10 * lam[0])
    Z = d.train_pca
    np.testing.assert_allclose(Z.T @ Z / d.n_train, np.diag(lam), rtol=0, atol=1e-10 * lam[0])
    assert np.all(V[np.argmax(np.abs(V), axis=0), np.arange(64)] > 0)  # sign convention
    assert not d.train_pca.flags.writeable


def test_patch_dataset_matches_raw_patches_and_is_deterministic(small):
    d = small
    train_imgs, test_imgs = im.split_images(im.bundled_images(), 0.2, 8)
    s_train, s_test = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(3).spawn(2))
    raw = im.extract_patches(train_imgs, 8, 6000, s_train)
    raw_test = im.extract_patches(test_imgs, 8, 800, s_test)
    np.testing.assert_allclose(d.mean, raw.mean(axis=0), atol=1e-14)
    np.testing.assert_allclose(d.transform(raw), d.train_pca, atol=1e-10)
    np.testing.assert_allclose(d.transform(raw_test), d.test_pca, atol=1e-10)
    again = im.patch_dataset(n_patches=6000, size=8, seed=3, holdout=0.2, n_test=800)
    np.testing.assert_array_equal(again.train_pca, d.train_pca)
    np.testing.assert_array_equal(again.test_pca, d.test_pca)
    other = im.patch_dataset(n_patches=6000, size=8, seed=4, holdout=0.2, n_test=800)
    assert not np.array_equal(other.eigenvalues, d.eigenvalues)
    np.testing.assert_allclose(
        im.patch_spectrum(n_patches=6000, size=8, seed=3), d.eigenvalues, rtol=1e-10, atol=1e-12
    )


def test_pca_dataset_of_known_gaussian_data():
    rng = np.random.default_rng(0)
    N, n = 16, 40_000
    lam_true = powerlaw_eigenvalues(N, 0.5)
    Q, _ = np.linalg.qr(rng.standard_normal((N, N)))
    X = 3.0 + 0.1 * (rng.standard_normal((n, N)) * np.sqrt(lam_true)) @ Q.T
    d = im.pca_dataset(X[:30_000], X[30_000:])
    assert d.side is None and d.n_test == 10_000
    assert abs(d.eigenvalues.mean() - 1) < 1e-12
    np.testing.assert_allclose(d.eigenvalues, lam_true, rtol=0.05)  # sampling error ~ sqrt(2/n)
    np.testing.assert_allclose(d.scale, 10.0, rtol=0.02)
    with pytest.raises(ValueError, match="side"):
        im.pca_dataset(X[:100], side=5)


# --------------------------------------------------------------------------------------------
# beta
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.3, 1.0, 2.5])
def test_fit_beta_recovers_exact_power_law(beta):
    lam = powerlaw_eigenvalues(1024, beta)
    for lo, hi in [(None, None), (1, 1025), (50, 60)]:
        b, lp = fit_beta(lam, lo, hi)
        assert abs(b - beta) < 1e-8
        assert abs(lp / lambda_plus(1024, beta) - 1) < 1e-8


def test_fit_beta_window_and_errors():
    assert default_fit_window(1024) == (10, 513)
    assert default_fit_window(16) == (2, 9)
    lam = powerlaw_eigenvalues(64, 1.0)
    with pytest.raises(ValueError, match="hi"):
        fit_beta(lam, 10, 11)
    with pytest.raises(ValueError, match="lo"):
        fit_beta(lam, 0, 10)
    with pytest.raises(ValueError, match="> 0"):
        fit_beta(np.r_[lam[:-5], np.zeros(5)], 50, 65)


def test_bundled_image_spectrum_is_a_plausible_power_law():
    lam = im.patch_spectrum(n_patches=20_000, size=32, seed=0)
    beta, lp = fit_beta(lam)  # window [10, 513)
    print(f"bundled 32x32 patches: beta = {beta:.3f}, lambda_+ fit = {lp:.1f}, "
          f"lambda_1 = {lam[0]:.1f}, lambda_1024 = {lam[-1]:.2e}")
    assert lam.shape == (1024,) and abs(lam.mean() - 1) < 1e-12 and lam[-1] > 0
    assert math.isfinite(beta) and 0 < beta < 2
    assert math.isfinite(lp) and lp > 0


# --------------------------------------------------------------------------------------------
# CIFAR-5m loader
# --------------------------------------------------------------------------------------------
def _write_parts(tmp_path, sizes, compressed=False):
    rng = np.random.default_rng(5)
    parts = []
    save = np.savez_compressed if compressed else np.savez
    for i, n in enumerate(sizes):
        X = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        Y = rng.integers(0, 10, size=n)
        save(tmp_path / f"cifar5m_part{i}.npz", X=X, Y=Y)
        parts.append((X, Y))
    return parts


def _gray(X):
    return (X.astype(float) @ np.array([0.299, 0.587, 0.114]) / 255.0).reshape(len(X), 1024)


@pytest.mark.parametrize("compressed", [False, True])
def test_load_cifar5m_directory_and_file(tmp_path, compressed):
    parts = _write_parts(tmp_path, [5, 4], compressed)
    Xall = np.concatenate([p[0] for p in parts])
    Yall = np.concatenate([p[1] for p in parts])
    X = im.load_cifar5m(tmp_path, n=7)  # crosses from part0 into part1
    assert X.shape == (7, 1024) and X.dtype == np.float64
    np.testing.assert_allclose(X, _gray(Xall[:7]), atol=1e-14)
    assert 0 <= X.min() and X.max() <= 1
    X, Y = im.load_cifar5m(tmp_path, return_labels=True)
    np.testing.assert_allclose(X, _gray(Xall), atol=1e-14)
    np.testing.assert_array_equal(Y, Yall)
    X1 = im.load_cifar5m(tmp_path / "cifar5m_part1.npz", n=3, grayscale=False)
    np.testing.assert_allclose(X1, parts[1][0][:3].reshape(3, 3072) / 255.0, atol=1e-15)
    with pytest.raises(ValueError, match="n = 10"):
        im.load_cifar5m(tmp_path, n=10)


def test_load_cifar5m_env_var_and_errors(tmp_path, monkeypatch):
    parts = _write_parts(tmp_path, [3])
    monkeypatch.setenv(im.CIFAR5M_ENV, str(tmp_path))
    np.testing.assert_allclose(im.load_cifar5m(n=2), _gray(parts[0][0][:2]), atol=1e-14)
    monkeypatch.setenv(im.CIFAR5M_ENV, str(tmp_path / "cifar5m_part0.npz"))
    assert im.load_cifar5m().shape == (3, 1024)
    monkeypatch.delenv(im.CIFAR5M_ENV)
    with pytest.raises(FileNotFoundError, match="CIFAR5M_PATH"):
        im.load_cifar5m()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="CIFAR5M_PATH"):
        im.load_cifar5m(empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        im.load_cifar5m(tmp_path / "nope")
    np.savez(tmp_path / "bad.npz", X=np.zeros((2, 28, 28), np.uint8), Y=np.zeros(2))
    with pytest.raises(ValueError, match=r"\(n, 32, 32, 3\)"):
        im.load_cifar5m(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="n must be"):
        im.load_cifar5m(tmp_path, n=0)


def test_cifar5m_dataset(tmp_path):
    _write_parts(tmp_path, [40, 30])
    d = im.cifar5m_dataset(n_train=60, n_test=10, path=tmp_path)
    assert (d.N, d.side, d.n_train, d.n_test) == (1024, 32, 60, 10)
    assert abs(d.eigenvalues.mean() - 1) < 1e-12


# --------------------------------------------------------------------------------------------
# SGD on real inputs
# --------------------------------------------------------------------------------------------
def test_dataset_input_stream(small):
    src = DatasetInputs(small.train_pca).source(Config(N=64), 7)
    chunked = np.concatenate([src.draw(3), src.draw(0), src.draw(5)])
    whole = DatasetInputs(small.train_pca).source(Config(N=64), 7).draw(8)
    np.testing.assert_array_equal(chunked, whole)  # independent of chunking
    assert chunked.shape == (8, 64)
    assert not np.array_equal(DatasetInputs(small.train_pca).source(Config(N=64), 8).draw(8), chunked)
    idx = DatasetInputs(small.train_pca).source(Config(N=64), 1).indices(200_000)
    assert idx.min() == 0 and idx.max() == small.n_train - 1


@pytest.mark.parametrize("activation", ["erf", "linear"])
def test_simulate_on_data_matches_direct_recomputation(small, activation):
    d = small
    cfg = Config(N=64, K=2, M=2, eta=0.05, sigma_J=0.01, activation=activation, spectrum=tuple(d.eigenvalues))
    alpha = np.array([1, 5, 20, 64, 150]) / 64
    traj, test_err = simulate_on_data(cfg, d, alpha, seeds=(0, 1))
    assert traj.eps_g.shape == test_err.shape == (2, 5)
    C = d.train_pca.T @ d.train_pca / d.n_train  # dense empirical covariance, PCA basis
    g = (lambda h: erf(h / math.sqrt(2))) if activation == "erf" else (lambda h: h)
    for s, seed in enumerate((0, 1)):
        J, B = init_weights(cfg, seed)
        src = DatasetInputs(d.train_pca).source(cfg, seed)
        done = 0
        for p, target in enumerate(np.round(alpha * 64).astype(int)):
            X = src.draw(target - done)
            J = simulate(cfg, [len(X) / 64], seeds=seed, inputs=GivenInputs(X), weights=(J, B),
                         record_weights=True).info["J"][0, -1]
            done = target
            Q, R, T = J @ C @ J.T / 64, J @ C @ B.T / 64, B @ C @ B.T / 64
            theory = eps_g(Q, R, T, activation)
            assert abs(traj.eps_g[s, p] - theory) <= 1e-9 * theory
            Xt = d.test_pca
            test = 0.5 * np.mean((g(Xt @ J.T / 8).sum(1) - g(Xt @ B.T / 8).sum(1)) ** 2)
            assert abs(test_err[s, p] - test) <= 1e-10 * test
            if activation == "linear":  # Gaussian value = exact mean over the training rows
                Xs = d.train_pca
                train = 0.5 * np.mean(((Xs @ (J - B).T).sum(1) / 8) ** 2)
                assert abs(traj.eps_g[s, p] - train) <= 1e-9 * train
    assert traj.mean()[-1] < traj.mean()[0]  # learning happens


def test_simulate_on_data_validation(small):
    spec = tuple(small.eigenvalues)
    with pytest.raises(ValueError, match="config.N"):
        simulate_on_data(Config(N=128), small, [1.0])
    with pytest.raises(ValueError, match="spectrum"):
        simulate_on_data(Config(N=64), small, [1.0])
    no_test = im.pca_dataset(small.patches[:500])
    with pytest.raises(ValueError, match="held-out"):
        simulate_on_data(Config(N=64, spectrum=tuple(no_test.eigenvalues)), no_test, [1.0])
    with pytest.raises(ValueError, match="increasing"):
        simulate_on_data(Config(N=64, spectrum=spec), small, [2.0, 1.0])
