"""The Gradio UI: one builder per tab; events call playground.handlers and are named API endpoints."""
from __future__ import annotations

import gradio as gr

from . import explain, gradio_fixes, views
from .handlers import Handlers, or_wait
from .models import ModelHub

DRAW_MODELS = ["healthy", "autoencoder", "collapsed"]
WALK_MODELS = ["healthy-2d", "healthy"]
CANVAS = 336  # px; with this brush a digit's stroke is about as thick, relative to its height, as MNIST's
BRUSH = 24

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


def build_draw_tab(h: Handlers) -> gr.Gallery:
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
            bubble = gr.Image(label="The latent bubble: test digits on the PCA plane of mu; this digit's mu (cross), 1- and 2-sigma ellipses, samples (red)", format="png", interactive=False, elem_id="bubble")
    musigma = gr.Image(label="mu and sigma of every dimension, sorted by KL", format="png", interactive=False, elem_id="musigma")
    gr.Markdown(explain.DRAW_NOTES)

    outputs = [seen, recon, samples, bubble, musigma, message, last]
    quiet = dict(show_progress="hidden")

    def pick_example(evt: gr.SelectData, name, s):
        return h.example(evt.index, name, s)

    sketch.change(h.draw, [sketch, model, seed], outputs, api_name="draw", trigger_mode="always_last", **quiet)
    upload.upload(h.reconstruct, [upload, model, seed], outputs, api_name="reconstruct", **quiet)
    model.change(h.redraw, [last, model, seed], outputs, api_visibility="private", **quiet)
    resample.click(lambda s: int(s) + 1, seed, seed, api_visibility="private").then(h.redraw, [last, model, seed], outputs, api_visibility="private", **quiet)
    examples.select(pick_example, [model, seed], outputs, api_visibility="private", **quiet)
    return examples


def build_walk_tab(h: Handlers):
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

    quiet = dict(show_progress="hidden")
    outputs = [dim_x, dim_y, point, grid, traversal, message]
    walk = [model, dim_x, dim_y, z1, z2]
    grid_button = gr.Button("Show the grid", visible=False)  # the grid as an API endpoint of its own
    grid_button.click(h.grid, walk, grid, api_name="grid")  # first: a later event of the same function gets grid_1
    model.change(h.choose_walk_model, [model, z1, z2], outputs, api_visibility="private", **quiet)
    # while a slider moves only the small decoded digit is redrawn; the big grid moves its ring on release
    z1.change(h.decode, walk, point, api_name="decode", trigger_mode="always_last", **quiet)
    z2.change(h.decode, walk, point, api_visibility="private", trigger_mode="always_last", **quiet)
    for slider in (z1, z2):
        slider.release(h.grid, walk, grid, api_visibility="private", trigger_mode="always_last", **quiet)
    for number in (dim_x, dim_y):
        number.submit(h.decode, walk, point, api_visibility="private", **quiet).then(h.grid, walk, grid, api_visibility="private", **quiet)
    return or_wait(h.choose_walk_model, len(outputs), outputs.index(message)), [model, z1, z2], outputs


def build_compare_tab(h: Handlers):
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

    outputs = [sentences, table, pca, tsne, recons, samples]
    refresh.click(h.compare, None, outputs, api_name="compare")
    return or_wait(h.compare, len(outputs), 0), [], outputs


def build_demo(hub: ModelHub) -> gr.Blocks:
    gradio_fixes.apply()
    h = Handlers(hub)
    with gr.Blocks(title="VAE Playground") as demo:
        gr.Markdown(explain.HEADER)
        status = gr.Markdown(hub.status_markdown())
        timer = gr.Timer(1.0)
        with gr.Tabs():
            with gr.Tab("Draw"):
                examples = build_draw_tab(h)
            with gr.Tab("Latent walk") as walk_tab:
                walk_open = build_walk_tab(h)
            with gr.Tab("Compare") as compare_tab:
                compare_open = build_compare_tab(h)

        def tick():
            done = all(s in ("ready", "failed") for s in hub.status().values())
            return hub.status_markdown(), gr.Timer(active=not done)

        timer.tick(tick, None, [status, timer], api_visibility="private", show_progress="hidden")
        for tab, (fn, inputs, outputs) in ((walk_tab, walk_open), (compare_tab, compare_open)):
            tab.select(fn, inputs, outputs, api_visibility="private", show_progress="hidden")
        demo.load(h.example_gallery, None, examples, api_visibility="private")
    return demo
