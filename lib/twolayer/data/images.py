"""Real natural-image inputs: bundled photographs, patches, their PCA basis and spectrum.

Chapter "Trainable dimensions" (``chapters/02_trainable_dims.md``).  Paper Fig. 3 (right) trains
the student on CIFAR-5m (32 x 32 grayscale images, N = 1024) and
evaluates the theory with the *empirical* data spectrum, whose power-law exponent the authors
estimate as beta ~ 0.3.  CIFAR-5m is several gigabytes and cannot be fetched here, so this module
builds the same kind of input from natural photographs that ship inside the scikit-image wheel
(``skimage/data/*.png|jpg``; nothing is downloaded, ``pooch`` is never used):

* ``bundled_images``  -- grayscale float images in [0, 1] (ITU-R BT.601 luma, as for CIFAR-5m);
* ``extract_patches`` -- seeded random (or strided) ``size x size`` patches, flattened row-major;
* ``patch_dataset``   -- centred, normalised patches with their empirical covariance, its
  eigen-decomposition and the inputs rotated to the PCA basis, plus a held-out test split
  (patches from a disjoint strip of every image, sharing no pixel with a training patch);
* ``load_cifar5m`` / ``cifar5m_dataset`` -- the same pipeline on CIFAR-5m's own files, for users
  who have them locally (argument or environment variable ``CIFAR5M_PATH``);

Online SGD on these inputs is the engine's ``DatasetInputs`` (``twolayer.data.inputs``), run by
``twolayer.experiments.real_data``.

Conventions: everything lives in the eigenbasis of Sigma with the largest eigenvalue first, and
the data are scaled so that the mean eigenvalue is 1 (Tr Sigma = N, as for the power law of the
introduction).  The empirical covariance is the second moment of the *empirical distribution*
of the training rows, (1/n) X^T X after centring, so drawing rows with replacement gives inputs
whose covariance is exactly ``eigenvalues`` in the PCA basis.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..problem.checks import check_float, check_int, check_seed

# ---------------------------------------------------------------------------------------------
# bundled natural images
# ---------------------------------------------------------------------------------------------
#: Natural photographs shipped inside the scikit-image wheel (``skimage/data/``), by their
#: ``skimage.data`` name.  Scientific / synthetic images (cell, ihc, retina, hubble_deep_field,
#: microaneurysms, phantom, logo, chessboard, color, horse), scanned documents (page, text), the
#: motion-blurred ``clock_motion`` and the right image of the stereo pair (a near duplicate of
#: ``motorcycle_left``) are deliberately left out.
BUNDLED_IMAGES = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "moon",
    "motorcycle_left",
    "rocket",
)

_FILES = {name: f"{name}.png" for name in BUNDLED_IMAGES}
_FILES["rocket"] = "rocket.jpg"

#: ITU-R BT.601 luma weights (R, G, B), used for the bundled images and for CIFAR-5m alike.
LUMA_601 = (0.299, 0.587, 0.114)

#: Environment variable naming a CIFAR-5m directory (``cifar5m_part{0..5}.npz``) or one .npz file.
CIFAR5M_ENV = "CIFAR5M_PATH"
CIFAR5M_PARTS = tuple(f"cifar5m_part{i}.npz" for i in range(6))


def _skimage_data_dir() -> Path:
    try:
        import skimage
    except ImportError as exc:  # pragma: no cover - scikit-image is in the "book" extra
        raise ImportError(
            "the bundled natural images come from the scikit-image wheel; install it with "
            "`pip install scikit-image` (extra `twolayer[book]`)"
        ) from exc
    return Path(skimage.__file__).resolve().parent / "data"


def bundled_image_paths(names=BUNDLED_IMAGES) -> dict[str, Path]:
    """Paths of the bundled images inside the installed scikit-image package.

    Raises ``FileNotFoundError`` if a file is missing: the images must already be in
    site-packages; this module never downloads anything.
    """
    root = _skimage_data_dir()
    out = {}
    for name in names:
        if name not in _FILES:
            raise ValueError(f"names must be drawn from BUNDLED_IMAGES {BUNDLED_IMAGES}, got {name!r}")
        p = root / _FILES[name]
        if not p.is_file():
            raise FileNotFoundError(
                f"bundled image {name!r} not found at {p}; it should ship inside the scikit-image "
                f"wheel (nothing is downloaded at run time)"
            )
        out[name] = p
    return out


def to_grayscale(img) -> np.ndarray:
    """Float grayscale image in [0, 1]: uint8 / 255, RGB(A) -> BT.601 luma (alpha dropped)."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        a = a.astype(np.float64) / 255.0
    else:
        a = a.astype(np.float64)
    if a.ndim == 3:
        if a.shape[-1] not in (3, 4):
            raise ValueError(f"img must be (H, W), (H, W, 3) or (H, W, 4), got shape {a.shape}")
        a = a[..., :3] @ np.asarray(LUMA_601)
    elif a.ndim != 2:
        raise ValueError(f"img must be (H, W), (H, W, 3) or (H, W, 4), got shape {a.shape}")
    return a


def _downscale(a: np.ndarray, factor: int) -> np.ndarray:
    """Block mean over factor x factor pixels (edge rows/columns that do not fill a block dropped)."""
    if factor == 1:
        return a
    h, w = (a.shape[0] // factor) * factor, (a.shape[1] // factor) * factor
    return a[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


@lru_cache(maxsize=None)
def _read(name: str) -> np.ndarray:
    from skimage.io import imread  # local file read through imageio; no network

    a = to_grayscale(imread(bundled_image_paths((name,))[name]))
    a.flags.writeable = False
    return a


def bundled_images(names=BUNDLED_IMAGES, downscale: int = 1) -> list[np.ndarray]:
    """The bundled natural images as grayscale float64 arrays in [0, 1] (fresh copies).

    ``names`` is a subset of ``BUNDLED_IMAGES`` (default: all 11).  ``downscale`` > 1 block-averages
    ``downscale x downscale`` pixels, so that a fixed-size patch covers more of the scene (CIFAR
    images are heavily downsampled photographs).
    """
    downscale = check_int("downscale", downscale, 1)
    names = tuple([names] if isinstance(names, str) else names)
    if not names:
        raise ValueError("names must hold at least one of BUNDLED_IMAGES")
    return [np.array(_downscale(_read(n), downscale)) for n in names]


# ---------------------------------------------------------------------------------------------
# patches
# ---------------------------------------------------------------------------------------------
def _as_images(images) -> list[np.ndarray]:
    if isinstance(images, np.ndarray) and images.ndim == 2:
        images = [images]
    imgs = [np.asarray(a, dtype=np.float64) for a in images]
    if not imgs:
        raise ValueError("images must hold at least one image")
    for a in imgs:
        if a.ndim != 2:
            raise ValueError(f"images must be 2-d grayscale arrays, got shape {a.shape}")
    return imgs


def split_images(images, holdout: float, size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Split every image into a top training strip and a bottom held-out strip.

    The bottom ``round(holdout * H)`` rows of each image form the held-out part; patches taken
    inside each part share no pixel.  Both strips must be at least ``size`` rows high (or the
    held-out list is empty when ``holdout == 0``).
    """
    imgs = _as_images(images)
    holdout = check_float("holdout", holdout, lo=0.0, hi=1.0, hi_open=True)
    train, test = [], []
    for a in imgs:
        h_test = int(round(holdout * a.shape[0]))
        h_train = a.shape[0] - h_test
        if h_train < size or (holdout > 0 and h_test < size):
            raise ValueError(
                f"holdout = {holdout} leaves strips of {h_train} and {h_test} rows of a {a.shape} "
                f"image; both must be >= size = {size} (choose holdout in "
                f"[{size / a.shape[0]:.3f}, {1 - size / a.shape[0]:.3f}] or a smaller size)"
            )
        train.append(a[:h_train])
        if holdout > 0:
            test.append(a[h_train:])
    return train, test


def extract_patches(images, size: int = 32, n_patches: int | None = None, seed: int = 0,
                    stride: int | None = None) -> np.ndarray:
    """``(n, size*size)`` patches of the grayscale ``images``, each flattened row-major.

    Random mode (``stride=None``): ``n_patches`` top-left corners drawn without replacement and
    uniformly from the pooled set of all valid positions of all images (larger images give more
    patches; patches overlap), in random order, from ``np.random.default_rng(SeedSequence(seed))``.
    Strided mode: every position on the grid ``(stride*i, stride*j)`` of every image, image by
    image; when ``n_patches`` is also given, a seeded random subset of that many grid patches.
    """
    imgs = _as_images(images)
    size = check_int("size", size, 1)
    seed = check_seed(seed)
    if stride is None and n_patches is None:
        raise ValueError("n_patches must be given for random patches (stride=None)")
    step = 1 if stride is None else check_int("stride", stride, 1)
    grid = []  # (rows, cols) of the position grid of each image
    for a in imgs:
        if a.shape[0] < size or a.shape[1] < size:
            raise ValueError(f"size must be <= the image sides, got size={size} for an image {a.shape}")
        grid.append(((a.shape[0] - size) // step + 1, (a.shape[1] - size) // step + 1))
    counts = np.array([r * c for r, c in grid], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    total = int(offsets[-1])
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    if n_patches is None:
        idx = np.arange(total, dtype=np.int64)
    else:
        n_patches = check_int("n_patches", n_patches, 1, total)
        idx = rng.choice(total, size=n_patches, replace=False)
        if stride is not None:
            idx = np.sort(idx)
    which = np.searchsorted(offsets, idx, side="right") - 1
    out = np.empty((len(idx), size * size))
    for i, a in enumerate(imgs):
        rows = np.flatnonzero(which == i)
        if rows.size == 0:
            continue
        local = idx[rows] - offsets[i]
        r, c = (local // grid[i][1]) * step, (local % grid[i][1]) * step
        view = np.lib.stride_tricks.sliding_window_view(a, (size, size))
        out[rows] = view[r, c].reshape(len(rows), size * size)
    return out


# ---------------------------------------------------------------------------------------------
# PCA data set
# ---------------------------------------------------------------------------------------------
def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class PatchDataset:
    """Centred, normalised real inputs in their PCA basis (the empirical Sigma's eigenbasis).

    With raw rows r (pixel values in [0, 1]) a row of the data set is x = scale * (r - mean);
    ``covariance`` = (1/n) X^T X of the training rows, normalised so that its mean eigenvalue is 1
    (Tr Sigma = N); ``eigenvalues`` descending and ``eigenvectors`` the matching columns (sign
    fixed so that the largest-magnitude entry of each column is positive); ``train_pca`` = X V
    and ``test_pca`` the held-out rows mapped by the same centring, scale and rotation.  Arrays
    are read-only.  ``side`` is the patch side (N = side^2) or ``None`` for non-square inputs.
    """

    mean: np.ndarray
    scale: float
    covariance: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    train_pca: np.ndarray
    test_pca: np.ndarray
    side: int | None = None
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def N(self) -> int:
        return self.eigenvalues.shape[0]

    @property
    def n_train(self) -> int:
        return self.train_pca.shape[0]

    @property
    def n_test(self) -> int:
        return self.test_pca.shape[0]

    @property
    def covariance_spectrum(self) -> np.ndarray:
        """Eigenvalues of the empirical covariance, largest first, mean 1."""
        return self.eigenvalues

    @property
    def patches(self) -> np.ndarray:
        """Centred, normalised training rows in the pixel basis (X = train_pca V^T; computed)."""
        return self.train_pca @ self.eigenvectors.T

    @property
    def test_patches(self) -> np.ndarray:
        """Held-out rows in the pixel basis, centred and scaled with the training statistics."""
        return self.test_pca @ self.eigenvectors.T

    def transform(self, raw) -> np.ndarray:
        """Map raw rows (n, N) to the PCA basis with the training mean, scale and rotation."""
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != self.N:
            raise ValueError(f"raw must have shape (n, {self.N}), got {raw.shape}")
        return ((raw - self.mean) * self.scale) @ self.eigenvectors


def pca_dataset(train, test=None, side: int | None = None, meta: dict | None = None) -> PatchDataset:
    """Build a ``PatchDataset`` from raw training rows (n, N) and optional held-out rows.

    Centres with the training mean, computes (1/n) X^T X, diagonalises it, rescales so that the
    eigenvalues have mean exactly 1 and rotates both splits into the eigenbasis.  Works for any
    real inputs, e.g. ``load_cifar5m`` rows.
    """
    X = np.array(train, dtype=np.float64, order="C", copy=True)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"train must be a 2-d array (n >= 2 rows, N columns), got shape {X.shape}")
    n, N = X.shape
    if test is None:
        test = np.empty((0, N))
    test = np.asarray(test, dtype=np.float64)
    if test.ndim != 2 or test.shape[1] != N:
        raise ValueError(f"test must have shape (n_test, {N}), got {test.shape}")
    if side is not None and side * side != N:
        raise ValueError(f"side must satisfy side^2 = N = {N}, got {side}")
    mean = X.mean(axis=0)
    X -= mean
    C = X.T @ X
    C /= n
    C = 0.5 * (C + C.T)
    lam, V = np.linalg.eigh(C)
    lam, V = lam[::-1].copy(), V[:, ::-1].copy()
    if not lam.sum() > 0:
        raise ValueError("train has zero variance; cannot normalise Tr Sigma = N")
    s2 = N / lam.sum()
    lam *= s2
    C *= s2
    scale = math.sqrt(s2)
    big = np.argmax(np.abs(V), axis=0)
    V *= np.where(V[big, np.arange(N)] < 0, -1.0, 1.0)
    X *= scale
    Z = X @ V
    del X
    Zt = ((test - mean) * scale) @ V
    return PatchDataset(
        mean=_readonly(mean), scale=scale, covariance=_readonly(C), eigenvalues=_readonly(lam),
        eigenvectors=_readonly(V), train_pca=_readonly(Z), test_pca=_readonly(Zt), side=side,
        meta=dict(meta or {}),
    )


def patch_dataset(n_patches: int = 100_000, size: int = 32, seed: int = 0, holdout: float = 0.2,
                  n_test: int = 10_000, downscale: int = 1, names=BUNDLED_IMAGES) -> PatchDataset:
    """PCA data set of ``size x size`` patches of the bundled natural images (N = size^2).

    Training patches: ``n_patches`` random overlapping patches of the top ``1 - holdout`` of every
    image; held-out patches: ``n_test`` random patches of the bottom strips (no shared pixel with
    any training patch).  The default 100 000 patches for N = 1024 (about 100 N) estimate the
    covariance well: with independent rows the relative error of lambda_k is ~ sqrt(2/n) ~ 0.5 %
    (more for overlapping patches).  Seeds: the two position draws use the children 0 and 1 of
    ``SeedSequence(seed)``.

    Measured (seed 0, 100 000 patches of 32 x 32, ``fit_beta`` default window [10, 513)):
    beta = 0.48 at full resolution, lambda_1 = 626 (mean luminance of the patch), lambda_1024 =
    0.0062.  CIFAR images are strongly downsampled photographs; block-averaging the images first
    flattens the spectrum: ``downscale=2`` (holdout 0.25) gives beta = 0.41 and ``downscale=4``
    (holdout 0.45, needed for the 300-row ``chelsea``) gives beta = 0.30, the paper's CIFAR-5m
    value.  Building the default data set takes ~10-25 s on 2 cores (two 10^5 x 1024 x 1024
    matrix products).
    """
    size = check_int("size", size, 1)
    seed = check_seed(seed)
    n_patches = check_int("n_patches", n_patches, 2)
    imgs = bundled_images(names, downscale)
    train_imgs, test_imgs = split_images(imgs, holdout, size)
    s_train, s_test = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(2))
    train = extract_patches(train_imgs, size, n_patches, s_train)
    if test_imgs:
        n_test = check_int("n_test", n_test, 0)
        test = extract_patches(test_imgs, size, n_test, s_test) if n_test else np.empty((0, size * size))
    else:
        test = np.empty((0, size * size))
    meta = {"source": "skimage.data", "names": tuple([names] if isinstance(names, str) else names),
            "size": size, "seed": seed, "holdout": holdout, "downscale": downscale}
    return pca_dataset(train, test, side=size, meta=meta)


def patch_spectrum(n_patches: int = 100_000, size: int = 32, seed: int = 0, holdout: float = 0.2,
                   downscale: int = 1, names=BUNDLED_IMAGES) -> np.ndarray:
    """Eigenvalues only (descending, mean 1) of the training covariance of ``patch_dataset`` with
    the same arguments: same patches, no eigenvectors or rotated inputs (much cheaper)."""
    size = check_int("size", size, 1)
    seed = check_seed(seed)
    n_patches = check_int("n_patches", n_patches, 2)
    train_imgs, _ = split_images(bundled_images(names, downscale), holdout, size)
    s_train = int(np.random.SeedSequence(seed).spawn(2)[0].generate_state(1)[0])
    X = extract_patches(train_imgs, size, n_patches, s_train)
    X -= X.mean(axis=0)
    C = X.T @ X
    lam = np.linalg.eigvalsh(0.5 * (C + C.T))[::-1].copy()
    return lam * (lam.size / lam.sum())


# ---------------------------------------------------------------------------------------------
# CIFAR-5m (local files only)
# ---------------------------------------------------------------------------------------------
def _cifar5m_files(path) -> list[Path]:
    if path is None:
        path = os.environ.get(CIFAR5M_ENV)
        if not path:
            raise FileNotFoundError(
                f"CIFAR-5m location unknown: pass path=... or set the environment variable "
                f"{CIFAR5M_ENV} to a directory holding {CIFAR5M_PARTS[0]} ... {CIFAR5M_PARTS[-1]} "
                f"or to one of those .npz files (nothing is downloaded)"
            )
    p = Path(path).expanduser()
    if p.is_dir():
        files = [p / f for f in CIFAR5M_PARTS if (p / f).is_file()]
        if not files:
            raise FileNotFoundError(
                f"no CIFAR-5m parts ({CIFAR5M_PARTS[0]} ... {CIFAR5M_PARTS[-1]}) in directory {p} "
                f"(from path argument or {CIFAR5M_ENV})"
            )
        return files
    if p.is_file():
        return [p]
    raise FileNotFoundError(f"CIFAR-5m path {p} (from path argument or {CIFAR5M_ENV}) does not exist")


def _read_npz_rows(file: Path, key: str, n: int | None):
    """Rows [0, n) of array ``key`` of an .npz file, streamed (a part need not fit in memory)."""
    with zipfile.ZipFile(file) as z:
        name = f"{key}.npy"
        if name not in z.namelist():
            raise ValueError(f"{file} is not a CIFAR-5m part: it has no array {key!r}")
        with z.open(name) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:  # version 3.0 (utf-8 header): no public reader
                shape, fortran, dtype = np.lib.format._read_array_header(fh, version)
            if dtype.hasobject:
                raise ValueError(f"{file}: array {key!r} has object dtype")
            rows = shape[0] if shape else 0
            m = rows if n is None else min(n, rows)
            if fortran and len(shape) > 1:
                raise ValueError(f"{file}: array {key!r} is Fortran-ordered; expected C order")
            per_row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
            buf = fh.read(m * per_row)
    if len(buf) != m * per_row:
        raise ValueError(f"{file}: array {key!r} is truncated")
    return np.frombuffer(buf, dtype=dtype).reshape((m,) + tuple(shape[1:])), rows


def load_cifar5m(path=None, n: int | None = None, grayscale: bool = True, *,
                 return_labels: bool = False, dtype=np.float64, chunk: int = 65_536):
    """CIFAR-5m images as rows in [0, 1]: (n, 1024) grayscale or (n, 3072) colour.

    ``path`` (default: the environment variable ``CIFAR5M_PATH``) is a directory with
    ``cifar5m_part0.npz`` ... ``cifar5m_part5.npz`` (read in order until ``n`` images are
    collected) or a single .npz file; each holds ``X`` (uint8, (n, 32, 32, 3)) and ``Y`` (labels).
    Only the needed rows are read from each part.  Grayscale is the BT.601 luma
    0.299 R + 0.587 G + 0.114 B; rows are flattened row-major (colour: (row, col, channel)).
    ``n=None`` reads everything.  With ``return_labels`` returns ``(X, Y)``.
    """
    files = _cifar5m_files(path)
    if n is not None:
        n = check_int("n", n, 1)
    chunk = check_int("chunk", chunk, 1)
    xs, ys, got = [], [], 0
    for f in files:
        need = None if n is None else n - got
        X, _ = _read_npz_rows(f, "X", need)
        if X.dtype != np.uint8 or X.ndim != 4 or X.shape[1:] != (32, 32, 3):
            raise ValueError(f"{f}: X must be uint8 of shape (n, 32, 32, 3), got {X.dtype} {X.shape}")
        out = np.empty((X.shape[0], 1024 if grayscale else 3072), dtype=dtype)
        w = np.asarray(LUMA_601) / 255.0
        for a in range(0, X.shape[0], chunk):
            blk = X[a : a + chunk]
            if grayscale:
                out[a : a + chunk] = (blk @ w).reshape(len(blk), 1024)
            else:
                out[a : a + chunk] = blk.reshape(len(blk), 3072) / 255.0
        xs.append(out)
        if return_labels:
            Y, _ = _read_npz_rows(f, "Y", X.shape[0])
            if Y.shape[0] != X.shape[0]:
                raise ValueError(f"{f}: Y has {Y.shape[0]} rows but X has {X.shape[0]}")
            ys.append(np.array(Y))
        got += X.shape[0]
        if n is not None and got >= n:
            break
    if n is not None and got < n:
        raise ValueError(f"n = {n} exceeds the {got} CIFAR-5m images available in {[str(f) for f in files]}")
    X = np.concatenate(xs) if len(xs) > 1 else xs[0]
    if return_labels:
        return X, (np.concatenate(ys) if len(ys) > 1 else ys[0])
    return X


def cifar5m_dataset(n_train: int = 100_000, n_test: int = 10_000, path=None) -> PatchDataset:
    """PCA data set of grayscale CIFAR-5m (N = 1024): the first ``n_train`` images train, the
    next ``n_test`` images are held out.  Needs the files locally (see ``load_cifar5m``)."""
    n_train = check_int("n_train", n_train, 2)
    n_test = check_int("n_test", n_test, 0)
    X = load_cifar5m(path, n_train + n_test)
    return pca_dataset(X[:n_train], X[n_train:], side=32, meta={"source": "CIFAR-5m"})
