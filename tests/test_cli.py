"""The command line: help, a real one-epoch training run, evaluate's JSON, and one-line errors with exit code 2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT


def run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "vae", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def in_process(*args, capsys) -> tuple[int, str, str]:
    """`python -m vae ARGS` in this process (exit code, stdout, stderr): the argument checks need no fresh interpreter,
    which costs ~7 s of imports each; the subprocess tests below keep the real command honest."""
    from vae import cli

    try:
        code = cli.main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("args", [[], ["train"], ["evaluate"], ["sweep"], ["report"], ["gaps"]])
def test_help(args, capsys):
    code, out, _ = in_process(*args, "--help", capsys=capsys)
    assert code == 0 and "usage" in out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    r = run("train", "--preset", "healthy-2d", "--epochs", "1", "--out", str(out), "--device", "cpu")
    assert r.returncode == 0, r.stderr[-2000:]
    return out, r


@pytest.mark.slow
def test_train_shows_progress_and_saves(trained):
    out, r = trained
    assert "healthy-2d epoch 1/1" in r.stderr  # the tqdm bar
    assert "val loss" in r.stderr + r.stdout
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.json", "metrics.json"}


@pytest.mark.slow
def test_evaluate_prints_metrics_as_json_with_a_progress_bar(trained):
    out, _ = trained
    r = run("evaluate", str(out), "--iw-samples", "2", "--no-second-stage")  # its fit has its own tests (test_two_stage)
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)
    assert metrics["preset"] == "healthy-2d" and len(metrics["kl_per_dim"]) == 2
    for key in ("recon", "mse", "kl", "active_units", "knn_acc", "nll", "checks"):
        assert key in metrics
    assert metrics["knn_acc"] > 0.3  # one epoch already separates digits far above chance (0.1)
    assert "IW-NLL, 2 samples per image" in r.stderr  # issue 10, defect 13: a progress bar over the IW-NLL


def _one_line_error(r):
    return _one_line(r.returncode, r.stderr)


def _one_line(code, err):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_unknown_preset():  # a subprocess: what a person really sees, one line and no traceback
    assert "invalid choice: 'bogus'" in _one_line_error(run("train", "--preset", "bogus"))


def test_missing_folder(tmp_path, capsys):
    code, _, err = in_process("evaluate", str(tmp_path / "nothing"), capsys=capsys)
    assert "does not exist" in _one_line(code, err)


def test_corrupt_checkpoint(trained, tmp_path, capsys):
    import shutil

    out, _ = trained
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "model.safetensors").write_bytes(b"garbage" * 10)
    assert "safetensors" in _one_line_error(run("evaluate", str(broken)))
    (broken / "config.json").write_text("{oops")
    code, _, err = in_process("evaluate", str(broken), capsys=capsys)
    assert "not valid JSON" in _one_line(code, err)


def test_train_needs_a_preset(capsys):
    code, _, err = in_process("train", capsys=capsys)
    assert "--preset" in _one_line(code, err)


def test_resume_into_another_config_is_refused(trained, capsys):
    out, _ = trained
    code, _, err = in_process("train", "--preset", "collapsed", "--epochs", "1", "--out", str(out), "--resume", capsys=capsys)
    assert "another config" in _one_line(code, err)


def test_train_all_refuses_to_overwrite_a_foreign_checkpoint(trained, tmp_path):
    """`train --all` works in ./checkpoints; a folder there made for another config is never overwritten."""
    import os
    import shutil

    shutil.copytree(trained[0], tmp_path / "checkpoints" / "healthy")  # a healthy-2d run where healthy belongs
    r = subprocess.run([sys.executable, "-m", "vae", "train", "--all"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = _one_line_error(r)
    assert "another config" in line and "move" in line
    assert (tmp_path / "checkpoints" / "healthy" / "model.safetensors").read_bytes() == (trained[0] / "model.safetensors").read_bytes()


# --- issue 10, defect 13 -------------------------------------------------------------------------------------------

def test_ctrl_c_says_exactly_what_is_saved(trained, tmp_path, monkeypatch, capsys):
    import shutil

    from vae import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("vae.train.train", interrupted)
    assert cli.main(["train", "--preset", "healthy-2d", "--out", str(tmp_path / "fresh"), "--device", "cpu"]) == 130
    assert "nothing is saved yet" in capsys.readouterr().err
    shutil.copytree(trained[0], tmp_path / "one")
    assert cli.main(["train", "--preset", "healthy-2d", "--epochs", "3", "--out", str(tmp_path / "one"), "--resume", "--device", "cpu"]) == 130
    assert "epoch 1 is saved" in capsys.readouterr().err


def test_resume_with_fewer_epochs_than_the_folder_holds_says_so(trained, tmp_path, capsys):
    import shutil

    from safetensors.torch import load_file, save_file

    from vae import cli

    folder = tmp_path / "three"
    shutil.copytree(trained[0], folder)
    save_file(load_file(str(folder / "model.safetensors")), str(folder / "model.safetensors"), metadata={"format": "pt", "epoch": "3"})
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert cli.main(["train", "--preset", "healthy-2d", "--epochs", "2", "--out", str(folder), "--resume", "--device", "cpu"]) == 0
    said = capsys.readouterr().out
    assert "already holds 3 epochs, more than the 2 asked; nothing to do" in said and "3 of 2" not in said
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_training_over_a_trained_folder_without_resume_is_refused(trained, capsys):
    out, _ = trained
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    line = _one_line(*in_process("train", "--preset", "collapsed", "--epochs", "1", "--out", str(out), capsys=capsys)[::2])
    assert "already holds the healthy-2d preset" in line and "nothing was changed" in line and "--resume" in line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_setting_that_cannot_be_used_is_one_sentence_and_a_bug_keeps_its_traceback(tmp_path, monkeypatch, capsys):
    """Issue 21, item 6: only the project's own errors (ConfigError and the like) become 'error: ...'; VAE_DEBUG=1 adds
    their traceback; any other exception (a KeyError from a bug, say) is not dressed up as a usage error."""
    from vae import cli
    from vae.config import ConfigError, get_preset

    def refused(args):
        raise ConfigError("sigma must be positive, got -1.0")

    monkeypatch.setattr(cli, "_cmd_evaluate", refused)
    code, _, err = in_process("evaluate", str(tmp_path), capsys=capsys)
    assert _one_line(code, err) == "error: sigma must be positive, got -1.0" and "Traceback" not in err
    monkeypatch.setenv("VAE_DEBUG", "1")
    code, _, err = in_process("evaluate", str(tmp_path), capsys=capsys)
    assert code == 2 and "Traceback" in err and err.rstrip().endswith("error: sigma must be positive, got -1.0")

    def buggy(args):
        return {}["a key a bug forgot"]

    monkeypatch.setattr(cli, "_cmd_evaluate", buggy)
    with pytest.raises(KeyError):
        cli.main(["evaluate", str(tmp_path)])
    with pytest.raises(KeyError, match="unknown preset 'bogus'"):  # an unknown name is still a KeyError for lookups
        get_preset("bogus")
    with pytest.raises(ConfigError) as caught:  # ... and a sentence, not KeyError's quoted repr
        get_preset("bogus")
    assert str(caught.value).startswith("unknown preset 'bogus'; choose one of healthy")


# --- issue 21, item 2: one override syntax, --set field=value, for any config field ----------------------------------

def test_set_reaches_any_config_field(tmp_path, monkeypatch, capsys):
    """The config train receives (written as config.json by the training the other tests run) carries each --set."""
    from vae import cli

    seen = {}
    monkeypatch.setattr(cli, "_train_one", lambda config, out, args, world: seen.update(config=config, out=out) or 0)
    out = tmp_path / "small"
    code, _, _ = in_process("train", "--preset", "healthy-2d", "--epochs", "1", "--set", "decoder_channels=32-16-8",
                            "--set", "train_digits=128", "--set", "augment=true", "--out", str(out), capsys=capsys)
    config = json.loads(seen["config"].to_json())
    assert code == 0 and seen["out"] == out
    assert config["decoder_channels"] == [32, 16, 8] and config["train_digits"] == 128 and config["augment"] is True
    assert config["latent_dim"] == 2 and config["epochs"] == 1  # the preset's, and --epochs beside --set


@pytest.mark.parametrize("setting, words", [
    ("decoder_chanels=32-16-8", "unknown config field 'decoder_chanels'; choose one of latent_dim, hidden_dim, decoder_channels"),
    ("likelihood=l2", "likelihood must be one of gaussian, bernoulli, laplace, gaussian-learned-sigma, got 'l2'"),
    ("decoder_channels=32,16", "decoder_channels must be whole numbers joined by '-', as 64-32-16"),
    ("lr=nan", "lr must be a finite number"),
    ("augment=maybe", "augment must be true or false"),
    ("beta=-1", "beta must be >= 0"),  # the config's own check, after the value is parsed
    ("fast_path_used=bf16", "unknown config field 'fast_path_used'"),  # the run's record is not a setting
    ("beta", "a setting is field=value"),
])
def test_a_setting_that_cannot_be_used_is_refused_before_training(setting, words, tmp_path, capsys):
    out = tmp_path / "never"
    line = _one_line(*in_process("train", "--preset", "healthy-2d", "--set", setting, "--out", str(out), capsys=capsys)[::2])
    assert words in line and not out.exists()


def test_tune_variants_and_the_cli_share_one_parser():
    from benchmarks.tune import variant
    from vae.config import preset_config, with_settings

    base = preset_config("healthy")
    name, config, changes = variant(base, "small:decoder_channels=32-16-8,augment=true,lr=3e-4")
    assert config == with_settings(base, ["decoder_channels=32-16-8", "augment=true", "lr=3e-4"])
    assert (name, config.decoder_channels, config.augment, config.lr) == ("small", (32, 16, 8), True, 3e-4)
