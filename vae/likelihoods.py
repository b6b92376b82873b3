"""What the likelihood does to the pictures (issue 10, views 3 and 4): how sharp reconstructions are against their
inputs (L2's mean against L1's median), and where a learned per-pixel sigma goes, by kind of pixel, and what it earns
there. Pure functions of models and arrays: the Likelihood tab and `python -m vae likelihood` share them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .losses import LOG_SIGMA_MIN, likelihood_mean, likelihood_sigma, pixel_nll

L2, L1, CHEAT = "healthy", "laplace", "learned-sigma"  # the models the views compare (vae/config.py)
MODELS = (L2, L1, CHEAT)
INK = 0.5  # a pixel at least this bright is ink
EDGE_GRADIENT = 0.25  # a pixel is on an edge where the input's gradient magnitude is at least this (per pixel, of 0..1)
PIXEL_KINDS = ("never inked", "background", "edge", "ink")  # pixel_kinds' codes 0..3


def gradient_magnitude(images: np.ndarray) -> np.ndarray:
    """|grad| of each pixel of images (..., 28, 28), by central differences (one-sided at the border)."""
    gy, gx = np.gradient(np.asarray(images, dtype=np.float32), axis=(-2, -1))
    return np.hypot(gx, gy)


def sharpness(images: np.ndarray) -> np.ndarray:
    """Mean squared gradient magnitude of each image (...,), the gradient's energy (Tenengrad's focus measure).

    Squared, because a blur leaves the plain mean |gradient| almost where it was: a blurred edge still climbs the same
    height, only over more pixels (a box-blurred square kept 93% of it). Its energy falls as the edge widens: spread over
    w pixels, an edge of height 1 has slope 1/w and energy w * (1/w)^2 = 1/w. So a ratio of 0.5 reads: edges twice as
    wide, half as steep."""
    return (gradient_magnitude(images) ** 2).mean(axis=(-2, -1))


def sharpness_ratio(recon: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """sharpness(recon) / sharpness(inputs) per image: 1 = as crisp as the input, 0.5 = edges twice as wide."""
    return sharpness(recon) / np.maximum(sharpness(inputs), 1e-8)


def never_inked(train_images: np.ndarray | torch.Tensor) -> np.ndarray:
    """(28, 28) bool: the pixels that are exactly 0 in every training digit (the corners and borders)."""
    images = np.asarray(train_images, dtype=np.float32).reshape(-1, 28, 28)
    return images.max(axis=0) == 0


def pixel_kinds(inputs: np.ndarray, never: np.ndarray) -> np.ndarray:
    """Each pixel's kind (..., 28, 28) as an index into PIXEL_KINDS, first match wins: edge (the input's gradient
    magnitude >= EDGE_GRADIENT), ink (>= INK), never inked (0 in every training digit), else background (the dark
    pixels around this digit that some other digit inks)."""
    inputs = np.asarray(inputs, dtype=np.float32)
    kinds = np.full(inputs.shape, PIXEL_KINDS.index("background"), dtype=np.int8)
    kinds[np.broadcast_to(never, inputs.shape)] = PIXEL_KINDS.index("never inked")
    kinds[inputs >= INK] = PIXEL_KINDS.index("ink")
    kinds[gradient_magnitude(inputs) >= EDGE_GRADIENT] = PIXEL_KINDS.index("edge")
    return kinds


@dataclass
class Decoded:
    """A model's reconstructions of some digits from their codes (mu), with the likelihood's sigma and NLL per pixel."""

    mean: np.ndarray  # (N, 28, 28) the likelihood's mean in [0, 1]: what a person sees
    sigma: np.ndarray  # (N, 28, 28) learned per pixel, or the fixed sigma (the Laplace scale) everywhere
    nll: np.ndarray  # (N, 28, 28) -log p(x|z = mu) of each pixel, in nats (negative: the pixel earns nats)
    at_floor: np.ndarray  # (N, 28, 28) bool: a learned log sigma at or below the floor LOG_SIGMA_MIN (never, for a fixed sigma)


@torch.no_grad()
def decode_with_sigma(model, mu: np.ndarray, images: torch.Tensor | np.ndarray, batch_size: int = 500) -> Decoded:
    """Decode the codes `mu` (N, D) of `images` (N, 1, 28, 28) and measure each pixel's NLL under the model's likelihood."""
    model.eval()
    config = model.config
    device = next(model.parameters()).device
    images = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
    z = torch.as_tensor(np.asarray(mu, dtype=np.float32))
    parts = []
    for s in range(0, len(z), batch_size):
        logits = model.decoder.logits(z[s : s + batch_size].to(device)).float().cpu()
        x = images[s : s + batch_size]
        sigma = torch.as_tensor(likelihood_sigma(logits, config), dtype=torch.float32).expand_as(x)
        floor = logits[:, 1:2] <= LOG_SIGMA_MIN if logits.shape[1] == 2 else torch.zeros_like(x, dtype=torch.bool)
        parts.append((likelihood_mean(logits, config).clamp(0, 1), sigma, pixel_nll(x, logits, config), floor))
    mean, sigma, nll, floor = (torch.cat(p)[:, 0].numpy() for p in zip(*parts))
    return Decoded(mean, sigma, nll, floor)


def by_kind(decoded: Decoded, kinds: np.ndarray) -> dict[str, dict]:
    """For each kind of pixel: its share of all pixels, the median sigma there, the share of sigmas at the floor, the
    mean NLL of one such pixel and what all of them add to one digit's NLL (nats per digit)."""
    out = {}
    n_digits = len(kinds)
    for code, name in enumerate(PIXEL_KINDS):
        where = kinds == code
        count = int(where.sum())
        out[name] = {
            "share": count / kinds.size,
            "median_sigma": float(np.median(decoded.sigma[where])) if count else float("nan"),
            "floor_share": float(decoded.at_floor[where].mean()) if count else float("nan"),
            "nll_per_pixel": float(decoded.nll[where].mean()) if count else float("nan"),
            "nll_per_digit": float(decoded.nll[where].sum() / n_digits),
        }
    return out


def summary(decoded: Decoded, inputs: np.ndarray, kl_per_digit: float) -> dict:
    """One model's figures over the digits `inputs` (N, 28, 28): sharpness of its reconstructions against the inputs',
    errors, reconstruction NLL and KL per digit."""
    err = decoded.mean - inputs
    return {
        "sharpness": float(sharpness_ratio(decoded.mean, inputs).mean()),
        "mse": float((err**2).mean()),
        "mae": float(np.abs(err).mean()),
        "recon_nll": float(decoded.nll.sum(axis=(1, 2)).mean()),
        "kl": float(kl_per_digit),
        "digits": len(inputs),
    }


# --- the figures the tab and `python -m vae likelihood` show ----------------------------------------------------

@dataclass
class Measured:
    """One model's figures over the held-out digits: summary() and by_kind(), and its likelihood in words."""

    likelihood: str
    summary: dict
    kinds: dict[str, dict]


def likelihood_name(config) -> str:
    return {"gaussian": f"L2: Gaussian, fixed sigma {config.sigma:g}", "laplace": f"L1: Laplace, scale {config.sigma:g}",
            "gaussian-learned-sigma": "Gaussian, a sigma per pixel learned", "bernoulli": "Bernoulli"}[config.likelihood]


def measure(model, mu: np.ndarray, kl_per_digit: float, test, never: np.ndarray) -> Measured:
    """One model over the held-out digits `test` (a Split) from their codes `mu` (seconds; callers cache it per weights)."""
    inputs = test.images[:, 0].numpy()
    decoded = decode_with_sigma(model, mu, test.images)
    return Measured(likelihood_name(model.config), summary(decoded, inputs, kl_per_digit), by_kind(decoded, pixel_kinds(inputs, never)))


BLUR_HEADERS = ["model", "likelihood", "KL (nats per digit)", "squared error per pixel", "absolute error per pixel",
                "sharpness: reconstruction over input (1 = as crisp)"]
SIGMA_HEADERS = ["pixels", "share of all pixels", f"{CHEAT}: median sigma", f"{CHEAT}: share at the floor e^-7",
                 f"{CHEAT}: nats per digit", f"{L2}: nats per digit"]


def blur_rows(m: dict[str, Measured]) -> list[list]:
    return [[n, m[n].likelihood, round(m[n].summary["kl"], 1), round(m[n].summary["mse"], 4), round(m[n].summary["mae"], 4),
             round(m[n].summary["sharpness"], 3)] for n in MODELS]


def sigma_rows(m: dict[str, Measured]) -> list[list]:
    rows = []
    for kind in PIXEL_KINDS:
        c, f = m[CHEAT].kinds[kind], m[L2].kinds[kind]
        rows.append([kind, round(c["share"], 3), float(f"{c['median_sigma']:.3g}"), round(c["floor_share"], 3),
                     round(c["nll_per_digit"], 1), round(f["nll_per_digit"], 1)])
    return rows


def blur_sentence(m: dict[str, Measured]) -> str:
    """What the held-out digits say about L2 against L1, written from the figures."""
    r2, r1 = m[L2].summary["sharpness"], m[L1].summary["sharpness"]
    kl2, kl1 = m[L2].summary["kl"], m[L1].summary["kl"]
    if r1 > r2 * 1.03:
        verdict = f"the median is the sharper answer, {r1 / r2:.2f}x the mean's"
    elif r2 > r1 * 1.03:
        verdict = f"here the mean is the sharper one, {r2 / r1:.2f}x the median's"
    else:
        verdict = "the median and the mean come out about as sharp"
    rate = (f"even though L1's code carries less ({kl1:.0f} nats of KL per digit against {kl2:.0f})" if kl1 < kl2 * 0.95 else
            f"with more in L1's code ({kl1:.0f} nats of KL per digit against {kl2:.0f}), which may account for part of it" if kl1 > kl2 * 1.05 else
            f"at about the same rate ({kl1:.0f} and {kl2:.0f} nats of KL per digit)")
    return (f"**Blur, L2 against L1.** Over the {m[L2].summary['digits']:,} held-out digits, L2's reconstructions have **{r2:.0%}** of their "
            f"inputs' sharpness (mean squared gradient; 50% means edges twice as wide) and L1's **{r1:.0%}**: {verdict}, {rate}.")


def cheat_sentence(m: dict[str, Measured]) -> str:
    """What the held-out digits say about the learned sigma, written from the figures."""
    c, f = m[CHEAT], m[L2]
    mse_c, mse_f, nll_c, nll_f = c.summary["mse"], f.summary["mse"], c.summary["recon_nll"], f.summary["recon_nll"]
    drawing = (f"stops drawing the digit (its mean is a blur, {mse_c:.3f} squared error per pixel against {mse_f:.3f} with sigma fixed)"
               if mse_c > 2 * mse_f else f"draws the digit about as well ({mse_c:.3f} squared error per pixel against {mse_f:.3f} with sigma fixed)")
    nll = (f"yet its reconstruction NLL (decoding mu) is **{nll_c:.0f} nats per digit against {nll_f:.0f}**" if nll_c < nll_f else
           f"and its reconstruction NLL is no better: {nll_c:.0f} nats per digit against {nll_f:.0f}")
    edge, never = c.kinds["edge"], c.kinds["never inked"]
    return (f"**The variance cheat.** Free to choose a sigma per pixel, the decoder {drawing}, {nll} with sigma fixed at 0.1. The difference "
            f"is sigma: a median **{edge['median_sigma']:.2g}** on edges, which then cost {edge['nll_per_digit']:.0f} nats per digit instead of "
            f"{f.kinds['edge']['nll_per_digit']:.0f}, and **{never['median_sigma']:.2g}** on the {never['share']:.0%} of pixels no digit ever inks "
            f"({never['floor_share']:.0%} of them at the floor e^-7), which earn {-never['nll_per_digit']:.0f} nats per digit instead of "
            f"{-f.kinds['never inked']['nll_per_digit']:.0f}.")
