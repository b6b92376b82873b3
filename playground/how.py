"""The How it works tab: the article's pseudo-code, live, on one digit: the encoder's stages, mu and logvar, the
reparameterization, the decoder's stages and the two loss terms with this digit's numbers.

Builder (`build_tab`), thin handlers (`HowHandlers`) and the pure views (`how_view` and its pictures) in one place;
the numbers come from `vae.trace`, which reads them off the model's own forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from vae.digits import InputError
from vae.trace import Step, Trace, trace

from . import explain, inputs, plots
from .handling import CLOSE_TOASTS_JS, QUIET, guard, wire
from .models import ModelHub, Ready
from .runs import VisitorModels, visitor
from .widgets import TabParts, picture, why

MODELS = ["healthy", "autoencoder", "collapsed", "healthy-2d"]
SOURCES = ("a test digit", "my digit from the Draw tab")
VIEW = ("message", "encoder", "reparam_words", "reparam", "decoder", "loss_words", "loss")  # the pass, in its outputs' order
OPENED = ("model", "source") + VIEW  # ... and the controls the tab's opening sets
MAPS_PER_STAGE = 4  # the most active channels of each stage, as small tiles
CELL = 64  # px of one activation tile
STRIP_W, STRIP_H = 640, 22  # px of a vector drawn as a strip
LABEL_W = 210  # px of the labels left of the strips
VALUES_UP_TO = 16  # a vector this short has its values written in its strip


# --- small pictures of tensors -----------------------------------------------------------------

def _rgb(values: np.ndarray, vmax: float, cmap: str = "RdBu_r") -> np.ndarray:
    """Values as RGB uint8 on a symmetric scale [-vmax, vmax] (red positive, blue negative, white 0)."""
    from matplotlib import colormaps

    t = 0.5 + 0.5 * np.clip(np.asarray(values, dtype=np.float64) / max(vmax, 1e-8), -1, 1)
    return (colormaps[cmap](t)[..., :3] * 255).astype(np.uint8)


def map_tile(m: np.ndarray, top: float | None = None, size: int = CELL) -> Image.Image:
    """One activation map (H, W) in grey from 0 to `top` (default its own maximum; after a ReLU the values are >= 0),
    crisp pixels."""
    m = np.asarray(m, dtype=np.float32)
    top = float(m.max()) if top is None else top
    g = (np.clip(m / top, 0, 1) * 255).astype(np.uint8) if top > 0 else np.zeros_like(m, dtype=np.uint8)
    return Image.fromarray(g).resize((size, size), Image.NEAREST).convert("RGB")


def strongest(value: np.ndarray, k: int = MAPS_PER_STAGE) -> np.ndarray:
    """The k channels (C, H, W) with the largest mean activation for this digit."""
    return np.argsort(-value.reshape(len(value), -1).mean(1), kind="stable")[:k]


def strip(values: np.ndarray, width: int = STRIP_W, height: int = STRIP_H) -> Image.Image:
    """A vector as a row of coloured cells on its own symmetric scale; short vectors carry their values."""
    v = np.asarray(values, dtype=np.float32).reshape(-1)
    vmax = float(np.abs(v).max())
    cells = Image.fromarray(_rgb(v[None], vmax or 1.0)).resize((width, height), Image.NEAREST)
    if len(v) <= VALUES_UP_TO:
        draw, font = ImageDraw.Draw(cells), plots._font(11)
        w = width / len(v)
        for i, x in enumerate(v):
            draw.text(((i + 0.5) * w, height / 2), f"{x:.2f}", fill=(0, 0, 0), font=font, anchor="mm")
    return cells


def _labelled_strips(rows: list[tuple[str, np.ndarray]]) -> Image.Image:
    """Strips under each other, each with its label and its [length] on the left and its range on the right."""
    gap, right = 8, 150
    out = Image.new("RGB", (LABEL_W + STRIP_W + right, len(rows) * (STRIP_H + gap) + gap), (255, 255, 255))
    draw, font = ImageDraw.Draw(out), plots._font(12)
    for i, (label, v) in enumerate(rows):
        y = gap + i * (STRIP_H + gap)
        draw.text((LABEL_W - 8, y + STRIP_H / 2), f"{label} [{np.size(v)}]", fill=(0, 0, 0), font=font, anchor="rm")
        out.paste(strip(v), (LABEL_W, y))
        draw.text((LABEL_W + STRIP_W + 8, y + STRIP_H / 2), f"{np.min(v):.2f} to {np.max(v):.2f}", fill=(90, 90, 90), font=font, anchor="lm")
    return out


def _stage_columns(columns: list[tuple[str, str, list[Image.Image]]], cell: int = CELL) -> Image.Image:
    """Columns of tiles, a title over each and the tensor's shape under it, joined by arrows."""
    gap, arrow, title_h, foot_h, min_w = 6, 26, 34, 20, 134
    rows = max(len(t) for _, _, t in columns)
    per_col = 2 if rows > 2 else 1  # a stage's 4 maps as a 2 x 2 block
    block_w = [cell * (per_col if len(t) > 2 else 1) + gap * (per_col - 1 if len(t) > 2 else 0) for _, _, t in columns]
    col_w = [max(w, min_w) for w in block_w]
    block_h = cell * ((rows + per_col - 1) // per_col) + gap
    width = sum(col_w) + arrow * (len(columns) - 1) + 2 * gap
    out = Image.new("RGB", (width, title_h + block_h + foot_h + gap), (255, 255, 255))
    draw, font, small = ImageDraw.Draw(out), plots._font(12), plots._font(11)
    x = gap
    for i, ((title, shape, tiles), w, bw) in enumerate(zip(columns, col_w, block_w)):
        for line, text in enumerate(title.split("\n")[:2]):
            draw.text((x + w / 2, 4 + line * 14), text, fill=(0, 0, 0), font=font, anchor="ma")
        n_col = per_col if len(tiles) > 2 else 1
        for j, t in enumerate(tiles):
            tx = x + (w - bw) // 2 + (j % n_col) * (cell + gap)
            ty = title_h + (j // n_col) * (cell + gap) + (block_h - cell * ((len(tiles) + n_col - 1) // n_col)) // 2
            out.paste(t.resize((cell, cell), Image.NEAREST), (tx, ty))
            draw.rectangle((tx - 1, ty - 1, tx + cell, ty + cell), outline=(170, 170, 170))
        draw.text((x + w / 2, title_h + block_h + 2), shape, fill=(70, 70, 70), font=small, anchor="ma")
        if i < len(columns) - 1:
            ax, ay = x + w + 4, title_h + block_h // 2
            draw.line((ax, ay, ax + arrow - 8, ay), fill=(120, 120, 120), width=2)
            draw.polygon(((ax + arrow - 8, ay - 5), (ax + arrow - 2, ay), (ax + arrow - 8, ay + 5)), fill=(120, 120, 120))
        x += w + arrow
    return out


def _stack(*images: Image.Image, gap: int = 6) -> np.ndarray:
    width = max(i.width for i in images)
    out = Image.new("RGB", (width, sum(i.height for i in images) + gap * (len(images) - 1)), (255, 255, 255))
    y = 0
    for i in images:
        out.paste(i, (0, y))
        y += i.height + gap
    return np.asarray(out)


def _shape(s: Step) -> str:
    return " x ".join(str(n) for n in s.shape)


def _maps_column(s: Step) -> tuple[str, str, list[Image.Image]]:
    """A stage's most active maps, on one grey scale (the stage's largest value), so tiles compare within the stage."""
    picks = strongest(s.value)
    if s.value.min() < 0:  # no ReLU after it (the decoder's Linear): red positive, blue negative
        top = float(np.abs(s.value[picks]).max())
        tiles = [Image.fromarray(_rgb(s.value[c], top)).resize((CELL, CELL), Image.NEAREST) for c in picks]
    else:
        top = float(s.value[picks].max())
        tiles = [map_tile(s.value[c], top) for c in picks]
    return (f"{s.name}\n{s.what}", _shape(s), tiles)


def _digit_tile(x: np.ndarray) -> Image.Image:
    return Image.fromarray(plots.digit_image(x, 4)).convert("RGB")


# --- the pictures --------------------------------------------------------------------------------

def encoder_picture(t: Trace) -> np.ndarray:
    """Image -> ResNet-18 stages (each stage's most active maps) -> [512] -> [1024] -> Project [2D] -> mu, logvar."""
    maps = [s for s in t.encoder if s.value.ndim == 3]
    vec = {s.name: s.value for s in t.encoder if s.value.ndim == 1}
    columns = [("input", "1 x 28 x 28", [_digit_tile(t.x)])] + [_maps_column(s) for s in maps]
    d = len(t.mu)
    strips = _labelled_strips([
        ("average pool", vec["pooled"]),
        ("Linear + ReLU", vec["hidden"]),
        ("Project", vec["project"]),
        (f"chunk: mu = first {d}", t.mu),
        (f"chunk: logvar = last {d}", t.logvar),
    ])
    return _stack(_stage_columns(columns), strips)


def reparam_picture(t: Trace, order: np.ndarray) -> np.ndarray:
    """mu, sigma, eps and z = mu + sigma * eps per dimension (in the model's KL order), as bars under each other."""
    fig = plots.new_figure(7.2, 4.4)
    axes = fig.subplots(4, 1, sharex=True)
    rows = (("mu", t.mu, "#1f77b4"), ("sigma = exp(logvar / 2)", t.sigma, "#ff7f0e"), ("eps ~ N(0, I)", t.eps, "0.45"),
            ("z = mu + sigma * eps", t.z, "#2ca02c"))
    edges = np.arange(len(order) + 1) - 0.5
    for ax, (name, v, colour) in zip(axes, rows):
        ax.stairs(v[order], edges, baseline=0, fill=True, color=colour)  # one patch per strip: 128 bars drew in 0.8 s
        ax.axhline(0, color="0.6", lw=0.6)
        if name.startswith("sigma"):
            ax.axhline(1, color="#d62728", lw=0.8, ls="--")  # the prior's sigma
            ax.set_ylim(0, max(1.15, float(t.sigma.max()) * 1.1))
            name += "\n(red: the prior's 1)"
        else:  # at least the prior's +-2: a collapsed model's mu of 0.003 must look like 0, not fill the axes
            top = max(2.0, float(np.abs(v).max()) * 1.1)
            ax.set_ylim(-top, top)
        ax.set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("latent dimension, sorted by the model's KL (most informative first)", fontsize=8)
    axes[-1].set_xlim(-0.7, len(order) - 0.3)
    return plots.figure_to_image(fig)


def decoder_picture(t: Trace) -> np.ndarray:
    """z -> Linear -> reshape [C, 7, 7] -> each Upsample + Conv stage's maps -> the output logits -> the mean image."""
    steps = {s.name: s for s in t.decoder}
    columns = [_maps_column(steps["reshape"])]
    columns += [_maps_column(s) for s in t.decoder if s.name.startswith("stage")]
    logits = steps["logits"]
    columns.append((f"logits\n{logits.what}", _shape(logits), [map_tile(logits.value[0] - logits.value[0].min())]))
    columns.append(("the mean image\nsigmoid(logits)", "1 x 28 x 28", [_digit_tile(t.mean)]))
    strips = _labelled_strips([("z", t.z), ("Linear", steps["linear"].value)])
    return _stack(strips, _stage_columns(columns))


def loss_picture(t: Trace, order: np.ndarray) -> np.ndarray:
    """The input, the decoded mean, where the reconstruction's nats are paid, and each dimension's KL."""
    lo, hi = float(t.pixel_nats.min()), float(max(t.pixel_nats.max(), t.pixel_nats.min() + 1))
    ticks = tuple(float(v) for v in np.round(np.linspace(lo, hi, 4), 1))
    maps = plots.titled_maps([{"x (the input)": plots.grey_map(t.x), "the mean image": plots.grey_map(t.mean),
                               "nats paid per pixel": plots.colour_mapped(t.pixel_nats, "magma", lo, hi)}],
                             bars=[plots.colour_bar("magma", lo, hi, False, "nats per pixel", ticks)])
    fig = plots.new_figure(7.2, 2.0)
    ax = fig.add_subplot()
    ax.bar(np.arange(len(order)), t.kl_per_dim[order], color="#9467bd", width=0.85 if len(order) > 1 else 0.4)
    ax.set_xlim(-0.7, len(order) - 0.3)
    ax.set_xlabel("latent dimension, in the same order", fontsize=8)
    ax.set_ylabel("KL (nats)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(f"KL of each dimension's bubble to N(0, 1): {t.kl:.2f} nats in all", fontsize=9)
    return _stack(Image.fromarray(maps), Image.fromarray(plots.figure_to_image(fig)))


def loss_markdown(t: Trace) -> str:
    """The ELBO's terms with this digit's numbers filled in, and what each pulls towards."""
    d = len(t.mu)
    if t.likelihood == "gaussian":
        recon = (f"-log p(x|z) = sum over 784 pixels of ((x - x̂) / σ)² / 2 + log σ + log(2π) / 2, with the decoder's σ fixed at "
                 f"{t.sigma_x:g}")
    else:
        recon = f"-log p(x|z) under the {t.likelihood} likelihood, summed over 784 pixels"
    beta_kl = t.beta_kl
    return (
        f"**Reconstruction**: {recon} = **{t.recon:.1f} nats**.  \n"
        f"**KL**: sum over {d} dimensions of (mu² + sigma² - 1 - log sigma²) / 2 = **{t.kl:.2f} nats**.  \n"
        f"**Loss** = reconstruction + beta x KL = {t.recon:.1f} + {t.beta:g} x {t.kl:.2f} = {t.recon:.1f} + {beta_kl:.1f} = "
        f"**{t.loss:.1f} nats** for this digit and this eps.  \n"
        f"**ELBO** (beta = 1) = -({t.recon:.1f} + {t.kl:.2f}) = **{-(t.recon + t.kl):.1f} nats**: a lower bound on log p(x).  \n"
        f"Reconstruction pulls the code to keep this digit apart from the others (mu spread out, sigma small); "
        f"the KL pulls its bubble onto the prior (mu to 0, sigma to 1)."
    )


def reparam_markdown(t: Trace) -> str:
    active = t.kl_per_dim > 0.05
    return (f"Mean sigma **{t.sigma.mean():.3g}** (the prior's is 1); mean |mu| **{np.abs(t.mu).mean():.3g}**; "
            f"{int(active.sum())} of {len(t.mu)} dimensions carry more than 0.05 nats of this digit. "
            f"z moves by **{np.abs(t.z - t.mu).mean():.3g}** per dimension when eps changes.")


@dataclass
class HowView:
    encoder: np.ndarray
    reparam: np.ndarray
    decoder: np.ndarray
    loss: np.ndarray
    reparam_words: str
    loss_words: str
    summary: str
    trace: Trace


def how_view(ready: Ready, x28: np.ndarray, seed: int, source: str) -> HowView:
    """One digit's pass through `ready`'s model with the noise of `seed`, as pictures and sentences."""
    x28 = np.asarray(x28, dtype=np.float32)
    if x28.shape != (28, 28):
        raise InputError(f"Expected a 28x28 digit, got shape {x28.shape}.")
    t = trace(ready.model, x28, seed=seed, name=ready.name)
    order = ready.kl_order
    summary = (f"**{ready.name}** (beta {t.beta:g}, {len(t.mu)} latent dimensions) on {source}, eps number {seed}: "
               f"loss **{t.loss:.1f} nats** = reconstruction {t.recon:.1f} + beta x KL {t.beta_kl:.1f}.")
    return HowView(encoder_picture(t), reparam_picture(t, order), decoder_picture(t), loss_picture(t, order),
                   reparam_markdown(t), loss_markdown(t), summary, t)


# --- the handlers ----------------------------------------------------------------------------------

class HowHandlers:
    """Bound to the app's ModelHub and the visitors' own models; the digit, model and eps arrive with each request."""

    def __init__(self, hub: ModelHub, models: VisitorModels | None = None):
        self.hub = hub
        self.models = models or VisitorModels(hub)

    def _digit(self, source, index, drawing) -> tuple[np.ndarray, str]:
        if source == SOURCES[1]:
            if drawing is None:
                raise InputError("Draw, upload or pick a digit on the Draw tab first, or choose a test digit here.")
            return np.asarray(drawing, dtype=np.float32), "your digit from the Draw tab"
        x, i, label = self.hub.test_digit(index)
        return x, f"test digit {i} (a {label})"

    def _view(self, name, source, index, drawing, seed, request) -> HowView:
        x, said = self._digit(source, index, drawing)
        return how_view(self.models.get(name, visitor(request)), x, int(seed), said)

    @guard(parts=VIEW, message="message")
    def show(self, name, source, index, drawing, seed, request: gr.Request = None):
        """The VIEW as the tab shows it."""
        v = self._view(name, source, index, drawing, seed, request)
        return dict(message=v.summary, encoder=v.encoder, reparam_words=v.reparam_words, reparam=v.reparam, decoder=v.decoder,
                    loss_words=v.loss_words, loss=v.loss)

    @guard
    def numbers(self, name, index, seed=0, request: gr.Request = None) -> dict:
        """The `/pass` endpoint: test digit `index`'s pass through model `name` with the noise of `seed`, as JSON."""
        return self._view(name, SOURCES[0], index, None, seed, request).trace.numbers()

    @guard(parts=OPENED)
    def open_tab(self, name, source, index, drawing, seed, request: gr.Request = None):
        """The tab opened, in one round trip: the model list (the presets and this visitor's finished runs), the digit
        source (the Draw tab's digit when there is one and the person has not chosen otherwise), and the VIEW drawn
        (a wait said in its message, as `show` says it)."""
        models = gr.update(choices=self.models.choices(MODELS, visitor(request)))
        mine = drawing is not None and source == SOURCES[0]
        source = SOURCES[1] if mine else source
        return {"model": models, **({"source": source} if mine else {}), **dict(zip(VIEW, self.show(name, source, index, drawing, seed, request)))}


# --- the builder -------------------------------------------------------------------------------

def build_tab(hub: ModelHub, drawing: gr.State, models: VisitorModels | None = None) -> TabParts:
    """The How it works tab; `drawing` is the Draw tab's last digit. Its model list gains the visitor's finished runs
    whenever the tab opens (the Train tab's /train stream keeps its outputs as they were)."""
    h = HowHandlers(hub, models)
    with gr.Tab("How it works", id="how") as tab:
        gr.Markdown(explain.HOW_INTRO)
        with gr.Row(equal_height=True):
            model = gr.Radio(MODELS, value="healthy", label="Model", elem_id="how-model", scale=3)
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Digit", elem_id="how-source", scale=2)
            index = inputs.Number(value=0, label="test digit (0 to 999)", precision=0, minimum=0, elem_id="how-index", scale=1)
            new_eps = gr.Button("New eps", elem_id="how-eps", scale=1)
        seed = gr.State(0)
        message = gr.Markdown(explain.HOW_WAITING, elem_id="how-message")
        encoder = picture("1. Encoder: the digit through ResNet-18 (each stage's 4 most active maps), then the head: "
                          "[512] -> [1024] -> Project [2D] -> chunk into mu and logvar", elem_id="how-encoder")
        reparam_words = gr.Markdown(elem_id="how-reparam-words")
        reparam = picture("2. Reparameterization: z = mu + sigma * eps (New eps redraws eps and z; mu stays)", elem_id="how-reparam")
        decoder = picture("3. Decoder: z -> Linear -> reshape to 7x7 maps -> Upsample + Conv stages -> the mean image",
                          elem_id="how-decoder")
        loss_words = gr.Markdown(elem_id="how-loss-words")
        loss = picture("4. The loss on this digit: where reconstruction pays its nats, and each dimension's KL", elem_id="how-loss")
        why(explain.HOW_NOTES)
        api_button = gr.Button("Pass", visible=False)  # the pass's numbers as an endpoint of its own
        api_seed = inputs.Number(value=0, precision=0, visible=False, label="eps seed")  # a State cannot be an API input
        api_out = gr.JSON(visible=False)

    args = [model, source, index, drawing, seed]
    shown = dict(model=model, source=source, message=message, encoder=encoder, reparam_words=reparam_words, reparam=reparam,
                 decoder=decoder, loss_words=loss_words, loss=loss)
    outputs = wire(shown, VIEW)
    api_button.click(h.numbers, [model, index, api_seed], api_out, api_name="pass")
    tab.select(h.open_tab, args, wire(shown, OPENED), api_visibility="private", **QUIET)
    for control in (model, source):
        control.input(h.show, args, outputs, api_visibility="private", **QUIET)
    model.input(None, None, None, js=CLOSE_TOASTS_JS)
    index.submit(h.show, args, outputs, api_visibility="private", **QUIET)
    new_eps.click(lambda s: int(s) + 1, seed, seed, api_visibility="private").then(h.show, args, outputs, api_visibility="private", **QUIET)
    return TabParts({"model": model, "source": source, "index": index, "seed": seed}, show=(h.show, args, outputs))
