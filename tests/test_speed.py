"""The training fast path is chosen by measurement on this machine, once, and cached."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import tiny_config
from vae import speed
from vae.config import FAST_PATHS


def test_auto_measures_once_then_reads_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path))
    config = tiny_config(fast_path="auto", batch_size=4)  # a small batch: a candidate without fast kernels costs seconds a step
    said = []
    chosen = speed.choose(config, torch.device("cpu"), log=said.append)
    assert chosen.name in FAST_PATHS and "measured training speed" in said[0]
    cached = json.loads((tmp_path / "fast_path.json").read_text())
    (entry,) = cached.values()
    assert entry["choice"] == chosen.name
    # the choice is the fastest measured
    assert entry["seconds_per_step"][chosen.name] == min(entry["seconds_per_step"].values())

    def no_second_measurement(*a, **k):
        raise AssertionError("measured again")

    monkeypatch.setattr(speed, "measure", no_second_measurement)
    assert speed.choose(config, torch.device("cpu")).name == chosen.name


def test_a_candidate_far_slower_than_the_best_is_dropped_after_one_step(monkeypatch):
    # seconds per step: bf16 is slow from its warm-up on; bf16-cl warms up like the others, then runs slow
    costs = {"fp32": (0.01, 0.01), "fp32-cl": (0.012, 0.012), "bf16": (0.5, 0.5), "bf16-cl": (0.011, 0.2)}
    current = {}
    calls = {name: 0 for name in costs}

    def fake_step(model, opt, x, config, path):
        warm, step = costs[path.name]
        current["t"] += warm if calls[path.name] == 0 else step
        calls[path.name] += 1

    current["t"] = 0.0
    monkeypatch.setattr("vae.train.train_step", fake_step)
    monkeypatch.setattr(speed.time, "perf_counter", lambda: current["t"])
    timings = speed.measure(tiny_config(), torch.device("cpu"), rounds=3, steps=2)
    assert timings["bf16"] == pytest.approx(0.5) and timings["bf16-cl"] == pytest.approx(0.2)
    assert min(timings, key=timings.get) == "fp32"
    assert calls["bf16"] == 1  # its warm-up step alone, nothing timed
    assert calls["bf16-cl"] == 1 + 2  # warm-up and one timed pair of steps, no more rounds
    assert calls["fp32"] == 1 + 3 * 2
