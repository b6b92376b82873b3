"""Two changes to how Gradio 6 caches output images, applied when the UI is built.

Gradio writes each output image to a cache file named by the hash of its bytes, and rewrites that file on
every request (truncate, then write). When two visitors get the same picture at once (the cached Compare
figures, the same example digit), one request can serve the file while the other is rewriting it, and the
download breaks ("peer closed connection without sending complete message body": 8 of 500 calls in
tests/test_reliability.py::test_twenty_visitors_at_once before this fix). Here the file is written once, to a
temporary name, then moved into place with os.replace, so a reader only ever sees a whole file.

PNGs are also compressed at zlib level 1 instead of 6: the 872x872 latent grid, re-sent on every slider move,
encodes in about a third of the time for files a few percent larger (benchmarks/run.py, latency).
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from gradio import processing_utils

from . import sweeper


def encode(img, format: str) -> bytes:
    if format.lower() != "png":
        return processing_utils.encode_pil_to_bytes(img, format)
    buffer = io.BytesIO()
    img.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    data = encode(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    if not path.exists():  # same bytes, same name: an existing file already holds exactly this picture
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    else:
        sweeper.touch(path)  # served again: the cache sweeper ages a file from its last use
    return str(path)


def apply() -> None:
    processing_utils.save_pil_to_cache = save_pil_to_cache
