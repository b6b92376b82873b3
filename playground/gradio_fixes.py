"""A fix for Gradio 6's image cache, applied when the UI is built.

Gradio writes each output image to a cache file named by the hash of its bytes, and rewrites that file on
every request (truncate, then write). When two visitors get the same picture at once (the cached Compare
figures, the same example digit), one request can serve the file while the other is rewriting it, and the
download breaks ("peer closed connection without sending complete message body": 8 of 500 calls in
tests/test_reliability.py::test_twenty_visitors_at_once before this fix). Here the file is written once, to a
temporary name, then moved into place with os.replace, so a reader only ever sees a whole file.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gradio import processing_utils


def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    if not path.exists():  # same bytes, same name: an existing file already holds exactly this picture
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return str(path)


def apply() -> None:
    processing_utils.save_pil_to_cache = save_pil_to_cache
