"""The Likelihood tab (issue 10, views 3 and 4): what the choice of p(x|z) does to the pictures. The same digit
reconstructed under L2 (healthy: a Gaussian with fixed sigma, its optimum the mean) and under L1 (laplace: its optimum
the median), with how steep their edges are against the input's; and the variance cheat: a decoder that also outputs
a sigma per pixel (learned-sigma), its sigma map and where its nats come from. The figures over the 1,000 held-out
digits are measured once per set of weights (vae/likelihoods.py, the same functions as `python -m vae likelihood`).

Builder (`build_tab`), thin handlers (`LikelihoodHandlers`) and the pure views (`measure`, `likelihood_view`) in one place.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import gradio as gr
import numpy as np
import torch

from vae.data import Split
from vae.digits import InputError
from vae.likelihoods import (BLUR_HEADERS, CHEAT, L1, L2, MODELS, SIGMA_HEADERS, Decoded, Measured, blur_rows, blur_sentence, cheat_sentence,
                             decode_with_sigma, gradient_magnitude, measure, never_inked, sharpness_ratio, sigma_rows)
from vae.losses import LOG_SIGMA_MAX, LOG_SIGMA_MIN

from . import explain, inputs, plots
from .handling import QUIET, guard, wire
from .models import Memo, ModelHub, NotReady, Ready
from .widgets import picture, why

SIGMA_FLOOR, SIGMA_CEILING = math.exp(LOG_SIGMA_MIN), math.exp(LOG_SIGMA_MAX)  # the learned sigma's whole range: the maps' fixed scale
VIEW = ("message", "findings", "blur", "cheat", "blur_table", "sigma_table")  # the view of one digit, in its outputs' order
SHOWN = ("index",) + VIEW  # ... and the digit's number, as the tab shows them
NATS_SHOWN = 7.0  # the nats-per-pixel maps run from -7 to 7 (a pixel at the floor earns at most 6.1; larger costs are clipped)
MAX_GRADIENT = math.hypot(0.5, 0.5)  # the largest gradient magnitude central differences give a [0, 1] picture


# --- the view ----------------------------------------------------------------------------------

@dataclass
class LikelihoodView:
    message: str  # this digit's figures
    findings: str  # the two sentences over the held-out digits
    blur: np.ndarray  # RGB: input, L2, L1, the learned-sigma mean, and their gradient magnitudes
    cheat: np.ndarray  # RGB: input, mean, sigma map, nats per pixel under learned and fixed sigma
    blur_table: list[list]
    sigma_table: list[list]


def decode_one(ready: Ready, x: np.ndarray) -> Decoded:
    """One digit (28, 28) through a model: encoded to mu, decoded with its sigma and each pixel's NLL."""
    xt = torch.from_numpy(np.asarray(x, dtype=np.float32))[None, None]
    with torch.no_grad():
        mu, _ = ready.model.encode(xt)
    return decode_with_sigma(ready.model, mu.numpy(), xt)


def likelihood_view(readies: dict[str, Ready], measured: dict[str, Measured], x: np.ndarray, name: str) -> LikelihoodView:
    """The tab for digit x (28, 28) called `name`: it through the three models, beside the held-out figures."""
    x = np.asarray(x, dtype=np.float32)
    d = {n: decode_one(readies[n], x) for n in MODELS}
    ratio = {n: float(sharpness_ratio(d[n].mean[0], x)) for n in MODELS}
    images = {"input": x, f"L2 ({L2})": d[L2].mean[0], f"L1 ({L1})": d[L1].mean[0], CHEAT: d[CHEAT].mean[0]}
    ratios = [1.0, ratio[L2], ratio[L1], ratio[CHEAT]]
    blur = plots.titled_maps(
        [{(k if k == "input" else f"{k}: {r:.2f}x"): plots.grey_map(v) for (k, v), r in zip(images.items(), ratios)},
         {f"|grad| {k.split(' ')[0]}": plots.colour_mapped(gradient_magnitude(v), "magma", 0.0, MAX_GRADIENT) for k, v in images.items()}],
        [None, plots.colour_bar("magma", 0.0, MAX_GRADIENT, False, "gradient magnitude", (0, 0.2, 0.4, 0.6))])
    c, f = d[CHEAT], d[L2]
    cheat = plots.titled_maps(
        [{"input": plots.grey_map(x), f"{CHEAT}: mean": plots.grey_map(c.mean[0]),
          f"sigma, median {float(np.median(c.sigma[0])):.2g}": plots.colour_mapped(c.sigma[0], "viridis", SIGMA_FLOOR, SIGMA_CEILING, log=True)},
         {f"learned: {c.nll[0].sum():.0f} nats": plots.colour_mapped(c.nll[0], "RdBu_r", -NATS_SHOWN, NATS_SHOWN),
          f"fixed 0.1: {f.nll[0].sum():.0f} nats": plots.colour_mapped(f.nll[0], "RdBu_r", -NATS_SHOWN, NATS_SHOWN)}],
        [plots.colour_bar("viridis", SIGMA_FLOOR, SIGMA_CEILING, True, "sigma (red: floor e^-7)", (0.001, 0.01, 0.1, 1), mark=SIGMA_FLOOR * 1.1),
         plots.colour_bar("RdBu_r", -NATS_SHOWN, NATS_SHOWN, False, "nats per pixel", (-6, -3, 0, 3, 6))])
    message = (f"**{name}**. Sharpness of its reconstruction over the input's (1 = as crisp): L2 **{ratio[L2]:.2f}**, L1 **{ratio[L1]:.2f}**, "
               f"learned sigma {ratio[CHEAT]:.2f}. Its reconstruction NLL: {c.nll[0].sum():.0f} nats with a learned sigma, "
               f"{d[L2].nll[0].sum():.0f} with sigma fixed at 0.1.")
    findings = blur_sentence(measured) + "\n\n" + cheat_sentence(measured)
    return LikelihoodView(message, findings, blur, cheat, blur_rows(measured), sigma_rows(measured))


# --- the handlers ------------------------------------------------------------------------------

class LikelihoodHandlers:
    """Bound to the app's ModelHub; the digit arrives with each request."""

    def __init__(self, hub: ModelHub):
        self.hub = hub
        hub.warm_later(lambda: self.likelihood(0))  # its first opening measures three models on the held-out digits

    def _test(self) -> Split:
        if self.hub.data is None:
            raise NotReady("The digits are still loading; try again in a moment.")
        return self.hub.data.test

    def _digit(self, index) -> tuple[np.ndarray, str]:
        """Test digit number `index` (28, 28) and its name, or InputError."""
        x, i, label = self.hub.test_digit(index)
        return x, f"Test digit {i} (a {label})"

    def _view(self, x: np.ndarray, name: str) -> LikelihoodView:
        readies = {n: self.hub.get(n, final=True) for n in MODELS}  # NotReady says which one the view waits for
        test = self._test()
        never = self.hub.memo(Memo.NEVER_INKED, lambda: never_inked(self.hub.data.train.images))
        measured = {n: r.memo(Memo.LIKELIHOOD, lambda r=r: measure(r.model, r.latents.mu, float(r.latents.kl_per_dim.sum()), test, never))
                    for n, r in readies.items()}
        return likelihood_view(readies, measured, x, name)

    @guard(parts=VIEW, message="message")
    def likelihood(self, index):
        """The VIEW for test digit `index`: the `/likelihood` endpoint."""
        return self._parts(self._view(*self._digit(index)))

    @guard(parts=SHOWN, message="message")
    def show(self, index, use_drawing, drawing):
        """The SHOWN parts as the tab shows them: no number yet is test digit 0, and the digit may be the visitor's last
        drawing on the Draw tab."""
        return self._show(0 if index is None else index, use_drawing, drawing)

    @guard(parts=("use_drawing",) + SHOWN, message="message")
    def another(self, drawing):
        """A random test digit, shown, with 'my drawing' unticked."""
        return {**self._show(int(np.random.default_rng().integers(len(self._test()))), False, drawing), "use_drawing": False}

    @staticmethod
    def _parts(v: LikelihoodView) -> dict:
        return dict(message=v.message, findings=v.findings, blur=v.blur, cheat=v.cheat, blur_table=v.blur_table, sigma_table=v.sigma_table)

    def _show(self, index, use_drawing, drawing):
        if use_drawing:
            if drawing is None:
                raise InputError("Draw a digit on the Draw tab first (or untick 'my drawing').")
            v = self._view(np.asarray(drawing, dtype=np.float32), "Your drawing")
        else:
            v = self._view(*self._digit(index))
        return {"index": index, **self._parts(v)}


# --- the builder -------------------------------------------------------------------------------

def build_tab(hub: ModelHub, drawing: gr.State) -> None:
    """`drawing`: the Draw tab's last 28x28 input, which can stand in for a test digit."""
    h = LikelihoodHandlers(hub)
    with gr.Tab("Likelihood", id="likelihood") as tab:
        gr.Markdown(explain.LIKELIHOOD_INTRO)
        with gr.Row(equal_height=True):
            index = inputs.Number(label="test digit (0 to 999)", precision=0, minimum=0, value=0, elem_id="lik-digit")
            with gr.Column():
                use_drawing = gr.Checkbox(label="my drawing from the Draw tab", elem_id="lik-drawing")
                another = gr.Button("Another test digit", size="sm", elem_id="lik-another")
        message = gr.Markdown(explain.LIKELIHOOD_WAITING, elem_id="lik-message")
        blur = picture("Blur, L2 against L1: each model's reconstruction (title: its sharpness over the input's) and its gradient", elem_id="lik-blur")
        cheat = picture("The variance cheat: the learned-sigma model's mean, its sigma per pixel, and the nats each pixel pays (red) or earns (blue)",
                        elem_id="lik-cheat")
        findings = gr.Markdown(elem_id="lik-findings")
        blur_table = gr.Dataframe(headers=BLUR_HEADERS, label="Over the 1,000 held-out digits: rate, errors and sharpness of each model",
                                  interactive=False, wrap=True, elem_id="lik-blur-table")
        sigma_table = gr.Dataframe(headers=SIGMA_HEADERS, label="Over the 1,000 held-out digits, by kind of pixel: where the learned sigma "
                                   "goes and what each kind adds to a digit's reconstruction NLL", interactive=False, wrap=True, elem_id="lik-sigma-table")
        why(explain.LIKELIHOOD_NOTES)
        api_button = gr.Button("Likelihood", visible=False)  # the view of one test digit as an API endpoint of its own

    shown = dict(index=index, use_drawing=use_drawing, message=message, findings=findings, blur=blur, cheat=cheat, blur_table=blur_table,
                 sigma_table=sigma_table)
    args, outputs = [index, use_drawing, drawing], wire(shown, SHOWN)
    api_button.click(h.likelihood, [index], wire(shown, VIEW), api_name="likelihood")
    tab.select(h.show, args, outputs, api_visibility="private")  # the first opening measures three models (seconds): a spinner says so
    index.submit(h.show, args, outputs, api_visibility="private", **QUIET)
    use_drawing.input(h.show, args, outputs, api_visibility="private", **QUIET)
    another.click(h.another, [drawing], wire(shown, ("use_drawing",) + SHOWN), api_visibility="private", **QUIET)
