"""Datasets of binary 28×28 images (provided, not graded).

* ``shapes``: a built-in offline dataset of procedural images — rectangles, discs, rings,
  strokes and crosses — deterministic from a seed and generated in about a second.
* ``mnist``: MNIST digits through ``torchvision.datasets.MNIST``, binarized by thresholding
  intensities at 0.5. ``data_dir`` may hold the raw IDX files (``*-ubyte`` or ``*-ubyte.gz``,
  flat or in torchvision's ``MNIST/raw`` layout) to work offline. With only the 10k test files
  present (as in the course's shared data folder) the 10k digits are split 8k train / 2k test.

Every loader returns float tensors of 0./1. shaped ``(N, 1, 28, 28)``.
"""
import gzip
import shutil
from pathlib import Path

import numpy as np
import torch

__all__ = ["shapes_dataset", "mnist_dataset", "load_datasets", "IMAGE_SHAPE"]

IMAGE_SHAPE = (1, 28, 28)
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _draw_shape(canvas, rng, yy, xx):
    size = canvas.shape[0]
    kind = rng.integers(6)
    cy, cx = rng.uniform(6, size - 6, size=2)
    if kind == 0:  # filled rectangle
        h, w = rng.uniform(3, 9, size=2)
        canvas |= (np.abs(yy - cy) <= h) & (np.abs(xx - cx) <= w)
    elif kind == 1:  # rectangle outline
        h, w = rng.uniform(4, 10, size=2)
        outer = (np.abs(yy - cy) <= h) & (np.abs(xx - cx) <= w)
        inner = (np.abs(yy - cy) <= h - 1.5) & (np.abs(xx - cx) <= w - 1.5)
        canvas |= outer & ~inner
    elif kind == 2:  # disc
        r = rng.uniform(3, 8)
        canvas |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    elif kind == 3:  # ring
        r = rng.uniform(5, 10)
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        canvas |= np.abs(d - r) <= 1.0
    elif kind == 4:  # thick stroke at a random angle
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(6, 13)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        canvas |= (np.abs(u) <= length) & (np.abs(v) <= 1.2)
    else:  # plus sign
        arm = rng.uniform(4, 9)
        canvas |= ((np.abs(yy - cy) <= 1.2) & (np.abs(xx - cx) <= arm)) | (
            (np.abs(xx - cx) <= 1.2) & (np.abs(yy - cy) <= arm)
        )


def shapes_dataset(num_images, seed=0):
    """``num_images`` procedural binary images ``(N, 1, 28, 28)``, the same for the same seed.

    Each image holds one to three shapes (filled or outlined rectangles, discs, rings, strokes,
    plus signs) of random position and size.
    """
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    rng = np.random.default_rng(seed)
    size = IMAGE_SHAPE[-1]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.zeros((num_images, size, size), dtype=bool)
    for canvas in images:
        for _ in range(rng.integers(1, 4)):
            _draw_shape(canvas, rng, yy, xx)
    return torch.from_numpy(images).float().unsqueeze(1)


def _find(data_dir, stem):
    """The path of MNIST file ``stem`` (plain or .gz) in ``data_dir`` or its MNIST/raw folder."""
    for folder in (data_dir, data_dir / "MNIST" / "raw"):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _raw_folder(data_dir, cache_dir):
    """A torchvision-style ``root`` whose ``MNIST/raw`` holds the uncompressed files found in
    ``data_dir`` (decompressed into ``cache_dir`` when needed)."""
    root = Path(cache_dir)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for stems in _MNIST_FILES.values():
        for stem in stems:
            src = _find(data_dir, stem)
            if src is None or (raw / stem).exists():
                continue
            if src.suffix == ".gz":
                with gzip.open(src, "rb") as fin, open(raw / stem, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            else:
                shutil.copyfile(src, raw / stem)
    return root


def _binarize(images_uint8):
    return (images_uint8.float() / 255.0 > 0.5).float().unsqueeze(1)


def mnist_dataset(data_dir, train, download=False, cache_dir=None):
    """Binarized MNIST ``(N, 1, 28, 28)`` through ``torchvision.datasets.MNIST``.

    ``data_dir`` is searched for the raw IDX files first; if the split's files are not there,
    torchvision downloads them into ``data_dir`` when ``download`` is true.
    """
    import torchvision  # students' data path only; grading never imports torchvision

    data_dir = Path(data_dir)
    split = "train" if train else "test"
    if all(_find(data_dir, stem) for stem in _MNIST_FILES[split]):
        root = _raw_folder(data_dir, cache_dir or Path.home() / ".cache" / "ps1-mnist")
        from torchvision.datasets.mnist import read_image_file

        return _binarize(read_image_file(str(root / "MNIST" / "raw" / _MNIST_FILES[split][0])))
    if not download:
        raise FileNotFoundError(
            f"MNIST {split} files ({', '.join(_MNIST_FILES[split])}, optionally .gz) not found in "
            f"{data_dir}; pass --download to fetch them with torchvision"
        )
    dataset = torchvision.datasets.MNIST(str(data_dir), train=train, download=True)
    return _binarize(dataset.data)


def load_datasets(name, data_dir="data", download=False, seed=0, num_train=None, num_test=None):
    """``(train, test)`` tensors for dataset ``name`` (``'shapes'`` or ``'mnist'``).

    ``shapes``: 20k/4k images by default. ``mnist``: the standard 60k/10k split when the
    training files are available (or ``download``), otherwise a fixed 8k/2k split of the 10k
    test digits. ``num_train``/``num_test`` truncate either split.
    """
    if name == "shapes":
        train = shapes_dataset(num_train or 20000, seed=seed)
        test = shapes_dataset(num_test or 4000, seed=seed + 1_000_003)
    elif name == "mnist":
        data_dir = Path(data_dir)
        if download or all(_find(data_dir, stem) for stem in _MNIST_FILES["train"]):
            train = mnist_dataset(data_dir, train=True, download=download)
            test = mnist_dataset(data_dir, train=False, download=download)
        else:
            digits = mnist_dataset(data_dir, train=False, download=False)
            perm = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))
            train, test = digits[perm[:8000]], digits[perm[8000:]]
    else:
        raise ValueError(f"unknown dataset {name!r}; choose 'shapes' or 'mnist'")
    return train[:num_train] if num_train else train, test[:num_test] if num_test else test


if __name__ == "__main__":  # a quick look: python -m submission.data
    tr, te = load_datasets("shapes", num_train=16, num_test=16)
    print(f"shapes: train {tuple(tr.shape)}, test {tuple(te.shape)}, mean pixel {tr.mean():.3f}")

