"""The VAE objective: reconstruction NLL + beta * KL, per image, and the importance-weighted likelihood."""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .config import VAEConfig


# A learned sigma may shrink towards 0 where a pixel is always black (the article's "variance cheat"); the floor
# keeps the NLL finite (at sigma = e^-7 a pixel can earn at most 6.1 nats) so the cheat is measured, not a NaN.
LOG_SIGMA_MIN, LOG_SIGMA_MAX = -7.0, 2.0


def gaussian_pixel_nll(x: torch.Tensor, recon: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """-log N(x; recon, sigma^2) per pixel, shaped like x: the article's L2 loss plus its constant, a true NLL. sigma is
    one number (fixed) or a tensor like x (one learned sigma per pixel)."""
    log_sigma = torch.log(sigma) if isinstance(sigma, torch.Tensor) else math.log(sigma)
    return 0.5 * ((x - recon) / sigma).pow(2) + log_sigma + 0.5 * math.log(2 * math.pi)


def gaussian_nll(x: torch.Tensor, recon: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """-log N(x; recon, sigma^2) per image (B,)."""
    return gaussian_pixel_nll(x, recon, sigma).flatten(1).sum(1)


def laplace_pixel_nll(x: torch.Tensor, recon: torch.Tensor, scale: float) -> torch.Tensor:
    """-log Laplace(x; recon, scale) per pixel: the L1 loss plus its constant. Its optimum is the median of what the
    bubble could decode to, where L2's is the mean (the article's table on blur)."""
    return (x - recon).abs() / scale + math.log(2 * scale)


def laplace_nll(x: torch.Tensor, recon: torch.Tensor, scale: float) -> torch.Tensor:
    """-log Laplace(x; recon, scale) per image (B,)."""
    return laplace_pixel_nll(x, recon, scale).flatten(1).sum(1)


def bernoulli_pixel_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """-log Bernoulli(x; sigmoid(logits)) per pixel, from logits for numerical stability."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def bernoulli_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """-log Bernoulli(x; sigmoid(logits)) per image (B,)."""
    return bernoulli_pixel_nll(x, logits).flatten(1).sum(1)


def likelihood_mean(logits: torch.Tensor, config: VAEConfig) -> torch.Tensor:
    """The decoder's mean image (B,1,28,28) from its output channels: sigmoid(logits), or with decoder_mean="linear"
    (Gaussian or Laplace) the logits themselves.

    Under L2 a sigmoid output learns its near-0 background slowly: the gradient (mean - x) * s * (1 - s) vanishes as
    s -> 0, which leaves grey smudges; an unsquashed mean keeps the full gradient (mean - x).
    """
    logits = logits[:, :1]
    return logits if mean_is_linear(config) else torch.sigmoid(logits)


def mean_is_linear(config: VAEConfig) -> bool:
    """Whether the mean image is the decoder's output itself (decoder_mean "linear", not under Bernoulli) or its sigmoid."""
    return config.likelihood != "bernoulli" and config.decoder_mean == "linear"


def likelihood_sigma(logits: torch.Tensor, config: VAEConfig) -> torch.Tensor | float:
    """The per-pixel sigma the decoder outputs (likelihood "gaussian-learned-sigma"), else the fixed sigma."""
    if config.likelihood == "gaussian-learned-sigma":
        return logits[:, 1:2].clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX).exp()
    return config.sigma


def pixel_nll(x: torch.Tensor, logits: torch.Tensor, config: VAEConfig) -> torch.Tensor:
    """Reconstruction NLL per pixel (B,1,28,28) under the config's likelihood (see likelihood_mean and likelihood_sigma):
    where in the picture the nats are paid, or earned."""
    if config.likelihood == "bernoulli":
        return bernoulli_pixel_nll(x, logits)
    mean = likelihood_mean(logits, config)
    if config.likelihood == "laplace":
        return laplace_pixel_nll(x, mean, config.sigma)
    return gaussian_pixel_nll(x, mean, likelihood_sigma(logits, config))


def recon_nll(x: torch.Tensor, logits: torch.Tensor, config: VAEConfig) -> torch.Tensor:
    """Reconstruction NLL per image (B,): pixel_nll summed over the picture."""
    return pixel_nll(x, logits, config).flatten(1).sum(1)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) for each dimension (B, D), closed form (Kingma & Welling 2014, App. B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per image (B,)."""
    return kl_per_dim(mu, logvar).sum(1)


class LossParts(NamedTuple):
    total: torch.Tensor  # batch mean of recon + beta * kl
    recon: torch.Tensor  # batch mean of the reconstruction NLL per image
    kl: torch.Tensor  # batch mean of the KL per image


def vae_loss(x, logits, mu, logvar, config: VAEConfig, beta: float | None = None) -> LossParts:
    """Negative ELBO with a beta weight (the config's, unless a warm-up passes its own): summed per image,
    averaged over the batch, computed in fp32."""
    beta = config.beta if beta is None else beta
    recon = recon_nll(x.float(), logits.float(), config).mean()
    kl = kl_divergence(mu.float(), logvar.float()).mean()
    # beta = 0 must not multiply: a huge (even inf) KL times 0 is NaN.
    total = recon + beta * kl if beta > 0 else recon
    return LossParts(total, recon, kl)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@torch.no_grad()
def iw_log_likelihood(model, x: torch.Tensor, k: int = 100, generator: torch.Generator | None = None) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) per image (B,) with K samples (Burda et al. 2016):

    log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K.
    """
    config = model.config
    q = model.posterior(x)  # (B, D)
    b, d = q.mu.shape
    z = q.sample(generator, n=k)  # (K, B, D)
    logits = model.decoder.logits(z.reshape(k * b, d))  # (K*B, 1, 28, 28)
    x_rep = x.float().unsqueeze(0).expand(k, *x.shape).reshape(k * b, *x.shape[1:])
    log_px_z = -recon_nll(x_rep, logits, config).view(k, b)
    log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    return torch.logsumexp(log_px_z + log_pz - q.log_prob(z), dim=0) - math.log(k)
