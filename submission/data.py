"""Datasets of binary 28×28 images (provided, not graded).

* ``shapes``: a built-in offline dataset of procedural images — rectangles, discs, rings,
  strokes and crosses — deterministic from a seed and generated in about a second.
* ``mnist``: MNIST digits, binarized by thresholding intensities at 0.5. ``data_dir`` may hold
  MNIST's raw IDX files (``*-ubyte`` or ``*-ubyte.gz``, flat or in torchvision's ``MNIST/raw``
  layout) to work offline; with ``download`` the missing ones are fetched through
  ``torchvision.datasets.MNIST``. With only the 10k test files present (as in the course's
  shared data folder) the 10k digits are split 8k train / 2k test.

Every loader returns float tensors of 0./1. shaped ``(N, 1, 28, 28)``. Problems with the data
(files missing, truncated or of the wrong kind, no network for a download) raise
``FileNotFoundError``, ``ValueError`` or ``ConnectionError`` with a one-line message that names
the file or folder and says what to do.
"""
import contextlib
import gzip
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

__all__ = ["shapes_dataset", "mnist_dataset", "load_datasets", "read_idx", "IMAGE_SHAPE", "MNIST_FILES"]

IMAGE_SHAPE = (1, 28, 28)
# (images, labels) of each split, as MNIST's site and torchvision name them.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_ALL_FILES = ", ".join(MNIST_FILES["train"] + MNIST_FILES["test"])


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
    """The path of MNIST file ``stem`` in ``data_dir`` or its ``MNIST/raw`` folder, or None.

    Accepts the file plain or gzipped, and the ``t10k-images.idx3-ubyte`` spelling some mirrors
    use.
    """
    names = []
    for spelling in (stem, stem.replace("-idx", ".idx")):
        names += [spelling, spelling + ".gz"]
    for folder in (data_dir, data_dir / "MNIST" / "raw"):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def _read_bytes(path):
    """The (decompressed) bytes of ``path``; a damaged gzip file is a ``ValueError`` naming it."""
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; a cut-off one, EOFError
        raise ValueError(f"{path}: not a complete gzip file ({exc}); download it again") from None


def read_idx(path, ndim):
    """The array stored in IDX file ``path`` (unsigned bytes, ``ndim`` dimensions), checked.

    IDX: the bytes ``00 00 08 <ndim>``, then ``ndim`` big-endian int32 sizes, then the data. A
    file with another header, or with more or fewer data bytes than its sizes announce, is a
    ``ValueError`` that names it.
    """
    path = Path(path)
    raw = _read_bytes(path)
    header = 4 + 4 * ndim
    expected_magic = bytes([0, 0, 8, ndim])
    if raw[:4] != expected_magic:
        found = raw[:4].hex(" ") or "an empty file"
        raise ValueError(f"{path}: not an MNIST IDX file with {ndim} dimension(s) (header should start "
                         f"{expected_magic.hex(' ')}, found {found}); is it the right file?")
    if len(raw) < header:
        raise ValueError(f"{path}: truncated inside its header ({len(raw)} bytes); download it again")
    sizes = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(sizes)
    if len(raw) - header != expected:
        shape = "×".join(map(str, sizes))
        raise ValueError(f"{path}: {'truncated' if len(raw) - header < expected else 'too long'}: its header "
                         f"announces {shape} values ({header + expected:,} bytes) but it holds "
                         f"{len(raw):,} bytes; download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(sizes)


def _read_split(data_dir, split):
    """Binarized images of ``split`` from the IDX files in ``data_dir`` (checked against each other)."""
    images_path, labels_path = (_find(data_dir, stem) for stem in MNIST_FILES[split])
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[1:] != IMAGE_SHAPE[1:]:
        raise ValueError(f"{images_path}: images are {images.shape[1]}×{images.shape[2]}, not 28×28; "
                         "is it MNIST's image file?")
    if len(labels) != len(images):
        raise ValueError(f"{labels_path} holds {len(labels)} labels but {images_path} holds {len(images)} "
                         "images; are they from the same split?")
    return torch.from_numpy(images > 127).float().unsqueeze(1)  # intensity / 255 > 0.5


def _have(data_dir, split):
    return all(_find(data_dir, stem) for stem in MNIST_FILES[split])


def _download(data_dir):
    """Fetch MNIST's four files into ``data_dir/MNIST/raw`` with torchvision.

    torchvision tries two mirrors per file and prints every attempt; without a network that is
    a page of noise and a long traceback, so its output is kept back and a failure becomes one
    ``ConnectionError`` line saying where to put the files by hand. Folders it created and left
    empty are removed.
    """
    import torchvision  # students' data path only; grading never imports torchvision

    raw = data_dir / "MNIST" / "raw"
    created = [d for d in (raw, *raw.parents) if not d.exists()]  # deepest first
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            for train in (True, False):
                torchvision.datasets.MNIST(str(data_dir), train=train, download=True)
    except Exception as exc:  # URLError, RuntimeError('Error downloading …'), md5 mismatch, disk full, …
        for folder in created:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[-1] if lines else type(exc).__name__
        raise ConnectionError(f"could not download MNIST ({reason}); without a network, put MNIST's four IDX "
                              f"files ({_ALL_FILES}; .gz is fine) in {data_dir}/ and run without --download") from None


def mnist_dataset(data_dir, train, download=False):
    """Binarized MNIST ``(N, 1, 28, 28)``: the training (60k) or test (10k) split.

    ``data_dir`` is searched for the raw IDX files first; if the split's files are not there
    they are downloaded into ``data_dir`` (through ``torchvision.datasets.MNIST``) when
    ``download`` is true, otherwise ``FileNotFoundError`` says where to put them.
    """
    data_dir = Path(data_dir)
    split = "train" if train else "test"
    if not _have(data_dir, split):
        if not download:
            raise FileNotFoundError(
                f"MNIST {split} files ({', '.join(MNIST_FILES[split])}; .gz is fine) not found in {data_dir}/; "
                "put them there or pass --download to fetch them with torchvision")
        _download(data_dir)
    return _read_split(data_dir, split)


def load_datasets(name, data_dir="data", download=False, seed=0, num_train=None, num_test=None):
    """``(train, test)`` tensors for dataset ``name`` (``'shapes'`` or ``'mnist'``).

    ``shapes``: 20k/4k images by default. ``mnist``: the standard 60k/10k split when the
    training files are available (or ``download``), otherwise a fixed 80/20 split of the test
    digits (8k/2k of MNIST's 10k). ``num_train``/``num_test`` (None, or at least 1) keep only the first images of
    either split.
    """
    for arg, value in (("num_train", num_train), ("num_test", num_test)):
        if value is not None and value < 1:
            raise ValueError(f"{arg} must be None (everything) or >= 1, got {value}")
    if name == "shapes":
        train = shapes_dataset(num_train or 20000, seed=seed)
        test = shapes_dataset(num_test or 4000, seed=seed + 1_000_003)
    elif name == "mnist":
        data_dir = Path(data_dir)
        if download or _have(data_dir, "train"):
            train = mnist_dataset(data_dir, train=True, download=download)
            test = mnist_dataset(data_dir, train=False, download=download)
        elif not _have(data_dir, "test"):
            raise FileNotFoundError(
                f"MNIST's files are not in {data_dir}/: put its four IDX files there ({_ALL_FILES}; .gz is "
                "fine; the two t10k files alone give an 8k/2k split of the test digits), or pass --download")
        else:
            digits = mnist_dataset(data_dir, train=False, download=False)
            perm = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))
            cut = len(digits) * 4 // 5  # 8000 / 2000 of the 10k test digits
            train, test = digits[perm[:cut]], digits[perm[cut:]]
    else:
        raise ValueError(f"unknown dataset {name!r}; choose 'shapes' or 'mnist'")
    return train[:num_train], test[:num_test]  # a slice up to None keeps everything


if __name__ == "__main__":  # a quick look: python -m submission.data
    tr, te = load_datasets("shapes", num_train=16, num_test=16)
    print(f"shapes: train {tuple(tr.shape)}, test {tuple(te.shape)}, mean pixel {tr.mean():.3f}")
