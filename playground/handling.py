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


def guard(fn=None, *, outputs: int = 1, message: int | None = None):
    """Every failure reaches the person as one sentence (gr.Error), never a stack trace; the app stays up.

    A model still training (NotReady) is a wait, not an error: it shows as an info toast, and in the view's own
    message output when it has one (`message`: its index among the handler's `outputs`); the other outputs keep
    what they show. Use as @guard, or @guard(outputs=6, message=5).
    """
    if fn is None:
        return functools.partial(guard, outputs=outputs, message=message)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotReady as wait:
            gr.Info(str(wait), duration=WAIT_TOAST_S, title="Waiting")
            if message is None:
                return gr.skip() if outputs == 1 else (gr.skip(),) * outputs
            out = [gr.skip()] * outputs
            out[message] = str(wait)
            return tuple(out)
        except Exception as err:
            raise _sentence(err, fn.__name__) from None

    return wrapper


def guard_stream(fn):
    """guard for a generator handler (a streamed view): a failure at any step ends the stream with one sentence."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            yield from fn(*args, **kwargs)
        except Exception as err:
            raise _sentence(err, fn.__name__) from None

    return wrapper
