"""The objective: closed-form KL against Monte Carlo, NLLs against torch.distributions, the IW bound."""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence as td_kl

from conftest import tiny_config
from vae.losses import bernoulli_nll, gaussian_nll, iw_log_likelihood, kl_divergence, kl_per_dim, recon_nll, vae_loss
from vae.model import VAE


def test_closed_form_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 5, generator=g)
    logvar = torch.randn(3, 5, generator=g) * 0.5
    q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
    p = Independent(Normal(torch.zeros(5), torch.ones(5)), 1)
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).mean(0)
    assert torch.allclose(kl_divergence(mu, logvar), mc, atol=0.03)
    assert torch.allclose(kl_divergence(mu, logvar), td_kl(q, p), atol=1e-5)
    assert kl_per_dim(mu, logvar).shape == (3, 5)
    assert torch.allclose(kl_divergence(torch.zeros(2, 4), torch.zeros(2, 4)), torch.zeros(2))


@pytest.mark.parametrize("sigma", [1.0, 0.1, 0.37])
def test_gaussian_nll_is_a_true_nll(sigma):
    g = torch.Generator().manual_seed(1)
    x, recon = torch.rand(4, 1, 28, 28, generator=g), torch.rand(4, 1, 28, 28, generator=g)
    ref = -Normal(recon, sigma).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(gaussian_nll(x, recon, sigma), ref, rtol=1e-5)


def test_laplace_and_per_pixel_gaussian_nll_are_true_nlls():
    from torch.distributions import Laplace

    from vae.losses import laplace_nll

    g = torch.Generator().manual_seed(3)
    x, recon = torch.rand(4, 1, 28, 28, generator=g), torch.rand(4, 1, 28, 28, generator=g)
    assert torch.allclose(laplace_nll(x, recon, 0.2), -Laplace(recon, 0.2).log_prob(x).flatten(1).sum(1), rtol=1e-5)
    sigma = torch.rand(4, 1, 28, 28, generator=g) * 0.5 + 0.01
    assert torch.allclose(gaussian_nll(x, recon, sigma), -Normal(recon, sigma).log_prob(x).flatten(1).sum(1), rtol=1e-5)


def test_a_learned_sigma_is_the_decoders_second_channel():
    from vae.losses import LOG_SIGMA_MIN, likelihood_sigma

    config = tiny_config(likelihood="gaussian-learned-sigma")
    model = VAE(config).eval()
    z = torch.randn(3, config.latent_dim)
    logits = model.decoder.logits(z)
    assert logits.shape == (3, 2, 28, 28) and model.decode(z).shape == (3, 1, 28, 28)
    sigma = model.decoder.sigma(z)
    assert sigma.shape == (3, 1, 28, 28) and torch.allclose(sigma, logits[:, 1:2].clamp(min=LOG_SIGMA_MIN).exp())
    x = torch.rand(3, 1, 28, 28)
    expected = -Normal(torch.sigmoid(logits[:, :1]), likelihood_sigma(logits, config)).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(recon_nll(x, logits, config), expected, rtol=1e-5)
    floor = torch.full((1, 2, 28, 28), -50.0)  # a sigma running to 0 stops at the floor: the NLL stays finite
    assert torch.isfinite(recon_nll(torch.zeros(1, 1, 28, 28), floor, config)).all()
    fixed = VAE(tiny_config()).decoder.sigma(z)
    assert torch.all(fixed == 0.1) and fixed.shape == (3, 1, 28, 28)


def test_bernoulli_nll_matches_torch_distributions():
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(4, 1, 28, 28, generator=g) > 0.5).float()
    logits = torch.randn(4, 1, 28, 28, generator=g) * 3
    ref = -Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(bernoulli_nll(x, logits), ref, rtol=1e-5)
    assert torch.allclose(recon_nll(x, logits, tiny_config(likelihood="bernoulli")), ref, rtol=1e-5)


def test_loss_parts_and_beta():
    g = torch.Generator().manual_seed(3)
    x, logits = torch.rand(6, 1, 28, 28, generator=g), torch.randn(6, 1, 28, 28, generator=g)
    mu, logvar = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    parts = vae_loss(x, logits, mu, logvar, tiny_config(beta=2.5))
    assert torch.allclose(parts.total, parts.recon + 2.5 * parts.kl)
    assert torch.allclose(parts.kl, kl_divergence(mu, logvar).mean())
    assert torch.allclose(parts.recon, gaussian_nll(x, torch.sigmoid(logits), 0.1).mean())


def test_beta_zero_survives_a_runaway_logvar():
    """With no KL force logvar can run to its clamp; the autoencoder's loss must stay finite."""
    x, logits = torch.rand(2, 1, 28, 28), torch.randn(2, 1, 28, 28)
    mu, logvar = torch.full((2, 4), 1e19), torch.full((2, 4), 200.0)
    parts = vae_loss(x, logits, mu, logvar, tiny_config(beta=0.0))
    assert not math.isfinite(parts.kl.item())
    assert math.isfinite(parts.total.item())


def test_iw_estimate_with_one_sample_is_the_elbo_and_more_samples_tighten_it():
    torch.manual_seed(0)
    model = VAE(tiny_config(likelihood="bernoulli")).eval()
    x = torch.rand(8, 1, 28, 28)
    # K = 1: exactly log p(x|z) + log p(z) - log q(z|x) at one z, the single-sample ELBO
    ll1 = iw_log_likelihood(model, x, k=1, generator=torch.Generator().manual_seed(5))
    mu, logvar = model.encode(x)
    z = mu + (0.5 * logvar).exp() * torch.randn(1, *mu.shape, generator=torch.Generator().manual_seed(5))[0]
    logits = model.decoder.logits(z)
    elbo_at_z = -recon_nll(x, logits, model.config) + Independent(Normal(torch.zeros_like(z), 1), 1).log_prob(z) - Independent(Normal(mu, (0.5 * logvar).exp()), 1).log_prob(z)
    assert torch.allclose(ll1, elbo_at_z, atol=1e-3)
    # the IW bound is monotone in K in expectation (Burda et al.): compare averages over many seeds
    e1 = torch.stack([iw_log_likelihood(model, x, k=1, generator=torch.Generator().manual_seed(s)) for s in range(20)]).mean()
    e50 = iw_log_likelihood(model, x, k=50, generator=torch.Generator().manual_seed(99)).mean()
    assert e50 >= e1
