"""The drag pad (issue 19, item 2): drag over a latent plane and the digit under the pointer is decoded in the page.

The server sends the decoder's weights once per model (`decoder_spec`, fetched by the page with `decoder_weights`) and
static/decoder.js runs the same forward as vae.model.Decoder on them (Linear, reshape to C x 7 x 7, nearest x2
upsample, 3x3 conv, ReLU, the mean); static/pad.js draws the plane and decodes once per animation frame while the
pointer moves. The pad's value (`pad_value`) is small: which weights, which two dimensions, the test codes to draw
and the point; the weights themselves never travel with it.
"""
from __future__ import annotations

import base64
import secrets
import threading
import weakref
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np
from torch import nn

from vae.losses import mean_is_linear
from vae.model import Decoder

from .models import Memo, Ready
from .plots import DIGIT_COLORS

STATIC = Path(__file__).parent / "static"
SCRIPT = (STATIC / "decoder.js").read_text() + "\n" + (STATIC / "pad.js").read_text()
SIZE = 300  # the plane's canvas, px
DIGIT_PX = 168  # the decoded digit, 28 px drawn 6 times as large
SERVED = 64  # weights versions the server remembers for the pages that were shown them
POINTS = 1000  # test codes drawn on the plane
LEGEND = " ".join(f'<b style="color: {c}">{d}</b>' for d, c in enumerate(DIGIT_COLORS))
HTML = f"""
<div class="pad">
  <div>
    <canvas class="pad-plane" width="{SIZE}" height="{SIZE}" aria-label="latent plane: drag to decode"></canvas>
    <p class="pad-legend">test digits: {LEGEND}</p>
  </div>
  <div class="pad-side">
    <canvas class="pad-digit" width="28" height="28" aria-label="the digit decoded at the point"></canvas>
    <p class="pad-words"></p>
    <p class="pad-rate"></p>
  </div>
</div>
"""
CSS = f"""
.pad {{ display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }}
.pad-plane {{ width: {SIZE}px; height: {SIZE}px; cursor: crosshair; touch-action: none; border: 1px solid #ddd; }}
.pad-digit {{ width: {DIGIT_PX}px; height: {DIGIT_PX}px; image-rendering: pixelated; background: #000; }}
.pad-side p {{ margin: 6px 0; max-width: 260px; }}
.pad-legend {{ margin: 2px 0; font-size: var(--text-sm); }}
"""


class UnsupportedDecoder(ValueError):
    """A decoder with a layer the page's decoder.js does not run."""


def floats(t) -> str:
    """A tensor as base64 little-endian float32, in its logical (row-major) order whatever its memory format."""
    return base64.b64encode(np.ascontiguousarray(t.detach().cpu().float().numpy(), dtype="<f4").tobytes()).decode()


def decoder_spec(decoder: Decoder) -> dict:
    """The decoder as decoder.js runs it: the Linear layer, then each layer of decoder.net in order."""
    layers = []
    for m in decoder.net:
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) and m.padding == (1, 1) and m.stride == (1, 1) and m.groups == 1:
            layers.append(dict(op="conv", cin=m.in_channels, cout=m.out_channels, w=floats(m.weight), b=floats(m.bias)))
        elif isinstance(m, nn.ReLU):
            layers.append(dict(op="relu"))
        elif isinstance(m, nn.Upsample) and m.mode == "nearest" and m.scale_factor in (2, 2.0):
            layers.append(dict(op="up"))
        else:
            raise UnsupportedDecoder(f"This decoder has a layer the page cannot run ({type(m).__name__}); use the sliders.")
    return dict(latent_dim=decoder.config.latent_dim, c0=decoder.c0, mean="linear" if mean_is_linear(decoder.config) else "sigmoid",
                fc=dict(w=floats(decoder.fc.weight), b=floats(decoder.fc.bias)), layers=layers)


class Served:
    """The weights versions this server put in a pad, by an unguessable token: the page asks for a version's weights
    once (decoder_weights) and reaches only models it was shown. The latest SERVED are remembered, weakly: a model the
    app let go of (an older epoch of a run) is not kept alive for a page that may never ask."""

    def __init__(self):
        self._models: OrderedDict[str, weakref.ref] = OrderedDict()
        self._lock = threading.Lock()

    def version(self, ready: Ready) -> str:
        token = ready.memo(Memo.PAD_VERSION, lambda: f"{ready.name}-e{ready.epoch}-{secrets.token_hex(8)}")
        with self._lock:
            self._models[token] = weakref.ref(ready)
            self._models.move_to_end(token)
            while len(self._models) > SERVED:
                self._models.popitem(last=False)
        return token

    def weights(self, version) -> dict:
        """decoder_spec of the version's model, or {"error": sentence}."""
        with self._lock:
            ref = self._models.get(version) if isinstance(version, str) else None
        ready = ref() if ref is not None else None
        if ready is None:
            return dict(error="These weights are no longer served (the model changed); choose the model again.")
        try:
            return ready.memo(Memo.DECODER_SPEC, lambda: decoder_spec(ready.model.decoder))
        except UnsupportedDecoder as err:
            return dict(error=str(err))


def pad_value(served: Served, ready: Ready, dims: tuple[int, int], z: tuple[float, float], span: float) -> dict:
    """What the pad draws for one model, two dimensions and a point: the weights' version, the axes, and the test
    digits' codes (mu) on the two dimensions, coloured by their label."""
    mu, labels = ready.latents.mu[:POINTS], ready.latents.labels[:POINTS]
    i, j = dims
    points = dict(x=np.round(mu[:, i], 3).tolist(), y=np.round(mu[:, j], 3).tolist(), label=[int(v) for v in labels])
    return dict(version=served.version(ready), model=ready.name, dims=[i, j], z=[float(z[0]), float(z[1])], span=span,
                axes=[f"z1 = dimension {i}", f"z2 = dimension {j}"], points=points, colors=DIGIT_COLORS)


def waiting(sentence: str) -> dict:
    """A pad with nothing to draw yet, saying why."""
    return dict(message=sentence)


def build(served: Served) -> gr.HTML:
    """The pad: a gr.HTML whose script decodes in the page, and its one server function, the weights by version."""

    def decoder_weights(version):
        return served.weights(version)

    return gr.HTML(waiting("The pad draws once the tab has a model."), html_template=HTML, css_template=CSS, js_on_load=SCRIPT,
                   server_functions=[decoder_weights], elem_id="drag-pad", apply_default_css=False)
