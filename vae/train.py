"""Training as a plain function: seeded, resumable, saved atomically after every epoch."""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from . import distributed
from .analysis import compute_metrics
from .config import ConfigError, VAEConfig
from .data import DataBundle, Split, load_dataset, random_affine
from .distributed import SINGLE, World, all_sum, shard
from .judge import load_or_train_judge
from .losses import LossParts, vae_loss
from .model import VAE, read_config
from .speed import FastPath
from .speed import choose as choose_fast_path
from .store import CheckpointError, atomic_path, atomic_write_json, read_json


FINAL_IW_SAMPLES = 10  # importance samples for the nll in metrics.json; `vae evaluate --iw-samples K` for more


class TrainingDiverged(Exception):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but this machine has no CUDA GPU; use --device cpu")
    return dev


def make_optimizer(model: VAE, config: VAEConfig) -> torch.optim.Optimizer:
    # The fused kernel runs one pass over all parameters: 8 ms against 60 ms per step on 2 CPU cores.
    return torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)


def lr_at(config: VAEConfig, step: int, total: int) -> float:
    """The learning rate at optimisation step `step` of `total`: a pure function of the step, so a resumed run
    continues the schedule exactly without saving a scheduler."""
    t = min(step / max(total, 1), 1.0)
    if config.lr_schedule == "onecycle":  # as torch's OneCycleLR: lr/25 up to lr over 30%, cosine down to lr/25e4
        start, end, peak = config.lr / 25, config.lr / 25e4, 0.3
        if t < peak:
            return start + (config.lr - start) * 0.5 * (1 - math.cos(math.pi * t / peak))
        return end + (config.lr - end) * 0.5 * (1 + math.cos(math.pi * (t - peak) / (1 - peak)))
    return config.lr


def beta_at(config: VAEConfig, step: int, steps_per_epoch: int) -> float:
    """beta, ramped up linearly from 0 over the first kl_warmup_epochs (KL warm-up, Bowman et al. 2016)."""
    if config.kl_warmup_epochs <= 0:
        return config.beta
    return config.beta * min(1.0, step / (config.kl_warmup_epochs * steps_per_epoch))


def train_step(net, optimizer, x: torch.Tensor, config: VAEConfig, path: FastPath, beta: float | None = None,
               eps: torch.Tensor | None = None, world: World = SINGLE, batch_rows: int | None = None) -> LossParts | None:
    """One optimisation step; returns the global batch's mean loss parts, or None (and no update) when the loss is
    not finite.

    net is the VAE, or the VAE wrapped in DistributedDataParallel (its forward is the one training forward); eps is
    drawn there unless given. Under torchrun x and eps are this rank's rows of a global batch of batch_rows rows: each rank's mean loss is weighted by its share of the rows, so
    DDP's average of the ranks' gradients is the gradient of the global batch's mean, even when shards differ by a row.
    """
    batch_rows = batch_rows or len(x)
    x = path.batch(x)
    with path.autocast():
        out = net(x, eps=None if eps is None else eps.to(path.device, non_blocking=True))
    parts = vae_loss(x, out.logits, out.mu, out.logvar, config, beta=beta)
    sums = all_sum(torch.stack([p.detach().float() for p in parts]) * len(x), world)  # every rank sees the same sums
    if not torch.isfinite(sums[0]):  # every rank skips the same step, so none waits alone on a gradient sync
        return None
    optimizer.zero_grad(set_to_none=True)
    (parts.total * (len(x) * world.size / batch_rows)).backward()
    optimizer.step()
    return LossParts(*(sums / batch_rows))


def train_epoch(model, optimizer, split: Split, config: VAEConfig, path: FastPath, epoch: int, bar_desc: str = "", progress: bool = True,
                on_batch: Callable | None = None, world: World = SINGLE) -> dict:
    """One pass over the training split in a seeded order; returns the mean loss parts.

    The learning rate and beta follow their schedules by global step; augmentation draws from a generator seeded by
    the epoch, so a resumed run sees exactly the batches, rates and warps of an uninterrupted one. Under torchrun every
    rank draws the same order, warps and noise for the whole global batch and keeps its strided shard of them, so the
    rows, warps and noise of an image are those it gets in one process.
    """
    model.train()
    gen = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    order = torch.randperm(len(split), generator=gen)
    batches = order.split(config.batch_size)
    total = config.epochs * len(batches)
    sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
    seen = 0
    bar = tqdm(batches, desc=bar_desc, unit="batch", disable=not progress, leave=True, dynamic_ncols=True)
    for i, idx in enumerate(bar):
        step = (epoch - 1) * len(batches) + i
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, step, total)
        x = split.images[idx]
        if config.augment:
            x = random_affine(x, gen)  # the whole batch: the generator's draws must not depend on the world size
        eps = torch.randn(len(idx), config.latent_dim, device=path.device)  # the noise of the whole batch, from the epoch's seed
        parts = train_step(model, optimizer, shard(x, world), config, path, beta=beta_at(config, step, len(batches)),
                           eps=shard(eps, world), world=world, batch_rows=len(idx))
        if parts is None:
            raise TrainingDiverged(f"the loss became non-finite at epoch {epoch}, batch {i + 1}")
        n = len(idx)
        seen += n
        for k, v in zip(sums, parts):
            sums[k] += v.item() * n
        means = {k: v / seen for k, v in sums.items()}
        bar.set_postfix(loss=f"{means['loss']:.1f}", recon=f"{means['recon']:.1f}", kl=f"{means['kl']:.2f}")
        if on_batch is not None:
            on_batch(i + 1, len(batches), means)
    bar.close()
    return {k: v / max(seen, 1) for k, v in sums.items()}


@torch.no_grad()
def evaluate(model: VAE, split: Split, config: VAEConfig, path: FastPath, batch_size: int = 500, seed: int = 0, world: World = SINGLE) -> dict:
    """Mean loss parts on a split, with one seeded sample z ~ q(z|x) per image (the single-sample ELBO, full beta).
    Under torchrun each rank scores its shard of every batch (with the batch's own noise rows) and the sums are added."""
    model.eval()
    gen = torch.Generator(device=path.device).manual_seed(seed)
    sums = torch.zeros(3, dtype=torch.float64)
    for start in range(0, len(split), batch_size):
        rows = split.images[start : start + batch_size]
        eps = torch.randn(len(rows), config.latent_dim, generator=gen, device=path.device)
        x = path.batch(shard(rows, world))
        if not len(x):
            continue
        with path.autocast():
            out = model(x, eps=shard(eps, world))
        parts = vae_loss(x, out.logits, out.mu, out.logvar, config)
        sums += torch.tensor([v.item() for v in parts], dtype=torch.float64) * len(x)
    sums = all_sum(sums, world)
    return {k: float(v) / len(split) for k, v in zip(("loss", "recon", "kl"), sums)}


# --- training state (optimizer) without pickle ------------------------------------

def save_train_state(optimizer, path: Path, epoch: int) -> None:
    sd = optimizer.state_dict()
    tensors = {f"{i}.{k}": v.detach().cpu().contiguous() for i, s in sd["state"].items() for k, v in s.items()}
    meta = {"epoch": str(epoch), "param_groups": json.dumps(sd["param_groups"])}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_train_state(optimizer, path: Path) -> int:
    """Load optimizer state saved by save_train_state; returns its epoch."""
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    state: dict[int, dict] = {}
    for key, value in load_file(str(path)).items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    # Files hold contiguous tensors; the fused kernel walks moments and parameters in the same memory
    # order, so give each moment its parameter's layout (channels_last for conv weights).
    for group in optimizer.param_groups:
        for p in group["params"]:
            for k, v in optimizer.state.get(p, {}).items():
                if v.shape == p.shape:
                    optimizer.state[p][k] = torch.empty_like(p).copy_(v)
    return int(meta["epoch"])


def saved_epoch(directory: Path) -> int:
    """The epoch stamped into model.safetensors (0 when absent)."""
    with safe_open(str(Path(directory) / "model.safetensors"), "pt") as f:
        return int((f.metadata() or {}).get("epoch", 0))


# --- the training run ------------------------------------------------------------

def train(
    config: VAEConfig,
    out_dir: str | Path,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
    name: str | None = None,
    data: DataBundle | None = None,
    on_progress: Callable[[dict], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    log: Callable[[str], None] = print,
    world: World = SINGLE,
    data_dir: str | Path = "data",
    iw_samples: int = FINAL_IW_SAMPLES,
) -> VAE:
    """Train `config` into `out_dir`, saving after every epoch; with resume, continue from the last saved epoch.

    on_progress receives {"name", "epoch", "epochs", "batch", "batches", "loss", "recon", "kl"} as training goes;
    on_epoch receives each epoch's history record once that epoch is saved (its model can be loaded from out_dir).

    Under torchrun (`world` from vae.distributed.from_env, its process group started) every rank runs this same loop
    on its shard of each global batch through DistributedDataParallel; rank 0 alone logs, shows progress, writes
    out_dir and computes the final metrics (with an importance-sampled NLL of `iw_samples` per digit; 0 leaves it out).
    """
    out_dir = Path(out_dir)
    name = name or out_dir.name
    dev = distributed.device_for(world, resolve_device(device))
    if not world.is_main:
        progress, on_progress, on_epoch, log = False, None, None, _silent
    data = data or distributed.main_first(world, lambda: load_dataset(config.dataset, data_dir))  # rank 0 downloads
    distributed.check_batches(len(data.train), config.batch_size, world)
    set_seed(config.seed)

    start_epoch, history = 0, []
    if world.is_main:
        for stale in out_dir.glob(".*.tmp"):  # left by a run killed mid-save; the real files are whole
            stale.unlink(missing_ok=True)
    if resume and (out_dir / "model.safetensors").exists():
        saved = read_config(out_dir)
        if saved != dataclasses.replace(config, epochs=saved.epochs):
            raise CheckpointError(f"{out_dir} holds a run of another config; train into a new --out folder or drop --resume")
        start_epoch = saved_epoch(out_dir)
        if start_epoch > config.epochs:
            log(f"{name}: {out_dir} already holds {start_epoch} epochs, more than the {config.epochs} asked; nothing to do "
                f"(ask for more epochs to continue it, or train a shorter run into a new --out folder)")
            return VAE.from_pretrained(out_dir, device=dev)
        run = run_record(out_dir)
        model = VAE.from_pretrained(out_dir, device=dev)
        history = _read_history(out_dir, start_epoch)
    else:
        model = VAE(config, load_imagenet=world.is_main).to(dev)  # DDP copies rank 0's weights to the others
        run = {"pretrained_loaded": model.pretrained_loaded, "fast_path_used": ""}
    # A resumed run keeps the precision and layout it started with, so it repeats the uninterrupted run exactly.
    if run["fast_path_used"]:
        path = FastPath(dev, run["fast_path_used"])
    else:  # measured once, by rank 0, so every rank runs the same precision and layout
        path = FastPath(dev, distributed.broadcast_object(choose_fast_path(config, dev, log=log).name if world.is_main else None, world))
    run["fast_path_used"] = path.name
    model.config = config
    model = path.prepare(model)
    if world.distributed:  # BatchNorm over the global batch, so N processes compute what one would
        model = distributed.sync_batchnorm(model, dev)
    optimizer = make_optimizer(model, config)
    if start_epoch:
        state_path = out_dir / "train_state.safetensors"
        try:
            if load_train_state(optimizer, state_path) != start_epoch:
                raise CheckpointError("its epoch differs from the model's")
        except Exception as err:
            log(f"{name}: optimizer state not usable ({err}); resuming epoch {start_epoch + 1} with a fresh optimizer")
            optimizer = make_optimizer(model, config)
        if start_epoch == config.epochs:
            log(f"{name}: all {config.epochs} epochs are already trained")
        else:
            log(f"{name}: resuming after epoch {start_epoch} of {config.epochs}")
    net = distributed.wrap_ddp(model, dev) if world.distributed else model
    train_split = data.train
    if config.train_digits:  # a subset for short runs; the held-out split, the judge and the metrics stay whole
        train_split = Split(data.train.images[: config.train_digits], data.train.labels[: config.train_digits])
    train_split, test_split = place_on_device(train_split, dev), place_on_device(data.test, dev)
    log(f"{name}: {run_sentence(path, world, config.batch_size)}")

    with distributed.peers_watched():
        for epoch in range(start_epoch + 1, config.epochs + 1):
            torch.manual_seed(config.seed * 1000 + epoch)  # the eps draws of each epoch, so a resumed run repeats them
            t0 = time.perf_counter()

            def on_batch(b, nb, means, epoch=epoch):
                if on_progress is not None:
                    on_progress({"name": name, "epoch": epoch, "epochs": config.epochs, "batch": b, "batches": nb, **means})

            tr = train_epoch(net, optimizer, train_split, config, path, epoch, f"{name} epoch {epoch}/{config.epochs}", progress, on_batch, world)
            va = evaluate(model, test_split, config, path, world=world)
            if not all(math.isfinite(v) for v in va.values()):
                raise TrainingDiverged(f"the validation loss became {va['loss']} after epoch {epoch}")
            seconds = time.perf_counter() - t0
            history.append({"epoch": epoch, "seconds": round(seconds, 2), **{f"train_{k}": v for k, v in tr.items()}, **{f"val_{k}": v for k, v in va.items()}})
            if progress:
                tqdm.write(f"{name} epoch {epoch}: val loss {va['loss']:.1f} (recon {va['recon']:.1f}, kl {va['kl']:.2f}) in {seconds:.1f}s")
            if world.is_main:
                # Order matters: the history with this epoch's record (a resume keeps the records up to the saved model's
                # epoch, so a kill before the model is saved drops it and a kill after cannot lose it), the optimizer
                # state, then the model (whose stamped epoch is the truth), then epochs_done.
                out_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_json(out_dir / "metrics.json", {"status": "training", "epochs_done": epoch - 1, "run": run, "history": history})
                save_train_state(optimizer, out_dir / "train_state.safetensors", epoch)
                model.save_pretrained(out_dir, metadata={"epoch": str(epoch)})
                atomic_write_json(out_dir / "metrics.json", {"status": "training", "epochs_done": epoch, "run": run, "history": history})
            if on_epoch is not None:
                on_epoch(history[-1])

    model.eval()
    if world.is_main and _read_status(out_dir) != "complete":
        judge = load_or_train_judge(data, out_dir.parent, log=log)
        final = compute_metrics(model, data, iw_samples=iw_samples, judge=judge)
        atomic_write_json(out_dir / "metrics.json", {
            "status": "complete", "epochs_done": config.epochs, "train_seconds": round(sum(h["seconds"] for h in history), 1),
            "final": final, "run": run, "history": history, "trained_by": trained_by(),
        })
    return model


def trained_by(argv: list[str] | None = None) -> dict[str, str]:
    """The command, date and commit of this run, kept in metrics.json (publish puts them on the model card)."""
    import datetime
    import shlex
    import sys

    from .cli import git_commit

    argv = list(sys.argv if argv is None else argv) or [""]
    head = "python -m vae" if Path(argv[0]).parts[-2:] == ("vae", "__main__.py") else f"python {Path(argv[0]).name}"
    commit, dirty = git_commit()
    return {"command": " ".join([head, *map(shlex.quote, argv[1:])]), "date": datetime.date.today().isoformat(),
            "commit": (commit or "unknown") + (" (with uncommitted changes)" if dirty else "")}


def _silent(message: str) -> None:
    """The log of ranks other than 0: rank 0 speaks for the job."""


def run_sentence(path: FastPath, world: World, batch_size: int) -> str:
    """The one sentence said at the start of a run: device, precision and layout, processes and batch."""
    if not world.distributed:
        return f"training with {path.describe()}, 1 process, batch {batch_size}"
    return (f"training with {path.describe()}, {world.size} processes (DistributedDataParallel over "
            f"{distributed.backend_for(path.device)}), global batch {batch_size} ({batch_size / world.size:g} per process)")


def place_on_device(split: Split, device: torch.device) -> Split:
    """The split where training reads it: on a GPU whole when it takes under a quarter of the free memory (mnist-5k is
    16 MB, MNIST 188 MB), else in pinned host memory so batches copy while the GPU computes; on CPU as it is."""
    if device.type != "cuda":
        return split
    free, _ = torch.cuda.mem_get_info(device)
    if split.images.nbytes < free // 4:
        return Split(split.images.to(device), split.labels)
    return Split(split.images.pin_memory(), split.labels)


def _read_status(out_dir: Path) -> str | None:
    try:
        return read_json(out_dir / "metrics.json").get("status")
    except CheckpointError:
        return None


def run_record(out_dir: Path) -> dict:
    """What a checkpoint's run did, as metrics.json keeps it: {"pretrained_loaded": bool, "fast_path_used": str}
    (config.json carried both before the config was frozen; a folder of then is read there). Empty values when
    neither file says."""
    try:
        run = read_json(out_dir / "metrics.json").get("run")
    except CheckpointError:
        run = None
    if not isinstance(run, dict):
        try:
            run = read_json(out_dir / "config.json")
        except CheckpointError:
            run = {}
    return {"pretrained_loaded": bool(run.get("pretrained_loaded", False)), "fast_path_used": str(run.get("fast_path_used") or "")}


def _read_history(out_dir: Path, upto: int) -> list[dict]:
    try:
        history = read_json(out_dir / "metrics.json").get("history", [])
    except CheckpointError:
        return []
    return [h for h in history if isinstance(h, dict) and h.get("epoch", 0) <= upto]
