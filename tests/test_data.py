"""Data: the offline mnist-5k split, torchvision's IDX path with files the test writes, the offline message."""
from __future__ import annotations

import struct
from urllib.error import URLError

import numpy as np
import pytest
import torch

from vae.data import DataUnavailableError, load_dataset, load_mnist_5k, load_torchvision


def test_mnist_5k_split():
    data = load_mnist_5k()
    assert data.train.images.shape == (4000, 1, 28, 28) and data.test.images.shape == (1000, 1, 28, 28)
    assert data.train.images.dtype == torch.float32
    assert data.train.images.min() == 0 and data.train.images.max() == 1
    # stratified: every digit 400 / 100 times
    assert torch.bincount(data.train.labels).tolist() == [400] * 10
    assert torch.bincount(data.test.labels).tolist() == [100] * 10
    again = load_mnist_5k()
    assert torch.equal(again.test.images, data.test.images)  # fixed seed
    # the two splits share no image
    train_set = {bytes(x.numpy().tobytes()) for x in data.train.images}
    assert not any(bytes(x.numpy().tobytes()) in train_set for x in data.test.images)


def _write_idx(raw, prefix, n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x0803, n, 28, 28) + images.tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x0801, n) + labels.tobytes())
    return images, labels


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_datasets_read_idx_files(tmp_path, name, folder):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    tr_x, tr_y = _write_idx(raw, "train", 12, 0)
    te_x, te_y = _write_idx(raw, "t10k", 5, 1)
    data = load_torchvision(name, root=tmp_path, download=True)  # files present: no download attempted
    assert data.train.images.shape == (12, 1, 28, 28) and data.test.images.shape == (5, 1, 28, 28)
    assert torch.allclose(data.train.images[:, 0] * 255, torch.from_numpy(tr_x).float())
    assert data.test.labels.tolist() == te_y.tolist()
    assert len(data.classes) == 10


def test_offline_download_names_the_offline_choice(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def offline(*args, **kwargs):
        raise URLError("Temporary failure in name resolution")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    with pytest.raises(DataUnavailableError, match="mnist-5k") as err:
        load_torchvision("fashion-mnist", root=tmp_path)
    assert "\n" not in str(err.value)


def test_unknown_dataset():
    with pytest.raises(DataUnavailableError, match="mnist-5k"):
        load_dataset("cifar")


def test_idx_files_placed_in_data_dir_are_read_gzipped_or_not(tmp_path):
    import gzip

    tr_x, tr_y = _write_idx(tmp_path, "train", 7, 0)
    te_x, te_y = _write_idx(tmp_path, "t10k", 3, 1)
    for f in list(tmp_path.glob("t10k-*")):  # as the sites serve them: .gz
        (tmp_path / (f.name + ".gz")).write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    data = load_dataset("mnist", root=tmp_path)
    assert data.train.images.shape == (7, 1, 28, 28) and data.test.labels.tolist() == te_y.tolist()
    assert torch.allclose(data.train.images[:, 0] * 255, torch.from_numpy(tr_x).float())


def test_offline_message_names_data_dir(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def offline(*args, **kwargs):
        raise URLError("Temporary failure in name resolution")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    with pytest.raises(DataUnavailableError, match="--data-dir DIR"):
        load_torchvision("mnist", root=tmp_path)
