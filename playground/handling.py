"""Plumbing every tab's handlers share: failures become one sentence, and a view opening early says what it waits for."""
from __future__ import annotations

import functools
import logging

import gradio as gr

from vae.digits import InputError

from .models import NotReady

log = logging.getLogger("playground")
QUIET = dict(show_progress="hidden")  # views that redraw on every stroke or slider move: no spinner over them


def _sentence(err: Exception, name: str) -> gr.Error:
    """The gr.Error a person sees for a failure inside handler `name`: our own errors as they are, the rest logged."""
    if isinstance(err, gr.Error):
        return err
    if isinstance(err, (InputError, NotReady)):
        return gr.Error(str(err), print_exception=False)
    log.exception("handler %s failed", name)
    return gr.Error(f"Sorry, that failed inside the app ({type(err).__name__}). The app is still running; try another input.",
                    print_exception=False)


def guard(fn):
    """Every failure reaches the person as one sentence (gr.Error), never a stack trace; the app stays up."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
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
