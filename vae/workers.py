"""Train several presets at once, in worker processes that share the machine's cores.

Measured on this project's 2-core machine (bf16 + channels_last, batch 32, every other process paused): one PyTorch
process with 2 threads trained 582 images/s, one with 1 thread 456, and two 1-thread processes side by side 896
together. The 2x2 and 4x4 feature maps of a 28x28 digit give each parallel region too little work to share, and a
2-thread process collapses whenever anything else runs (33 images/s beside one low-priority process): every parallel
region waits for its slowest thread. So presets train in parallel processes of one thread each (the cores shared out
when there are more cores than presets), at a lower priority than the app that serves them. Each process runs the one
training loop, `vae.train.train`, through `vae.cache.train_preset`.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .config import VAEConfig

PROGRESS_EVERY_S = 0.25  # batch reports from a worker are thinned to this (and the last batch of each epoch)


@dataclass
class Task:
    """One preset to train (what checkpoint_state said about its folder decides resume or a fresh start), or a trained
    one to finish (vae.two_stage.finish_cached): its second VAE to fit, or its samples to judge again."""

    name: str
    config: VAEConfig
    directory: Path
    state: str  # "resume" or "train" a model; SECOND_STAGE: fit the second VAE of the model in `directory`; JUDGE: judge it again
    reason: str  # checkpoint_state's sentence, said when the task starts
    iw_samples: int | None = None  # importance samples for the final NLL; None: train's default, 0: no NLL
    after: str | None = None  # the name of a task in the same run_tasks call that must be done before this one starts


SECOND_STAGE = "second-stage"
JUDGE = "judge"


@dataclass
class Event:
    """What a worker reports: start (data = its pid), progress (the batch dict of train's on_progress), epoch (the
    history record of an epoch just saved), log (a sentence), done, failed (data = one sentence); and for a
    TaskProcess ended by stop(), stopped."""

    kind: str
    name: str
    data: object = field(default=None)


def plan_jobs(n_tasks: int, cores: int | None = None) -> tuple[int, int]:
    """(worker processes, PyTorch threads each): a process per task up to the number of cores, cores shared out."""
    cores = cores or os.cpu_count() or 1
    jobs = max(1, min(n_tasks, cores))
    return jobs, max(1, cores // jobs)


PARENT_CHECK_S = 1.0  # how often a worker looks whether the process that started it is still there


def _exit_with_parent(parent: int) -> None:
    """End this worker once its parent is gone (killed by SIGTERM or SIGKILL, its clean-up never ran): an orphan would
    train on for nobody, on the cores the next start needs. Every finished epoch is already saved atomically."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _worker(tasks, events, threads: int, nice: int, data, device: str, parent: int | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the parent, which stops the workers
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
    try:
        os.nice(nice)  # the app serving visitors comes first
    except OSError:
        pass
    import torch

    from . import cache  # noqa: F401  loaded before the task comes: a spare process waits with it loaded

    torch.set_num_threads(threads)
    while (task := tasks.get()) is not None:
        events.put(Event("start", task.name, os.getpid()))
        train_task(task, events.put, data, device)


def train_task(task: Task, report: Callable[[Event], None], data=None, device: str = "cpu") -> None:
    """Train one task through the one training path (vae.cache.train_preset), reporting its progress (thinned to
    PROGRESS_EVERY_S), each saved epoch and its end (done, or failed with one sentence) as Events; or fit a trained
    model's second VAE or judge its samples again (vae.two_stage.finish_cached), saying how far it is in log Events."""
    from .cache import train_preset

    if task.state in (SECOND_STAGE, JUDGE):
        from .two_stage import finish_cached

        try:
            finish_cached(task.directory, data, second_stage=task.state == SECOND_STAGE,
                          log=lambda message: report(Event("log", task.name, message)))
            report(Event("done", task.name))
        except Exception as err:
            report(Event("failed", task.name, f"{type(err).__name__}: {err}"))
        return

    last = [0.0]
    extra = {} if task.iw_samples is None else {"iw_samples": task.iw_samples}

    def on_progress(p: dict) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or p["batch"] == p["batches"]:
            last[0] = now
            report(Event("progress", task.name, p))

    try:
        train_preset(task.config, task.directory, task.state, task.reason, device=device, progress=False, name=task.name,
                     data=data, on_progress=on_progress, on_epoch=lambda record: report(Event("epoch", task.name, record)),
                     log=lambda message: report(Event("log", task.name, message)), **extra)
        report(Event("done", task.name))
    except Exception as err:  # one preset failing must not stop the others
        report(Event("failed", task.name, f"{type(err).__name__}: {err}"))


def task_events(task: Task, data=None, device: str = "cpu") -> Iterator[Event]:
    """train_task in a thread of this process, its Events yielded as they come (start first, done or failed last): the
    form a ZeroGPU call streams back (playground/zerogpu.py), where the GPU is lent to one forked process alone."""
    events: queue.SimpleQueue = queue.SimpleQueue()

    def run() -> None:
        try:
            train_task(task, events.put, data, device)
        finally:
            events.put(None)

    yield Event("start", task.name, os.getpid())
    threading.Thread(target=run, name=f"train-{task.name}", daemon=True).start()
    while (event := events.get()) is not None:
        yield event


def run_tasks(tasks: list[Task], on_event: Callable[[Event], None], jobs: int | None = None, threads: int | None = None,
              data=None, device: str = "auto", nice: int = 10) -> None:
    """Train every task in worker processes, taking tasks in order as workers come free; `on_event` sees every Event
    in the calling thread. Returns when each task is done or failed. On KeyboardInterrupt (or any error here) the
    workers are stopped: every finished epoch is already on disk, and a later run resumes from it."""
    if not tasks:
        return
    auto_jobs, auto_threads = plan_jobs(min(jobs, len(tasks)) if jobs else len(tasks))  # threads follow the jobs asked for
    jobs, threads = jobs or auto_jobs, threads or auto_threads
    ctx = mp.get_context("spawn")  # a fresh interpreter: no copy of the parent's threads, locks or OpenMP pool
    task_q, event_q = ctx.Queue(), ctx.Queue()
    names = {t.name for t in tasks}
    waiting = [t for t in tasks if t.after in names]  # queued once the task they come after is done
    for task in tasks:
        if task not in waiting:
            task_q.put(task)

    def release(name: str | None, ok: bool = True) -> None:
        """Queue (or, when `name` failed, fail) the tasks waiting for `name`; once none waits, tell the workers to end."""
        for task in [t for t in waiting if t.after == name]:
            waiting.remove(task)
            if ok:
                task_q.put(task)
            else:
                pending.discard(task.name)
                on_event(Event("failed", task.name, f"{name} did not finish, so there is nothing to fit it to"))
                release(task.name, False)
        if not waiting and not released[0]:
            released[0] = True
            for _ in range(jobs):
                task_q.put(None)

    released = [False]
    procs = [ctx.Process(target=_worker, args=(task_q, event_q, threads, nice, data, device, os.getpid()), name=f"vae-worker-{i}", daemon=True)
             for i in range(jobs)]
    for p in procs:
        p.start()
    pending = {t.name for t in tasks}
    running: dict[int, str] = {}  # worker pid -> the task it is on
    release(None)  # nothing waits: the workers end after the last task
    try:
        while pending:
            try:
                event = event_q.get(timeout=0.5)
            except queue.Empty:
                for p in procs:  # a worker killed from outside (out of memory, a signal) never reports its task
                    if not p.is_alive() and running.get(p.pid) in pending:
                        name = running.pop(p.pid)
                        pending.discard(name)
                        on_event(Event("failed", name, f"its training process stopped unexpectedly (exit code {p.exitcode}); "
                                                        "finished epochs are kept and the next start resumes"))
                        release(name, False)
                if not any(p.is_alive() for p in procs):
                    for name in sorted(pending):
                        on_event(Event("failed", name, "no training process was left to train it"))
                    return
                continue
            if event.kind == "start":
                running[event.data] = event.name
            elif event.kind in ("done", "failed"):
                pending.discard(event.name)
            on_event(event)
            if event.kind in ("done", "failed"):
                release(event.name, event.kind == "done")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=10)


class TaskProcess:
    """One task trained in a worker process of its own (the Train tab: one per visitor's run).

    Its events reach `on_event` from a relay thread, ending with exactly one of done, failed or stopped. stop() ends
    the process at once (SIGTERM; no clean-up is needed, each finished epoch was saved atomically) and returns once
    the relay has reported "stopped". The process can start before its task is known: it loads Python and PyTorch
    (~6 s here) and waits; give() hands it its task, which starts at once (the Train tab keeps one such spare).
    """

    def __init__(self, threads: int = 1, nice: int = 10, data=None, device: str = "cpu"):
        ctx = mp.get_context("spawn")
        self.threads = threads
        self.task: Task | None = None
        self.on_event: Callable[[Event], None] | None = None
        self._tasks, self._events = ctx.Queue(), ctx.Queue()
        self.process = ctx.Process(target=_worker, args=(self._tasks, self._events, threads, nice, data, device, os.getpid()),
                                   name="vae-run", daemon=True)
        self._relay_thread: threading.Thread | None = None
        self._started = False
        self._stopping = threading.Event()

    def give(self, task: Task, on_event: Callable[[Event], None]) -> "TaskProcess":
        """The process's one task (given before or after start())."""
        self.task, self.on_event = task, on_event
        self._tasks.put(task)
        self._tasks.put(None)
        self._relay_thread = threading.Thread(target=self._relay, name=f"relay-{task.name}", daemon=True)
        if self._started:
            self._relay_thread.start()
        return self

    def start(self) -> "TaskProcess":
        self.process.start()
        self._started = True
        if self._relay_thread is not None:
            self._relay_thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout)
        if self._relay_thread is not None and threading.current_thread() is not self._relay_thread:
            self._relay_thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._relay_thread is not None:
            self._relay_thread.join(timeout)
        self.process.join(timeout)

    def _relay(self) -> None:
        name = self.task.name
        while True:
            if self._stopping.is_set():  # what the worker was saying when stopped is moot (and may be half-written)
                self.process.join()
                self.on_event(Event("stopped", name))
                return
            try:
                event = self._events.get(timeout=0.1)
            except queue.Empty:
                if not self.process.is_alive() and not self._stopping.is_set():
                    self.on_event(Event("failed", name, f"its training process stopped unexpectedly (exit code {self.process.exitcode})"))
                    return
                continue
            if self._stopping.is_set():
                continue
            self.on_event(event)
            if event.kind in ("done", "failed"):
                self.process.join(timeout=10)
                return
