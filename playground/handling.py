"""Plumbing every tab's handlers share: failures become one sentence, and a view that waits for a model says so."""
from __future__ import annotations

import functools
import logging

import gradio as gr

from vae.digits import InputError

from .models import NotReady

log = logging.getLogger("playground")
QUIET = dict(show_progress="hidden")  # views that redraw on every stroke or slider move: no spinner over them
ERROR_TOAST_S = 8  # an error toast goes away by itself; one left up after the person moved on reads as a new error
WAIT_TOAST_S = 5
CLOSE_TOASTS_JS = "() => { document.querySelectorAll('.toast-body .toast-close').forEach(b => b.click()); }"


def _sentence(err: Exception, name: str) -> gr.Error:
    """The gr.Error a person sees for a failure inside handler `name`: our own errors as they are, the rest logged."""
    if isinstance(err, gr.Error):
        return err
    if isinstance(err, (InputError, NotReady)):
        return gr.Error(str(err), duration=ERROR_TOAST_S, print_exception=False)
    log.exception("handler %s failed", name)
    return gr.Error(f"Sorry, that failed inside the app ({type(err).__name__}). The app is still running; try another input.",
                    duration=ERROR_TOAST_S, print_exception=False)


def guard(fn=None, *, parts: tuple[str, ...] | None = None, message: str | None = None):
    """Every failure reaches the person as one sentence (gr.Error), never a stack trace; the app stays up.

    A handler of one output returns its value. A handler of several names them: `parts` is the order of its outputs
    as the UI lists them (`wire(components, parts)`), and it returns a dict of the parts it changes; the others
    keep what they show (gr.skip()). A name it does not declare is a bug, and fails as one.

    A model still training (NotReady) is a wait, not an error: it shows as an info toast, and in the view's own
    message part when it has one (`message`); the other outputs keep what they show. Use as @guard, or
    @guard(parts=("picture", "note"), message="note").
    """
    if fn is None:
        return functools.partial(guard, parts=parts, message=message)
    if message is not None and (parts is None or message not in parts):
        raise ValueError(f"{fn.__name__}: message {message!r} is not one of its parts {parts}")

    def ordered(values):
        return values if parts is None else in_order(values, parts, fn.__name__)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return ordered(fn(*args, **kwargs))
        except NotReady as wait:
            gr.Info(str(wait), duration=WAIT_TOAST_S, title="Waiting")
            if parts is None:
                return gr.skip()
            return ordered({} if message is None else {message: str(wait)})
        except Exception as err:
            raise _sentence(err, fn.__name__) from None

    return wrapper


def in_order(values: dict, parts: tuple[str, ...], name: str = "a handler") -> tuple:
    """A handler's named values as its outputs' tuple: in the order of `parts`, gr.skip() for those it leaves out."""
    unknown = set(values) - set(parts)
    if unknown:
        raise KeyError(f"{name} returned {sorted(unknown)}, not among its parts {parts}")
    return tuple(values.get(p, gr.skip()) for p in parts)


def wire(components: dict, parts: tuple[str, ...]) -> list:
    """The components of a handler's `parts`, in their order: the outputs list of its event."""
    return [components[p] for p in parts]


def guard_stream(fn):
    """guard for a generator handler (a streamed view): a failure at any step ends the stream with one sentence."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            yield from fn(*args, **kwargs)
        except Exception as err:
            raise _sentence(err, fn.__name__) from None

    return wrapper
