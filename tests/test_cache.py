"""load_or_train: load a matching preset, resume an interrupted one, set aside and retrain the rest."""
from __future__ import annotations

import json

import pytest

import vae.cache as cache
import vae.config as config_mod
from conftest import tiny_config
from vae.config import Preset


@pytest.fixture
def tiny_presets(monkeypatch, tiny_data):
    """Two tiny presets trained on 128 digits, so each (re)training takes seconds."""
    monkeypatch.setitem(config_mod.PRESETS, "healthy", Preset("healthy", tiny_config(epochs=2), "tiny"))
    monkeypatch.setitem(config_mod.PRESETS, "collapsed", Preset("collapsed", tiny_config(epochs=2, sigma=1.0), "tiny"))
    monkeypatch.setattr("vae.train.load_dataset", lambda name, data_dir=None: tiny_data)
    calls = []
    real_train = cache.train

    def counting_train(*args, **kwargs):
        calls.append(kwargs.get("resume", False))
        return real_train(*args, **kwargs)

    monkeypatch.setattr(cache, "train", counting_train)
    return calls


def test_missing_then_cached(tmp_path, tiny_presets):
    said = []
    model = cache.load_or_train("healthy", root=tmp_path, progress=False, log=said.append)
    assert tiny_presets == [False] and "no checkpoint yet" in said[0]
    again = cache.load_or_train("healthy", root=tmp_path, progress=False, log=said.append)
    assert tiny_presets == [False]  # loaded, not trained again
    assert all((a == b).all() for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_interrupted_run_is_resumed(tmp_path, tiny_presets, tiny_data):
    from vae.train import train

    train(tiny_config(epochs=1), tmp_path / "healthy", progress=False, data=tiny_data, log=lambda s: None)
    metrics = json.loads((tmp_path / "healthy" / "metrics.json").read_text())
    # what an interrupted 2-epoch run leaves behind: epoch 1 saved, status training, config of 2 epochs
    (tmp_path / "healthy" / "config.json").write_text(json.dumps(tiny_config(epochs=2).to_dict()))
    (tmp_path / "healthy" / "metrics.json").write_text(json.dumps({**metrics, "status": "training"}))
    said = []
    cache.load_or_train("healthy", root=tmp_path, progress=False, log=said.append)
    assert tiny_presets == [True]
    assert "interrupted after epoch 1 of 2" in said[0]
    assert json.loads((tmp_path / "healthy" / "metrics.json").read_text())["status"] == "complete"


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 100), "model.safetensors cannot be read"),
        (lambda d: (d / "config.json").write_text("{"), "cannot be read"),
        (lambda d: (d / "config.json").write_text(json.dumps(tiny_config(epochs=2, sigma=1.0).to_dict())), "another config"),
    ],
)
def test_broken_or_foreign_checkpoints_are_set_aside_and_retrained(tmp_path, tiny_presets, damage, reason):
    cache.load_or_train("healthy", root=tmp_path, progress=False, log=lambda s: None)
    damage(tmp_path / "healthy")
    said = []
    model = cache.load_or_train("healthy", root=tmp_path, progress=False, log=said.append)
    assert reason in said[0] and "kept it as" in said[0]
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("healthy.old-")]
    assert len(kept) == 1  # nothing already saved is lost
    assert model.config == tiny_config(epochs=2)  # matches() became ==: the run record left the config
    assert cache.checkpoint_state(tmp_path / "healthy", "healthy")[0] == "ready"


def test_truncated_weights_with_a_good_config_are_retrained(tmp_path, tiny_presets):
    cache.load_or_train("collapsed", root=tmp_path, progress=False, log=lambda s: None)
    weights = tmp_path / "collapsed" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    said = []
    cache.load_or_train("collapsed", root=tmp_path, progress=False, log=said.append)
    assert tiny_presets == [False, False]
    assert "cannot be" in said[0]


def test_unknown_preset(tmp_path):
    with pytest.raises(KeyError, match="healthy"):
        cache.load_or_train("nope", root=tmp_path)


def test_a_config_names_its_preset_at_any_number_of_epochs():
    import dataclasses

    from vae.config import model_names, preset_config, preset_of

    for name in model_names():
        assert preset_of(preset_config(name)) == name
        assert preset_of(dataclasses.replace(preset_config(name), epochs=1)) == name
    assert preset_of(dataclasses.replace(preset_config("healthy"), beta=3.0)) is None
