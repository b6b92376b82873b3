"""Training: the loss falls, every epoch is saved atomically, resume repeats the straight run, NaN keeps the last good checkpoint."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import tiny_config
from vae.config import FAST_PATHS, VAEConfig
from vae.data import Split, load_dataset
from vae.losses import LossParts
from vae.model import VAE
from vae.speed import FastPath
from vae.train import TrainingDiverged, make_optimizer, run_record, saved_epoch, train, train_epoch


def test_real_default_model_learns_in_a_few_batches():
    """The smoke test: the article's default model on real digits, 12 batches, the loss falls."""
    data = load_dataset("mnist-5k")
    config = VAEConfig(pretrained=False)
    torch.manual_seed(0)
    model = VAE(config)
    running = []  # running mean of the loss after each batch
    subset = Split(data.train.images[:768], data.train.labels[:768])
    train_epoch(model, make_optimizer(model, config), subset, config, FastPath(torch.device("cpu"), "fp32"), epoch=1, progress=False,
                on_batch=lambda b, nb, means: running.append(means["loss"]))
    per_batch = [running[0]] + [b * m - (b - 1) * p for b, m, p in zip(range(2, 13), running[1:], running)]
    assert len(per_batch) == 12
    assert sum(per_batch[-3:]) / 3 < 0.5 * sum(per_batch[:3]) / 3


def test_train_saves_each_epoch_and_final_metrics(tmp_path, tiny_data):
    events = []
    model = train(tiny_config(epochs=2), tmp_path / "run", progress=False, data=tiny_data, on_progress=events.append, log=lambda s: None)
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["config.json", "metrics.json", "model.safetensors", "train_state.safetensors"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["epochs_done"] == 2
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    for key in ("recon", "mse", "kl", "kl_per_dim", "active_units", "knn_acc", "nll", "mean_abs_mu"):
        assert key in metrics["final"], key
    assert len(metrics["final"]["kl_per_dim"]) == 4
    # what the run did is its record, not its config: the config is what was asked
    assert metrics["run"]["pretrained_loaded"] is False and metrics["run"]["fast_path_used"] in FAST_PATHS
    assert not {"pretrained_loaded", "fast_path_used"} & set(json.loads((tmp_path / "run" / "config.json").read_text()))
    assert saved_epoch(tmp_path / "run") == 2
    assert {e["epoch"] for e in events} == {1, 2} and events[-1]["batch"] == events[-1]["batches"] == 4
    assert not list((tmp_path / "run").glob("*.tmp"))
    assert not model.training


def test_resume_repeats_the_uninterrupted_run(tmp_path, tiny_data):
    quiet = dict(progress=False, data=tiny_data, log=lambda s: None)
    straight = train(tiny_config(epochs=2), tmp_path / "straight", **quiet)
    train(tiny_config(epochs=1), tmp_path / "resumed", **quiet)  # "interrupted" after epoch 1
    resumed = train(tiny_config(epochs=2), tmp_path / "resumed", resume=True, **quiet)
    a, b = straight.state_dict(), resumed.state_dict()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    history = json.loads((tmp_path / "resumed" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert run_record(tmp_path / "resumed") == run_record(tmp_path / "straight")


def test_a_folder_from_before_the_run_record_loads_and_keeps_what_its_config_said(tmp_path, tiny_data):
    """Checkpoints written while config.json carried the run's record (pretrained_loaded, fast_path_used) still load,
    and a resume keeps the precision they recorded there."""
    run = tmp_path / "run"
    train(tiny_config(epochs=1), run, progress=False, data=tiny_data, log=lambda s: None)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "pretrained_loaded": False, "fast_path_used": "fp32-cl"}))
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["run"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert VAE.from_pretrained(run).config == tiny_config(epochs=1)
    assert run_record(run) == {"pretrained_loaded": False, "fast_path_used": "fp32-cl"}
    train(tiny_config(epochs=2), run, resume=True, progress=False, data=tiny_data, log=lambda s: None)
    assert json.loads((run / "metrics.json").read_text())["run"]["fast_path_used"] == "fp32-cl"


def test_resume_refuses_another_config(tmp_path, tiny_data):
    from vae.store import CheckpointError

    train(tiny_config(), tmp_path / "run", progress=False, data=tiny_data, log=lambda s: None)
    with pytest.raises(CheckpointError, match="another config"):
        train(tiny_config(beta=3.0), tmp_path / "run", resume=True, progress=False, data=tiny_data, log=lambda s: None)


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, tiny_data, monkeypatch):
    out = tmp_path / "run"
    train(tiny_config(epochs=1), out, progress=False, data=tiny_data, log=lambda s: None)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import vae.train as t

    real_loss = t.vae_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        parts = real_loss(*args, **kwargs)
        return LossParts(parts.total * float("nan"), parts.recon, parts.kl) if calls["n"] == 3 else parts

    monkeypatch.setattr(t, "vae_loss", poisoned)
    with pytest.raises(TrainingDiverged, match="non-finite at epoch 2, batch 3"):
        train(tiny_config(epochs=2), out, resume=True, progress=False, data=tiny_data, log=lambda s: None)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before
