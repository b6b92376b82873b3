"""Precision and memory layout for training, chosen by measurement on the machine that trains, and cached.

Hosts of the same kind differ: on one, bf16 autocast + channels_last trained 1.9x a plain fp32 loop; on another
(AMX not exposed) fp32 + channels_last was faster than bf16. So no fixed rule: the first run on a machine times a
few training steps of each candidate and keeps the fastest (a few seconds), cached per machine and model shape.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import FAST_PATHS, VAEConfig
from .store import atomic_write_json, persistent_root


@dataclass(frozen=True)
class FastPath:
    """How a training step runs: on which device, under which autocast precision, in which memory layout."""

    device: torch.device
    name: str  # one of config.FAST_PATHS: "fp32", "fp32-cl", "bf16", "bf16-cl"

    @property
    def bf16(self) -> bool:
        return self.name.startswith("bf16")

    @property
    def channels_last(self) -> bool:
        return self.name.endswith("-cl")

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def prepare(self, model):
        from .model import to_channels_last

        model = model.to(self.device)
        return to_channels_last(model) if self.channels_last else model

    def describe(self) -> str:
        precision = "bf16 autocast" if self.bf16 else "fp32"
        return f"{precision}{', channels_last' if self.channels_last else ''} on {self.device.type}"


def cache_file() -> Path:
    """Where measured choices are kept: $VAE_CACHE_DIR, else <persistent>/cache on a Space with persistent storage
    (store.persistent_root), else ~/.cache/vae-playground."""
    persistent = persistent_root()
    default = persistent / "cache" if persistent is not None else Path.home() / ".cache" / "vae-playground"
    return Path(os.environ.get("VAE_CACHE_DIR") or default) / "fast_path.json"


def machine_key(config: VAEConfig, device: torch.device) -> str:
    """The things a measurement depends on: the processor, threads, torch, and the model's shape and batch."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if device.type == "cuda":
        cpu = torch.cuda.get_device_name(device)
    shape = f"D{config.latent_dim}-h{config.hidden_dim}-dec{'.'.join(map(str, config.decoder_channels))}-b{config.batch_size}-{config.likelihood}"
    return f"{device.type}|{cpu}|threads {torch.get_num_threads()}|torch {torch.__version__}|{shape}"


def measure(config: VAEConfig, device: torch.device, rounds: int = 3, steps: int = 2, give_up: float = 3.0) -> dict[str, float]:
    """Seconds per training step of each candidate (median over interleaved rounds, so all see the same load).

    A candidate whose warm-up step, or else its first timed steps, take more than `give_up` times the fastest one's is
    dropped at once: bf16 on a processor without bf16 instructions ran 30x slower than fp32 on one host of this kind,
    and timing it fully would cost a cold start a minute."""
    from .model import VAE
    from .train import make_optimizer, train_step

    probe = dataclasses.replace(config, pretrained=False)
    x = torch.rand(config.batch_size, 1, 28, 28, generator=torch.Generator().manual_seed(0))

    def timed(model, opt, path) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            train_step(model, opt, x, probe, path)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - t0) / steps

    runners, times, warmups = {}, {}, {}
    for name in FAST_PATHS:
        path = FastPath(device, name)
        try:
            torch.manual_seed(0)
            model = path.prepare(VAE(probe))
            opt = make_optimizer(model, probe)
            t0 = time.perf_counter()
            train_step(model, opt, x, probe, path)  # warm-up: the first call allocates and picks kernels
            warmups[name] = time.perf_counter() - t0
            if len(warmups) > 1 and warmups[name] > give_up * min(warmups.values()):
                times[name] = [warmups[name]]  # its warm-up alone says it: reported (an overestimate), never chosen
                continue
            first = timed(model, opt, path)
        except (RuntimeError, TypeError):  # e.g. no bf16 autocast on this device: not a candidate
            continue
        if times and first > give_up * min(min(t) for t in times.values()):
            times[name] = [first]  # reported, never chosen
            continue
        runners[name] = (model, opt, path)
        times[name] = [first]
    for _ in range(rounds - 1):
        for name, (model, opt, path) in runners.items():
            times[name].append(timed(model, opt, path))
    return {name: statistics.median(ts) for name, ts in times.items()}


def choose(config: VAEConfig, device: torch.device, log=print) -> FastPath:
    """The config's fast path: as asked, or for "auto" the fastest measured on this machine (measured once, cached)."""
    if config.fast_path != "auto":
        return FastPath(device, config.fast_path)
    path = cache_file()
    key = machine_key(config, device)
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if not isinstance(cached, dict):
        cached = {}
    entry = cached.get(key)
    if isinstance(entry, dict) and entry.get("choice") in FAST_PATHS:
        return FastPath(device, entry["choice"])
    timings = measure(config, device)
    best = min(timings, key=timings.get)
    fp32 = timings.get("fp32")
    ratios = ", ".join(f"{n} {fp32 / t:.2f}x" for n, t in timings.items()) if fp32 else ""
    log(f"measured training speed on this machine ({ratios} against fp32): using {FastPath(device, best).describe()}")
    cached[key] = {"choice": best, "seconds_per_step": {n: round(t, 5) for n, t in timings.items()},
                   "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, cached)
    except OSError:  # a read-only home: measure again next time rather than fail
        pass
    return FastPath(device, best)
