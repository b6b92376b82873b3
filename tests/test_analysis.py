"""Analysis functions the app calls: metrics on known inputs, PCA, grids, interpolation, cached latents."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_config
from vae import analysis as A
from vae.model import VAE


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = VAE(tiny_config(latent_dim=3))
    m.train()
    m(torch.rand(16, 1, 28, 28))
    return m.eval()


def test_active_units_counts_dimensions_that_vary():
    rng = np.random.default_rng(0)
    mu = np.zeros((500, 5), dtype=np.float32)
    mu[:, 0] = rng.normal(0, 1, 500)  # var 1: active
    mu[:, 1] = rng.normal(0, 0.05, 500)  # var 0.0025: inactive
    mu[:, 2] = 7.0  # constant far from zero: inactive
    mu[:, 3] = rng.normal(0, 0.2, 500)  # var 0.04: active
    assert A.active_units(mu) == 2


def test_knn_accuracy_on_separable_and_random_codes():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(4), 50)
    centers = np.eye(4) * 10
    mu = centers[y] + rng.normal(0, 0.5, (200, 4))
    assert A.knn_accuracy(mu[::2], y[::2], mu[1::2], y[1::2]) == 1.0
    noise = rng.normal(size=(200, 4))
    assert A.knn_accuracy(noise[::2], y[::2], noise[1::2], y[1::2]) < 0.5


def test_kl_per_dimension_is_zero_at_the_prior():
    mu, logvar = np.zeros((10, 3), np.float32), np.zeros((10, 3), np.float32)
    mu[:, 1] = 2.0
    np.testing.assert_allclose(A.kl_per_dimension(mu, logvar), [0, 2.0, 0], atol=1e-6)


def test_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    ours = A.fit_pca2(x).project(x)
    ref = PCA(2).fit_transform(x)
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), rtol=1e-4, atol=1e-4)


def test_grid_values():
    z = A.grid_values(15, 3.0)
    assert z[0] == -3 and z[-1] == 3 and len(z) == 15


def test_latent_grid_decodes_the_right_points(model):
    images, values = A.latent_grid(model, dims=(2, 0), n=5, span=2.0)
    assert images.shape == (5, 5, 28, 28)
    # row r, column c decodes z_2 = values[c], z_0 = values[4 - r], z_1 = 0
    z = torch.tensor([[values[4 - 1], 0.0, values[3]]])
    np.testing.assert_allclose(images[1, 3], model.decode(z)[0, 0].detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="two different"):
        A.latent_grid(model, dims=(1, 1))
    with pytest.raises(ValueError):
        A.latent_grid(model, dims=(0, 3))


def test_interpolation_ends_at_the_two_codes(model):
    xa, xb = torch.rand(1, 28, 28), torch.rand(1, 28, 28)
    path, _ = A.interpolation_gaps(model, xa, xb, np.zeros((1, model.config.latent_dim), np.float32), steps=6)
    assert path.shape == (6, 28, 28)
    with torch.no_grad():
        np.testing.assert_allclose(path[0], model.decode(model.encode(xa[None])[0])[0, 0].numpy(), atol=1e-5)
        np.testing.assert_allclose(path[-1], model.decode(model.encode(xb[None])[0])[0, 0].numpy(), atol=1e-5)


def test_posterior_samples_differ_from_each_other_and_repeat_with_a_seed(model):
    x = torch.rand(1, 28, 28)
    a = A.posterior_samples(model, x, 4, torch.Generator().manual_seed(0))
    b = A.posterior_samples(model, x, 4, torch.Generator().manual_seed(0))
    assert a.shape == (4, 28, 28) and np.array_equal(a, b)
    assert np.abs(a[0] - a[1]).max() > 0


def test_metrics_and_preset_checks(model, tiny_data):
    m = A.compute_metrics(model, tiny_data, iw_samples=3)
    for key in ("recon", "mse", "kl", "elbo", "active_units", "knn_acc", "nll", "mean_abs_mu", "recon_spread", "kl_per_dim"):
        assert key in m
    assert len(m["kl_per_dim"]) == 3 and m["kl"] == pytest.approx(sum(m["kl_per_dim"]), rel=1e-3)
    assert 0 <= m["knn_acc"] <= 1 and m["n_test"] == 64
    result = A.check_preset({"kl": ("<", 1e9), "active_units": ("==", 99)}, m)
    assert result["kl"]["ok"] and not result["active_units"]["ok"]


def test_a_check_against_another_preset():
    from vae.config import Sibling

    checks = {"sample_valid": ("<=", Sibling("healthy", "sample_valid", -0.3))}
    ours = {"sample_valid": 0.2}
    assert A.check_preset(checks, ours, sibling={"healthy": {"sample_valid": 0.6}}.get)["sample_valid"]["ok"]
    assert not A.check_preset(checks, ours, sibling={"healthy": {"sample_valid": 0.4}}.get)["sample_valid"]["ok"]
    missing = A.check_preset(checks, ours)["sample_valid"]  # no healthy model to compare with: not met, and says why
    assert not missing["ok"] and "healthy" in missing["want"]


def test_latents_are_cached_per_weights(tmp_path, model, tiny_data, monkeypatch):
    model.save_pretrained(tmp_path)
    real_tsne = A.tsne_2d
    monkeypatch.setattr(A, "tsne_2d", lambda *a, **k: (_ for _ in ()).throw(AssertionError("t-SNE before it was asked for")))
    first = A.latents_for(model, tmp_path, tiny_data.test)  # what the Draw tab needs: no t-SNE yet
    monkeypatch.setattr(A, "tsne_2d", real_tsne)
    assert first.mu.shape == (64, 3) and first.tsne_xy.shape == (64, 2) and first.pca_xy.shape == (64, 2)
    np.testing.assert_allclose(first.pca_xy, first.pca.project(first.mu), atol=1e-4)

    def no_tsne(*a, **k):
        raise AssertionError("t-SNE recomputed although cached")

    monkeypatch.setattr(A, "tsne_2d", no_tsne)
    again = A.latents_for(model, tmp_path, tiny_data.test)
    np.testing.assert_array_equal(again.tsne_xy, first.tsne_xy)
    # new weights: the cache no longer belongs to them
    other = VAE(tiny_config(latent_dim=3))
    other.save_pretrained(tmp_path)
    with pytest.raises(AssertionError, match="recomputed"):
        A.latents_for(other, tmp_path, tiny_data.test).tsne_xy


# --- issue 20, item 1: where the KL's nats go --------------------------------------------------------------------------

def test_the_kl_split_on_cases_with_a_known_answer():
    """I(x; z) + KL(q(z) || p(z)) = the mean KL, I <= log N, on codes whose split is known exactly."""
    import math

    rng = np.random.default_rng(0)
    n, d = 1000, 16
    collapsed = A.kl_split(np.zeros((n, d)), np.zeros((n, d)))  # every bubble is the prior: nothing to say, no mismatch
    assert abs(collapsed["info"]) < 1e-9 and abs(collapsed["mismatch"]) < 1e-9 and collapsed["kl"] == 0
    # codes drawn from the prior itself with tiny bubbles: each z names its digit (I = log N), the rest is mismatch
    tiny = A.kl_split(rng.standard_normal((n, d)), np.full((n, d), 2 * math.log(1e-3)))
    assert abs(tiny["info"] - math.log(n)) < 1e-6 and tiny["info"] <= tiny["log_n"] + 1e-12
    assert abs(tiny["info"] + tiny["mismatch"] - tiny["kl"]) <= 0.02 * tiny["kl"]
    # every code the same point m with sigma 1: q(z) = N(m, I), so I = 0 and the mismatch is |m|^2 / 2
    same = A.kl_split(np.full((n, 4), 0.5), np.zeros((n, 4)), samples=20_000)
    assert abs(same["info"]) < 1e-9 and abs(same["mismatch"] - 0.5) < 0.03 and same["kl"] == pytest.approx(0.5)


def test_the_kl_split_is_in_the_metrics(model, tiny_data):
    m = A.compute_metrics(model, tiny_data, iw_samples=0)
    assert m["kl_info"] <= m["kl_info_bound"] == pytest.approx(np.log(len(tiny_data.train)))
    assert abs(m["kl_info"] + m["kl_mismatch"] - m["kl_train"]) <= 0.05 * m["kl_train"] + 0.05
