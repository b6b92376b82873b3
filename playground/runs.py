"""Visitors' training runs (the Train tab): one queue for the machine, each visitor's runs kept apart.

One run trains at a time, in a worker process of its own (vae.workers.TaskProcess, through vae.train.train, the
presets' path); the others wait in order, and all of them wait while the presets train. A visitor has at most one run
queued or training, and one address at most MAX_PER_ADDRESS (a script can be many visitors, not many addresses);
a visitor keeps their last KEEP_PER_VISITOR finished runs and loses them when their session ends (forget), or within
a minute of their page's live connection going (playground.presence: a session that never had one is a script that
is not watching). All runs together stay under a disk cap, the oldest finished run of a visitor who has left going
first; while everyone's runs are still watched, a new run is refused instead. Run folders are named here, never from
anything a visitor sends. The app process loads each saved epoch to draw it (the views are the Train tab's, handed in
as `build_view`), so a visitor sees the cloud move while the worker trains on.
"""
from __future__ import annotations

import csv
import dataclasses
import enum
import itertools
import logging
import os
import secrets
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vae.config import VAEConfig
from vae.digits import InputError
from vae.judge import share_judge
from vae.store import CheckpointError, read_json
from vae.workers import Event, Task, TaskProcess

from .models import LossCurve, ModelHub, Ready, prepare
from .presence import Presence
from .sweeper import cache_folder, forget_named

log = logging.getLogger("playground")

KEEP_PER_VISITOR = 3  # finished runs a visitor keeps; an older one is deleted when a newer one finishes
DISK_CAP_BYTES = 2 * 1024**3  # all runs together; a finished D=128 run is about 20 MB once its optimizer state is dropped
MAX_QUEUED = 20  # runs waiting at once, all visitors together
MAX_PER_ADDRESS = 2  # runs queued or training at once from one address
ABSENT_S = 50  # a run whose visitor has had no live connection this long is stopped (checked every JANITOR_S)
JANITOR_S = 5
EXPORT_FILES = ("model.safetensors", "config.json", "metrics.json")  # what VAE.from_pretrained needs, and the metrics


class RunState(enum.StrEnum):
    """Where a run is; what a person reads about it is Run.message. A str, so records and tables carry the plain word."""

    QUEUED = "queued"
    TRAINING = "training"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"


ENDED = (RunState.DONE, RunState.STOPPED, RunState.FAILED)


class RunRefused(InputError):
    """A run that cannot be started, stopped or exported; the message says why in one sentence."""


@dataclass
class Run:
    """One visitor's training run and what the Train tab shows of it. Changed only under the manager's lock; every
    change bumps `version`, which the streamed view waits on."""

    id: str  # made by the manager: the folder's name
    owner: str  # the visitor's session
    number: int  # 1, 2, 3 ... per visitor, for the labels people read
    config: VAEConfig
    directory: Path
    created: float
    address: str | None = None  # where the visitor's request came from (presence.client_address)
    state: RunState = RunState.QUEUED
    message: str = ""
    started: float | None = None
    ended: float | None = None
    epochs_done: int = 0
    history: list[dict] = field(default_factory=list)  # train's epoch records
    curve: LossCurve | None = None  # the two forces per report (made with the run)
    progress: dict | None = None  # train's latest on_progress dict
    progress_since: float | None = None  # when its first batch was reported (the time left counts from here)
    view: object = None  # build_view's result for the latest drawn epoch
    ready: Ready | None = None  # that epoch's model as the views serve it
    settled: bool = False  # finished, and the last epoch drawn: nothing more will change
    version: int = 0
    _end: tuple[str, object] | None = None  # the worker's last word: (done | failed | stopped, detail)
    _proc: TaskProcess | None = None
    _stop_asked: bool = False  # stop() came before the process did
    _forgotten: bool = False  # the visitor's session ended: nothing of it stays on disk

    def __post_init__(self) -> None:
        self.curve = self.curve or LossCurve(self.config)

    @property
    def finished(self) -> bool:
        return self.state in ENDED

    @property
    def label(self) -> str:
        c = self.config
        shape = f"gaussian sigma {c.sigma:g}" if c.likelihood == "gaussian" else c.likelihood
        return f"my run {self.number}: beta {c.beta:g}, {shape}, D = {c.latent_dim}"

    @property
    def choice(self) -> str:
        """How the other tabs' model lists name it."""
        c = self.config
        shape = "" if c.likelihood == "gaussian" else f", {c.likelihood}"
        return f"your run {self.number} (beta {c.beta:g}{shape}, D {c.latent_dim})"

    @property
    def servable(self) -> bool:
        """Finished (done, stopped or failed) with at least one epoch drawn: one of its visitor's models."""
        return self.settled and self.ready is not None


@dataclass(frozen=True)
class RunSnapshot:
    """What the Train tab draws of a run, read at one moment (RunManager.snapshot)."""

    curve: list  # the loss curve's points so far
    history: list[dict]  # the finished epochs' records
    view: object  # build_view's result for the latest drawn epoch
    ready: Ready | None  # that epoch's model
    settled: bool
    position: int  # runs ahead of it in the queue (0 once it trains)
    waiting: str  # why it has not started, while queued; "" after


def folder_bytes(directory: Path) -> int:
    """Bytes of the files under `directory`; a file or folder deleted or renamed while it is counted (a run writing
    its checkpoint atomically, the sweeper) counts as gone (os.walk skips a folder it can no longer list)."""
    total = 0
    for top, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.stat(os.path.join(top, name)).st_size
            except FileNotFoundError:
                pass
    return total


class RunManager:
    """Every visitor's runs; `build_view(run, ready)` draws a saved epoch (called in the scheduler thread)."""

    def __init__(self, root: str | Path, hub: ModelHub, base: VAEConfig, build_view: Callable[[Run, Ready], object] | None = None,
                 threads: int = 1, keep: int = KEEP_PER_VISITOR, disk_cap: int = DISK_CAP_BYTES, presence: Presence | None = None):
        self.root = Path(root)
        self.hub = hub
        self.base = base  # what every run shares; the Train tab sets beta, likelihood, sigma, latent_dim, epochs, seed
        self.build_view = build_view
        self.threads = threads  # PyTorch threads of the training process: 1 leaves a core to the views (vae/workers.py)
        self.keep = keep
        self.disk_cap = disk_cap
        self.presence = presence  # who has a live connection; None: no one counts as here, and no janitor runs
        self._runs: list[Run] = []
        self._queue: list[Run] = []
        self._active: Run | None = None
        self._spare: TaskProcess | None = None  # started ahead for the next run (warm_up)
        self._numbers: dict[str, itertools.count] = {}
        self._cond = threading.Condition()
        self._seq = itertools.count(1)
        self._scheduler = threading.Thread(target=self._schedule, name="run-scheduler", daemon=True)
        self._scheduler.start()
        if presence is not None:
            threading.Thread(target=self._janitor, name="run-janitor", daemon=True).start()

    # -- what visitors ask ----------------------------------------------------------------------------
    def submit(self, owner: str, config: VAEConfig, address: str | None = None) -> Run:
        """Queue a run for `owner` (calling from `address`); RunRefused when they already have one queued or training,
        their address has MAX_PER_ADDRESS, the queue is full, or the disk is full of runs whose visitors are here."""
        with self._cond:
            mine = [r for r in self._runs if r.owner == owner and not r.finished]
            if mine:
                raise RunRefused(f"Your {mine[0].label} is still {mine[0].state}; stop it or let it finish before starting another.")
            same_address = [r for r in self._runs if address and r.address == address and not r.finished]
            if len(same_address) >= MAX_PER_ADDRESS:
                raise RunRefused(f"{len(same_address)} runs from your network are already queued or training; please start yours when one "
                                 "of them has finished.")
            if len(self._queue) >= MAX_QUEUED:
                raise RunRefused(f"{len(self._queue)} runs are already waiting to train; please try again in a few minutes.")
            if not self._make_room(owner):
                raise RunRefused(f"The space for visitors' runs is full ({self.disk_cap / 1024**3:.1f} GB, kept while their visitors are "
                                 "here); please try again in a few minutes.")
            run_id = f"{next(self._seq):04d}-{secrets.token_hex(4)}"
            number = next(self._numbers.setdefault(owner, itertools.count(1)))
            run = Run(run_id, owner, number, config, self.root / run_id, time.time(), address)
            self._runs.append(run)
            self._queue.append(run)
            self._touch(run)
            return run

    def stop(self, owner: str) -> str:
        """Stop `owner`'s queued or training run; returns once its process has ended, every finished epoch kept."""
        with self._cond:
            run = next((r for r in self._runs if r.owner == owner and not r.finished), None)
            if run is None:
                raise RunRefused("You have no run queued or training to stop.")
            if run in self._queue:
                self._queue.remove(run)
                self._end(run, RunState.STOPPED, "Stopped before it started; nothing was trained.")
                run.settled = True
                self._touch(run)
                return run.message
            run._stop_asked = True
            proc = run._proc
        if proc is not None:
            proc.stop()
        with self._cond:
            self._cond.wait_for(lambda: run.finished, timeout=10)
            return run.message

    def runs(self, owner: str) -> list[Run]:
        """This visitor's runs, newest first."""
        with self._cond:
            return [r for r in reversed(self._runs) if r.owner == owner]

    def get(self, owner: str, run_id: str) -> Run:
        """One of `owner`'s runs by id (another visitor's run is as unknown as a made-up id)."""
        with self._cond:
            for r in self._runs:
                if r.owner == owner and r.id == run_id:
                    return r
        raise RunRefused(f"You have no run called {run_id!r}; your runs are listed in the table.")

    def position(self, run: Run) -> int:
        """How many runs train before this one starts (0 once it trains)."""
        with self._cond:
            if run not in self._queue:
                return 0
            return self._queue.index(run) + (self._active is not None)

    def snapshot(self, run: Run) -> RunSnapshot:
        """`run` as the Train tab draws it, read under the lock, so its parts agree with each other."""
        with self._cond:
            waiting = self.waiting_reason(run) if run.state is RunState.QUEUED else ""
            return RunSnapshot(list(run.curve.points), list(run.history), run.view, run.ready, run.settled, self.position(run), waiting)

    def waiting_reason(self, run: Run) -> str:
        """Why a queued run has not started: one sentence."""
        ahead = self.position(run)
        presets = self._presets_training()
        if ahead:
            return f"Waiting for {ahead} run{'s' if ahead > 1 else ''} ahead of yours; it starts on its own, keep this page open."
        if presets:
            return f"Waiting for the app's own models to finish training ({presets}); your run starts right after."
        return "Starting: a fresh training process is loading PyTorch and the digits."

    def wait(self, run: Run, seen: int, timeout: float) -> int:
        """Block until `run` changes from version `seen` (or timeout); returns its version."""
        with self._cond:
            self._cond.wait_for(lambda: run.version != seen, timeout)
            return run.version

    def forget(self, owner: str | None) -> None:
        """The visitor's session ended: stop their run and delete every run of theirs."""
        if not owner:
            return
        with self._cond:
            mine = [r for r in self._runs if r.owner == owner]
            for r in mine:
                r._forgotten = r._stop_asked = True
                if r in self._queue:
                    self._queue.remove(r)
                self._runs.remove(r)
            self._numbers.pop(owner, None)
            procs = [r._proc for r in mine if r._proc is not None and not r.finished]
        for proc in procs:
            proc.stop()
        for r in mine:
            self._delete(r)

    def export(self, owner: str, run_id: str) -> tuple[Path, Path]:
        """(zip of the checkpoint folder, CSV of the held-out codes) for one of `owner`'s finished runs."""
        run = self.get(owner, run_id)
        with self._cond:
            if not run.finished or not run.settled:
                raise RunRefused(f"{run.label} is still {run.state}; export it once it has finished or you stopped it.")
            ready = run.ready
        if ready is None or run.epochs_done == 0:
            raise RunRefused(f"{run.label} has no finished epoch to export.")
        out = run.directory / "export"
        out.mkdir(exist_ok=True)
        archive = out / f"vae-run-{run.id}.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name in EXPORT_FILES:
                z.write(run.directory / name, arcname=name)
        codes = out / f"vae-run-{run.id}-codes.csv"
        lat = ready.latents
        d = lat.mu.shape[1]
        with open(codes, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["label", *[f"mu_{i + 1}" for i in range(d)], *[f"logvar_{i + 1}" for i in range(d)]])
            for label, mu, logvar in zip(lat.labels, lat.mu, lat.logvar):
                w.writerow([int(label), *[f"{v:.6g}" for v in mu], *[f"{v:.6g}" for v in logvar]])
        return archive, codes

    def models_of(self, owner: str | None) -> list[Run]:
        """`owner`'s runs the other tabs can use, oldest first (the order they were trained in)."""
        with self._cond:
            return [r for r in self._runs if owner and r.owner == owner and r.servable]

    # -- the one training run at a time -----------------------------------------------------------------
    def _presets_training(self) -> str:
        return ", ".join(self.hub.busy())

    def _schedule(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue and not self._presets_training(), timeout=1.0)
                if not self._queue or self._presets_training():
                    continue
                run = self._queue.pop(0)
                self._active = run
                run.state, run.started, run.message = RunState.TRAINING, time.time(), "Starting a training process."
                for waiting in self._queue:  # everyone behind moved up one place
                    self._touch(waiting)
                self._touch(run)
            try:
                self._train(run)
            except Exception as err:  # whatever happens to one run, the queue goes on
                log.exception("run %s failed in the app", run.id)
                with self._cond:
                    if not run.finished:
                        self._end(run, RunState.FAILED, f"The run failed inside the app ({type(err).__name__}).")
            finally:
                with self._cond:  # evicting under the lock: whoever sees this run settled sees the disk as the cap left it
                    self._active = None
                    run.settled = True
                    self._evict(run)
                    self._touch(run)

    def _train(self, run: Run) -> None:
        share_judge(self.hub.root, self.root, self.hub.dataset)  # the presets' judge: a run's final metrics take seconds
        # no importance-sampled NLL at the end (11 of a default run's ~60 s here): no view of a run shows it
        task = Task(run.id, run.config, run.directory, "train", f"{run.label} starts", iw_samples=0)
        proc = self._take_spare() or TaskProcess(threads=self.threads, data=self.hub.data).start()
        with self._cond:
            stopped = run._stop_asked
            if stopped:  # the process, still without a task, waits for the next run (unless there is a spare already)
                self._end(run, RunState.STOPPED, "Stopped before it started; nothing was trained.")
                kept, self._spare = self._spare is None, self._spare or proc
            else:
                proc.give(task, lambda e: self._on_event(run, e))  # its events wait for this lock
                run._proc = proc
        if stopped:
            if not kept:
                proc.stop()
            return
        drawn = 0
        while True:  # draw each saved epoch (skipping any a faster worker already passed), then take the final metrics
            with self._cond:
                self._cond.wait_for(lambda: run.epochs_done > drawn or run._end is not None, timeout=1.0)
                saved, end = run.epochs_done, run._end
            if saved > drawn:
                self._draw(run)
                drawn = saved
            elif end is not None:
                if end[0] == "done":  # metrics.json now holds the final metrics
                    self._take_final_metrics(run)
                break
        # not waiting for the process to exit (~3 s here): it has said its last word, and its relay thread reaps it
        (run.directory / "train_state.safetensors").unlink(missing_ok=True)  # only a resume needs it; runs never resume
        with self._cond:
            self._finish(run)

    def _on_event(self, run: Run, e: Event) -> None:
        """A worker's report (in its relay thread): progress into the curve, a saved epoch counted, the end noted."""
        with self._cond:
            if e.kind == "progress":
                run.progress = e.data
                run.progress_since = run.progress_since or time.time()
                run.curve.add(e.data)
                run.message = ""
            elif e.kind == "epoch":
                run.history.append(e.data)
                run.epochs_done = int(e.data["epoch"])
            elif e.kind in ("done", "failed", "stopped"):
                run._end = (e.kind, e.data)
                if e.kind == "stopped":  # said at once: the process is gone, the last epoch may still be drawing
                    self._end(run, RunState.STOPPED, self._kept_sentence(run, "Stopped"))
            elif e.kind == "log":
                log.info("%s: %s", run.id, e.data)
            self._touch(run)

    def _draw(self, run: Run) -> None:
        """Load the run's latest saved epoch in the app process and draw it; a failure is said, never raised."""
        try:
            ready = prepare(run.choice, run.directory, self.hub.data)  # the name the other tabs list it by
            view = self.build_view(run, ready) if self.build_view else None
        except Exception as err:
            if run.directory.exists():
                log.exception("run %s: drawing its epoch failed", run.id)
            with self._cond:
                run.message = f"Could not draw its latest epoch ({type(err).__name__}); training goes on."
                self._touch(run)
            return
        with self._cond:
            run.ready, run.view = ready, view
            self._touch(run)

    def warm_up(self) -> None:
        """Someone opened the Train tab: start a spare training process now (Python and PyTorch load in ~6 s), so that
        their run starts at once when they press Train. One spare at most; it waits idle until a run takes it."""
        with self._cond:
            if self.hub.data is None or (self._spare is not None and self._spare.process.is_alive()):
                return
            try:
                self._spare = TaskProcess(threads=self.threads, data=self.hub.data).start()
            except OSError as err:  # only a head start is lost: the run starts its own process
                log.warning("could not start a spare training process: %s", err)

    def _take_spare(self) -> TaskProcess | None:
        """The spare process when it is alive and has the threads runs now get, else None (and it is ended)."""
        with self._cond:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.process.is_alive() and spare.threads == self.threads:
            return spare
        spare.stop()
        return None

    def _take_final_metrics(self, run: Run) -> None:
        """The worker is done: its final metrics are of the weights already drawn (the last epoch), so the model served
        gains them without being loaded and drawn again (~4 s of a default run); drawn anew if that epoch was not."""
        try:
            info = read_json(run.directory / "metrics.json")
        except CheckpointError:
            info = {}
        with self._cond:
            if run.ready is not None and info.get("status") == "complete" and run.ready.epoch == info.get("epochs_done"):
                run.ready = dataclasses.replace(run.ready, metrics=info.get("final", {}), final=True)
                self._touch(run)
                return
        self._draw(run)

    def _finish(self, run: Run) -> None:
        kind, detail = run._end or ("failed", "it ended without a word")
        if kind == "done":
            seconds = sum(h.get("seconds", 0) for h in run.history)
            self._end(run, RunState.DONE, f"Done: {run.epochs_done} epochs in {seconds:.0f} s. It is one of your models now.")
        elif kind == "failed":
            error, _, reason = str(detail).partition(": ")
            what = "diverged" if error == "TrainingDiverged" else "failed"  # a non-finite loss, or anything else
            lead = f"The run {what}: {reason or error}. It stopped"
            self._end(run, RunState.FAILED, self._kept_sentence(run, lead))
        elif not run.finished:
            self._end(run, RunState.STOPPED, self._kept_sentence(run, "Stopped"))
        if run.epochs_done == 0 or run._forgotten:
            self._delete(run)

    @staticmethod
    def _kept_sentence(run: Run, lead: str) -> str:
        if run.epochs_done == 0:
            return f"{lead} before its first epoch finished; nothing was kept."
        kept = "its finished epoch is kept" if run.epochs_done == 1 else f"its {run.epochs_done} finished epochs are kept"
        return f"{lead} after epoch {run.epochs_done} of {run.config.epochs}; {kept}."

    def _end(self, run: Run, state: RunState, message: str) -> None:
        run.state, run.message = state, message
        run.ended = run.ended or time.time()

    def _touch(self, run: Run) -> None:
        run.version += 1
        self._cond.notify_all()

    # -- keeping the disk in check ----------------------------------------------------------------------
    def _evict(self, run: Run) -> None:
        """`run` has just settled: keep its owner's newest finished runs, then make room under the disk cap."""
        with self._cond:
            finished = [r for r in self._runs if r.owner == run.owner and r.finished and r.settled]
            for r in finished[: max(0, len(finished) - self.keep)]:
                self._runs.remove(r)
                self._delete(r)
            self._make_room(run.owner, spare=run)

    def _make_room(self, owner: str, spare: Run | None = None) -> bool:
        """While over the disk cap, drop the oldest finished run of a visitor who has left, or an older one of
        `owner`'s; never `spare` and never the run of another visitor who is here. True when under the cap (called
        under the lock, so the list of runs and the folders on disk never disagree)."""
        with self._cond:
            while self._disk_used() > self.disk_cap:
                gone = [r for r in self._runs if r.finished and r.settled and r is not spare and (r.owner == owner or not self._here(r.owner))]
                if not gone:
                    return False
                oldest = min(gone, key=lambda r: r.ended or 0)
                log.info("disk cap: deleting run %s", oldest.id)
                self._runs.remove(oldest)
                self._delete(oldest)
                self._touch(oldest)
            return True

    def _disk_used(self) -> int:
        return sum(folder_bytes(r.directory) for r in self._runs)

    def _here(self, owner: str) -> bool:
        return self.presence is not None and self.presence.here(owner)

    def _janitor(self) -> None:
        """Every JANITOR_S: the runs of visitors with no live connection for ABSENT_S are stopped and deleted (a
        closed page is forgotten at once by the Train tab's unload; this catches sessions that never had a page)."""
        while True:
            time.sleep(JANITOR_S)
            with self._cond:
                gone = {r.owner for r in self._runs if (self.presence.gone_since(r.owner, r.created) or 0) > ABSENT_S}
            for owner in gone:
                log.info("runs of a session with no live connection for %d s: stopped and deleted", ABSENT_S)
                self.forget(owner)

    @staticmethod
    def _delete(run: Run) -> None:
        """A run's folder, and the copies of its exports Gradio keeps to serve the downloads (they would stay
        downloadable by their URL after the run is gone)."""
        shutil.rmtree(run.directory, ignore_errors=True)
        forget_named(cache_folder(), f"vae-run-{run.id}")

def visitor(request) -> str | None:
    """The visitor's session (gr.Request.session_hash); None for a call from outside Gradio (scripts, tests)."""
    return getattr(request, "session_hash", None)


class VisitorModels:
    """The one place a tab turns a model's name into a Ready for the visitor asking: a preset from the hub, or one of
    the visitor's own finished runs by its id. Another visitor's run is as unknown here as a made-up name."""

    def __init__(self, hub: ModelHub, runs: RunManager | None = None):
        self.hub = hub
        self.runs = runs

    def get(self, name, owner: str | None = None) -> Ready:
        if self.runs is not None and owner:
            for run in self.runs.models_of(owner):
                if run.id == name:
                    return run.ready
        if name not in self.hub.names:
            mine = " or one of your finished runs" if self.runs is not None else ""
            raise RunRefused(f"There is no model called {name!r}; choose a preset ({', '.join(self.hub.names)}){mine}.")
        return self.hub.get(name)

    def choices(self, presets, owner: str | None = None) -> list[tuple[str, str]]:
        """A tab's model list for this visitor: its presets, then the visitor's finished runs."""
        mine = self.runs.models_of(owner) if self.runs is not None else []
        return [(p, p) for p in presets] + [(r.choice, r.id) for r in mine]
