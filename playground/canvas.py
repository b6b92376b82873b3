"""The Draw tab's canvas: gr.Sketchpad on a budget (issue 23, hole 1).

Gradio writes a type stub (canvas.pyi) beside any module that subclasses one of its components; .gitignore keeps it
out of the repository, which is why this class has a module of its own.
"""
from __future__ import annotations

import logging
import threading

import gradio as gr
from gradio.components.base import server

from vae.digits import MAX_CANVAS_PICTURES, InputError, check_canvas, picture_size

log = logging.getLogger("playground")


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
