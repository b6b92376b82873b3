"""A second VAE that fills the prior's holes (Dai & Wipf 2019, "Diagnosing and enhancing VAE models").

The first VAE's codes do not follow N(0, I): most of their KL is mismatch with the prior (analysis.kl_split), so a
z drawn from the prior often lands where no code lives and decodes to no digit. A small MLP VAE trained on the first
model's codes learns their distribution q(z), with a prior of its own: u ~ N(0, I) -> its decoder -> z -> the first
model's decoder. The first model stays exactly as it is. Following the paper, the second decoder's variance gamma
is learned, here one per dimension (the first model's unused dimensions carry only noise and keep theirs near 1),
which lets the second stage fit q(z) tightly where the codes carry something instead of blurring it.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import SAMPLERS
from .model import Posterior
from .store import CheckpointError, atomic_path, atomic_write_json, read_json

# Chosen by probes on healthy's 4,000 training codes (1,000 samples judged, two seeds each): 150 epochs of batches of 100
# gave 0.45-0.58 sure digits (one run with a single gamma for all dimensions 0.61), 300 epochs 0.64-0.65, 600 epochs of batches of 400 0.67-0.71 (about a minute on 2 cores),
# 1,500 epochs 0.69-0.70. Fitting the codes' means alone, without their bubbles, did worse (0.56 at 150 epochs, 0.52-0.53 at 600).
HIDDEN = 512
LAYERS = 3  # hidden layers in the encoder and in the decoder (benchmarks/second_stage.py measured the sizes)
EPOCHS = 600
BATCH = 400
LR = 2e-3
FILE = "second_stage.safetensors"
RECIPE = f"{HIDDEN}x{LAYERS}, {EPOCHS} epochs of {BATCH}, lr {LR}"  # in the file's metadata: a file of another recipe is fitted again
N_JUDGED = 1000  # seeded samples judged for the figures below (as many as sample_valid judges from the prior)
# Which trained presets have their second VAE fitted in the cache, after the presets (the Prior tab's two, and the 2-D
# model whose plane the Latent walk draws); any other model's is fitted when first asked for (`python -m vae sample`).
CACHED_FOR = ("healthy", "healthy-2d", "autoencoder")


class SecondStage(nn.Module):
    """u (B, D) <-> z (B, D): an MLP encoder to (mu, logvar) of u, an MLP decoder to z's mean, and log gamma per dimension."""

    def __init__(self, latent_dim: int, hidden: int = HIDDEN, layers: int = LAYERS):
        super().__init__()
        self.latent_dim, self.hidden, self.layers = latent_dim, hidden, layers

        def mlp(out: int) -> nn.Sequential:
            widths = [latent_dim] + [hidden] * layers
            blocks = [m for a, b in zip(widths, widths[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
            return nn.Sequential(*blocks, nn.Linear(widths[-1], out))

        self.encoder = mlp(2 * latent_dim)
        self.decoder = mlp(latent_dim)
        self.log_gamma = nn.Parameter(torch.zeros(latent_dim))  # one per dimension: noise-only dimensions keep theirs near 1

    def posterior(self, z: torch.Tensor) -> Posterior:
        mu, logvar = self.encoder(z).chunk(2, dim=-1)
        return Posterior(mu, logvar.clamp(-12, 8))

    def loss(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The negative ELBO per code: sum_d (z_d - g(u)_d)^2 / (2 gamma_d) + log(2 pi gamma_d) / 2, + KL(q(u|z) || N(0, I))."""
        q = self.posterior(z)
        u = q.sample(generator)
        nll = (z - self.decoder(u)).pow(2) / (2 * self.log_gamma.exp()) + 0.5 * (math.log(2 * math.pi) + self.log_gamma)
        return (nll.sum(-1) + q.kl()).mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes z for the first model's decoder: u ~ N(0, I) through this decoder."""
        return self.decoder(torch.randn(n, self.latent_dim, generator=generator))


def fit(mu: np.ndarray, logvar: np.ndarray, epochs: int | None = None, seed: int = 0, log=lambda message: None,
        hidden: int = HIDDEN, layers: int = LAYERS) -> SecondStage:
    """The second VAE fitted to the first's training codes: each epoch a fresh z ~ q(z|x) per digit (the aggregate
    posterior itself, not only the bubbles' centres)."""
    epochs = EPOCHS if epochs is None else epochs
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    codes = Posterior(torch.as_tensor(mu, dtype=torch.float32), torch.as_tensor(logvar, dtype=torch.float32))
    model = SecondStage(codes.mu.shape[1], hidden, layers)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    steps = epochs * math.ceil(len(codes.mu) / BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    for epoch in range(epochs):
        z = codes.sample(gen)
        order = torch.randperm(len(z), generator=gen)
        total = 0.0
        for s in range(0, len(z), BATCH):
            loss = model.loss(z[order[s : s + BATCH]], gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(order[s : s + BATCH])
        if (epoch + 1) % 50 == 0:
            log(f"second stage epoch {epoch + 1}/{epochs}: loss {total / len(z):.2f}, median gamma {model.log_gamma.detach().exp().median().item():.2e}")
    return model.eval()


def save(model: SecondStage, directory: str | Path, weights: str) -> None:
    """Beside the first model's checkpoint, tagged with the fingerprint of the weights whose codes it learned."""
    from safetensors.torch import save_file

    with atomic_path(Path(directory) / FILE) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
                  metadata={"weights": weights, "recipe": RECIPE, "latent_dim": str(model.latent_dim), "hidden": str(model.hidden),
                            "layers": str(model.layers)})


def _metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.metadata() or {}


def load(directory: str | Path, weights: str) -> SecondStage | None:
    """The saved second stage when it belongs to these weights and was fitted with today's RECIPE, else None."""
    from safetensors import safe_open

    path = Path(directory) / FILE
    if not path.exists():
        return None
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if meta.get("weights") != weights or meta.get("recipe") != RECIPE:
                return None
            state = {k: f.get_tensor(k) for k in f.keys()}
        model = SecondStage(int(meta["latent_dim"]), int(meta["hidden"]), int(meta["layers"]))
        model.load_state_dict(state)
    except Exception:  # a torn or foreign file: fitted again, it takes seconds
        return None
    return model.eval()


# --- the cache: fitted after the presets, judged once --------------------------------------------------------------

def sampler_quality(model, judge, train, directory: str | Path | None = None, samplers=SAMPLERS, seed: int = 0,
                    log=lambda message: None) -> dict:
    """The judge's verdict on N_JUDGED seeded samples of each sampler (sample_codes) decoded by `model`:
    sample_valid_<sampler> and sample_coverage_<sampler> ("two-stage" written two_stage), defined as sample_valid and
    sample_coverage are for the prior (vae.analysis.sample_quality)."""
    from .analysis import decode_latents
    from .judge import VALIDITY, coverage, valid_fraction

    out = {"validity": VALIDITY}
    for sampler in samplers:
        judged = judge(decode_latents(model, sample_codes(sampler, N_JUDGED, seed, train, directory, log)))
        key = sampler.replace("-", "_")
        out[f"sample_valid_{key}"], out[f"sample_coverage_{key}"] = valid_fraction(judged), coverage(judged)
    return out


def needs_fit(directory: str | Path) -> bool:
    """Whether the trained model in `directory` lacks a current second VAE (fitted to these weights with today's
    RECIPE) or its judged figures in metrics.json, judged by today's rule. Reads metadata only; an unreadable file
    needs a fit."""
    from .analysis import fingerprint
    from .judge import judged_now

    directory = Path(directory)
    try:
        meta = _metadata(directory / FILE)
        final = read_json(directory / "metrics.json").get("final") or {}
        return (meta.get("weights") != fingerprint(directory) or meta.get("recipe") != RECIPE or "sample_valid_two_stage" not in final
                or not judged_now(final))
    except Exception:  # missing or torn: fitted again
        return True


def judged_before(directory: str | Path) -> bool:
    """Whether the trained model in `directory` has figures in metrics.json judged by an older rule than today's
    (vae.judge.VALIDITY); False when it has none (a run still training) or they cannot be read."""
    from .judge import judged_now

    try:
        final = read_json(Path(directory) / "metrics.json").get("final")
    except Exception:
        return False
    return bool(final) and not judged_now(final)


def finish_cached(directory: str | Path, data=None, second_stage: bool = True, log=lambda message: None) -> dict:
    """What the cache runs after training a preset (a worker task, vae/workers.py; `python -m vae train --all`):
    the prior's figures judged again when they were judged by an older rule (judge.judged_now), and with
    `second_stage`, the second VAE fitted (or loaded) and its samples judged. Adds the figures to the model's
    metrics.json ("final") and returns them."""
    from .analysis import judge_again, train_latents_for
    from .data import load_dataset
    from .judge import judged_now, load_or_train_judge
    from .model import VAE

    directory = Path(directory)
    model = VAE.from_pretrained(directory).eval()
    data = data or load_dataset(model.config.dataset)
    judge = load_or_train_judge(data, directory.parent, log=log)
    try:
        metrics = read_json(directory / "metrics.json")
    except CheckpointError:
        metrics = {}
    figures = {}
    if not judged_now(metrics.get("final") or {}):
        log("judging its samples again: they were judged by an older rule")
        figures.update(judge_again(model, data, judge))
    if second_stage:
        log(f"fitting the second VAE ({RECIPE}) to the codes of {len(data.train):,} training digits")
        train = train_latents_for(model, directory, data.train)
        second_stage_for(directory, train, log)
        figures.update(sampler_quality(model, judge, train, directory, ("mixture", "two-stage")))
    metrics["final"] = {**(metrics.get("final") or {}), **figures}
    atomic_write_json(directory / "metrics.json", metrics)
    if second_stage:
        log(f"second VAE fitted: {figures['sample_valid_two_stage']:.0%} of its samples are digits "
            f"(from the codes' mixture {figures['sample_valid_mixture']:.0%})")
    return figures


# --- the three samplers: where a z for the first model's decoder comes from -----------------------------------------

def second_stage_for(directory: str | Path | None, train, log=lambda message: None) -> SecondStage:
    """The second stage of the model whose training codes are `train` (analysis.Latents): read from its checkpoint
    folder when it was fitted to these weights, else fitted (seconds to a minute) and saved there."""
    if directory is not None:
        saved = load(directory, train.fingerprint)
        if saved is not None:
            return saved
    model = fit(train.mu, train.logvar, log=log)
    if directory is not None and train.fingerprint:
        save(model, directory, train.fingerprint)
    return model


def sample_codes(sampler: str, n: int, seed: int, train, directory: str | Path | None = None, log=lambda message: None) -> torch.Tensor:
    """n codes z (n, D), seeded: from the prior N(0, I) itself, from a Gaussian mixture fitted to the training codes
    `train` (analysis.fit_code_mixture), or through the second VAE (second_stage_for)."""
    from .analysis import fit_code_mixture, mixture_samples

    if sampler == "prior":
        return torch.randn(n, train.mu.shape[1], generator=torch.Generator().manual_seed(seed))
    if sampler == "mixture":
        return torch.from_numpy(mixture_samples(fit_code_mixture(train.mu, seed=seed), n, seed=seed))
    if sampler == "two-stage":
        return second_stage_for(directory, train, log).sample(n, torch.Generator().manual_seed(seed))
    raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
