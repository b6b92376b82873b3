"""One digit's pass through the model, step by step, with its real numbers: the article's pseudo-code made visible.

The steps are read off the model's own modules by forward hooks during one call of `VAE.forward` (the training
forward), so what is shown is exactly what training computes; nothing here re-implements a layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .losses import likelihood_mean, pixel_nll, vae_loss
from .model import VAE, Posterior


@dataclass
class Step:
    """One intermediate tensor of the pass, for a single image: its name, the article's word for it, its values."""

    name: str  # e.g. "layer2"
    what: str  # e.g. "ResNet-18 stage 2"
    value: np.ndarray  # (C, H, W) for maps, (N,) for vectors

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)


@dataclass
class Trace:
    """Everything one forward pass of one image computed, and its loss terms (all float32 / float)."""

    model_name: str
    x: np.ndarray  # (28, 28) the input
    encoder: list[Step]  # the ResNet-18 stages' maps, then the head's vectors ([512] pooled, [1024], Project [2D])
    mu: np.ndarray  # (D,)
    logvar: np.ndarray  # (D,)
    eps: np.ndarray  # (D,) eps ~ N(0, I)
    z: np.ndarray  # (D,) mu + sigma * eps
    decoder: list[Step]  # Linear -> reshape [C, 7, 7], then each stage's maps, then the output logits
    mean: np.ndarray  # (28, 28) the decoded image: the likelihood's mean
    pixel_nats: np.ndarray  # (28, 28) -log p(x|z) of each pixel
    kl_per_dim: np.ndarray  # (D,) KL(q(z_i|x) || N(0, 1))
    beta: float
    likelihood: str
    sigma_x: float  # the decoder's fixed sigma (the Gaussian likelihood's)
    loss: float  # what training minimises for this digit: vae_loss's total, recon + beta * KL

    @property
    def sigma(self) -> np.ndarray:
        return np.exp(0.5 * self.logvar)

    @property
    def recon(self) -> float:
        return float(self.pixel_nats.sum())

    @property
    def kl(self) -> float:
        return float(self.kl_per_dim.sum())

    @property
    def beta_kl(self) -> float:
        return self.loss - self.recon

    def numbers(self) -> dict:
        """The pass as plain JSON: shapes, the code's vectors, the loss terms (the /pass endpoint)."""
        r = lambda a: np.round(np.asarray(a, dtype=np.float64), 6).tolist()  # noqa: E731
        return {
            "model": self.model_name,
            "likelihood": self.likelihood,
            "sigma_x": self.sigma_x,
            "input": r(self.x),
            "shapes": {
                "input": [1, 28, 28],
                **{f"encoder.{s.name}": list(s.shape) for s in self.encoder},
                "mu": [len(self.mu)], "logvar": [len(self.logvar)], "z": [len(self.z)],
                **{f"decoder.{s.name}": list(s.shape) for s in self.decoder},
                "mean": [1, 28, 28],
            },
            "mu": r(self.mu), "logvar": r(self.logvar), "sigma": r(self.sigma), "eps": r(self.eps), "z": r(self.z),
            "mean": r(self.mean),
            "recon_nats_per_pixel": r(self.pixel_nats),
            "recon_nats": self.recon,
            "kl_per_dim": r(self.kl_per_dim),
            "kl": self.kl,
            "beta": self.beta,
            "beta_kl": self.beta_kl,
            "loss": self.loss,
            "elbo": -(self.recon + self.kl),
        }


def _encoder_taps(model: VAE) -> list[tuple[str, str, torch.nn.Module]]:
    net = model.encoder.backbone
    head = model.encoder.head
    return [
        ("stem", "conv 7x7/2 + BN + ReLU", net.relu),
        ("maxpool", "max-pool 3x3/2", net.maxpool),
        ("layer1", "ResNet stage 1", net.layer1),
        ("layer2", "ResNet stage 2", net.layer2),
        ("layer3", "ResNet stage 3", net.layer3),
        ("layer4", "ResNet stage 4", net.layer4),
        ("pooled", "average pool", net.avgpool),
        ("hidden", "Linear + ReLU", head[1]),
        ("project", "Project", head[2]),
    ]


def _decoder_taps(model: VAE) -> list[tuple[str, str, torch.nn.Module]]:
    """The decoder's Linear, then the last ReLU at each resolution (7, 14, 28), then the output convolution."""
    taps = [("linear", "Linear", model.decoder.fc)]
    size, last_relu = 7, None

    def close(size: int, relu) -> None:
        if relu is not None:
            taps.append((f"stage{size}", "Conv 3x3 + ReLU" if size == 7 else "Up x2 + Conv + ReLU", relu))

    for layer in list(model.decoder.net)[:-1]:
        if isinstance(layer, torch.nn.Upsample):
            close(size, last_relu)
            size, last_relu = size * 2, None
        elif isinstance(layer, torch.nn.ReLU):
            last_relu = layer
    close(size, last_relu)
    taps.append(("logits", "output Conv 3x3", model.decoder.net[-1]))
    return taps


@torch.no_grad()
def trace(model: VAE, x28: np.ndarray, eps: np.ndarray | None = None, seed: int = 0, name: str = "") -> Trace:
    """Run one image (28, 28) in [0, 1] through `model`'s forward with noise eps (D,) (drawn from `seed` when not
    given) and record every step and the two loss terms."""
    model.eval()
    x = torch.as_tensor(np.asarray(x28, dtype=np.float32)).reshape(1, 1, 28, 28)
    d = model.config.latent_dim
    if eps is None:
        eps_t = Posterior(torch.zeros(1, d), torch.zeros(1, d)).noise(generator=torch.Generator().manual_seed(int(seed)))
    else:
        eps_t = torch.as_tensor(np.asarray(eps, dtype=np.float32)).reshape(1, d)
    seen: dict[str, torch.Tensor] = {}
    taps = _encoder_taps(model) + [(f"dec.{n}", w, m) for n, w, m in _decoder_taps(model)]
    handles = [m.register_forward_hook(lambda _m, _i, out, n=n: seen.__setitem__(n, out.detach().float().clone())) for n, _, m in taps]
    try:
        device = next(model.parameters()).device
        out = model(x.to(device), eps=eps_t.to(device))
    finally:
        for h in handles:
            h.remove()
    config = model.config
    nats = pixel_nll(x, out.logits.cpu().float(), config)[0, 0]

    def step(key: str, name: str, what: str) -> Step:
        v = seen[key][0].cpu().numpy()
        return Step(name, what, v.reshape(-1) if name == "pooled" else v)  # the pool's (512, 1, 1) is the [512] feature

    encoder = [step(n, n, w) for n, w, _ in _encoder_taps(model)]
    decoder = [step(f"dec.{n}", n, w) for n, w, _ in _decoder_taps(model)]
    c0 = model.decoder.c0
    decoder.insert(1, Step("reshape", f"to [{c0}, 7, 7]", decoder[0].value.reshape(c0, 7, 7)))
    post = out.posterior
    return Trace(
        model_name=name, x=x[0, 0].numpy(), encoder=encoder,
        mu=out.mu[0].cpu().numpy(), logvar=out.logvar[0].cpu().numpy(), eps=eps_t[0].cpu().numpy(), z=out.z[0].cpu().numpy(),
        decoder=decoder, mean=likelihood_mean(out.logits, config)[0, 0].clamp(0, 1).cpu().numpy(), pixel_nats=nats.numpy(),
        kl_per_dim=post.kl_per_dim()[0].cpu().numpy(), beta=float(config.beta), likelihood=config.likelihood, sigma_x=float(config.sigma),
        loss=float(vae_loss(x.to(device), out.logits, out.mu, out.logvar, config).total),
    )
