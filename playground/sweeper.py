"""Gradio's cache folder, kept small (issue 23, hole 5).

Gradio writes every picture it serves, every upload and every downloaded export into one folder (GRADIO_TEMP_DIR)
and deletes nothing while the app runs: each new drawing leaves ~160 KB there, each export an 18 MB zip, and
/gradio_api/upload keeps any file. The sweeper deletes what has not been served for CACHE_MAX_AGE_S, then the oldest
files while the folder is over CACHE_MAX_BYTES. A file Gradio serves again is touched first (gradio_fixes, and
Gradio's own save_file_to_cache), so its age counts from its last use and a picture a page still shows is rewritten
the next time it is asked for. An export's copies go with its run (forget_named, called by the run manager).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("playground")

CACHE_MAX_AGE_S = 3600  # a file not served for an hour goes
CACHE_MAX_BYTES = 512 * 1024**2  # and the oldest go while the folder is over this
SWEEP_EVERY_S = 60


@dataclass(frozen=True)
class Swept:
    deleted: int
    bytes_left: int


def cache_folder() -> Path:
    """Gradio's cache folder, as Gradio itself finds it."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def sweep(folder: Path, max_age_s: float = CACHE_MAX_AGE_S, max_bytes: int = CACHE_MAX_BYTES, now: float | None = None) -> Swept:
    """Delete the files under `folder` older than `max_age_s` (by modification time), then the oldest while over
    `max_bytes`; a folder left empty goes too. A file that vanishes meanwhile (another sweep, Gradio) is skipped."""
    now = time.time() if now is None else now
    files = []
    for path in Path(folder).rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                st = path.stat()
                files.append((st.st_mtime, st.st_size, path))
        except OSError:
            continue
    files.sort()
    total, deleted = sum(size for _, size, _ in files), 0
    for mtime, size, path in files:
        if now - mtime <= max_age_s and total <= max_bytes:
            break  # the rest are newer, and the folder is within its size
        if _delete(path, Path(folder)):
            total -= size
            deleted += 1
    return Swept(deleted, total)


def forget_named(folder: Path, prefix: str) -> int:
    """Delete the cached copies of files whose name starts with `prefix` (an export's zip and CSV); returns how many."""
    return sum(_delete(path, Path(folder)) for path in Path(folder).glob(f"*/{prefix}*"))


def _delete(path: Path, folder: Path) -> bool:
    """Delete one cached file, and the folder it sat in (Gradio keeps each file in a folder named by its hash) once
    empty, never `folder` itself."""
    try:
        path.unlink()
    except OSError:  # gone already, or not ours to delete
        return False
    if path.parent != folder:
        try:
            path.parent.rmdir()
        except OSError:  # not empty
            pass
    return True


class Sweeper:
    """sweep(folder) every `every_s` seconds in a daemon thread, until stop()."""

    def __init__(self, folder: Path | None = None, every_s: float = SWEEP_EVERY_S, max_age_s: float = CACHE_MAX_AGE_S,
                 max_bytes: int = CACHE_MAX_BYTES):
        self.folder = Path(folder) if folder is not None else cache_folder()
        self.every_s, self.max_age_s, self.max_bytes = every_s, max_age_s, max_bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cache-sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                swept = sweep(self.folder, self.max_age_s, self.max_bytes)
            except OSError as err:  # the folder went away, or a disk error: the next round tries again
                log.warning("cache sweep of %s failed: %s", self.folder, err)
                continue
            if swept.deleted:
                log.info("cache sweep: %d old files deleted, %.0f MB left in %s", swept.deleted, swept.bytes_left / 1024**2, self.folder)


def touch(path: str | os.PathLike) -> None:
    """Mark a cached file as just served (its age counts from now)."""
    try:
        os.utime(path)
    except OSError:
        pass
