"""The second VAE (issue 20, item 3): it learns where codes live, its file belongs to one model's weights, and
`python -m vae sample` writes the three samplers' digits for anyone to judge."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vae import two_stage
from vae.analysis import Latents, fit_pca2


def codes(n=500, d=2, centre=5.0, spread=0.2, seed=0) -> Latents:
    """Codes far from the prior (around `centre`, `spread` wide) with tiny bubbles: N(0, I) misses them entirely."""
    mu = (centre + spread * np.random.default_rng(seed).standard_normal((n, d))).astype(np.float32)
    logvar = np.full_like(mu, 2 * np.log(1e-3))
    return Latents(mu, logvar, np.zeros(n, int), fit_pca2(mu), mu[:, :2], np.zeros(d), fingerprint="abc")


def test_the_second_vae_learns_where_the_codes_are(monkeypatch):
    monkeypatch.setattr(two_stage, "EPOCHS", 200)
    train = codes()
    z = two_stage.second_stage_for(None, train).sample(2000, torch.Generator().manual_seed(0)).numpy()
    prior = two_stage.sample_codes("prior", 2000, 0, train).numpy()
    assert np.abs(z.mean(0) - 5.0).max() < 0.2 and (z.std(0) < 0.5).all()  # where the codes are, about as spread
    assert np.abs(prior.mean(0)).max() < 0.1  # what the plain prior draws instead: around 0, nowhere near them


def test_its_file_belongs_to_one_models_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(two_stage, "EPOCHS", 2)
    train = codes(n=100)
    fitted = two_stage.second_stage_for(tmp_path, train)
    assert (tmp_path / two_stage.FILE).exists()
    again = two_stage.load(tmp_path, "abc")
    u = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fitted.decoder(u), again.decoder(u))
    assert two_stage.load(tmp_path, "other weights") is None  # the codes of another model: fitted again
    (tmp_path / two_stage.FILE).write_bytes(b"torn")
    assert two_stage.load(tmp_path, "abc") is None


def test_a_second_stage_of_any_size_is_saved_with_it_and_a_file_of_another_recipe_is_fitted_again(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    monkeypatch.setattr(two_stage, "EPOCHS", 2)
    train = codes(n=100)
    fitted = two_stage.fit(train.mu, train.logvar, epochs=1, hidden=16, layers=3)
    two_stage.save(fitted, tmp_path, "abc")
    again = two_stage.load(tmp_path, "abc")
    assert (again.hidden, again.layers) == (16, 3) and len(again.decoder) == 2 * 3 + 1
    u = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fitted.decoder(u), again.decoder(u))
    older = two_stage.SecondStage(2, 16, 2)  # a file written before the recipe was saved (the app's 256 x 2 of then)
    save_file(older.state_dict(), str(tmp_path / two_stage.FILE), metadata={"weights": "abc", "latent_dim": "2", "hidden": "16"})
    assert two_stage.load(tmp_path, "abc") is None
    refitted = two_stage.second_stage_for(tmp_path, train)  # fitted again with today's recipe, and saved
    assert (refitted.hidden, refitted.layers) == (two_stage.HIDDEN, two_stage.LAYERS)
    assert two_stage.load(tmp_path, "abc") is not None


def test_the_samplers_are_seeded_and_named():
    train = codes(n=200, d=3)
    for sampler in ("prior", "mixture"):
        a, b = (two_stage.sample_codes(sampler, 50, 7, train) for _ in range(2))
        assert a.shape == (50, 3) and torch.equal(a, b)
    with pytest.raises(ValueError, match="choose one of prior, mixture, two-stage"):
        two_stage.sample_codes("gan", 5, 0, train)


def test_sample_writes_npy_and_png_and_refuses_what_it_cannot_write(tiny_hub, tmp_path, capsys):
    from PIL import Image

    from vae import cli

    directory = tiny_hub.root / "healthy"
    assert cli.main(["sample", str(directory), "--n", "12", "--seed", "3", "--sampler", "mixture", "--out", str(tmp_path / "s.npy")]) == 0
    images = np.load(tmp_path / "s.npy")
    assert images.shape == (12, 28, 28) and images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1
    assert cli.main(["sample", str(directory), "--n", "12", "--out", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").size == (10 * 30 + 2, 2 * 30 + 2)  # ten a row, 2 px gaps
    for args, words in ((["--n", "0"], "--n must be between 1"), (["--out", str(tmp_path / "s.txt")], "must end in .npy")):
        out = ["--out", str(tmp_path / "x.npy")] if "--out" not in args else []
        assert cli.main(["sample", str(directory), *args, *out]) == 2
        assert words in capsys.readouterr().err


@pytest.mark.slow  # spawns a training worker (about 17 s): CI runs it, the everyday loop leaves it out
def test_the_cache_fits_a_second_vae_after_its_model_in_a_worker(tmp_path, tiny_data):
    """A second-stage task waits for the model it belongs to (Task.after), fits in a worker process, and adds its
    judged figures to the model's metrics.json; then the cache has nothing left to fit. A task whose model failed
    fails with a sentence instead of waiting for ever."""
    from conftest import tiny_config
    from vae.store import read_json
    from vae.workers import SECOND_STAGE, Task, run_tasks

    tasks = [Task("a", tiny_config(), tmp_path / "a", "train", "a has no checkpoint yet"),
             Task("a second VAE", tiny_config(), tmp_path / "a", SECOND_STAGE, "a trained", after="a"),
             Task("b", tiny_config(), tmp_path / "nothing", SECOND_STAGE, "no model there: it fails"),
             Task("c", tiny_config(), tmp_path / "nothing", SECOND_STAGE, "waits for b", after="b")]
    events = []
    run_tasks(tasks, events.append, jobs=2, threads=1, data=tiny_data)
    order = [(e.name, e.kind) for e in events if e.kind in ("start", "done", "failed")]
    assert order.index(("a", "done")) < order.index(("a second VAE", "start")) < order.index(("a second VAE", "done"))
    assert ("b", "failed") in order and ("c", "start") not in order
    said = next(e.data for e in events if (e.name, e.kind) == ("c", "failed"))
    assert "b did not finish" in said
    final = read_json(tmp_path / "a" / "metrics.json")["final"]
    assert 0 <= final["sample_valid_two_stage"] <= 1 and 0 <= final["sample_valid_mixture"] <= 1 and "sample_valid" in final
    assert not two_stage.needs_fit(tmp_path / "a")


def test_the_cache_knows_which_second_vaes_are_missing_or_stale(tmp_path, tiny_hub, monkeypatch):
    import shutil

    import vae.config as config_mod
    from conftest import TINY_PRESET_CONFIGS, tiny_config
    from vae.cache import finishing_tasks
    from vae.config import Preset

    for name in ("healthy", "collapsed"):
        monkeypatch.setitem(config_mod.PRESETS, name, Preset(name, tiny_config(**TINY_PRESET_CONFIGS[name]), "tiny"))
        shutil.copytree(tiny_hub.root / name, tmp_path / name)
    assert not two_stage.needs_fit(tmp_path / "healthy")  # the hub's workers fitted it after training it
    assert finishing_tasks(("healthy", "collapsed"), tmp_path, set()) == []  # collapsed is not one the cache keeps
    (tmp_path / "healthy" / two_stage.FILE).write_bytes(b"torn")
    [task] = finishing_tasks(("healthy", "collapsed"), tmp_path, set())
    assert task.directory == tmp_path / "healthy" and task.after is None
    [task] = finishing_tasks(("healthy",), tmp_path, {"healthy"})  # being trained in the same call: after it
    assert task.after == "healthy"


def test_figures_judged_by_an_older_rule_are_judged_again_and_nothing_else_changes(tmp_path, tiny_hub, tiny_data, monkeypatch):
    """A checkpoint whose samples were judged before the judge's rule changed (judge.VALIDITY) gets a task that judges
    them again, weights untouched; once done, nothing is left to do."""
    import shutil

    import vae.config as config_mod
    from conftest import TINY_PRESET_CONFIGS, tiny_config
    from vae.cache import finishing_tasks
    from vae.config import Preset
    from vae.judge import VALIDITY
    from vae.store import atomic_write_json, read_json
    from vae.workers import JUDGE, train_task

    monkeypatch.setitem(config_mod.PRESETS, "collapsed", Preset("collapsed", tiny_config(**TINY_PRESET_CONFIGS["collapsed"]), "tiny"))
    shutil.copytree(tiny_hub.root / "collapsed", tmp_path / "collapsed")
    shutil.copytree(tiny_hub.root / "judge-mnist-5k", tmp_path / "judge-mnist-5k")
    folder = tmp_path / "collapsed"
    metrics = read_json(folder / "metrics.json")
    assert metrics["final"]["validity"] == VALIDITY and not two_stage.judged_before(folder)
    old = {**metrics["final"], "sample_valid": 0.123456}
    del old["validity"]  # as every checkpoint judged before the rule was written down
    atomic_write_json(folder / "metrics.json", {**metrics, "final": old})
    weights = (folder / "model.safetensors").read_bytes()
    [task] = finishing_tasks(("collapsed",), tmp_path, set())
    assert task.state == JUDGE and "older rule" in task.reason
    events = []
    train_task(task, events.append, tiny_data)
    assert [e.kind for e in events][-1] == "done", events
    final = read_json(folder / "metrics.json")["final"]
    assert final["validity"] == VALIDITY and final["sample_valid"] != 0.123456 and final["kl"] == old["kl"]
    assert (folder / "model.safetensors").read_bytes() == weights
    assert finishing_tasks(("collapsed",), tmp_path, set()) == []


def test_the_prior_tab_waits_while_a_worker_fits_the_second_vae(tmp_path, tiny_hub):
    from playground.models import ModelHub, NotReady
    from vae.workers import Event

    hub = ModelHub(tmp_path)  # never started: the test plays the worker's reports
    hub._fitting["healthy second VAE"] = "queued after the models' training"
    ready = tiny_hub.get("healthy")

    hub._on_event(Event("log", "healthy second VAE", "second stage epoch 50/600: loss 3.2"))
    with pytest.raises(NotReady, match=r"second VAE of healthy is being fitted in the background \(second stage epoch 50/600"):
        hub.second_stage(ready, tiny_hub.train_codes(ready))
    hub._on_event(Event("done", "healthy second VAE"))
    assert hub.second_stage(ready, tiny_hub.train_codes(ready)) is not None  # read from the checkpoint folder
