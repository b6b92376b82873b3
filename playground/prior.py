"""The Prior tab: the prior N(0, I) against the codes it should cover. Samples from the prior beside samples from the
codes' own distribution (a Gaussian mixture fitted to the training codes), the holes where the prior has mass and no
digit lives on the PCA plane, and each digit class as its own Gaussian.

Builder (`build_tab`), thin handlers (`PriorHandlers`) and the pure view (`prior_view`) in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

import torch

from vae import data_curve, two_stage
from vae.config import SAMPLERS
from vae.analysis import (Latents, class_gaussians, codes_density, decode_latents, ellipse_points, fit_code_mixture, hole_log_density,
                          kl_split, mixture_samples, nearest, prior_holes, prior_samples, typical_gap)
from vae.judge import load_or_train_judge

from . import explain, plots
from .compare import samples_phrase
from .handling import guard, wire
from .models import OUTSIDE_PANELS, PICKED, Memo, ModelHub, Ready, picked_on_plane, plane_axes
from .widgets import picked_point, picture, why

MODELS = ("healthy", "autoencoder")
N_SAMPLES = 10  # decoded samples per row
N_MEASURED = 1000  # seeded samples of each kind whose distance to the nearest training code is measured
GRID = 90  # points per side of the density grid on the plane
LABEL_WIDTH = 230


# --- the view ----------------------------------------------------------------------------------

@dataclass
class ModelPrior:
    prior: np.ndarray  # (N_SAMPLES, 28, 28) decoded from z ~ N(0, I)
    mixture: np.ndarray  # (N_SAMPLES, 28, 28) decoded from z ~ the codes' mixture
    second: np.ndarray  # (N_SAMPLES, 28, 28) decoded from z through the second VAE (vae/two_stage.py)
    plane: np.ndarray  # RGB figure: holes and class Gaussians
    plane_maps: list  # its two panels' pixel <-> plane maps (plots.plane_map), for clicks
    split: dict  # the training codes' mean KL split into I(x; z) and the mismatch with the prior (analysis.kl_split)
    holes: float  # share of the prior's mass on the plane that falls in holes
    prior_gap: float  # median distance of a z ~ N(0, I) to the nearest training code, over the typical one (analysis.typical_gap)
    mixture_gap: float  # the same for a z from the codes' mixture
    sentence: str
    valid: dict  # sampler -> share of N_MEASURED samples the digit judge is sure are digits (empty without a judge)


def model_prior(ready: Ready, train: Latents, second: two_stage.SecondStage, seed: int = 0, judge=None) -> ModelPrior:
    """One model's part: samples from the prior, from the codes' mixture and through its second VAE `second`, with the
    judge's verdict on N_MEASURED of each; and the plane of holes and classes. Slow (a mixture fit, a density on a
    grid): the hub caches it per model."""
    model = ready.model
    mixture = fit_code_mixture(train.mu, seed=seed)
    prior = prior_samples(model, N_SAMPLES, seed=seed)  # the first N_SAMPLES of the measured z below
    mixed = decode_latents(model, mixture_samples(mixture, N_SAMPLES, seed=seed))
    seconds = decode_latents(model, second.sample(N_SAMPLES, torch.Generator().manual_seed(seed)))
    # the holes in all D dimensions: how far the z each generator draws land from the codes the decoder was trained on
    typical = typical_gap(ready.latents.mu, train.mu)
    z_prior = torch.randn(N_MEASURED, model.config.latent_dim, generator=torch.Generator().manual_seed(seed)).numpy()
    prior_gap = float(np.median(nearest(z_prior, train.mu)[0][:, 0]) / typical)
    z_mixture = mixture_samples(mixture, N_MEASURED, seed=seed)
    mixture_gap = float(np.median(nearest(z_mixture, train.mu)[0][:, 0]) / typical)
    valid = {}
    if judge is not None:
        figures = two_stage.sampler_quality(model, judge, train, ready.directory, seed=seed)  # as the cache and `evaluate` judge them
        valid = {sampler: figures[f"sample_valid_{sampler.replace('-', '_')}"] for sampler in SAMPLERS}
    xy = ready.latents.pca.project(train.mu)  # the training codes on the Draw tab's plane
    center = ready.prior_xy
    kde = codes_density(xy)
    hole_log = hole_log_density(kde, xy)
    classes = class_gaussians(xy, train.labels)
    extent = np.vstack([xy, center - 2.5, center + 2.5] + [ellipse_points(m, c, 2, n=60) for m, c in classes.values()])  # codes, circles, ellipses
    lo, hi = extent.min(0), extent.max(0)
    gx, gy = np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID)
    logq = kde.score_samples(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)).reshape(GRID, GRID)
    holes = prior_holes(kde, hole_log, center, seed=seed)
    d = model.config.latent_dim
    plane, maps = plots.prior_against_codes(f"{ready.name}: the {len(xy):,} training codes on the Draw tab's plane, and the prior's circles", xy,
                                            center, (gx, gy, logq), hole_log, classes, plane_axes(d), name=ready.name)
    said = samples_phrase(ready.metrics) if not valid else (
        f"digits among {N_MEASURED:,} samples: from N(0, I) {valid['prior']:.0%}, from the codes' mixture {valid['mixture']:.0%}, "
        f"**through the second VAE {valid['two-stage']:.0%}**")
    split = kl_split(train.mu, train.logvar, seed=seed)
    sentence = (f"**{ready.name}**: a prior z lies **{prior_gap:.1f}x** as far from the training codes as a held-out digit's code, a "
                f"mixture z **{mixture_gap:.1f}x**; holes: {holes:.0%} of the plane's prior mass" + (f"; {said}" if said else "") + ". "
                f"Of its {split['kl']:.1f} nats of KL per training digit, {split['info']:.1f} say which of the {split['n']:,} digits a code "
                f"came from (never more than log {split['n']:,} = {split['log_n']:.1f}) and **{split['mismatch']:.1f} are the mismatch "
                f"between the codes and the prior**, in all {d} dimensions (the plane shows two).")
    return ModelPrior(prior, mixed, seconds, plane, maps, split, holes, prior_gap, mixture_gap, sentence, valid)


def stacked_planes(parts: dict[str, ModelPrior]) -> tuple[np.ndarray, list[dict]]:
    """The models' planes one under another, and each panel's pixel <-> plane map on that picture."""
    ps = list(parts.values())
    return np.vstack([p.plane for p in ps]), plots.stacked_maps([p.plane_maps for p in ps], [p.plane.shape[0] for p in ps])


PARTS = ("message", "samples", "planes", "split")  # the view's outputs, in order (prior_view's)
CURVE_PARTS = ("words", "curve")


def prior_view(parts: dict[str, ModelPrior]) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(sentences, samples strip, planes stacked, the KL's split per model) for the models side by side."""
    rows = {}
    for name, p in parts.items():
        rows[f"{name}: z ~ N(0, I)"] = p.prior
        rows[f"{name}: z ~ the codes' mixture"] = p.mixture
        rows[f"{name}: z through a second VAE"] = p.second
    strip = plots.labelled_rows(rows, scale=2, label_width=LABEL_WIDTH)
    planes, _ = stacked_planes(parts)
    bars = plots.kl_split_bars({name: p.split for name, p in parts.items()})
    return "\n\n".join(p.sentence for p in parts.values()), strip, planes, bars


def curve_view(root: str | Path) -> tuple[str, np.ndarray | None]:
    """(a sentence, the data curve's picture) from the curve measured into root/data-curve (vae.data_curve), or
    (how to measure it, None) when it has not been."""
    curve = data_curve.load_curve(Path(root) / data_curve.FOLDER)
    if curve is None:
        return explain.DATA_CURVE_MISSING, None
    plain = sorted((r for r in curve["rows"] if not r["augment"]), key=lambda r: r["n"])
    augmented = {r["n"]: r for r in curve["rows"] if r["augment"]}
    lo, hi = plain[0], plain[-1]
    gap = max(r["log_n"] - r["kl_info"] for r in plain)
    sentence = (f"**How much data the promise needs**: trained on {lo['n']:,} and then {hi['n']:,} digits (the same number of steps), "
                f"a z from N(0, I) decodes to a digit {lo['sample_valid']:.0%} and then {hi['sample_valid']:.0%} of the time, and the "
                f"mismatch with the prior goes from {lo['kl_mismatch']:.1f} to {hi['kl_mismatch']:.1f} nats. I(x; z) sits within "
                f"{gap:.1f} nats of log N at every size ({lo['kl_info']:.1f} of {lo['log_n']:.1f}, {hi['kl_info']:.1f} of {hi['log_n']:.1f}): "
                "each code says which training digit it came from, so the codes stay N bubbles apart, with the prior's mass between them.")
    if hi["n"] in augmented:
        sentence += (f" Augmenting the same {hi['n']:,} digits (more copies, no new digits): "
                     f"{augmented[hi['n']]['sample_valid']:.0%}.")
    return f"{sentence} Measured by {curve['provenance']}.", plots.data_curve(curve["rows"])


# --- the handlers ------------------------------------------------------------------------------

class PriorHandlers:
    """Bound to the app's ModelHub; the view is the same for every visitor, so each model's part is computed once."""

    def __init__(self, hub: ModelHub):
        self.hub = hub
        hub.warm_later(self.prior)  # its first opening fits a mixture and a second VAE per model: a minute

    def _parts(self) -> dict[str, ModelPrior]:
        judge = self.hub.memo(Memo.JUDGE, lambda: load_or_train_judge(self.hub.data, self.hub.root, log=lambda m: None))
        parts = {}
        for name in MODELS:
            ready = self.hub.get(name)
            train = self.hub.train_codes(ready)
            second = self.hub.second_stage(ready, train)  # NotReady while a worker fits it
            parts[name] = ready.memo(Memo.PRIOR, lambda: model_prior(ready, train, second, judge=judge))
        return parts

    @guard(parts=PARTS, message="message")
    def prior(self):
        """The PARTS: the `/prior` endpoint."""
        sentences, strip, planes, bars = prior_view(self._parts())
        return dict(message=sentences, samples=strip, planes=planes, split=bars)

    @guard(parts=CURVE_PARTS, message="words")
    def curve(self):
        """The data curve's sentence, and its picture (hidden until it has been measured)."""
        saved = Path(self.hub.root) / data_curve.FOLDER / data_curve.RESULTS
        stamp = saved.stat().st_mtime_ns if saved.exists() else None  # drawn once per measurement, not at every opening
        sentence, picture = self.hub.memo((Memo.DATA_CURVE, stamp), lambda: curve_view(self.hub.root))
        return dict(words=sentence, curve=gr.Image(value=picture, visible=picture is not None))

    @guard(parts=PICKED, message="words")
    def pick(self, evt: gr.SelectData):
        """A click on the planes: the PICKED parts, for the digit that plane's model decodes at the point clicked."""
        planes, maps = stacked_planes(self._parts())
        for plane in maps:
            xy = plots.point_on_plane(plane, evt.index)
            if xy is not None:
                return picked_on_plane(self.hub.get(plane["model"]), xy, planes, evt.index)
        return {"words": OUTSIDE_PANELS}


# --- the builder -------------------------------------------------------------------------------

def build_tab(hub: ModelHub) -> None:
    h = PriorHandlers(hub)
    with gr.Tab("Prior", id="prior") as tab:
        gr.Markdown(explain.PRIOR_INTRO)
        message = gr.Markdown(explain.PRIOR_WAITING, elem_id="prior-message")
        samples = picture(f"{N_SAMPLES} samples per row: from the prior N(0, I); from a Gaussian mixture (10 components) fitted to the 4,000 "
                          "training codes; and through a second VAE trained on those codes, u ~ N(0, I) -> its decoder -> z", elem_id="prior-samples")
        planes = picture("The Draw tab's plane. Left: training codes, and the prior's holes shaded. Right: each digit as its own Gaussian. "
                         "Click anywhere on them to decode that point", elem_id="prior-planes")
        picked, picked_words = picked_point("prior-picked", "Click a plane above (a hole, say): the digit decoded there shows here.")
        split = picture("Where the KL's nats go: what a code says about which training digit it came from (at most log N), and the "
                        "mismatch between all the codes and the prior", elem_id="prior-kl")
        curve_words = gr.Markdown(elem_id="prior-curve-words")
        curve = gr.Image(show_label=False, format="png", interactive=False, visible=False, elem_id="prior-curve", elem_classes=["picture"],
                         buttons=["download", "fullscreen"])
        why(explain.PRIOR_NOTES)
        api_button = gr.Button("Show the prior against the codes", visible=False)  # the view as an API endpoint of its own

    outputs = wire(dict(message=message, samples=samples, planes=planes, split=split), PARTS)
    api_button.click(h.prior, None, outputs, api_name="prior")
    tab.select(h.prior, None, outputs, api_visibility="private")  # its first opening fits a mixture and a second VAE per model: a spinner says so
    tab.select(h.curve, None, wire(dict(words=curve_words, curve=curve), CURVE_PARTS), api_visibility="private", show_progress="hidden")
    planes.select(h.pick, None, wire(dict(digit=picked, words=picked_words, plane=planes), PICKED), api_visibility="private", show_progress="hidden")
