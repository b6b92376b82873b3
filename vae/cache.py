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


def second_stage_tasks(names, root: str | Path, training: set[str]) -> list:
    """The worker tasks (vae/workers.py) that fit the second VAEs the cache keeps (two_stage.CACHED_FOR) among `names`:
    after its model when that model is among the tasks `training`, at once when it is trained and its second VAE is
    missing or stale; none when it is current."""
    from . import two_stage
    from .workers import SECOND_STAGE, Task

    tasks = []
    for name in (n for n in names if n in two_stage.CACHED_FOR):
        directory = Path(root) / name
        if name in training:
            tasks.append(Task(second_stage_name(name), preset_config(name), directory, SECOND_STAGE, f"{name} trained", after=name))
        elif checkpoint_state(directory, name)[0] == "ready" and two_stage.needs_fit(directory):
            tasks.append(Task(second_stage_name(name), preset_config(name), directory, SECOND_STAGE, f"{name}'s second VAE is missing or stale"))
    return tasks


def second_stage_name(name: str) -> str:
    """The worker task's name for model `name`'s second VAE."""
    return f"{name} second VAE"
