"""ZeroGPU (a Hugging Face Space lent a GPU one call at a time): there the presets train on that GPU through
`@spaces.GPU`; everywhere else nothing changes (spaces.GPU returns the function as it is, and the hub trains in its
CPU worker processes).

What spaces 0.51.3 does (zero/wrappers.py, zero/torch/patching.py): on a ZeroGPU Space (SPACES_ZERO_GPU=true) importing
it patches torch in the app's process so CUDA is never initialised there; each call of a decorated function asks the
Space's scheduler for a GPU for `duration` seconds, forks the app's process, sets CUDA_VISIBLE_DEVICES to the lent GPU in
the child alone and runs the function there; a generator's values come back through a queue as they are yielded, and
the GPU goes back when the call ends (or is aborted when it overruns). The app's training workers (vae/workers.py) are
spawned from the app's process and never see that GPU, so a preset trains inside the decorated call itself:
vae.workers.task_events (the one training path, in a thread of the forked child) on device "cuda", whose Events reach
the hub exactly as its CPU workers' would. One preset per call, each asking for the time its epochs need.

The Train tab's runs stay on the CPU here: each is a process the app stops at once (Stop, a visitor leaving), which a
forked ZeroGPU call is not, and a visitor's GPU time would count against their own ZeroGPU quota.
"""
from __future__ import annotations

import os
from typing import Callable, Iterator

from vae.workers import Event, Task, task_events

# Not measured (no GPU was at hand): generous guesses, since a call that overruns its duration is aborted, and a
# preset whose call fails trains on the CPU instead.
STARTUP_S = 45  # CUDA's start, the fast-path measurement, the final metrics
SECONDS_PER_EPOCH = 4


def active() -> bool:
    """True on a ZeroGPU Space (the variable spaces itself reads)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def gpu_seconds(task: Task, data=None) -> int:
    """The GPU time a preset asks for: its epochs, plus the start and the final metrics."""
    return STARTUP_S + SECONDS_PER_EPOCH * task.config.epochs


def _train_on_gpu(task: Task, data=None) -> Iterator[Event]:
    yield from task_events(task, data, device="cuda")


def on_gpu(fn: Callable, duration: Callable) -> Callable:
    """spaces.GPU(fn) when the spaces package is installed (itself a no-op off ZeroGPU), else fn."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(fn, duration=duration)


# decorated at import: on a ZeroGPU Space, spaces reports the app's GPU functions when Gradio launches
train_on_gpu = on_gpu(_train_on_gpu, gpu_seconds)


def train_presets(tasks: list[Task], on_event: Callable[[Event], None], data=None) -> list[str]:
    """Train each task in a ZeroGPU call of its own, its Events to on_event; returns the names of the presets the GPU
    could not train (quota, an aborted call), each said in one sentence: the caller trains them on the CPU."""
    left = []
    for task in tasks:
        done = False
        try:
            for event in train_on_gpu(task, data):
                if event.kind == "failed":  # the last event of a call: said here, and the CPU tries
                    on_event(Event("log", task.name, f"{task.name} could not train on the GPU ({event.data}); it trains on the CPU"))
                    break
                on_event(event)
                done = event.kind == "done"
        except Exception as err:  # spaces raises gr.Error (no quota left, duration refused, the call aborted)
            on_event(Event("log", task.name, f"{task.name} could not have a ZeroGPU GPU ({type(err).__name__}: {err}); it trains on the CPU"))
        if not done:
            left.append(task.name)
    return left
