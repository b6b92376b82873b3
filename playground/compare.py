"""The Compare tab: the autoencoder (beta = 0), the healthy VAE and the collapsed one side by side, and beside them,
when a visitor picks one, a model the visitor trained in the Train tab.

Builder (`build_tab`), thin handlers (`CompareHandlers`) and the pure view (`compare_view`) in one place.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np

from vae.analysis import N_PRIOR_SAMPLES, decode_latents, prior_samples
from vae.judge import CONFIDENT

from . import explain, plots
from .handling import QUIET, guard, wire
from .widgets import picked_point, picture, why
from .models import OUTSIDE_PANELS, PICKED, Memo, ModelHub, Ready, first_of_each_digit, picked_on_plane
from .runs import VisitorModels, visitor

REGIMES = ("autoencoder", "healthy", "collapsed")
REGIME_TITLES = {"autoencoder": "beta = 0 (plain autoencoder)", "healthy": "healthy VAE", "collapsed": "collapsed VAE"}
# short, so that the twelve columns fit a 1400 px window without a word broken; TABLE_NOTE, under the table, says more
TABLE_HEADERS = ["model", "beta", "sigma", "recon NLL", "KL (nats)", "active dims", "5-NN acc", "mean |mu|",
                 "prior: digits", "prior: classes", "recon keeps digit", "2nd VAE: digits"]
TABLE_NOTE = (f"*prior: digits*: of {N_PRIOR_SAMPLES:,} decoded z ~ N(0, I), the share the judge calls one digit with confidence >= {CONFIDENT:g} "
              "and finds among real digits (within a training digit's nearest neighbours in its features); "
              "*prior: classes*: how evenly they cover the ten digits (1 = all ten evenly); *recon keeps digit*: held-out digits "
              "whose reconstruction the judge reads as the same digit; *2nd VAE: digits*: samples through the second VAE fitted "
              "to the codes (the Prior tab) that are digits.")
PARTS = ("sentences", "table", "pca", "tsne", "recons", "samples")  # the tab's outputs, in order
N_PRIOR = (4, 8)  # prior samples shown per model: enough to judge by eye
ALONE = "the three regimes only"  # the run picker's first choice (the Train tab adds the visitor's finished runs)


def samples_phrase(m: dict) -> str:
    """'8 of 10 random codes z ~ N(0, I) decode to a digit', from the judged sample_valid (empty when unmeasured)."""
    if m.get("sample_valid") is None:
        return ""
    return f"{round(10 * m['sample_valid'])} of 10 prior samples are digits"


# --- the view ----------------------------------------------------------------------------------

def regime_sentence(name: str, m: dict, healthy: dict | None) -> str:
    """One sentence naming the regime in the article's terms, from the measured metrics."""
    said = samples_phrase(m)
    if m.get("active_units", 0) == 0 or m.get("kl", 1e9) < 0.5:
        return (f"**{name}: posterior collapse.** KL {m.get('kl', 0):.2f} nats, {m.get('active_units', 0)} active dimensions: z says "
                "nothing, every digit decodes to one blur" + (f" ({said})." if said else "."))
    ratio = m.get("mean_abs_mu", 0) / healthy["mean_abs_mu"] if healthy and healthy.get("mean_abs_mu") else None
    if name == "autoencoder" or (ratio is not None and ratio > 3):
        far = f"{ratio:.1f}x farther from the origin than the healthy model's" if ratio is not None else f"{m.get('mean_abs_mu', 0):.1f} units from the origin on average"
        return (f"**{name}: no KL force.** Codes sit {far}: sharp reconstructions, but a z from N(0, I) lands where no "
                "digit lives" + (f" ({said})." if said else "."))
    return (f"**{name}: in balance.** KL {m.get('kl', 0):.0f} nats buys {m.get('active_units', 0)} active dimensions and "
            f"{m.get('knn_acc', 0):.0%} 5-NN accuracy, in one cloud around the origin" + (f" ({said})." if said else "."))


@dataclass
class CompareView:
    pca: np.ndarray
    tsne: np.ndarray
    recons: np.ndarray
    samples: np.ndarray
    table: list[list]
    sentences: str
    pca_planes: list = None  # each PCA panel's pixel <-> plane map, named by its model (plots.axes_maps): for clicks


def compare_view(readies: dict[str, Ready], test_images: np.ndarray, test_labels: np.ndarray, n: int = 8) -> CompareView:
    """The models of `readies` side by side, in its order: the three regimes by their preset names, and any other model
    (a visitor's run) by the name it is given. Slow-ish (figures): the UI computes it once per set of models and caches it."""
    names = list(readies)
    title = {k: REGIME_TITLES.get(k, k) for k in names}
    pca_fig = plots.regime_scatter({title[k]: (readies[k].latents.pca_xy, readies[k].latents.labels) for k in names},
                                   "PCA of mu on one shared scale: how far the codes spread", shared_scale=True)
    # t-SNE of codes that are all ~0 can only arrange numerical noise: say so on the panel
    notes = {title[k]: "every code is ~0:\nthis layout is noise" for k in names if readies[k].metrics.get("active_units", 1) == 0}
    tsne_fig = plots.regime_scatter({title[k]: (readies[k].latents.tsne_xy, readies[k].latents.labels) for k in names},
                                    "t-SNE of mu: which digits the codes keep apart", shared_scale=False, notes=notes)
    idx = first_of_each_digit(test_labels, n)
    originals = test_images[idx]
    rows = {"input": originals}
    samples = {}
    for k in names:
        mu = readies[k].latents.mu[idx]
        rows[k] = decode_latents(readies[k].model, mu)
        samples[k] = prior_samples(readies[k].model, N_PRIOR[0] * N_PRIOR[1], seed=0).reshape(*N_PRIOR, 28, 28)
    healthy = readies["healthy"].metrics if "healthy" in readies else None
    table = []
    for k in names:
        m, c = readies[k].metrics, readies[k].model.config
        table.append([k, c.beta, c.sigma, round(m.get("recon", float("nan")), 1), round(m.get("kl", float("nan")), 2),
                      m.get("active_units"), round(m.get("knn_acc", float("nan")), 3), round(m.get("mean_abs_mu", float("nan")), 2),
                      *(round(m[key], 3) if m.get(key) is not None else None for key in ("sample_valid", "sample_coverage", "recon_keeps_digit", "sample_valid_two_stage"))])
    sentences = "\n\n".join(regime_sentence(k, readies[k].metrics, healthy) for k in names)
    pca = plots.figure_to_image(pca_fig)
    return CompareView(pca, plots.figure_to_image(tsne_fig), plots.labelled_rows(rows, scale=3), plots.labelled_rows(samples, scale=2), table,
                       sentences, plots.axes_maps(pca_fig, names))


# --- the handlers ------------------------------------------------------------------------------

class CompareHandlers:
    """Bound to the app's ModelHub and the visitors' own models. The three regimes are the same for every visitor, so
    their comparison is computed once; with a visitor's run beside them, once per run (kept with the run's model)."""

    def __init__(self, hub: ModelHub, models: VisitorModels | None = None):
        self.hub = hub
        self.models = models or VisitorModels(hub)
        hub.warm_later(self.compare)

    @guard(parts=PARTS, message="sentences")
    def compare(self, beside: str | None = ALONE, request: gr.Request = None):
        """The PARTS; `beside`: one of this visitor's finished runs to put next to the three regimes, or ALONE."""
        v = self._view(beside, request)
        return dict(sentences=v.sentences, table=v.table, pca=v.pca, tsne=v.tsne, recons=v.recons, samples=v.samples)

    @guard(parts=PICKED, message="words")
    def pick(self, beside, evt: gr.SelectData, request: gr.Request = None):
        """A click on a PCA panel: the PICKED parts, for the digit that panel's model decodes at the point clicked; a
        click between the panels says so."""
        view = self._view(beside, request)
        for plane in view.pca_planes:
            xy = plots.point_on_plane(plane, evt.index)
            if xy is not None:
                return picked_on_plane(self.models.get(plane["model"], visitor(request)), xy, view.pca, evt.index)
        return {"words": OUTSIDE_PANELS}

    def _view(self, beside, request) -> CompareView:
        """The comparison as shown (cached): the three regimes, and `beside` them one of the visitor's runs."""
        readies = {name: self.hub.get(name, final=True) for name in REGIMES}  # their measured metrics, side by side
        test = self.hub.data.test

        def view(models: dict[str, Ready]) -> CompareView:
            return compare_view(models, test.images[:, 0].numpy(), test.labels.numpy())

        if beside in (None, "", ALONE):
            v = self.hub.memo(Memo.COMPARE, lambda: view(readies))
        else:
            mine = self.models.get(beside, visitor(request))
            v = mine.memo(Memo.COMPARE, lambda: view({**readies, mine.name: mine}))  # named as the other tabs list it
        return v


# --- the builder -------------------------------------------------------------------------------

def build_tab(hub: ModelHub, models: VisitorModels | None = None) -> gr.Radio:
    """The tab; returns its run picker (hidden until the Train tab gives the visitor a finished run to put beside)."""
    h = CompareHandlers(hub, models)
    with gr.Tab("Compare", id="compare") as tab:
        gr.Markdown(explain.COMPARE_INTRO)
        beside = gr.Radio([ALONE], value=ALONE, label="Beside them, one of your runs from the Train tab", visible=False, elem_id="compare-beside")
        sentences = gr.Markdown(explain.COMPARE_WAITING, elem_id="compare-sentences")
        table = gr.Dataframe(headers=TABLE_HEADERS, label="Measured on the 1,000 held-out digits", interactive=False, wrap=True)
        gr.Markdown(TABLE_NOTE, elem_classes=["caption"])
        pca = picture("PCA of the codes, one shared scale (click a panel: the digit its model decodes there)", elem_id="compare-pca")
        picked, picked_words = picked_point("compare-picked", "Click a PCA panel above: the digit its model decodes at that point shows here.")
        tsne = picture("t-SNE of the codes (computed once per model, cached)", elem_id="compare-tsne")
        with gr.Row():
            with gr.Column():
                recons = picture("The same 8 test digits, reconstructed from mu by each model", elem_id="compare-recons")
            with gr.Column():
                samples = picture(f"{N_PRIOR[0] * N_PRIOR[1]} samples from the prior z ~ N(0, I) per model: are they digits?", elem_id="compare-samples")
        why(explain.COMPARE_NOTES)
        api_button = gr.Button("Show the comparison", visible=False)  # the comparison as an API endpoint of its own

    outputs = wire(dict(sentences=sentences, table=table, pca=pca, tsne=tsne, recons=recons, samples=samples), PARTS)
    api_button.click(h.compare, beside, outputs, api_name="compare")
    tab.select(h.compare, beside, outputs, api_visibility="private", **QUIET)  # the tab fills itself when opened
    beside.change(h.compare, beside, outputs, api_visibility="private", **QUIET)
    pca.select(h.pick, beside, wire(dict(digit=picked, words=picked_words, plane=pca), PICKED), api_visibility="private", **QUIET)
    return beside
