"""The app's handlers: thin, guarded methods that turn Gradio inputs into calls to playground.views.

Each returns what its outputs show; every failure leaves as one sentence (gr.Error), never a stack trace.
A handler keeps nothing between calls: what a visitor chose arrives with each request.
"""
from __future__ import annotations

import functools
import logging

import gradio as gr
import numpy as np

from vae.digits import BlankCanvas, InputError, ink_from_image, ink_from_sketch, to_mnist

from . import explain, views
from .models import ModelHub, NotReady

N_EXAMPLES = 10
log = logging.getLogger("playground")


def guard(fn):
    """Every failure reaches the person as one sentence (gr.Error), never a stack trace; the app stays up."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
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


DRAW_BLANK = (None, None, None, None, None, explain.DRAW_WAITING, None)


class Handlers:
    """One instance per app, bound to its ModelHub (shared, read-only once models are ready)."""

    def __init__(self, hub: ModelHub):
        self.hub = hub

    # -- Draw: outputs (seen, recon, samples, bubble, musigma, message, last input) --
    def _show(self, x28: np.ndarray, name: str, seed: int):
        v = views.draw_view(self.hub.get(name), x28, int(seed))
        return v.seen, v.recon, v.samples, v.bubble, v.musigma, v.summary, x28

    @guard
    def draw(self, value, name, seed=0):
        try:
            x28 = to_mnist(ink_from_sketch(value))
        except BlankCanvas:
            return DRAW_BLANK
        return self._show(x28, name, seed)

    @guard
    def reconstruct(self, image, name, seed=0):
        if image is None:
            raise InputError("Upload a picture of a digit first.")
        return self._show(to_mnist(ink_from_image(image)), name, seed)

    @guard
    def redraw(self, x28, name, seed=0):
        if x28 is None:
            return (gr.skip(),) * len(DRAW_BLANK)
        return self._show(np.asarray(x28, dtype=np.float32), name, seed)

    @guard
    def example(self, index, name, seed=0):
        digits = self.example_digits()
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(digits):
            raise InputError(f"There are {len(digits)} example digits; pick one by its number, 0 to {len(digits) - 1}.")
        return self._show(digits[index], name, seed)

    def example_digits(self) -> np.ndarray:
        """The first test digit of each class: (10, 28, 28)."""
        if self.hub.data is None:
            raise NotReady("The digits are still loading; try again in a moment.")
        test = self.hub.data.test
        return test.images[views.first_of_each_digit(test.labels.numpy(), N_EXAMPLES), 0].numpy()

    def example_gallery(self):
        try:
            return [(views.plots.digit_image(x, 3), f"digit {i}") for i, x in enumerate(self.example_digits())]
        except NotReady:
            return []

    # -- Latent walk --
    @guard
    def decode(self, name, dim_x, dim_y, z1, z2):
        """The digit at z (z1, z2 on the two dimensions, 0 elsewhere): live while a slider moves."""
        ready = self.hub.get(name)
        return views.decode_point(ready, views.check_dims(ready, (dim_x, dim_y)), z1, z2)

    @guard
    def grid(self, name, dim_x, dim_y, z1=None, z2=None):
        """The grid over the two dimensions, with (z1, z2) ringed when given."""
        ready = self.hub.get(name)
        point = None if z1 is None and z2 is None else (z1, z2)
        return views.grid_image(ready, views.check_dims(ready, (dim_x, dim_y)), point)

    @guard
    def choose_walk_model(self, name, z1, z2):
        """(dim x, dim y, decoded point, grid, one-dimension strip, note) with the two highest-KL dimensions."""
        ready = self.hub.get(name)
        dx, dy = views.default_dims(ready)
        strip = self.hub.memo(f"traversal/{name}", lambda: views.traversals(ready)[0])
        note = (f"Dimensions {dx} and {dy} are the two with the most KL. The model has {ready.model.config.latent_dim} "
                f"dimensions, {ready.metrics.get('active_units', '?')} of them active.")
        return dx, dy, views.decode_point(ready, (dx, dy), z1, z2), views.grid_image(ready, (dx, dy), (z1, z2)), strip, note

    # -- Compare --
    @guard
    def compare(self):
        """(sentences, table, PCA, t-SNE, reconstructions, prior samples), computed once and cached."""
        readies = {name: self.hub.get(name) for name in views.REGIMES}
        test = self.hub.data.test
        v = self.hub.memo("compare", lambda: views.compare_view(readies, test.images[:, 0].numpy(), test.labels.numpy()))
        return v.sentences, v.table, v.pca, v.tsne, v.recons, v.samples
