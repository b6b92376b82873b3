"""The Gradio UI: one builder per tab, thin handlers that call playground.views and vae, named API endpoints."""
from __future__ import annotations

import functools
import logging
import time

import gradio as gr
import numpy as np

from vae.digits import InputError, ink_from_image, ink_from_sketch, to_mnist

from . import explain, views
from .models import ModelHub, NotReady

DRAW_MODELS = ["healthy", "autoencoder", "collapsed"]
WALK_MODELS = ["healthy-2d", "healthy"]
CANVAS = 336  # px; with this brush a digit's stroke is about as thick, relative to its height, as MNIST's
BRUSH = 24
N_EXAMPLES = 10
log = logging.getLogger("playground")

# Gradio 6's image editor can open with no tool chosen; pick the brush so the canvas is ready to draw.
SELECT_BRUSH_JS = """
() => {
  const pick = () => {
    const btn = document.querySelector('#sketch button[aria-label="Brush"]');
    if (btn) { btn.click(); return true; }
    return false;
  };
  if (!pick()) { const t = setInterval(() => { if (pick()) clearInterval(t); }, 200); setTimeout(() => clearInterval(t), 15000); }
}
"""


def guard(fn):
    """Every failure reaches the person as one sentence (gr.Error), never a stack trace; the app stays up."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (InputError, NotReady) as err:
            raise gr.Error(str(err), print_exception=False) from None
        except Exception as err:
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(f"Sorry, that failed inside the app ({type(err).__name__}). The app is still running; try another input.",
                           print_exception=False) from None
        finally:
            log.debug("%s took %.1f ms", fn.__name__, 1000 * (time.perf_counter() - t0))

    return wrapper


def or_wait(fn, n_outputs: int, message_index: int):
    """For views that run when a tab opens: while their models are not ready, say so instead of raising."""

    def run(*args):
        try:
            return fn(*args)
        except gr.Error as err:
            out = [gr.skip()] * n_outputs
            out[message_index] = err.message
            return tuple(out)

    return run


def example_digits(hub: ModelHub) -> np.ndarray:
    """The first test digit of each class: (10, 28, 28)."""
    if hub.data is None:
        raise NotReady("The digits are still loading; try again in a moment.")
    test = hub.data.test
    return test.images[views.first_of_each_digit(test.labels.numpy(), N_EXAMPLES), 0].numpy()


# --- Draw ------------------------------------------------------------------------------

def build_draw_tab(hub: ModelHub) -> gr.Gallery:
    gr.Markdown(explain.DRAW_INTRO)
    last = gr.State(None)  # this visitor's last 28x28 input, redrawn on a model change or a resample
    seed = gr.State(0)
    with gr.Row():
        with gr.Column(scale=3):
            sketch = gr.Sketchpad(
                label="Draw a digit", elem_id="sketch", canvas_size=(CANVAS, CANVAS), fixed_canvas=True,
                brush=gr.Brush(default_size=BRUSH, colors=["#000000"], color_mode="fixed"), type="numpy", image_mode="RGBA",
                layers=False, transforms=(), height=CANVAS + 80, width=CANVAS + 40,
            )
            model = gr.Radio(DRAW_MODELS, value="healthy", label="Model", info="healthy VAE, beta = 0 autoencoder, or collapsed VAE")
            examples = gr.Gallery(label="Or click a test digit", columns=5, rows=2, height=230, allow_preview=False, format="png", object_fit="contain")
            with gr.Accordion("…or upload a picture of a digit", open=False):
                upload = gr.Image(label="Upload (any colours; PNG, JPEG, WebP)", type="pil", image_mode=None, sources=["upload", "clipboard"], height=200)
        with gr.Column(scale=4):
            message = gr.Markdown(explain.DRAW_WAITING, elem_id="draw-message")
            with gr.Row():
                seen = gr.Image(label="What the model sees (28x28)", format="png", height=180, interactive=False, elem_id="seen")
                recon = gr.Image(label="Reconstruction from mu (the dot)", format="png", height=180, interactive=False, elem_id="recon")
            samples = gr.Image(label="Reconstructions from z ~ q(z|x) (the bubble): same input, different samples", format="png", height=110, interactive=False, elem_id="samples")
            resample = gr.Button("Draw new samples from the bubble", size="sm")
            bubble = gr.Image(label="The latent bubble: mu (cross), 1- and 2-sigma ellipses, samples (red)", format="png", interactive=False, elem_id="bubble")
    musigma = gr.Image(label="mu and sigma of every dimension, sorted by KL", format="png", interactive=False, elem_id="musigma")
    gr.Markdown(explain.DRAW_NOTES)

    outputs = [seen, recon, samples, bubble, musigma, message, last]
    blank = (None, None, None, None, None, explain.DRAW_WAITING, None)

    def show(x28, name, s):
        v = views.draw_view(hub.get(name), x28, int(s))
        return v.seen, v.recon, v.samples, v.bubble, v.musigma, v.summary, x28

    @guard
    def draw(value, name, s):
        try:
            x28 = to_mnist(ink_from_sketch(value))
        except InputError as err:
            if "blank" in str(err):  # an empty canvas (also right after clearing) is a state, not an error
                return blank
            raise
        return show(x28, name, s)

    @guard
    def reconstruct(image, name, s=0):
        if image is None:
            raise InputError("Upload a picture of a digit first.")
        return show(to_mnist(ink_from_image(image)), name, s)

    @guard
    def redraw(x28, name, s):
        if x28 is None:
            return (gr.skip(),) * len(outputs)
        return show(np.asarray(x28, dtype=np.float32), name, s)

    @guard
    def pick_example(evt: gr.SelectData, name, s):
        return show(example_digits(hub)[evt.index], name, s)

    sketch.change(draw, [sketch, model, seed], outputs, api_name="draw", trigger_mode="always_last", show_progress="hidden")
    upload.upload(reconstruct, [upload, model, seed], outputs, api_name="reconstruct", show_progress="hidden")
    model.change(redraw, [last, model, seed], outputs, api_visibility="private", show_progress="hidden")
    resample.click(lambda s: int(s) + 1, seed, seed, api_visibility="private").then(
        redraw, [last, model, seed], outputs, api_visibility="private", show_progress="hidden")
    examples.select(pick_example, [model, seed], outputs, api_visibility="private", show_progress="hidden")
    return examples


# --- Latent walk ---------------------------------------------------------------------------

def build_walk_tab(hub: ModelHub):
    gr.Markdown(explain.WALK_INTRO)
    with gr.Row():
        with gr.Column(scale=2):
            model = gr.Radio(WALK_MODELS, value="healthy-2d", label="Model", info="2-D latent space, or two dimensions of the 128-d model")
            with gr.Row():
                dim_x = gr.Number(value=0, precision=0, label="dimension on x (z1)", minimum=0)
                dim_y = gr.Number(value=1, precision=0, label="dimension on y (z2)", minimum=0)
            z1 = gr.Slider(-3, 3, value=0, step=0.05, label="z1")
            z2 = gr.Slider(-3, 3, value=0, step=0.05, label="z2")
            point = gr.Image(label="decode(z)", format="png", height=240, interactive=False)
            message = gr.Markdown("")
        with gr.Column(scale=3):
            grid = gr.Image(label="15 x 15 grid from -3 to 3 on both axes, other dimensions at 0 (red ring: the sliders)", format="png", interactive=False)
    traversal = gr.Image(label="One dimension at a time: each row varies one dimension from -3 to 3, the rest at 0", format="png", interactive=False)
    gr.Markdown(explain.WALK_NOTES)

    @guard
    def decode(name, dx, dy, a, b):
        ready = hub.get(name)
        dims = views.check_dims(ready, (dx, dy))
        return views.decode_point(ready, dims, a, b), views.grid_image(ready, dims, (a, b))

    @guard
    def grid_only(name, dx, dy):
        ready = hub.get(name)
        return views.grid_image(ready, views.check_dims(ready, (dx, dy)))

    @guard
    def choose_model(name, a, b):
        ready = hub.get(name)
        dx, dy = views.default_dims(ready)
        strip = hub.memo(f"traversal/{name}", lambda: views.traversals(ready)[0])
        note = (f"Dimensions {dx} and {dy} are the two with the most KL. The model has {ready.model.config.latent_dim} "
                f"dimensions, {ready.metrics.get('active_units', '?')} of them active.")
        return dx, dy, views.decode_point(ready, (dx, dy), a, b), views.grid_image(ready, (dx, dy), (a, b)), strip, note

    outputs = [dim_x, dim_y, point, grid, traversal, message]
    model.change(choose_model, [model, z1, z2], outputs, api_visibility="private", show_progress="hidden")
    z1.change(decode, [model, dim_x, dim_y, z1, z2], [point, grid], api_name="decode", trigger_mode="always_last", show_progress="hidden")
    z2.change(decode, [model, dim_x, dim_y, z1, z2], [point, grid], api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    for number in (dim_x, dim_y):
        number.submit(decode, [model, dim_x, dim_y, z1, z2], [point, grid], api_visibility="private", show_progress="hidden")
    show_grid = gr.Button("Show the grid", size="sm")
    show_grid.click(grid_only, [model, dim_x, dim_y], grid, api_name="grid")
    return or_wait(choose_model, len(outputs), outputs.index(message)), [model, z1, z2], outputs


# --- Compare ----------------------------------------------------------------------------------

def build_compare_tab(hub: ModelHub):
    gr.Markdown(explain.COMPARE_INTRO)
    refresh = gr.Button("Show the comparison", variant="primary", size="sm")
    sentences = gr.Markdown(explain.COMPARE_WAITING)
    table = gr.Dataframe(headers=views.TABLE_HEADERS, label="Measured on the 1,000 held-out digits", interactive=False, wrap=True)
    pca = gr.Image(label="PCA of the codes, one shared scale", format="png", interactive=False)
    tsne = gr.Image(label="t-SNE of the codes (computed once per model, cached)", format="png", interactive=False)
    with gr.Row():
        recons = gr.Image(label="The same 8 test digits, reconstructed from mu by each model", format="png", interactive=False)
        samples = gr.Image(label="8 samples from the prior z ~ N(0, I), per model", format="png", interactive=False)
    gr.Markdown(explain.COMPARE_NOTES)

    @guard
    def compare():
        readies = {name: hub.get(name) for name in views.REGIMES}
        test = hub.data.test
        v = hub.memo("compare", lambda: views.compare_view(readies, test.images[:, 0].numpy(), test.labels.numpy()))
        return v.sentences, v.table, v.pca, v.tsne, v.recons, v.samples

    outputs = [sentences, table, pca, tsne, recons, samples]
    refresh.click(compare, None, outputs, api_name="compare")
    return or_wait(compare, len(outputs), 0), [], outputs


# --- the whole app ------------------------------------------------------------------------------

def build_demo(hub: ModelHub) -> gr.Blocks:
    with gr.Blocks(title="VAE Playground") as demo:
        gr.Markdown(explain.HEADER)
        status = gr.Markdown(hub.status_markdown())
        timer = gr.Timer(1.0)
        with gr.Tabs():
            with gr.Tab("Draw"):
                examples = build_draw_tab(hub)
            with gr.Tab("Latent walk") as walk_tab:
                walk_open = build_walk_tab(hub)
            with gr.Tab("Compare") as compare_tab:
                compare_open = build_compare_tab(hub)

        def tick():
            done = all(s in ("ready", "failed") for s in hub.status().values())
            return hub.status_markdown(), gr.Timer(active=not done)

        timer.tick(tick, None, [status, timer], api_visibility="private", show_progress="hidden")
        for tab, (fn, inputs, outputs) in ((walk_tab, walk_open), (compare_tab, compare_open)):
            tab.select(fn, inputs, outputs, api_visibility="private", show_progress="hidden")

        def example_list():
            try:
                return [(views.plots.digit_image(x, 3), f"digit {i}") for i, x in enumerate(example_digits(hub))]
            except NotReady:
                return []

        demo.load(example_list, None, examples, api_visibility="private")
    return demo
