"""Presets cached under checkpoints/<name>/: load one that matches, resume one that was interrupted, retrain the rest."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .config import UnknownPreset, model_names, preset_config
from .model import VAE, read_config
from .store import CheckpointError, read_json
from .train import saved_epoch, train


def checkpoint_state(directory: str | Path, name: str) -> tuple[str, str]:
    """("ready" | "resume" | "train", reason) for preset `name` in `directory`, without loading weights."""
    directory = Path(directory)
    if not directory.exists():
        return "train", f"{name} has no checkpoint yet"
    try:
        config = read_config(directory)
    except CheckpointError as err:
        return "train", f"{name}'s checkpoint cannot be read: {err}"
    if config != preset_config(name):
        return "train", f"{name}'s checkpoint was made for another config"
    try:
        epoch = saved_epoch(directory)
    except Exception as err:
        return "train", f"{name}'s model.safetensors cannot be read ({type(err).__name__})"
    try:
        status = read_json(directory / "metrics.json").get("status")
    except CheckpointError:
        status = None
    if status == "complete" and epoch == config.epochs:
        return "ready", f"{name} is trained"
    return "resume", f"{name} was interrupted after epoch {epoch} of {config.epochs}"


def set_aside(directory: Path) -> Path:
    """Move a checkpoint we cannot use out of the way instead of deleting it; returns where it went."""
    target = directory.with_name(f"{directory.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while target.exists():
        target = directory.with_name(f"{directory.name}.old-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
        n += 1
    directory.rename(target)
    return target


def load_or_train(
    name: str,
    root: str | Path = "checkpoints",
    device: str = "auto",
    progress: bool = True,
    on_progress: Callable[[dict], None] | None = None,
    log: Callable[[str], None] = print,
) -> VAE:
    """The trained preset `name`: loaded from root/name when it matches its config, else resumed or trained, saying why."""
    if name not in model_names():
        raise UnknownPreset(f"unknown preset {name!r}; choose one of {', '.join(model_names())}")
    directory = Path(root) / name
    state, reason = checkpoint_state(directory, name)
    if state == "ready":
        try:
            return VAE.from_pretrained(directory, device="cpu" if device == "auto" else device)
        except CheckpointError as err:
            state, reason = "train", f"{name}'s checkpoint cannot be loaded: {err}"
    return train_preset(preset_config(name), directory, state, reason, device=device, progress=progress, name=name,
                        on_progress=on_progress, log=log)


def train_preset(config, directory: Path, state: str, reason: str, log: Callable[[str], None] = print, **train_kwargs) -> VAE:
    """Resume an interrupted preset (state "resume") or train it from scratch, first setting aside whatever unusable
    checkpoint is in the way (never deleting it); `reason` is checkpoint_state's sentence, said before starting."""
    directory = Path(directory)
    name = train_kwargs.get("name") or directory.name
    if state == "resume":
        log(f"{reason}; resuming")
        try:
            return train(config, directory, resume=True, log=log, **train_kwargs)
        except CheckpointError as err:
            reason = f"{name} could not be resumed: {err}"
    if directory.exists():
        moved = set_aside(directory)
        log(f"{reason}; kept it as {moved} and training {name} again")
    else:
        log(f"{reason}; training it now")
    return train(config, directory, log=log, **train_kwargs)


def finishing_tasks(names, root: str | Path, training: set[str]) -> list:
    """The worker tasks (vae/workers.py) that finish the trained presets among `names`: the second VAEs the cache keeps
    (two_stage.CACHED_FOR), fitted after their model when it is among the tasks `training`, at once when missing or
    stale; and the samples of any other preset judged again when they were judged by an older rule. None when every
    one is current."""
    from . import two_stage
    from .workers import JUDGE, SECOND_STAGE, Task

    tasks = []
    for name in names:
        directory, fits = Path(root) / name, name in two_stage.CACHED_FOR
        if fits and name in training:
            tasks.append(Task(finishing_name(name), preset_config(name), directory, SECOND_STAGE, f"{name} trained", after=name))
        elif name in training or checkpoint_state(directory, name)[0] != "ready":
            continue
        elif fits and two_stage.needs_fit(directory):
            tasks.append(Task(finishing_name(name), preset_config(name), directory, SECOND_STAGE, f"{name}'s second VAE is missing or stale"))
        elif not fits and two_stage.judged_before(directory):
            tasks.append(Task(finishing_name(name), preset_config(name), directory, JUDGE, f"{name}'s samples were judged by an older rule"))
    return tasks


def finishing_name(name: str) -> str:
    """The worker task's name for what finishes preset `name` (finishing_tasks)."""
    from .two_stage import CACHED_FOR

    return f"{name} second VAE" if name in CACHED_FOR else f"{name} judged again"
