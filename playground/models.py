"""The app's models: cached presets load at start, missing ones train side by side in worker processes while the
app serves, and a preset still training is served from its latest finished epoch.

Everything here is read-only once a model is served (frozen weights, cached latents and grids): a newer epoch
replaces the whole `Ready` snapshot, never changes one in place, so all visitors share them safely; what a visitor
chooses (model, dimensions, sliders) travels in each request.
"""
from __future__ import annotations

import enum
import logging
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vae.analysis import Latents, active_units, latent_grid, latents_for, train_latents_for, typical_gap
from vae import two_stage
from vae.cache import checkpoint_state, finishing_name, finishing_tasks
from vae.config import PRESETS, VIEW_MODELS, VAEConfig, model_names, preset_config
from vae.data import DataBundle, load_dataset
from vae.digits import InputError
from vae.hub import fetch_presets
from vae.model import VAE, to_channels_last
from vae.store import CheckpointError, read_json
from vae.train import beta_at
from vae.workers import Event, Task, run_tasks

from . import plots, zerogpu

log = logging.getLogger("playground")

# What the Draw tab needs first trains first; the view models (vae/config.py VIEW_MODELS) after every preset.
ORDER = ("healthy", "autoencoder", "collapsed", "healthy-2d", *VIEW_MODELS)
SERVE_FROM = 0.25  # a preset still training is served once this share of its epochs is done...
REFRESH_S = 20.0  # ...and swapped for a newer epoch at most this often (each swap costs ~1 s of CPU), then the final
GRID_CACHE_SIZE = 64
GRID_SCALE = 2  # each 28x28 digit of a latent grid shown at 56x56


def first_of_each_digit(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of n test images with different digits where possible (0, 1, 2, ...): the examples the tabs show."""
    labels = np.asarray(labels)
    picks = [int(np.flatnonzero(labels == d)[0]) for d in range(10) if (labels == d).any()][:n]
    rest = [i for i in range(len(labels)) if i not in picks]
    return np.array((picks + rest)[:n])


class ModelState(enum.StrEnum):
    """Where one of the hub's models is; ModelHub.status() adds what it is doing (a training model's epoch and loss)."""

    STARTING = "starting"
    DOWNLOADING = "downloading from the Hugging Face Hub"
    LOADING = "loading"
    QUEUED = "queued to train"
    TRAINING = "training"
    PREPARING = "preparing its views"
    READY = "ready"
    FAILED = "failed"


SETTLED = (ModelState.READY, ModelState.FAILED)


class Memo(enum.StrEnum):
    """The views computed once and kept: per model's weights (Ready.memo) or for the app's life (ModelHub.memo)."""

    # per model (Ready.memo)
    TRAIN_CODES = "train codes"
    SECOND_STAGE = "second stage"
    TYPICAL_GAP = "typical gap"
    PRIOR = "prior"
    TRAVERSAL = "traversal"
    LIKELIHOOD = "likelihood"
    RATE_DISTORTION = "rate distortion"
    LIVE_CLOUD = "live cloud"
    PAD_VERSION = "pad version"
    DECODER_SPEC = "decoder spec"
    RUN_RECORD = "run record"  # what its training run did (train.run_record: the precision it used)
    COMPARE = "compare"  # also the hub's: the presets' comparison (a visitor's model keeps its own)
    # for the app's life (ModelHub.memo)
    JUDGE = "judge"
    NEVER_INKED = "never inked"
    DATA_CURVE = "data curve"  # keyed with the saved curve's modification time: drawn again after a new measurement


def memoized(store: dict, lock: threading.Lock, key, compute):
    """store[key], computing it once outside the lock (two callers racing on a new key keep the first result)."""
    with lock:
        if key in store:
            return store[key]
    value = compute()
    with lock:
        return store.setdefault(key, value)


class LossCurve:
    """The two forces as training goes, from train's on_progress reports (running means over the epoch): one point
    per report, (epoch position, reconstruction NLL, beta x KL) over the batches since the previous report, with the
    beta those batches trained under (KL warm-up included)."""

    def __init__(self, config: VAEConfig):
        self.config = config
        self.points: list[tuple[float, float, float]] = []
        self._last = (0, 0, 0.0, 0.0)  # (epoch, batch, mean recon, mean kl) reported last

    def add(self, p: dict) -> None:
        epoch, batch, recon_mean, kl_mean = self._last
        if p["epoch"] != epoch:
            batch, recon_mean, kl_mean = 0, 0.0, 0.0
        n = p["batch"] - batch
        if n > 0:
            recon = (p["recon"] * p["batch"] - recon_mean * batch) / n
            kl = (p["kl"] * p["batch"] - kl_mean * batch) / n
            x = p["epoch"] - 1 + (batch + p["batch"]) / 2 / p["batches"]
            beta = beta_at(self.config, (p["epoch"] - 1) * p["batches"] + p["batch"], p["batches"])
            self.points.append((x, recon, beta * kl))
        self._last = (p["epoch"], p["batch"], p["recon"], p["kl"])


@dataclass
class Training:
    """A preset training now, as the Train tab shows it while a fresh app trains its models."""

    name: str
    config: VAEConfig
    curve: list[tuple[float, float, float]]  # LossCurve.points
    history: list[dict]  # train's records of the epochs saved so far
    progress: dict | None  # the latest on_progress report
    version: int  # grows with every report: a view drawn at this version is current


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
    directory: Path | None = None  # the checkpoint folder: caches derived from these weights live beside them
    active: int = 0  # active units on the held-out digits (vae.analysis.active_units, as the Compare table)
    musigma_title: str = ""
    epoch: int = 0  # the epoch these weights come from
    final: bool = True  # False: the preset is still training and this is its latest finished epoch
    _grids: OrderedDict = field(default_factory=OrderedDict)
    _memo: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def memo(self, key: "Memo | tuple", compute):
        """compute() once per key for these weights (a newer epoch is a new Ready with an empty memo)."""
        return memoized(self._memo, self._lock, key, compute)

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


@torch.no_grad()
def decode_on_plane(ready: Ready, xy: np.ndarray) -> tuple[np.ndarray, str]:
    """The digit decoded at plane point xy (lifted back into the latent space, PCA2.lift), and a sentence saying where."""
    z = ready.latents.pca.lift(xy)
    image = ready.model.decode(torch.from_numpy(np.asarray(z, dtype=np.float32))[None])[0, 0].numpy()
    d = ready.model.config.latent_dim
    where = (f"z = ({xy[0]:.2f}, {xy[1]:.2f})" if d == 2 else
             f"PC 1 = {xy[0]:.2f}, PC 2 = {xy[1]:.2f}: mapped back through the PCA, the other {d - 2} directions at the test codes' mean")
    return plots.digit_image(image, 6), f"**{ready.name}**, decoded at {where}."


PICKED = ("digit", "words", "plane")  # a click on a latent map's parts: picked_on_plane's, in its outputs' order
OUTSIDE_PANELS = "That click is outside the panels' axes: click inside one to decode a point of its plane."


def picked_on_plane(ready: Ready, xy: np.ndarray, picture: np.ndarray, px) -> dict:
    """A click at pixel `px` of a latent map `picture`, at plane point xy of `ready`'s plane: the PICKED parts (the
    digit decoded there, the sentence saying where, the picture with the point ringed)."""
    digit, words = decode_on_plane(ready, xy)
    return {"digit": digit, "words": words, "plane": plots.mark_point(picture, px)}


def plane_axes(latent_dim: int) -> tuple[str, str]:
    """What the bubble plane's axes are: a 2-D model's own z1, z2 (fit_pca2 leaves them as they are), else PCA's."""
    return ("z1", "z2") if latent_dim == 2 else ("PC 1", "PC 2")


def bubble_title(name: str, latent_dim: int) -> str:
    return f"{name}: the 1,000 test digits" + (" (z itself, no PCA)" if latent_dim == 2 else "")


def prepare(name: str, directory: Path, data: DataBundle) -> Ready:
    """Load the checkpoint in `directory`, freeze it and compute what the views need from it (t-SNE later, on first use)."""
    model = VAE.from_pretrained(directory)
    info = read_json(directory / "metrics.json")
    model = to_channels_last(model.cpu().eval().requires_grad_(False))  # decodes 1.7-2.4x faster than NCHW on CPU
    lat = latents_for(model, directory, data.test)
    final = info.get("status") == "complete"
    prior_xy = lat.pca.project(np.zeros(model.config.latent_dim, dtype=np.float32))
    d = model.config.latent_dim
    _, bubble = plots.bubble_background(lat.pca_xy, lat.labels, prior_xy, bubble_title(name, d), axis_names=plane_axes(d))
    active = active_units(lat.mu)
    title = f"{name}: one bar per latent dimension; {active} of {d} active (the rest sit at the prior)"
    _, musigma = plots.musigma_background(d, title)
    return Ready(name, model, lat, info.get("final", {}), np.argsort(-lat.kl_per_dim), bubble, musigma, prior_xy,
                 directory=Path(directory), active=active, musigma_title=title, epoch=int(info.get("epochs_done", 0)), final=final)


class ModelHub:
    """Loads cached presets, trains missing ones side by side in worker processes while the app serves, and reports
    progress. `jobs`: worker processes (default: one per core, vae/workers.py says why). `from_hub`: a Hugging Face Hub
    repo ("owner/name" or "owner/name@revision", one subfolder per preset) to bring missing presets from before
    training them (vae/hub.py); on a ZeroGPU Space the presets train on its GPU (zerogpu.py)."""

    def __init__(self, root: str | Path = "checkpoints", names: tuple[str, ...] = ORDER, dataset: str = "mnist-5k", data: DataBundle | None = None,
                 jobs: int | None = None, from_hub: str | None = None):
        self.root = Path(root)
        self.jobs = jobs
        self.from_hub = from_hub
        self.names = tuple(names)
        self.dataset = dataset
        # the digits the views show and the training workers get (each would take ~6 s to load mnist-5k itself);
        # loaded at start when not given
        self.data: DataBundle | None = data
        self._ready: dict[str, Ready] = {}
        self._state: dict[str, ModelState] = {n: ModelState.STARTING for n in self.names}
        self._doing: dict[str, str] = {}  # what a training model is doing now: its epoch, batch and loss
        self._errors: dict[str, str] = {}
        self._notes: dict[str, str] = {}  # why a preset trains here although a Hub repo was given
        self._memo: dict[str, object] = {}
        self._last_swap: dict[str, float] = {}  # when each preset still training was last served anew
        self._curves: dict[str, LossCurve] = {}  # the presets training in this run of the app, as they go
        self._histories: dict[str, list[dict]] = {}
        self._progress: dict[str, dict] = {}
        self._version = 0
        self._warmers: list = []  # the views' own precomputations, run by warm() (warm_later)
        self._fitting: dict[str, str] = {}  # second-stage task -> what it is doing, while a worker fits it (vae/two_stage.py)
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> "ModelHub":
        """run() in a background thread (tests and scripts; app.py calls run() in its main thread)."""
        threading.Thread(target=self.run, name="model-hub", daemon=True).start()
        return self

    def wait(self, names: tuple[str, ...] | None = None, timeout: float | None = None) -> None:
        """Block until the named models are ready or failed (default: every model, and the second VAEs being fitted
        after them); for scripts and tests."""
        deadline = None if timeout is None else time.time() + timeout
        while any(self._state.get(n) not in SETTLED for n in (names or self.names)) or (names is None and self._fitting):
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"models not ready after {timeout}s: {self.status()}")
            time.sleep(0.2)

    def run(self) -> None:
        """Load the held-out data and the cached models, then train the rest side by side in worker processes
        (blocking until every model is served or failed), then warm what later views need."""
        if self.data is None:
            try:
                self.data = load_dataset(self.dataset)
            except Exception as err:  # data unavailable: every model fails with the reason
                for n in self.names:
                    self._fail(n, str(err))
                return
        self._fetch()
        tasks = [task for name in self.names if (task := self._load_or_plan(name)) is not None]
        if tasks and zerogpu.active():
            left = zerogpu.train_presets(tasks, self._on_event, self.data)  # what the GPU could not train: the CPU's
            tasks = [task for name in left if (task := self._load_or_plan(name)) is not None]
        seconds = finishing_tasks(self.names, self.root, {t.name for t in tasks})  # each after the model it belongs to
        with self._lock:
            self._fitting.update({t.name: "queued after the models' training" for t in seconds})
        run_tasks(tasks + seconds, self._on_event, jobs=self.jobs, data=self.data, device="cpu")
        self.warm()

    def _fetch(self) -> None:
        """Bring the presets that root lacks from the Hub repo self.from_hub; what it could not bring, and why, goes in
        _notes (said when that preset starts training here)."""
        if not self.from_hub:
            return
        for name in self.names:
            self._set(name, ModelState.DOWNLOADING)
        self._notes = fetch_presets(self.from_hub, list(self.names), self.root, log=lambda message: print(message, flush=True))

    def _load_or_plan(self, name: str) -> Task | None:
        """Serve root/name when checkpoint_state calls it ready (None), else the Task that resumes or trains it."""
        directory = self.root / name
        state, reason = checkpoint_state(directory, name)
        if state == "ready":
            self._set(name, ModelState.LOADING)
            try:
                self._serve(name)
                return None
            except CheckpointError as err:
                state, reason = "train", f"{name}'s checkpoint cannot be loaded: {err}"
        if name in self._notes:  # the Hub's sentence first: it is why this preset trains here at all
            reason = self._notes[name] if not directory.exists() else f"{self._notes[name]}, and {reason}"
        self._set(name, ModelState.QUEUED)
        return Task(name, preset_config(name), directory, state, reason)

    def _on_event(self, e: Event) -> None:
        """What a training worker reported: progress into the status line, a finished epoch served once far enough
        along (and at most every REFRESH_S), the final model served, a failure said."""
        name = e.name
        if name in self._fitting:
            self._on_second_stage(e)
            return
        if e.kind == "start":
            self._set(name, ModelState.TRAINING, "starting (loading the data and the network)")
        elif e.kind == "progress":
            p = e.data
            with self._lock:
                self._curves.setdefault(name, LossCurve(preset_config(name))).add(p)
                self._progress[name] = p
                self._version += 1
            serving = self._ready.get(name)
            also = f" (serving epoch {serving.epoch})" if serving is not None else ""
            self._set(name, ModelState.TRAINING, f"epoch {p['epoch']}/{p['epochs']}, batch {p['batch']}/{p['batches']}, loss {p['loss']:.1f}{also}")
        elif e.kind == "log":
            print(e.data, flush=True)
        elif e.kind == "epoch":
            with self._lock:
                self._histories.setdefault(name, []).append(e.data)
                self._version += 1
            epochs = preset_config(name).epochs
            due = time.monotonic() - self._last_swap.get(name, -1e9) >= REFRESH_S
            if e.data["epoch"] < epochs and e.data["epoch"] >= max(1, round(SERVE_FROM * epochs)) and due:
                self._serve_quietly(name)
        elif e.kind == "done":
            self._set(name, ModelState.PREPARING)
            self._serve_quietly(name)
        elif e.kind == "failed":
            print(f"{name} failed: {e.data}", flush=True)
            self._fail(name, str(e.data))

    def _on_second_stage(self, e: Event) -> None:
        """A worker finishing a model (fitting its second VAE, or judging its samples again: cache.finishing_tasks): what
        it says is what the Prior tab's wait says; done, the model is served again with the judged figures that
        two_stage.finish_cached added to its metrics.json."""
        if e.kind in ("done", "failed"):
            with self._lock:
                del self._fitting[e.name]
            if e.kind == "failed":  # the Prior tab fits it itself when first opened
                print(f"{e.name} failed: {e.data}", flush=True)
            model = next((n for n in self.names if finishing_name(n) == e.name), None)
            if e.kind == "done" and self.is_ready(model):
                self._serve_quietly(model)  # a new Ready with the new figures (a served one never changes in place)
                with self._lock:
                    self._memo.clear()  # views computed from the old figures (the Compare table) are computed again
            return
        doing = "started" if e.kind == "start" else str(e.data) if e.kind == "log" else None
        if doing is not None:
            with self._lock:
                self._fitting[e.name] = doing
            if e.kind == "log":
                print(f"{e.name}: {e.data}", flush=True)

    def _serve(self, name: str) -> None:
        """Load root/name (final or the latest finished epoch) and make it what the views use."""
        ready = prepare(name, self.root / name, self.data)
        with self._lock:
            self._ready[name] = ready
            if ready.final:
                self._state[name] = ModelState.READY
        self._last_swap[name] = time.monotonic()

    def _serve_quietly(self, name: str) -> None:
        try:
            self._serve(name)
        except Exception as err:  # an unreadable snapshot must not stop the others; the final load says why
            traceback.print_exc()
            if self._state.get(name) is ModelState.PREPARING:
                self._fail(name, f"{type(err).__name__}: {err}")

    def warm(self) -> None:
        """Once every model is served: compute what only later views need (t-SNE for Compare, the training codes, and
        what each view registered with warm_later), so that they open fast: the tour's stops open them in turn."""
        for name in self.names:
            if self.is_ready(name):
                ready = self.get(name)
                ready.latents.tsne_xy
                self.train_codes(ready)
        for compute in self._warmers:
            try:
                compute()
            except Exception as err:  # a view that cannot be warmed computes on its first opening instead, and says why there
                log.info("warming %s skipped: %s", getattr(compute, "__name__", compute), err)

    def warm_later(self, compute) -> None:
        """Have warm() run `compute` (a view's own once-per-app measurement) once every model is served."""
        self._warmers.append(compute)

    def _set(self, name: str, state: ModelState, doing: str = "") -> None:
        with self._lock:
            self._state[name], self._doing[name] = state, doing

    def _fail(self, name: str, reason: str) -> None:
        with self._lock:
            self._state[name] = ModelState.FAILED
            self._errors[name] = reason

    # -- what the views ask ---------------------------------------------------------
    def get(self, name: str, final: bool = False) -> Ready:
        """The model `name` as served now (with final=True: only once fully trained), or NotReady saying what the
        view waits for (InputError for a name that is no model here)."""
        if name not in model_names() or name not in self.names:
            raise InputError(f"There is no model called {name!r}; choose one of {', '.join(self.names)}.")
        with self._lock:
            ready = self._ready.get(name)
            if ready is not None and (ready.final or not final):
                return ready
            state = self._state[name]
        if state is ModelState.FAILED:
            raise NotReady(f"The {name} model could not be prepared ({self._errors.get(name)}). Restart the app to try again.")
        if state is ModelState.QUEUED:
            training = [n for n in self.names if self.state(n) is ModelState.TRAINING]
            when = f"when {' or '.join(training)} is done" if training else "in a moment"
            raise NotReady(f"The {name} model is queued to train and starts {when}; this view works as soon as it is ready.")
        if state is ModelState.LOADING:
            raise NotReady(f"The {name} model is loading from its checkpoint; this view works in a few seconds.")
        if state is ModelState.STARTING:
            raise NotReady(f"The app is starting and has not looked at the {name} model yet; this view works as soon as it is ready.")
        live = " Meanwhile the Train tab shows it training, live." if state is ModelState.TRAINING else ""
        raise NotReady(f"The {name} model is not ready yet ({self.status()[name]}); this view works as soon as it is ready.{live}")

    def train_codes(self, ready: Ready) -> Latents:
        """The codes of the training digits (the first TRAIN_CODES) under `ready`'s weights: computed once (seconds),
        cached beside the checkpoint; warm() computes them ahead, a view that needs them first computes them itself."""
        if self.data is None:
            raise NotReady("The digits are still loading; try again in a moment.")
        return ready.memo(Memo.TRAIN_CODES, lambda: train_latents_for(ready.model, ready.directory, self.data.train, ready.latents.fingerprint))

    def second_stage(self, ready: Ready, train: Latents) -> two_stage.SecondStage:
        """`ready`'s second VAE: NotReady while a training worker fits it (the cache's, after the models), else read
        from its checkpoint folder, or fitted here when it was never cached (another model, a failed fit)."""
        with self._lock:
            doing = self._fitting.get(finishing_name(ready.name))
        if doing is not None:
            raise NotReady(f"The second VAE of {ready.name} is being fitted in the background ({doing}); this view works as soon as "
                           "it is done (a few minutes after the models are trained): open the tab again then.")
        return ready.memo(Memo.SECOND_STAGE, lambda: two_stage.second_stage_for(ready.directory, train))

    def typical_gap(self, ready: Ready) -> float:
        """analysis.typical_gap for `ready`: how far a held-out digit's code lies from its nearest training code."""
        return ready.memo(Memo.TYPICAL_GAP, lambda: typical_gap(ready.latents.mu, self.train_codes(ready).mu))

    def memo(self, key: "Memo | tuple", compute):
        """compute() once per key for the life of the app: for views of fully trained models only (get(final=True));
        what depends on one model's weights goes in its Ready.memo."""
        return memoized(self._memo, self._lock, key, compute)

    @property
    def presets(self) -> tuple[str, ...]:
        """The presets this hub serves, without the view models (the Train tab's plane compares regimes of L2 alone)."""
        return tuple(n for n in self.names if n in PRESETS)

    def test_digit(self, index, which: str | None = None) -> tuple[np.ndarray, int, int]:
        """Held-out digit number `index`: (its 28x28 image, its number, its label), or InputError saying which numbers
        there are (`which` names the digit asked for, e.g. "A", in the sentence)."""
        if self.data is None:
            raise NotReady("The digits are still loading; try again in a moment.")
        test = self.data.test
        n = len(test)
        try:
            i = float(index)
        except (TypeError, ValueError):
            asked = f"test digit {which}" if which else "a test digit"
            raise InputError(f"Choose {asked} by its number, 0 to {n - 1}.") from None
        if not (i.is_integer() and 0 <= i < n):
            raise InputError(f"There are {n:,} test digits: choose {which or 'one'} between 0 and {n - 1}.")
        i = int(i)
        return test.images[i, 0].numpy(), i, int(test.labels[i])

    def first_test_digit(self, label: int) -> int:
        """The number of the first held-out digit with this label (0 when there is none)."""
        if self.data is None:
            raise NotReady("The digits are still loading; try again in a moment.")
        found = np.flatnonzero(self.data.test.labels.numpy() == label)
        return int(found[0]) if len(found) else 0

    def busy(self) -> list[str]:
        """The models still starting, loading, queued or training (neither ready nor failed)."""
        return [n for n in self.names if self.state(n) not in SETTLED]

    def training_now(self) -> Training | None:
        """The first preset (in ORDER) training at this moment, with its curves so far; None when none trains."""
        with self._lock:
            for name in self.names:
                if self._state.get(name) is ModelState.TRAINING and name in self._curves:
                    return Training(name, preset_config(name), list(self._curves[name].points), list(self._histories.get(name, [])),
                                    self._progress.get(name), self._version)
        return None

    def is_ready(self, name: str) -> bool:
        with self._lock:
            return name in self._ready

    def state(self, name: str) -> ModelState:
        with self._lock:
            return self._state[name]

    def status(self) -> dict[str, str]:
        """Each model's state as a person reads it: "ready", or "training: epoch 3/10, batch 40/125, loss 712.3"."""
        with self._lock:
            return {n: f"{s}: {self._doing[n]}" if self._doing.get(n) and s is ModelState.TRAINING else str(s) for n, s in self._state.items()}

    def status_markdown(self) -> str:
        states = self.status()
        if all(s == "ready" for s in states.values()):
            return f"**Models:** all {len(states)} ready."
        parts = []
        for name, state in states.items():
            icon = {"ready": "ready", "failed": f"failed ({self._errors.get(name, '')})"}.get(state, state)
            note = f" ({self._notes[name]})" if name in self._notes and state != "ready" else ""
            parts.append(f"`{name}`: {icon}{note}")
        return "**Models:** " + " · ".join(parts)
