"""The Draw tab: draw, upload or pick a digit and see it as the model does, its bubble and its mu +- sigma.

Builder (`build_tab`), thin handlers (`DrawHandlers`) and the pure view (`draw_view`) in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from vae.analysis import ellipse_points, nearest, project_gaussian
from vae.digits import BlankCanvas, InputError, check_strokes, ink_from_image, ink_from_strokes, open_picture, to_mnist

from . import explain, links, pen, plots
from .widgets import TabParts, picked_point, picture, why
from .handling import CLOSE_TOASTS_JS, QUIET, guard, wire
from .models import PICKED, ModelHub, NotReady, Ready, bubble_title, first_of_each_digit, picked_on_plane, plane_axes
from .runs import VisitorModels, visitor

MODELS = ["healthy", "autoencoder", "collapsed", "healthy-2d"]
N_SAMPLES = 8  # reconstructions from z ~ q(z|x) per drawing
N_EXAMPLES = 10
N_NEAREST = 5  # training digits shown nearest by code and nearest by pixels
NEAREST_LABEL = 170  # px of row labels left of the nearest-digits strip


# --- the view -------------------------------------------------------------------------------

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
    nearest: np.ndarray | None = None  # the training digits nearest by code against nearest by pixels (nearest_digits)
    plane: dict | None = None  # the bubble picture's pixel <-> plane map, its model (plane_map) and the picture: what a click means


@dataclass
class TrainDigits:
    """The training digits a drawing is compared with: pictures, labels and their codes under one model."""

    images: np.ndarray  # (N, 28, 28)
    labels: np.ndarray  # (N,)
    mu: np.ndarray  # (N, D)


def nearest_digits(x28: np.ndarray, mu: np.ndarray, train: TrainDigits, k: int = N_NEAREST) -> np.ndarray:
    """Two rows of training digits: the k nearest to this digit's code mu, and the k nearest to its pixels, each with
    its label and distance under it: what the code kept of the drawing, against what merely looks alike."""
    by_code = nearest(mu, train.mu, k)
    by_pixels = nearest(np.asarray(x28, dtype=np.float32).reshape(1, -1), train.images.reshape(len(train.images), -1), k)
    rows, under = {}, {}
    for label, (dist, idx) in (("nearest by code (mu)", by_code), ("nearest by pixels", by_pixels)):
        rows[label] = train.images[idx[0]]
        under[label] = [f"a {int(train.labels[i])}, {d:.2g}" for d, i in zip(dist[0], idx[0])]
    return plots.labelled_rows(rows, scale=3, label_width=NEAREST_LABEL, under=under)


@torch.no_grad()
def draw_view(ready: Ready, x28: np.ndarray, seed: int = 0, train: TrainDigits | None = None) -> DrawView:
    """Encode one digit, decode its mu and N_SAMPLES samples of its bubble, and draw the bubble (and with `train`,
    the training digits nearest to it by code and by pixels)."""
    x28 = np.asarray(x28, dtype=np.float32)
    if x28.shape != (28, 28):
        raise InputError(f"Expected a 28x28 digit, got shape {x28.shape}.")
    model = ready.model
    q = model.posterior(torch.from_numpy(x28)[None, None])
    z = torch.cat([q.mode(), q.sample(torch.Generator().manual_seed(seed), n=N_SAMPLES)[:, 0]])  # the dot, then the bubble
    decoded = model.decode(z)[:, 0].numpy()  # (1 + N, 28, 28) in one batch
    mu, logvar = q.mu[0].numpy(), q.logvar[0].numpy()
    pca = ready.latents.pca
    center, cov = project_gaussian(pca, mu, logvar)
    samples_xy = pca.project(z[1:].numpy())
    raster = ready.bubble
    extent = np.vstack([ellipse_points(center, cov, 2, n=60), samples_xy, center[None]])
    if not raster.contains(extent):  # an unusual input lands off the test digits' plane: widen the axes to show it
        d = ready.model.config.latent_dim
        _, raster = plots.bubble_background(ready.latents.pca_xy, ready.latents.labels, ready.prior_xy, bubble_title(ready.name, d), include=extent,
                                            axis_names=plane_axes(d))
    bubble = plots.draw_bubble(raster, center, cov, samples_xy)
    order = ready.kl_order
    sigma = q.sigma[0].numpy()
    musigma = plots.draw_musigma(ready.musigma, mu[order], sigma[order])
    kl = float(q.kl()[0])
    spread = float(np.abs(decoded[1:] - decoded[0]).mean())
    summary = (
        f"**{ready.name}**: KL of this digit's bubble to the prior = **{kl:.1f} nats**; "
        f"mean sigma = {sigma.mean():.3g}; samples differ from the mu-reconstruction by {spread:.3f} per pixel on average."
    )
    clipped = plots.clipped_note(mu)
    if clipped:
        summary += " " + clipped
    near = None if train is None else nearest_digits(x28, mu, train)
    return DrawView(plots.digit_image(x28, 8), plots.digit_image(decoded[0], 8), plots.tile(decoded[1:], scale=3), bubble, musigma, summary, mu, logvar,
                    near, {**plots.plane_map(raster, ready.name), "picture": bubble})


# --- the handlers -------------------------------------------------------------------------------------------------
# A new digit (a finished stroke, an upload, a test digit) first shows FIRST, then REST in a second event: the
# reconstruction and the bubble come without waiting for the panels below them (issue 19, item 3); while the pen is
# still moving only FIRST is drawn. A new model or new samples redraw ALL at once.

ALL = ("seen", "recon", "samples", "bubble", "musigma", "message", "nearest", "last", "plane")  # last: the input; plane: the bubble's
FIRST = ("recon", "bubble", "message", "last", "plane")
REST = ("seen", "samples", "musigma", "nearest")
BLANK = {p: explain.DRAW_WAITING if p == "message" else None for p in ALL}  # ALL, emptied


class DrawHandlers:
    """Bound to the app's ModelHub (shared, read-only once models are ready) and the visitors' own models; keeps
    nothing between calls."""

    def __init__(self, hub: ModelHub, models: VisitorModels | None = None):
        self.hub = hub
        self.models = models or VisitorModels(hub)

    def _show(self, x28: np.ndarray, name: str, seed: int, request: gr.Request | None, parts: tuple[str, ...] = ALL) -> dict:
        """The named parts of the Draw tab's view of x28 (ALL, FIRST or REST)."""
        ready = self.models.get(name, visitor(request))
        v = draw_view(ready, x28, int(seed), self.train_digits(ready) if "nearest" in parts else None)
        values = dict(seen=v.seen, recon=v.recon, samples=v.samples, bubble=v.bubble, musigma=v.musigma, message=v.summary,
                      nearest=v.nearest, last=x28, plane=v.plane)
        return {p: values[p] for p in parts}

    @guard(parts=PICKED, message="words")
    def pick(self, plane, evt: gr.SelectData, request: gr.Request = None):
        """A click on the bubble's plane: (the digit decoded at the point clicked, a sentence saying where, the bubble
        with the point ringed), with the model the picture was drawn for; a click outside the axes says so and keeps
        the last digit."""
        if plane is None:
            raise InputError("Draw or pick a digit first: its plane appears with its bubble.")
        xy = plots.point_on_plane(plane, evt.index)
        if xy is None:
            return {"words": "That click is outside the plane's axes: click inside its frame to decode a point."}
        return picked_on_plane(self.models.get(plane["model"], visitor(request)), xy, plane["picture"], evt.index)

    def train_digits(self, ready: Ready) -> TrainDigits:
        """The training digits and their codes under `ready` (computed once per model by the hub)."""
        codes = self.hub.train_codes(ready)
        return TrainDigits(self.hub.data.train.images[: len(codes.mu), 0].numpy(), codes.labels, codes.mu)

    @guard(parts=FIRST, message="message")
    def draw(self, drawing, name, seed=0, request: gr.Request = None):
        """A drawing, as inputs.Pen hands it (its checked strokes); a blank canvas changes nothing (it is blank after a
        test digit was picked too: the outputs then show that digit), the Clear button empties the outputs (`clear`)."""
        return self._drawn(drawing, name, seed, request)

    @guard(parts=FIRST, message="message")
    def moving(self, name, seed, evt: gr.EventData, request: gr.Request = None):
        """The drawing while the pen moves, sent as the data of the pen's "input" event: as `draw`."""
        return self._drawn(check_strokes(getattr(evt, "_data", None)), name, seed, request)

    def _drawn(self, strokes, name, seed, request) -> dict:
        try:
            x28 = to_mnist(ink_from_strokes(strokes))
        except BlankCanvas:
            return {}
        return self._show(x28, name, seed, request, FIRST)

    @guard(parts=REST)
    def details(self, x28, name, seed=0, request: gr.Request = None):
        """The second event after a new digit: REST (what the model sees, the samples, mu +- sigma, the nearest
        training digits) for this session's last digit."""
        if x28 is None:
            return {}
        return self._show(np.asarray(x28, dtype=np.float32), name, seed, request, REST)

    @guard(parts=ALL)
    def clear(self):
        return BLANK

    @guard(parts=FIRST, message="message")
    def reconstruct(self, image, name, seed=0, request: gr.Request = None):
        """An uploaded picture: a file path (the UI and the API), a PIL image or an array."""
        if image is None:
            raise InputError("Upload a picture of a digit first.")
        if isinstance(image, (str, Path)):
            image = open_picture(image)
        try:
            x28 = to_mnist(ink_from_image(image))
        except BlankCanvas:
            raise InputError("The uploaded picture is blank (one flat colour): upload a picture with a digit on it.") from None
        return self._show(x28, name, seed, request, FIRST)

    @guard(parts=ALL, message="message")
    def redraw(self, x28, name, seed=0, request: gr.Request = None):
        if x28 is None:
            return {}
        return self._show(np.asarray(x28, dtype=np.float32), name, seed, request)

    @guard(parts=FIRST, message="message")
    def example(self, index, name, seed=0, request: gr.Request = None):
        digits = self.example_digits()
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(digits):
            raise InputError(f"There are {len(digits)} example digits; pick one by its number, 0 to {len(digits) - 1}.")
        return self._show(digits[index], name, seed, request, FIRST)

    @staticmethod
    @guard(parts=("model", "message"))
    def restore(request: gr.Request = None):
        """Page load, for a link to this tab: (model, message) as the link set it; nothing changes otherwise."""
        query = links.asked(request, "draw")
        if query is None:
            return {}
        name = query.get("model", MODELS[0])
        if name not in MODELS:  # a visitor's own run lives only in their session: a link can name a preset
            return {"message": f"**The link's model {name!r} is not one of {', '.join(MODELS)}.** {explain.DRAW_WAITING}"}
        return {"model": name, "message": f"The {name} model, restored from the link. {explain.DRAW_WAITING}"}

    def example_digits(self) -> np.ndarray:
        """The first test digit of each class: (10, 28, 28)."""
        if self.hub.data is None:
            raise NotReady("The digits are still loading; try again in a moment.")
        test = self.hub.data.test
        return test.images[first_of_each_digit(test.labels.numpy(), N_EXAMPLES), 0].numpy()

    def example_gallery(self):
        try:
            return [(plots.digit_image(x, 3), f"digit {i}") for i, x in enumerate(self.example_digits())]
        except NotReady:
            return []


# --- the builder -------------------------------------------------------------------------------

def build_tab(hub: ModelHub, demo: gr.Blocks, models: VisitorModels | None = None, last: gr.State | None = None) -> TabParts:
    """The Draw tab; `last` holds this visitor's last 28x28 input, which other tabs can start from. Returns its
    controls: the model list (the Train tab extends it with the visitor's own runs) and the digit."""
    h = DrawHandlers(hub, models)
    with gr.Tab("Draw", id="draw") as tab:
        gr.Markdown(explain.DRAW_INTRO)
        if last is None:
            last = gr.State(None)  # this visitor's last 28x28 input, redrawn on a model change or a resample
        seed = gr.State(0)
        with gr.Row():
            with gr.Column(scale=3):
                sketch = pen.build("Draw a digit", elem_id="sketch")
                model = gr.Radio(MODELS, value="healthy", label="Model", elem_id="draw-model")
                links.link_row("draw", [model], ("model",), "this tab with this model")
                gr.Markdown("Or click a test digit", elem_classes=["caption"])  # above the thumbnails: Gradio's label chip covered the first row
                examples = gr.Gallery(label="Or click a test digit", show_label=False, columns=5, rows=2, height="auto", allow_preview=False, format="png",
                                      object_fit="contain", elem_id="examples")
                with gr.Accordion("…or upload a picture of a digit", open=False):
                    upload = gr.File(label="Upload a picture (PNG, JPEG or WebP; any colours; up to 5 MB)", file_types=["image"], type="filepath",
                                     elem_id="upload")
            with gr.Column(scale=4):
                message = gr.Markdown(explain.DRAW_WAITING, elem_id="draw-message")
                with gr.Row():
                    with gr.Column(min_width=160):
                        seen = picture("What the model sees (28x28)", height=180, elem_id="seen")
                    with gr.Column(min_width=160):
                        recon = picture("Reconstruction from mu (the dot)", height=180, elem_id="recon")
                samples = picture("Reconstructions from z ~ q(z|x) (the bubble): same input, different samples", height=110, elem_id="samples")
                resample = gr.Button("Draw new samples from the bubble", size="sm")
                bubble = picture("The bubble on the plane of the test digits' codes: mu (cross), 1 and 2 sigma, samples (dots). "
                                 "Click anywhere on it to decode that point", elem_id="bubble")
                picked, picked_words = picked_point("picked", "Click the plane above: the digit decoded there shows here.")
        musigma = picture("mu and sigma of every dimension, sorted by KL (triangles at the edge: mu beyond the axis)", elem_id="musigma")
        nearest_strip = picture(f"The {N_NEAREST} training digits nearest to this one by its code (mu), against the {N_NEAREST} nearest by pixels: "
                                "what the code kept. Under each: its label and distance", elem_id="nearest")
        why(explain.DRAW_NOTES)
        # inside the tab: a component made between two tabs shifts the tab bar's labels (the next tabs took their
        # neighbours' names)
        plane = gr.State(None)  # the bubble picture's plane map, for clicks on it

    shown = dict(seen=seen, recon=recon, samples=samples, bubble=bubble, musigma=musigma, message=message, nearest=nearest_strip,
                 last=last, plane=plane)
    outputs, first, rest = (wire(shown, parts) for parts in (ALL, FIRST, REST))
    then_rest = dict(fn=h.details, inputs=[last, model, seed], outputs=rest, **QUIET)
    bubble.select(h.pick, plane, wire(dict(digit=picked, words=picked_words, plane=bubble), PICKED), api_visibility="private", **QUIET)

    def pick_example(evt: gr.SelectData, name, s, request: gr.Request):
        # the canvas is cleared so that it and the outputs agree on which digit is shown (issue 10, defect 2)
        return *h.example(evt.index, name, s, request), None

    # /details: the second event, public once, for an API caller after /draw or /reconstruct (same client, same session)
    # while the pen moves ("input") the reconstruction and the bubble; when it lifts ("change") the panels too. One
    # queue for both, one event at a time: the answers come in the order the page sent them, the lifted drawing's
    # last. "input" drops what comes while one is pending: Gradio's always_last would send it later with the first
    # pending event's data (a stroke's first points) after the pen lifted, and the model would see that last
    one_queue = dict(outputs=first, concurrency_id="pen", concurrency_limit=1, **QUIET)
    sketch.input(h.moving, [model, seed], api_name="pen_moves", api_visibility="private", trigger_mode="once", **one_queue)
    sketch.change(h.draw, [sketch, model, seed], api_name="draw", trigger_mode="always_last", **one_queue).success(**then_rest, api_name="details")
    sketch.clear(h.clear, None, outputs, api_visibility="private", **QUIET)
    upload.upload(h.reconstruct, [upload, model, seed], first, api_name="reconstruct", **QUIET).success(**then_rest, api_visibility="private")
    model.change(h.redraw, [last, model, seed], outputs, api_visibility="private", **QUIET)
    model.change(None, None, None, js=CLOSE_TOASTS_JS)  # the last model's error toasts no longer apply
    resample.click(lambda s: int(s) + 1, seed, seed, api_visibility="private").then(h.redraw, [last, model, seed], outputs, api_visibility="private", **QUIET)
    examples.select(pick_example, [model, seed], first + [sketch], api_visibility="private", **QUIET).success(
        **then_rest, api_visibility="private")
    # when the tab opens, not when the page loads: the page's first tab (How it works) draws sooner without it
    tab.select(h.example_gallery, None, examples, api_visibility="private", **QUIET)
    demo.load(h.restore, None, wire({**shown, "model": model}, ("model", "message")), api_visibility="private", **QUIET)
    return TabParts({"model": model, "digit": last}, show=(h.redraw, [last, model, seed], outputs))
