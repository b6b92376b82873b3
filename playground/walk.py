"""The Latent walk tab: decode a point z chosen with sliders, the 15 x 15 grid over two dimensions, one dimension at a time.

Builder (`build_tab`), thin handlers (`WalkHandlers`) and the pure views in one place.
"""
from __future__ import annotations

import gradio as gr
import numpy as np
import torch

from vae.analysis import decode_latents
from vae.digits import InputError

from . import explain, inputs, links, pad, plots
from .handling import CLOSE_TOASTS_JS, ERROR_TOAST_S, QUIET, guard, wire
from .widgets import TabParts, picture, why
from .models import GRID_SCALE, Memo, ModelHub, Ready
from .runs import VisitorModels, visitor

MODELS = ["healthy-2d", "healthy"]
GRID_N = 15
SPAN = 3.0
STEP = 0.05  # the sliders' step
TRAVERSAL_LABEL = 150  # px of row labels on the left of the one-dimension strip
Z_LIMIT = 10.0  # API callers may pass any number; beyond this the decoder only extrapolates
LINK_KEYS = ("model", "dim_x", "dim_y", "z1", "z2")  # a link's query (playground/links.py)
# the handlers' parts, each in its outputs' order: the whole tab; a new point (a click, a drag); new dimensions
WHOLE = ("dim_x", "dim_y", "point", "grid", "traversal", "message", "drag")
MOVED = ("z1", "z2", "grid")
REDIMMED = ("point", "grid", "message", "drag")
PAD_FOLLOWS_JS = "(z1, z2) => { document.querySelector('#drag-pad .pad')?.vae?.moveTo(z1, z2); }"
MAX_LINK_DIM = 1023  # a link's dimensions are checked against its model later; this only keeps the numbers sane


# --- the views ---------------------------------------------------------------------------------

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
        shown = " and ".join(str(k) if abs(k) < 10**6 else f"{k:.1e}" for k in (i, j))  # a fuzzed 1e173 stays one line
        raise InputError(f"The {ready.name} model has dimensions 0 to {d - 1}; got {shown}.")
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
    """The cached n x n grid over two dimensions (the article's figure) with its axis values, the slider point ringed."""
    _, values, tiled = ready.grid(dims, GRID_N)
    if point is not None:
        tiled = plots.grid_with_marker(tiled, values, check_point(*point), scale=GRID_SCALE)
    return plots.with_grid_axes(tiled, values, f"z1 = dimension {dims[0]}", f"z2 = dimension {dims[1]}", scale=GRID_SCALE)


def traversals(ready: Ready, n_dims: int = 8, steps: int = 11) -> tuple[np.ndarray, list[int]]:
    """Each of the top dimensions by KL varied from -3 to 3 alone, the rest at 0: (n_dims, steps) digits."""
    d = ready.model.config.latent_dim
    dims = [int(i) for i in ready.kl_order[: min(n_dims, d)]]
    values = np.linspace(-SPAN, SPAN, steps, dtype=np.float32)
    z = np.zeros((len(dims), steps, d), dtype=np.float32)
    for r, dim in enumerate(dims):
        z[r, :, dim] = values
    images = decode_latents(ready.model, z.reshape(-1, d)).reshape(len(dims), steps, 28, 28)
    strip = plots.labelled_rows({f"dim {dim} (KL {ready.latents.kl_per_dim[dim]:.2f})": images[r] for r, dim in enumerate(dims)}, scale=2, label_width=TRAVERSAL_LABEL)
    return plots.with_column_values(strip, values, TRAVERSAL_LABEL, scale=2, caption="value of the dimension:"), dims


def settings_from_link(query: dict) -> tuple[dict | None, str]:
    """The tab's model, dimensions and slider values from a link's query (missing ones: the tab's defaults), or None
    with the sentence saying why the link could not be used. The dimensions are checked against the model later."""
    model = query.get("model", MODELS[0])
    if model not in MODELS:  # a visitor's own run lives only in their session: a link can name a preset
        return None, f"The link's model {model!r} is not one of {', '.join(MODELS)}; this is the tab as it opens."
    try:
        z1, z2 = check_point(query.get("z1", 0), query.get("z2", 0))
    except InputError as err:
        return None, f"The link's point could not be used ({err}); this is the tab as it opens."
    try:
        dims = (int(query.get("dim_x", 0)), int(query.get("dim_y", 1)))
    except ValueError:
        return None, "The link's dimensions must be whole numbers; this is the tab as it opens."
    if not all(0 <= d <= MAX_LINK_DIM for d in dims):  # a 2^64 reached the sliders and broke the page's event stream
        return None, f"The link's dimensions must lie between 0 and {MAX_LINK_DIM}; this is the tab as it opens."
    if not (abs(z1) <= SPAN and abs(z2) <= SPAN):
        return None, f"The link's z1 and z2 must lie within the sliders' -{SPAN:g} to {SPAN:g}; this is the tab as it opens."
    return dict(model=model, dims=dims, z1=z1, z2=z2), ""


def dims_note(ready: Ready, dims: tuple[int, int]) -> str:
    d = ready.model.config.latent_dim
    top = "the two with the most KL" if tuple(dims) == default_dims(ready) else "your choice"
    return (f"Dimensions {dims[0]} (x) and {dims[1]} (y): {top}. The model has {d} dimensions, "
            f"{ready.active} of them active.")


def whole_tab(ready: Ready, dims: tuple[int, int], z1: float, z2: float, served: pad.Served, said: str = "") -> dict:
    """Everything the tab shows (WHOLE) for one model, two (checked) dimensions and a point, the note after `said`."""
    strip = ready.memo(Memo.TRAVERSAL, lambda: traversals(ready)[0])
    return dict(dim_x=dims[0], dim_y=dims[1], point=decode_point(ready, dims, z1, z2), grid=grid_image(ready, dims, (z1, z2)),
                traversal=strip, message=said + dims_note(ready, dims), drag=pad.pad_value(served, ready, dims, check_point(z1, z2), SPAN))


# --- the handlers ------------------------------------------------------------------------------

class WalkHandlers:
    """Bound to the app's ModelHub and the visitors' own models; what a visitor chose (model, dimensions, sliders)
    arrives with each request."""

    def __init__(self, hub: ModelHub, models: VisitorModels | None = None):
        self.hub = hub
        self.models = models or VisitorModels(hub)
        self.served = pad.Served()  # the decoder weights the drag pads were shown, for the page to fetch once

    @guard
    def decode(self, name, dim_x, dim_y, z1, z2, request: gr.Request = None):
        """The digit at z (z1, z2 on the two dimensions, 0 elsewhere): live while a slider moves."""
        ready = self.models.get(name, visitor(request))
        return decode_point(ready, check_dims(ready, (dim_x, dim_y)), z1, z2)

    @guard
    def grid(self, name, dim_x, dim_y, z1=None, z2=None, request: gr.Request = None):
        """The grid over the two dimensions, with (z1, z2) ringed when given."""
        ready = self.models.get(name, visitor(request))
        point = None if z1 is None and z2 is None else (z1, z2)
        return grid_image(ready, check_dims(ready, (dim_x, dim_y)), point)

    @guard(parts=MOVED)
    def pick(self, name, dim_x, dim_y, evt: gr.SelectData, request: gr.Request = None):
        """A click on the grid: the sliders moved to the cell clicked (their change decodes it) and the ring on it; a
        click on the axes or between cells changes nothing."""
        ready = self.models.get(name, visitor(request))
        dims = check_dims(ready, (dim_x, dim_y))
        _, values, _ = ready.grid(dims, GRID_N)
        at = plots.grid_value_at(evt.index, values, scale=GRID_SCALE)
        if at is None:
            return {}
        return self._go_to(ready, dims, at)

    @guard(parts=MOVED)
    def from_pad(self, name, dim_x, dim_y, evt: gr.EventData, request: gr.Request = None):
        """A drag on the pad ended: the sliders moved to where it ended and the ring on it."""
        ready = self.models.get(name, visitor(request))
        dims = check_dims(ready, (dim_x, dim_y))
        z = (getattr(evt, "_data", None) or {}).get("z")
        try:
            at = check_point(*z)
        except (InputError, TypeError):
            return {}  # not a point the pad sends: ignored
        return self._go_to(ready, dims, (max(-SPAN, min(SPAN, at[0])), max(-SPAN, min(SPAN, at[1]))))

    @staticmethod
    def _go_to(ready: Ready, dims: tuple[int, int], at: tuple[float, float]) -> dict:
        z1, z2 = (round(round(v / STEP) * STEP, 2) for v in at)  # on the sliders' own steps, so ring, sliders and digit agree
        return dict(z1=z1, z2=z2, grid=grid_image(ready, dims, (z1, z2)))

    @guard(parts=REDIMMED, message="message")
    def change_dims(self, name, dim_x, dim_y, z1, z2, request: gr.Request = None):
        """The REDIMMED parts for newly typed dimensions; invalid ones clear the grid and the pad rather than leave
        those of other dimensions beside them."""
        ready = self.models.get(name, visitor(request))
        try:
            dims = check_dims(ready, (dim_x, dim_y))
        except InputError as err:
            return dict(point=None, grid=None, message=f"**{err}** The grid comes back once both dimensions are valid.", drag=pad.waiting(str(err)))
        return dict(point=decode_point(ready, dims, z1, z2), grid=grid_image(ready, dims, (z1, z2)), message=dims_note(ready, dims),
                    drag=pad.pad_value(self.served, ready, dims, check_point(z1, z2), SPAN))

    @staticmethod
    @guard(parts=LINK_KEYS)
    def restore(request: gr.Request = None):
        """Page load, for a link to this tab: the LINK_KEYS as the link set them (drawn when the tab opens, `show`);
        nothing changes for any other page address, and a link that cannot be used says why."""
        query = links.asked(request, "walk")
        if query is None:
            return {}
        settings, said = settings_from_link(query)
        if settings is None:
            gr.Warning(said, duration=ERROR_TOAST_S)
            return {}
        return dict(model=settings["model"], dim_x=settings["dims"][0], dim_y=settings["dims"][1], z1=settings["z1"], z2=settings["z2"])

    @guard(parts=WHOLE, message="message")
    def show(self, name, dim_x, dim_y, z1, z2, request: gr.Request = None):
        """The tab opened: the WHOLE tab for the model, point and dimensions as set (a link's, or the visitor's from before), the two highest-KL dimensions when those do not fit
        the model."""
        ready = self.models.get(name, visitor(request))
        said = ""
        try:
            dims = check_dims(ready, (dim_x, dim_y))
        except InputError as err:
            dims = default_dims(ready)
            if links.asked(request, "walk") is not None:  # the link's own dimensions were refused: say so
                said = f"**The link's dimensions could not be used: {err}** "
        return whole_tab(ready, dims, z1, z2, self.served, said)

    @guard(parts=WHOLE, message="message")
    def choose_model(self, name, z1, z2, request: gr.Request = None):
        """The WHOLE tab with the two highest-KL dimensions."""
        ready = self.models.get(name, visitor(request))
        return whole_tab(ready, default_dims(ready), z1, z2, self.served)


# --- the builder -------------------------------------------------------------------------------

def build_tab(hub: ModelHub, demo: gr.Blocks, models: VisitorModels | None = None) -> tuple[TabParts, object]:
    """The tab; returns its controls (the model list, which the Train tab extends with the visitor's own runs; a model
    set from outside draws with its two highest-KL dimensions) and the page-load event that restores a link's settings
    (the app opens the link's tab after it, which draws them: `show`)."""
    h = WalkHandlers(hub, models)
    with gr.Tab("Latent walk", id="walk") as tab:
        gr.Markdown(explain.WALK_INTRO)
        with gr.Row():
            with gr.Column(scale=2):
                model = gr.Radio(MODELS, value="healthy-2d", label="Model", info="2-D latent space, or two dimensions of the 128-d model", elem_id="walk-model")
                with gr.Row():
                    dim_x = inputs.Number(value=0, precision=0, label="dimension on x (z1)", minimum=0, elem_id="dim-x")
                    dim_y = inputs.Number(value=1, precision=0, label="dimension on y (z2)", minimum=0, elem_id="dim-y")
                z1 = inputs.Slider(-3, 3, value=0, step=STEP, label="z1", elem_id="z1", elem_classes=["walk-slider"])
                z2 = inputs.Slider(-3, 3, value=0, step=STEP, label="z2", elem_id="z2", elem_classes=["walk-slider"])
                point = picture("decode(z)", height=240, elem_id="point")
                message = gr.Markdown("", elem_id="walk-message")
                links.link_row("walk", [model, dim_x, dim_y, z1, z2], LINK_KEYS, "this tab with this model, these dimensions and this point")
            with gr.Column(scale=3):
                grid = picture("15 x 15 grid from -3 to 3 on both axes, other dimensions at 0 (red ring: the sliders; click a cell to go there)",
                               elem_id="grid")
        gr.Markdown("**Drag over the plane**: the digit under the pointer is decoded in this page, with no trip to the server. "
                    "Dots: where the test digits are encoded.", elem_classes=["caption"])
        drag = pad.build(h.served)
        traversal = picture("One dimension at a time: each row varies one dimension from -3 to 3, the rest at 0", elem_id="traversal")
        why(explain.WALK_NOTES)
        grid_button = gr.Button("Show the grid", visible=False)  # the grid as an API endpoint of its own

    shown = dict(dim_x=dim_x, dim_y=dim_y, z1=z1, z2=z2, point=point, grid=grid, traversal=traversal, message=message, drag=drag)
    outputs = wire(shown, WHOLE)
    walk = [model, dim_x, dim_y, z1, z2]
    grid_button.click(h.grid, walk, grid, api_name="grid")  # first: a later event of the same function gets grid_1
    # input, not change: a link sets the model with its own dimensions (restore), which a change would reset
    model.input(h.choose_model, [model, z1, z2], outputs, api_visibility="private", **QUIET)
    model.change(None, None, None, js=CLOSE_TOASTS_JS)  # the last model's error toasts no longer apply
    # while a slider moves only the small decoded digit is redrawn; the big grid moves its ring on release (the page's
    # script turns a key press on a slider into a release too, ui.PAGE_JS)
    z1.change(h.decode, walk, point, api_name="decode", trigger_mode="always_last", **QUIET)
    z2.change(h.decode, walk, point, api_visibility="private", trigger_mode="always_last", **QUIET)
    for slider in (z1, z2):
        slider.release(h.grid, walk, grid, api_visibility="private", trigger_mode="always_last", **QUIET)
    grid.select(h.pick, [model, dim_x, dim_y], wire(shown, MOVED), api_visibility="private", **QUIET)
    drag.release(h.from_pad, [model, dim_x, dim_y], wire(shown, MOVED), api_visibility="private", **QUIET)
    for slider in (z1, z2):  # the pad's ring follows the sliders, decoded in the page
        slider.change(None, [z1, z2], None, js=PAD_FOLLOWS_JS)
    for number in (dim_x, dim_y):
        number.submit(h.change_dims, walk, wire(shown, REDIMMED), api_visibility="private", **QUIET)
    tab.select(h.show, walk, outputs, api_visibility="private", **QUIET)
    restored = demo.load(h.restore, None, wire({**shown, "model": model}, LINK_KEYS), api_visibility="private", **QUIET)
    return TabParts({"model": model}, show=(h.choose_model, [model, z1, z2], outputs)), restored

