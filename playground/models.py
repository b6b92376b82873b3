"""The app's models: cached presets load at start, missing ones train one at a time while the app serves.

Everything here is read-only once a model is ready (frozen weights, cached latents and grids), so all
visitors share it safely; what a visitor chooses (model, dimensions, sliders) travels in each request.
"""
from __future__ import annotations

import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vae.analysis import Latents, latent_grid, latents_for
from vae.cache import checkpoint_state, load_or_train
from vae.config import PRESETS
from vae.data import DataBundle, load_dataset
from vae.model import VAE, to_channels_last
from vae.store import read_json

from . import plots

ORDER = ("healthy", "autoencoder", "collapsed", "healthy-2d")  # what the Draw tab needs first trains first
GRID_CACHE_SIZE = 64
GRID_SCALE = 2  # each 28x28 digit of a latent grid shown at 56x56


def first_of_each_digit(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of n test images with different digits where possible (0, 1, 2, ...): the examples the tabs show."""
    labels = np.asarray(labels)
    picks = [int(np.flatnonzero(labels == d)[0]) for d in range(10) if (labels == d).any()][:n]
    rest = [i for i in range(len(labels)) if i not in picks]
    return np.array((picks + rest)[:n])


class NotReady(Exception):
    """A model a view needs is not ready yet; the message says what it is waiting for."""


@dataclass
class Ready:
    """A trained preset with everything the views derive from it and never change."""

    name: str
    model: VAE
    latents: Latents  # of the held-out split
    metrics: dict  # metrics.json "final"
    kl_order: np.ndarray  # dimensions sorted by KL, most informative first
    bubble: plots.Raster  # the test codes on their PCA plane, rendered once
    musigma: plots.Raster  # empty mu +- sigma axes, rendered once
    prior_xy: np.ndarray  # where z = 0 falls on the PCA plane
    _grids: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def grid(self, dims: tuple[int, int], n: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(digits (n, n, 28, 28), axis values (n,), the tiled picture) for a pair of dimensions, cached
        (least recently used goes first)."""
        key = (int(dims[0]), int(dims[1]), n)
        with self._lock:
            if key in self._grids:
                self._grids.move_to_end(key)
                return self._grids[key]
        digits, values = latent_grid(self.model, key[:2], n=n)
        result = (digits, values, plots.tile(digits, scale=GRID_SCALE))
        with self._lock:
            self._grids[key] = result
            while len(self._grids) > GRID_CACHE_SIZE:
                self._grids.popitem(last=False)
        return result


def prepare(name: str, model: VAE, directory: Path, data: DataBundle) -> Ready:
    """Freeze the model and compute what the views need from it (t-SNE once, cached on disk)."""
    model = to_channels_last(model.cpu().eval().requires_grad_(False))  # decodes 1.7-2.4x faster than NCHW on CPU
    lat = latents_for(model, directory, data.test)
    metrics = read_json(directory / "metrics.json").get("final", {})
    prior_xy = lat.pca.project(np.zeros(model.config.latent_dim, dtype=np.float32))
    _, bubble = plots.bubble_background(lat.pca_xy, lat.labels, prior_xy, f"{name}: the 1,000 test digits")
    _, musigma = plots.musigma_background(model.config.latent_dim, f"{name}: one bar per latent dimension")
    return Ready(name, model, lat, metrics, np.argsort(-lat.kl_per_dim), bubble, musigma, prior_xy)


class ModelHub:
    """Loads cached presets, trains missing ones one at a time while the app serves, and reports progress."""

    def __init__(self, root: str | Path = "checkpoints", names: tuple[str, ...] = ORDER, dataset: str = "mnist-5k", data: DataBundle | None = None):
        self.root = Path(root)
        self.names = tuple(names)
        self.dataset = dataset
        self.data: DataBundle | None = data  # the held-out digits the views show; loaded at start when not given
        self._ready: dict[str, Ready] = {}
        self._state: dict[str, str] = {n: "queued" for n in self.names}
        self._errors: dict[str, str] = {}
        self._memo: dict[str, object] = {}
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> "ModelHub":
        """run() in a background thread (tests and scripts; app.py calls run() in its main thread)."""
        threading.Thread(target=self.run, name="model-hub", daemon=True).start()
        return self

    def wait(self, names: tuple[str, ...] | None = None, timeout: float | None = None) -> None:
        """Block until the named models (default: all) are ready or failed; for scripts and tests."""
        deadline = None if timeout is None else time.time() + timeout
        while any(self._state.get(n) not in ("ready", "failed") for n in (names or self.names)):
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"models not ready after {timeout}s: {self.status()}")
            time.sleep(0.2)

    def run(self) -> None:
        """Load the held-out data, then load or train every model in the calling thread, cached ones first.

        Train in the process's main thread when you can: in a second thread each epoch ran 20-40% slower here,
        as libgomp does once a process holds more OpenMP threads than cores and spin-waits only briefly
        (benchmarks/NOTES.md).
        """
        if self.data is None:
            try:
                self.data = load_dataset(self.dataset)
            except Exception as err:  # data unavailable: every model fails with the reason
                for n in self.names:
                    self._fail(n, str(err))
                return
        pending = []
        for name in self.names:
            if checkpoint_state(self.root / name, name)[0] == "ready":
                self._load(name)
            else:
                pending.append(name)
        for name in pending:
            self._load(name)
        self.warm()

    def warm(self) -> None:
        """Once every model is served: compute what only later views need (t-SNE for Compare), so they open fast."""
        for name in self.names:
            if self.is_ready(name):
                self.get(name).latents.tsne_xy

    def _load(self, name: str) -> None:
        self._set(name, "loading")

        def on_progress(p: dict) -> None:
            self._set(name, f"training: epoch {p['epoch']}/{p['epochs']}, batch {p['batch']}/{p['batches']}, loss {p['loss']:.1f}")

        def log(message: str) -> None:
            print(message, flush=True)
            self._set(name, message)

        try:
            model = load_or_train(name, self.root, device="cpu", progress=False, on_progress=on_progress, log=log)
            self._set(name, "preparing views (t-SNE of the test codes)")
            ready = prepare(name, model, self.root / name, self.data)
        except Exception as err:
            traceback.print_exc()
            self._fail(name, f"{type(err).__name__}: {err}")
            return
        with self._lock:
            self._ready[name] = ready
            self._state[name] = "ready"

    def _set(self, name: str, state: str) -> None:
        with self._lock:
            self._state[name] = state

    def _fail(self, name: str, reason: str) -> None:
        with self._lock:
            self._state[name] = "failed"
            self._errors[name] = reason

    # -- what the views ask ---------------------------------------------------------
    def get(self, name: str) -> Ready:
        """The ready model `name`, or NotReady saying what the view waits for."""
        if name not in PRESETS or name not in self.names:
            raise NotReady(f"There is no model called {name!r}; choose one of {', '.join(self.names)}.")
        with self._lock:
            if name in self._ready:
                return self._ready[name]
            state = self._state[name]
        if state == "failed":
            raise NotReady(f"The {name} model could not be prepared ({self._errors.get(name)}). Restart the app to try again.")
        if state == "queued":
            ahead = [n for n in self.names[: self.names.index(name)] if self._state.get(n) not in ("ready", "failed")]
            when = f"after {', '.join(ahead)}" if ahead else "next"
            raise NotReady(f"The {name} model is queued to train {when}; this view works as soon as it is ready.")
        raise NotReady(f"The {name} model is not ready yet ({state}); this view works as soon as it is ready.")

    def memo(self, key: str, compute):
        """compute() once per key for the life of the app (results of ready models never change)."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = compute()
        with self._lock:
            return self._memo.setdefault(key, value)

    def is_ready(self, name: str) -> bool:
        with self._lock:
            return name in self._ready

    def status(self) -> dict[str, str]:
        with self._lock:
            return dict(self._state)

    def status_markdown(self) -> str:
        states = self.status()
        if all(s == "ready" for s in states.values()):
            return "**Models:** all four ready."
        parts = []
        for name, state in states.items():
            icon = {"ready": "ready", "failed": f"failed ({self._errors.get(name, '')})"}.get(state, state)
            parts.append(f"`{name}`: {icon}")
        return "**Models:** " + " · ".join(parts)
