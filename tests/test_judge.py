"""The sample-quality judge: each measure's definition on inputs with a known answer, the classifier, its cache."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import tiny_config
from vae import judge as J
from vae.analysis import compute_metrics
from vae.data import DataBundle, Split, load_dataset
from vae.model import VAE


def judgement(probs, features=None) -> J.Judgement:
    probs = np.asarray(probs, dtype=np.float64)
    return J.Judgement(probs, np.zeros((len(probs), 4)) if features is None else np.asarray(features, dtype=np.float64))


def one_hot(labels, confidence=1.0):
    labels = np.asarray(labels)
    p = np.full((len(labels), 10), (1 - confidence) / 9)
    p[np.arange(len(labels)), labels] = confidence
    return p


def test_coverage_is_one_for_all_ten_and_zero_for_one_class():
    assert J.coverage(judgement(one_hot(np.arange(100) % 10))) == pytest.approx(1.0)
    assert J.coverage(judgement(one_hot([3] * 50))) == 0.0
    two = J.coverage(judgement(one_hot([1, 7] * 50)))
    assert two == pytest.approx(np.log(2) / np.log(10))


def test_inception_score_bounds():
    assert J.inception_score(judgement(one_hot(np.arange(100) % 10))) == pytest.approx(10.0, rel=1e-6)  # confident, even
    assert J.inception_score(judgement(one_hot([4] * 100))) == pytest.approx(1.0, rel=1e-6)  # one class
    assert J.inception_score(judgement(np.full((100, 10), 0.1))) == pytest.approx(1.0)  # no confidence


def test_valid_fraction_uses_the_threshold():
    probs = np.vstack([one_hot([0], 0.95), one_hot([1], 0.9), one_hot([2], 0.89), np.full((1, 10), 0.1)])
    assert J.valid_fraction(judgement(probs)) == 0.5
    assert J.classes_found(judgement(probs), threshold=0.5) == 3


def test_keeps_label():
    assert J.keeps_label(judgement(one_hot([0, 1, 2, 3])), np.array([0, 1, 2, 9])) == 0.75


def test_frechet_distance_of_identical_and_shifted_features():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2000, 4))
    a, b = judgement(one_hot(np.zeros(2000, int)), f), judgement(one_hot(np.zeros(2000, int)), f + [3.0, 0, 0, 0])
    assert J.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert J.frechet_distance(a, b) == pytest.approx(9.0, rel=1e-6)  # only the means differ: |m1 - m2|^2
    dead = judgement(one_hot(np.zeros(2000, int)), np.c_[f[:, :3], np.zeros(2000)])  # a dead (constant) feature
    assert np.isfinite(J.frechet_distance(dead, a))


@pytest.fixture(scope="module")
def small_digits() -> DataBundle:
    full = load_dataset("mnist-5k")
    return DataBundle("mnist-5k", Split(full.train.images[:1200], full.train.labels[:1200]), Split(full.test.images[:200], full.test.labels[:200]), full.classes)


@pytest.fixture(scope="module")
def judge(small_digits, tmp_path_factory):
    return J.load_or_train_judge(small_digits, tmp_path_factory.mktemp("judge"), log=lambda m: None)


def test_the_judge_knows_its_training_digits_and_not_noise(judge, small_digits):
    own = judge(small_digits.train.images)
    assert J.keeps_label(own, small_digits.train.labels.numpy()) > 0.9
    assert J.valid_fraction(own) > 0.6
    noise = judge(torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert J.valid_fraction(noise) < 0.2
    blank = judge(torch.zeros(20, 1, 28, 28))
    assert J.valid_fraction(blank) == 0.0
    assert judge.info["held_out_acc"] > 0.7  # 1,200 digits; the real judge (4,000) scores about 98%


def test_the_judge_is_calibrated_on_images_whose_answer_is_known(judge, small_digits):
    """Issue 20, item 4: held-out digits count, flat grey, the mean training image and noise do not, and blends of
    two digits count far less often than the digits themselves (benchmarks/validity.py measures the real judge)."""
    held_out = small_digits.test.images
    real = J.valid_fraction(judge(held_out))
    grey = judge(torch.linspace(0.1, 0.9, 10).view(10, 1, 1, 1).expand(10, 1, 28, 28).contiguous())
    mean = judge(small_digits.train.images.mean(0, keepdim=True))
    blends = judge(0.5 * held_out[:100] + 0.5 * held_out[100:200])
    noise = judge(torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(1)))
    assert real > 0.5  # this small judge (1,200 digits) is surer of its training digits than of held-out ones
    assert J.valid_fraction(mean) == 0.0 and J.valid_fraction(noise) == 0.0
    assert J.valid_fraction(grey) == 0.0  # confidence alone took one of these ten for a digit (benchmarks/validity.py)
    assert J.valid_fraction(blends) < 0.6 * real


def test_the_manifold_is_the_union_of_the_real_points_knn_balls():
    """Improved precision's manifold on points whose answer is known: inside a cluster of real points, on it;
    far from every real point, off it, however confident a judge would be."""
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 3))
    manifold = J.Manifold.of(real, k=5)
    d = np.sqrt(J.squared_distances(real, real)) + np.diag(np.full(400, np.inf))
    np.testing.assert_allclose(np.sqrt(manifold.radii2), np.sort(d, 1)[:, 4])  # the 5th nearest other point
    assert manifold.contains(real).all()  # every real point lies in its own ball
    assert manifold.contains(rng.normal(size=(200, 3)) * 0.5).mean() > 0.95  # the cluster's core
    assert not manifold.contains(rng.normal(size=(200, 3)) + [20.0, 0, 0]).any()  # far away
    sure = judgement(one_hot([3, 3]))
    sure.on_manifold = np.array([True, False])
    assert J.valid_fraction(sure) == 0.5  # confident and off the manifold does not count


def test_the_judge_is_cached_and_retrained_when_its_recipe_changes(tiny_data, tmp_path):
    root = tmp_path
    logs = []
    first = J.load_or_train_judge(tiny_data, root, log=logs.append)
    assert len(logs) == 1 and (root / "judge-mnist-5k" / "model.safetensors").is_file()
    again = J.load_or_train_judge(tiny_data, root, log=logs.append)
    assert len(logs) == 1  # loaded, not trained
    x = tiny_data.test.images[:16]
    np.testing.assert_allclose(first(x).probs, again(x).probs, atol=1e-6)
    info = json.loads((root / "judge-mnist-5k" / "judge.json").read_text())
    (root / "judge-mnist-5k" / "judge.json").write_text(json.dumps({**info, "recipe": "an older recipe"}))
    J.load_or_train_judge(tiny_data, root, log=logs.append)
    assert len(logs) == 2
    (root / "judge-mnist-5k" / "model.safetensors").write_bytes(b"not a safetensors file")
    J.load_or_train_judge(tiny_data, root, log=logs.append)
    assert len(logs) == 3


def test_metrics_carry_sample_quality(judge, small_digits):
    torch.manual_seed(0)
    model = VAE(tiny_config(latent_dim=2)).eval()
    m = compute_metrics(model, small_digits, iw_samples=0, judge=judge)
    for key in ("sample_valid", "sample_coverage", "sample_inception_score", "sample_fid", "recon_keeps_digit", "grid_classes"):
        assert key in m, key
    assert 0 <= m["sample_valid"] <= 1 and 0 <= m["sample_coverage"] <= 1 and 1 <= m["sample_inception_score"] <= 10
    assert 0 <= m["grid_classes"] <= 10
    assert "grid_classes" not in compute_metrics(VAE(tiny_config(latent_dim=3)).eval(), small_digits, iw_samples=0, judge=judge)
