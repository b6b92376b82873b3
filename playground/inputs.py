"""Input components that check what reaches them before Gradio or a handler works on it (issue 23).

Gradio turns a component's payload into the handler's argument in the component's `preprocess`, before any handler
runs: a canvas of giant layers is decoded there, and a number that is NaN, Infinity, text or a list fails there with
Gradio's generic error and a traceback in the log. These subclasses check first and refuse with one sentence
(gr.Error, one line in the log). Gradio writes a type stub (inputs.pyi) beside any module that subclasses one of its
components; .gitignore keeps it out of the repository, which is why these live in a module of their own.
"""
from __future__ import annotations

import logging
import math
import threading

import gradio as gr
from gradio.components.base import server

from vae.digits import MAX_CANVAS_PICTURES, InputError, check_canvas, picture_size

log = logging.getLogger("playground")
MAX_NUMBER_TEXT = 40  # characters: a number sent as text longer than this is not a number a person typed


def checked_number(payload, label: str, minimum: float | None = None, maximum: float | None = None, precision: int | None = None):
    """`payload` as the number a handler gets (an int when precision is 0), or InputError saying what was wrong
    without repeating it: not a number (text that does not read as one, a list, true/false), NaN or infinite,
    outside [minimum, maximum]. None stays None (an empty field)."""
    if payload is None:
        return None
    value = payload
    if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT:
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{label} must be a number; what was sent is {_kind(payload)}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{label} must be a finite number, not {'NaN' if math.isnan(value) else 'infinity'}.")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        shown = f"{value:.6g}" if abs(value) < 1e15 else "a number far out of range"
        bounds = f"from {minimum:g} to {maximum:g}" if minimum is not None and maximum is not None else (
            f"at least {minimum:g}" if minimum is not None else f"at most {maximum:g}")
        raise InputError(f"{label} must be {bounds}; it was {shown}.")
    if precision == 0:
        return int(round(value))
    return value if precision is None else round(value, precision)


def checked_choice(payload, label: str, choices: list):
    """The one of numeric `choices` that `payload` is (as a number or as its text), or InputError listing them."""
    try:
        value = checked_number(payload, label)
    except InputError:
        value = None
    for choice in choices:
        if value is not None and float(choice) == value:
            return choice
    raise InputError(f"{label} must be one of {', '.join(f'{c:g}' for c in choices)}.")


def _kind(payload) -> str:
    if isinstance(payload, bool):
        return "true or false"
    if isinstance(payload, str):
        return "text"
    if isinstance(payload, (list, tuple)):
        return "a list"
    if isinstance(payload, dict):
        return "an object"
    return f"a value of type {type(payload).__name__}"


def _label(component) -> str:
    """The component's label as the subject of a sentence."""
    label = str(component.label or "the value")
    return label[:1].upper() + label[1:]


def _refused(component, err: InputError) -> gr.Error:
    log.info("refused input to %s: %s", component.label or type(component).__name__, err)
    return gr.Error(str(err), print_exception=False)


class Number(gr.Number):
    """gr.Number whose input is checked_number's."""

    def preprocess(self, payload):
        try:
            return checked_number(payload, _label(self), self.minimum, self.maximum, self.precision)
        except InputError as err:
            raise _refused(self, err) from None


class Slider(gr.Slider):
    """gr.Slider whose input is checked_number's (an empty value is refused: a slider always has one)."""

    def preprocess(self, payload):
        try:
            value = checked_number(payload, _label(self), self.minimum, self.maximum, self.precision)
            if value is None:
                raise InputError(f"{_label(self)} must be a number; nothing was sent.")
            return value
        except InputError as err:
            raise _refused(self, err) from None


class NumberChoice(gr.Dropdown):
    """gr.Dropdown of numbers: the API says so (Gradio lists every dropdown as text, then refuses the text "10" for
    the choice 10), and a number or its text is taken."""

    def get_block_name(self) -> str:
        return "dropdown"

    get_block_class = get_block_name

    def api_info(self) -> dict:
        return {"type": "number", "enum": [c[1] for c in self.choices]}

    def preprocess(self, payload):
        try:
            return checked_choice(payload, _label(self), [c[1] for c in self.choices])
        except InputError as err:
            raise _refused(self, err) from None


class NumberRadio(gr.Radio):
    """gr.Radio of whole numbers, listed as such in the API; a number or its text is taken."""

    def get_block_name(self) -> str:
        return "radio"

    get_block_class = get_block_name

    def api_info(self) -> dict:
        return {"type": "integer", "enum": [c[1] for c in self.choices], "title": "Radio"}

    def preprocess(self, payload):
        try:
            return checked_choice(payload, _label(self), [c[1] for c in self.choices])
        except InputError as err:
            raise _refused(self, err) from None


class Canvas(gr.Sketchpad):
    """gr.Sketchpad on a budget. Gradio decodes every picture of a drawing (background, layers, composite) into an
    RGBA array before a handler sees it, and keeps the pictures a page sends ahead of its event (`accept_blobs`) in
    memory until that event comes. Here the pictures' sizes are read from their headers first: a drawing over
    digits.check_canvas's budget reaches the handler as {"refused": sentence} (digits.ink_from_sketch raises it), and
    the store of pictures sent ahead holds at most MAX_PENDING drawings of at most MAX_BLOB_BYTES a picture."""

    MAX_PENDING = 64  # drawings sent ahead of their events, all visitors together; the oldest is dropped first
    MAX_BLOB_BYTES = 2 * 1024**2  # a 336x336 stroke is ~10 KB as PNG, 450 KB at worst
    KINDS = ("background", "layer", "composite")
    # one lock for every canvas (the app has one): an __init__ of its own would hide Sketchpad's parameters from
    # Gradio, which reads a component's settings from its constructor's signature
    _blobs_lock = threading.Lock()

    def get_block_name(self) -> str:  # the frontend's component: a subclass of a template would ask for "sketchpad"
        return "imageeditor"

    get_block_class = get_block_name

    @server
    def accept_blobs(self, data):
        fields, files = data.data, data.files
        kind, index = fields.get("type"), str(fields.get("index"))
        layer_ok = kind != "layer" or (len(index) <= 2 and index.isdigit() and int(index) < MAX_CANVAS_PICTURES)
        if kind not in self.KINDS or not layer_ok or not isinstance(fields.get("id"), str) or not files or len(files[0][1]) > self.MAX_BLOB_BYTES:
            log.info("canvas: a picture sent ahead of its event was ignored (its kind, layer, id or size is out of bounds)")
            return None
        with self._blobs_lock:
            while len(self.blob_storage) >= self.MAX_PENDING and fields["id"] not in self.blob_storage:
                self.blob_storage.pop(next(iter(self.blob_storage)))
            return super().accept_blobs(data)

    def preprocess(self, payload):
        if payload is None:
            return None
        with self._blobs_lock:
            sent = self.blob_storage.get(payload.id) if payload.id is not None else payload
        pictures = [] if sent is None else [sent.background, *(sent.layers or []), sent.composite]
        sources = [p if isinstance(p, (bytes, bytearray, memoryview)) else p.path for p in pictures if p is not None]
        try:
            check_canvas([picture_size(source) for source in sources])
            return super().preprocess(payload)
        except InputError as err:
            refused = str(err)
        except (OSError, SyntaxError, ValueError) as err:  # a header that read well over a damaged body
            refused = f"The drawing arrived damaged ({type(err).__name__}); clear the canvas and draw again."
        with self._blobs_lock:
            self.blob_storage.pop(payload.id, None)
        return {"background": None, "layers": [], "composite": None, "refused": refused}
