"""Atomic file writes and the checkpoint error every loader raises."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator


class CheckpointError(Exception):
    """A checkpoint folder that cannot be used; the message is one sentence for a person."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one step (os.replace).

    A crash at any moment leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2))


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return obj


def persistent_root() -> Path | None:
    """Storage that outlives a restart: $VAE_PERSISTENT_DIR, by default /data (where a Hugging Face Space mounts its
    persistent storage once it is turned on), when it is a folder this process can write; None otherwise (or when
    VAE_PERSISTENT_DIR is set empty)."""
    text = os.environ.get("VAE_PERSISTENT_DIR", "/data")
    if not text:
        return None
    path = Path(text)
    return path if path.is_dir() and os.access(path, os.W_OK) else None


def default_checkpoints() -> Path:
    """Where the app keeps its trained models (and the digit judge beside them): <persistent>/checkpoints when there is
    persistent storage, so a restart loads them instead of training again; checkpoints/ in the working folder otherwise."""
    root = persistent_root()
    return root / "checkpoints" if root is not None else Path("checkpoints")
