"""The Interpolate tab: the straight line between two digits' codes, decoded by the healthy VAE and by the plain
autoencoder side by side, with each step's distance to the nearest training code, so a dead zone is measured, not
only seen.

Builder (`build_tab`), thin handlers (`InterpolateHandlers`) and the pure view (`interpolate_view`) in one place.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np
import torch

from vae.analysis import different_digit_pairs, interpolation_gaps
from vae.digits import InputError

from . import explain, inputs, plots
from .handling import QUIET, guard, wire
from .models import ModelHub, NotReady, Ready
from .widgets import TabParts, picture, why

MODELS = ("healthy", "autoencoder")
STEPS = 9  # odd, so the middle step is the midpoint t = 0.5
LABEL_WIDTH = 120  # px of row labels left of the strip
SCALE = 3  # each digit at 84 x 84: room for its distance underneath
VIEW = ("message", "strip", "table")  # the view between two digits, in its outputs' order
SHOWN = ("a", "b") + VIEW  # ... and the two digits' numbers, as the tab shows them
TABLE_HEADERS = ["step", "t"] + [f"{m}: {what}" for m in MODELS for what in ("distance", "x typical")]


# --- the view ----------------------------------------------------------------------------------

@dataclass
class Side:
    """One model's part of the strip: the model, its training codes and its yardstick (analysis.typical_gap)."""

    ready: Ready
    train_mu: np.ndarray  # (N, D)
    typical: float


@dataclass
class InterpolateView:
    strip: np.ndarray  # RGB: one row of decoded steps per model, each step's distance under it
    table: list[list]  # one row per step
    summary: str
    distances: dict[str, np.ndarray]  # model -> (steps,) distance of each step's z to the nearest training code
    ratios: dict[str, np.ndarray]  # the same over the model's typical distance


def interpolate_view(sides: dict[str, Side], x_a: np.ndarray, x_b: np.ndarray, names: tuple[str, str] = ("A", "B"), steps: int = STEPS) -> InterpolateView:
    """Decode the line between the codes of x_a and x_b (28, 28) for each model and measure each step's gap."""
    rows, under, distances, ratios = {}, {}, {}, {}
    xa, xb = (torch.from_numpy(np.asarray(x, dtype=np.float32))[None] for x in (x_a, x_b))
    for name, side in sides.items():
        images, dist = interpolation_gaps(side.ready.model, xa, xb, side.train_mu, steps)
        rows[name], distances[name], ratios[name] = images, dist, dist / side.typical
        under[name] = [f"{d:.2g} ({r:.1f}x)" for d, r in zip(dist, ratios[name])]
    t = np.linspace(0, 1, steps)
    strip = plots.labelled_rows(rows, scale=SCALE, label_width=LABEL_WIDTH, under=under)
    strip = plots.with_column_values(strip, np.round(t, 3), LABEL_WIDTH, scale=SCALE, caption="t, from A to B:")
    table = [[i, round(float(t[i]), 3)] + [v for name in sides for v in (round(float(distances[name][i]), 3), round(float(ratios[name][i]), 2))]
             for i in range(steps)]
    mid = steps // 2
    parts = [f"**{name}** {distances[name][mid]:.2f} from the nearest training code (**{ratios[name][mid]:.1f}x** a typical held-out "
             f"digit's {sides[name].typical:.2f})" for name in sides]
    summary = f"A = {names[0]}, B = {names[1]}. At the midpoint (t = {t[mid]:.2g}): " + "; ".join(parts) + "."
    return InterpolateView(strip, table, summary, distances, ratios)


# --- the handlers ------------------------------------------------------------------------------

class InterpolateHandlers:
    """Bound to the app's ModelHub; the pair of inputs arrives with each request."""

    def __init__(self, hub: ModelHub):
        self.hub = hub

    def _test(self):
        if self.hub.data is None:
            raise NotReady("The digits are still loading; try again in a moment.")
        return self.hub.data.test

    def _digit(self, index, which: str) -> tuple[np.ndarray, str]:
        """Test digit number `index` (28, 28) and its name, or InputError."""
        x, i, label = self.hub.test_digit(index, which)
        return x, f"test digit {i} (a {label})"

    def _sides(self) -> dict[str, Side]:
        sides = {}
        for name in MODELS:
            ready = self.hub.get(name)
            sides[name] = Side(ready, self.hub.train_codes(ready).mu, self.hub.typical_gap(ready))
        return sides

    def default_pair(self) -> tuple[int, int]:
        """The first 1 and the first 7 of the test digits: the article's example."""
        labels = self._test().labels.numpy()
        return (self.hub.first_test_digit(1), self.hub.first_test_digit(7)) if {1, 7} <= set(labels.tolist()) else (0, 1)

    @guard(parts=VIEW, message="message")
    def interpolate(self, a, b):
        """The VIEW between test digits a and b: the `/interpolate` endpoint."""
        (x_a, name_a), (x_b, name_b) = self._digit(a, "A"), self._digit(b, "B")
        v = interpolate_view(self._sides(), x_a, x_b, (name_a, name_b))
        return dict(message=v.summary, strip=v.strip, table=v.table)

    @guard(parts=SHOWN, message="message")
    def show(self, a, b, use_drawing, drawing):
        """The SHOWN parts as the tab shows them: a missing index gets the default pair, and A may be
        the visitor's last drawing on the Draw tab."""
        if a is None or b is None:
            a, b = self.default_pair()
        return self._show(a, b, use_drawing, drawing)

    @guard(parts=SHOWN, message="message")
    def open_tab(self, opened, a, b, use_drawing, drawing):
        """The tab opened: the first time for this visitor it shows the default pair (a 1 and a 7), later what they chose."""
        if not opened:
            a, b = self.default_pair()
        return self._show(a, b, use_drawing, drawing)

    def _show(self, a, b, use_drawing, drawing):
        x_b, name_b = self._digit(b, "B")
        if use_drawing:
            if drawing is None:
                raise InputError("Draw a digit on the Draw tab first (or untick 'A = my drawing').")
            x_a, name_a = np.asarray(drawing, dtype=np.float32), "your drawing"
        else:
            x_a, name_a = self._digit(a, "A")
        v = interpolate_view(self._sides(), x_a, x_b, (name_a, name_b))
        return dict(a=a, b=b, message=v.summary, strip=v.strip, table=v.table)

    @guard(parts=SHOWN, message="message")
    def another(self, use_drawing, drawing):
        """A new random pair of different digits, shown."""
        labels = self._test().labels.numpy()
        a, b = different_digit_pairs(labels, 1, seed=int(np.random.default_rng().integers(2**31)))[0]
        return self._show(int(a), int(b), use_drawing, drawing)


# --- the builder -------------------------------------------------------------------------------

def build_tab(hub: ModelHub, drawing: gr.State) -> TabParts:
    """`drawing`: the Draw tab's last 28x28 input, which can stand in for digit A. Returns its controls (the tab draws
    them whenever it opens)."""
    h = InterpolateHandlers(hub)
    with gr.Tab("Interpolate", id="interpolate") as tab:
        gr.Markdown(explain.INTERPOLATE_INTRO)
        with gr.Row(equal_height=True):
            a = inputs.Number(label="test digit A (0 to 999)", precision=0, minimum=0, elem_id="interp-a")
            b = inputs.Number(label="test digit B (0 to 999)", precision=0, minimum=0, elem_id="interp-b")
            with gr.Column():
                use_drawing = gr.Checkbox(label="A = my drawing from the Draw tab", elem_id="interp-drawing")
                another = gr.Button("Another pair of different digits", size="sm", elem_id="interp-another")
        message = gr.Markdown(explain.INTERPOLATE_WAITING, elem_id="interp-message")
        strip = picture(f"A's code (mu) to B's in {STEPS} steps; under each: distance to the nearest training code (x a typical digit's)",
                        elem_id="interp-strip")
        table = gr.Dataframe(headers=TABLE_HEADERS, label="Distance of each step's z to the nearest of the 4,000 training codes", interactive=False,
                             wrap=True, elem_id="interp-table", column_widths=["7%", "8%", "25%", "17%", "26%", "17%"])
        why(explain.INTERPOLATE_NOTES)
        api_button = gr.Button("Interpolate", visible=False)  # the strip between two test digits as an API endpoint of its own
        # inside the tab: a component made between two tabs shifts the tab bar's labels (the next tab took the chosen one's name)
        opened = gr.State(False)  # whether this visitor has seen the tab: its first opening shows a 1 and a 7

    shown = dict(a=a, b=b, message=message, strip=strip, table=table)
    args, outputs = [a, b, use_drawing, drawing], wire(shown, SHOWN)
    api_button.click(h.interpolate, [a, b], wire(shown, VIEW), api_name="interpolate")
    tab.select(h.open_tab, [opened] + args, outputs, api_visibility="private", **QUIET).then(lambda: True, None, opened, api_visibility="private")
    for number in (a, b):
        number.submit(h.show, args, outputs, api_visibility="private", **QUIET)
    use_drawing.input(h.show, args, outputs, api_visibility="private", **QUIET)
    another.click(h.another, [use_drawing, drawing], outputs, api_visibility="private", **QUIET)
    return TabParts({"a": a, "b": b, "use_drawing": use_drawing})
