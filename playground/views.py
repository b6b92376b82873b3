"""What each tab shows, as pure functions of a ready model and the visitor's inputs (no Gradio here)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vae.analysis import decode_latents, kl_per_dimension, project_gaussian, prior_samples
from vae.digits import InputError

from . import plots
from .models import GRID_SCALE, Ready

N_SAMPLES = 8  # reconstructions from z ~ q(z|x) per drawing
GRID_N = 15
SPAN = 3.0
Z_LIMIT = 10.0  # API callers may pass any number; beyond this the decoder only extrapolates


@dataclass
class DrawView:
    seen: np.ndarray  # what the model sees, upscaled
    recon: np.ndarray  # decoded from mu
    samples: np.ndarray  # N_SAMPLES decodes of z ~ q(z|x), tiled
    bubble: np.ndarray  # the input's bubble on the PCA plane
    musigma: np.ndarray  # mu +- sigma per dimension, sorted by KL
    summary: str
    mu: np.ndarray  # (D,)
    logvar: np.ndarray  # (D,)


@torch.no_grad()
def draw_view(ready: Ready, x28: np.ndarray, seed: int = 0) -> DrawView:
    """Encode one digit, decode its mu and N_SAMPLES samples of its bubble, and draw the bubble."""
    x28 = np.asarray(x28, dtype=np.float32)
    if x28.shape != (28, 28):
        raise InputError(f"Expected a 28x28 digit, got shape {x28.shape}.")
    model = ready.model
    mu, logvar = model.encode(torch.from_numpy(x28)[None, None])
    gen = torch.Generator().manual_seed(seed)
    z = torch.cat([mu, model.reparameterize(mu.expand(N_SAMPLES, -1), logvar.expand(N_SAMPLES, -1), gen)])
    decoded = model.decode(z)[:, 0].numpy()  # (1 + N, 28, 28) in one batch
    mu, logvar = mu[0].numpy(), logvar[0].numpy()
    pca = ready.latents.pca
    center, cov = project_gaussian(pca, mu, logvar)
    bubble = plots.draw_bubble(ready.bubble, center, cov, pca.project(z[1:].numpy()))
    order = ready.kl_order
    sigma = np.exp(0.5 * logvar)
    musigma = plots.draw_musigma(ready.musigma, mu[order], sigma[order])
    kl = float(kl_per_dimension(mu[None], logvar[None]).sum())
    spread = float(np.abs(decoded[1:] - decoded[0]).mean())
    summary = (
        f"**{ready.name}**: KL of this digit's bubble to the prior = **{kl:.1f} nats**; "
        f"mean sigma = {sigma.mean():.3g}; samples differ from the mu-reconstruction by {spread:.3f} per pixel on average."
    )
    return DrawView(plots.digit_image(x28, 8), plots.digit_image(decoded[0], 8), plots.tile(decoded[1:], scale=3), bubble, musigma, summary, mu, logvar)


def default_dims(ready: Ready) -> tuple[int, int]:
    """The two dimensions with the most KL: the ones the model uses most."""
    return int(ready.kl_order[0]), int(ready.kl_order[1])


def check_dims(ready: Ready, dims: tuple[float, float]) -> tuple[int, int]:
    d = ready.model.config.latent_dim
    try:
        i, j = int(dims[0]), int(dims[1])
    except (TypeError, ValueError, OverflowError):
        raise InputError("Choose two latent dimensions by number.") from None
    if not (0 <= i < d and 0 <= j < d):
        raise InputError(f"The {ready.name} model has dimensions 0 to {d - 1}; got {i} and {j}.")
    if i == j:
        raise InputError("Choose two different dimensions for the grid's two axes.")
    return i, j


def check_point(z1, z2) -> tuple[float, float]:
    """The slider values as two floats within +-Z_LIMIT, or InputError."""
    try:
        z1, z2 = float(z1), float(z2)
    except (TypeError, ValueError):
        raise InputError("The slider values z1 and z2 must be numbers.") from None
    if not (abs(z1) <= Z_LIMIT and abs(z2) <= Z_LIMIT):  # also refuses NaN
        raise InputError(f"z1 and z2 must be numbers between -{Z_LIMIT:g} and {Z_LIMIT:g}; the prior puts almost everything within 3.")
    return z1, z2


@torch.no_grad()
def decode_point(ready: Ready, dims: tuple[int, int], z1: float, z2: float) -> np.ndarray:
    """Decode z with z[dims[0]] = z1, z[dims[1]] = z2 and every other dimension 0."""
    z1, z2 = check_point(z1, z2)
    z = torch.zeros(1, ready.model.config.latent_dim)
    z[0, dims[0]], z[0, dims[1]] = z1, z2
    return plots.digit_image(ready.model.decode(z)[0, 0].numpy(), 8)


def grid_image(ready: Ready, dims: tuple[int, int], point: tuple[float, float] | None = None) -> np.ndarray:
    """The cached n x n grid over two dimensions (the article's figure), with the slider point ringed."""
    _, values, tiled = ready.grid(dims, GRID_N)
    if point is None:
        return tiled
    return plots.grid_with_marker(tiled, values, check_point(*point), scale=GRID_SCALE)


def traversals(ready: Ready, n_dims: int = 8, steps: int = 11) -> tuple[np.ndarray, list[int]]:
    """Each of the top dimensions by KL varied from -3 to 3 alone, the rest at 0: (n_dims, steps) digits."""
    d = ready.model.config.latent_dim
    dims = [int(i) for i in ready.kl_order[: min(n_dims, d)]]
    values = np.linspace(-SPAN, SPAN, steps, dtype=np.float32)
    z = np.zeros((len(dims), steps, d), dtype=np.float32)
    for r, dim in enumerate(dims):
        z[r, :, dim] = values
    images = decode_latents(ready.model, z.reshape(-1, d)).reshape(len(dims), steps, 28, 28)
    return plots.labelled_rows({f"dim {dim} (KL {ready.latents.kl_per_dim[dim]:.2f})": images[r] for r, dim in enumerate(dims)}, scale=2, label_width=130), dims


# --- compare -------------------------------------------------------------------------

REGIMES = ("autoencoder", "healthy", "collapsed")
REGIME_TITLES = {"autoencoder": "beta = 0 (plain autoencoder)", "healthy": "healthy VAE", "collapsed": "collapsed VAE"}


def regime_sentence(name: str, m: dict, healthy: dict | None) -> str:
    """One sentence naming the regime in the article's terms, from the measured metrics."""
    if m.get("active_units", 0) == 0 or m.get("kl", 1e9) < 0.5:
        return (f"**{name}: posterior collapse.** KL is {m.get('kl', 0):.2f} nats and {m.get('active_units', 0)} dimensions are active: "
                "the spring to the origin won, z says nothing about the input, so every digit decodes to the same average blur.")
    ratio = m.get("mean_abs_mu", 0) / healthy["mean_abs_mu"] if healthy and healthy.get("mean_abs_mu") else None
    if name == "autoencoder" or (ratio is not None and ratio > 3):
        far = f"{ratio:.1f}x farther from the origin than the healthy model's" if ratio is not None else f"{m.get('mean_abs_mu', 0):.1f} units from the origin on average"
        return (f"**{name}: no KL force.** Codes sit {far}, in islands with empty gaps between them: "
                "sharp reconstructions, but a random z from N(0, I) lands where no digit lives.")
    return (f"**{name}: reconstruction and KL in balance.** KL {m.get('kl', 0):.0f} nats buys {m.get('active_units', 0)} active dimensions and a "
            f"{m.get('knn_acc', 0):.0%} 5-NN accuracy, in one cloud around the origin that the prior's samples also land in.")


@dataclass
class CompareView:
    pca: np.ndarray
    tsne: np.ndarray
    recons: np.ndarray
    samples: np.ndarray
    table: list[list]
    sentences: str


TABLE_HEADERS = ["model", "beta", "sigma", "recon NLL (nats)", "KL (nats)", "active units", "5-NN acc", "mean |mu|"]


def compare_view(readies: dict[str, Ready], test_images: np.ndarray, test_labels: np.ndarray, n: int = 8) -> CompareView:
    """The three regimes side by side. Slow-ish (figures): the UI computes it once and caches it."""
    names = [r for r in REGIMES if r in readies]
    pca_fig = plots.regime_scatter({REGIME_TITLES[k]: (readies[k].latents.pca_xy, readies[k].latents.labels) for k in names},
                                   "PCA of mu on one shared scale: how far the codes spread", shared_scale=True)
    # t-SNE of codes that are all ~0 can only arrange numerical noise: say so on the panel
    notes = {REGIME_TITLES[k]: "every code is ~0:\nthis layout is noise" for k in names if readies[k].metrics.get("active_units", 1) == 0}
    tsne_fig = plots.regime_scatter({REGIME_TITLES[k]: (readies[k].latents.tsne_xy, readies[k].latents.labels) for k in names},
                                    "t-SNE of mu: which digits the codes keep apart", shared_scale=False, notes=notes)
    idx = first_of_each_digit(test_labels, n)
    originals = test_images[idx]
    rows = {"input": originals}
    samples = {}
    for k in names:
        mu = readies[k].latents.mu[idx]
        rows[k] = decode_latents(readies[k].model, mu)
        samples[k] = prior_samples(readies[k].model, n, seed=0)
    healthy = readies["healthy"].metrics if "healthy" in readies else None
    table = []
    for k in names:
        m, c = readies[k].metrics, readies[k].model.config
        table.append([k, c.beta, c.sigma, round(m.get("recon", float("nan")), 1), round(m.get("kl", float("nan")), 2),
                      m.get("active_units"), round(m.get("knn_acc", float("nan")), 3), round(m.get("mean_abs_mu", float("nan")), 2)])
    sentences = "\n\n".join(regime_sentence(k, readies[k].metrics, healthy) for k in names)
    return CompareView(plots.figure_to_image(pca_fig), plots.figure_to_image(tsne_fig), plots.labelled_rows(rows, scale=3),
                       plots.labelled_rows(samples, scale=3), table, sentences)


def first_of_each_digit(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of n test images with different digits where possible (0, 1, 2, ...)."""
    labels = np.asarray(labels)
    picks = [int(np.flatnonzero(labels == d)[0]) for d in range(10) if (labels == d).any()][:n]
    rest = [i for i in range(len(labels)) if i not in picks]
    return np.array((picks + rest)[:n])
