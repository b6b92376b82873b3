"""Input components that check what reaches them before Gradio or a handler works on it (issue 23).

Gradio turns a component's payload into the handler's argument in the component's `preprocess`, before any handler
runs: a number that is NaN, Infinity, text or a list fails there with Gradio's generic error and a traceback in the
log, and a drawing's strokes reach the handler that inks them. These subclasses check first and refuse with one
sentence (gr.Error, one line in the log); BodyLimit refuses a request too large to parse before Gradio reads it. Gradio writes a type stub (inputs.pyi) beside any module that subclasses one of its
components; .gitignore keeps it out of the repository, which is why these live in a module of their own.
"""
from __future__ import annotations

import logging
import math

import gradio as gr

from vae.digits import InputError, check_strokes

log = logging.getLogger("playground")
MAX_NUMBER_TEXT = 40  # characters: a number sent as text longer than this is not a number a person typed
MAX_BODY = 1024**2  # bytes of a request that is not a file upload: a drawing of digits.MAX_POINTS points is ~100 KB


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


class Pen(gr.HTML):
    """gr.HTML whose value is a drawing's strokes (playground/pen.py draws them): the handler gets
    digits.check_strokes' arrays, and anything else is refused with one sentence."""

    def get_block_name(self) -> str:
        return "html"

    get_block_class = get_block_name

    def api_info(self) -> dict:
        point = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        return {"type": "object", "title": "Drawing", "properties": {"strokes": {
            "type": "array", "items": {"type": "array", "items": point},
            "description": "strokes of [x, y] points, fractions of the canvas's side from its top left"}}}

    def example_payload(self):
        return {"strokes": [[[0.5, 0.2], [0.5, 0.8]]]}

    example_value = example_payload

    def preprocess(self, payload):
        if isinstance(payload, str) and payload == "":  # gr.HTML's empty value: a cleared canvas
            return []
        try:
            return check_strokes(payload)
        except InputError as err:
            raise _refused(self, err) from None


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` (but a file upload's, which Gradio's max_file_size bounds) is
    answered 413 with one sentence before Gradio reads it: JSON grows many times over once parsed into Python objects,
    so a drawing's points could not be counted before a huge one had cost the app its memory."""

    def __init__(self, app, max_bytes: int = MAX_BODY):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path", "").endswith("/upload"):
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                return await self._refuse(send)
            return await self.app(scope, receive, send)
        body, more = b"", True  # no length said (a chunked body): read it here, up to the limit, then hand it on
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await self._refuse(send)
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    async def _refuse(self, send):
        log.info("refused a request body over %d bytes", self.max_bytes)
        words = f'{{"detail": "The request is over {self.max_bytes // 1024} KB; nothing this app takes is that large."}}'.encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json"),
                                                                               (b"content-length", str(len(words)).encode())]})
        await send({"type": "http.response.body", "body": words})
