"""The data curve (python -m vae data-curve): the same steps on fewer digits, its rows, its file, and the command."""
from __future__ import annotations

import json
import math

import pytest

from vae import data_curve as dc
from vae.config import preset_config


def test_fewer_digits_train_for_the_same_number_of_steps():
    healthy = preset_config("healthy")
    full = dc.curve_config(4000, False, 4000)
    assert full.train_digits == 0 and full.epochs == healthy.epochs and not full.augment
    small = dc.curve_config(500, True, 4000)
    assert small.train_digits == 500 and small.augment
    assert small.epochs * 500 == full.epochs * 4000  # as many digits seen, so as many steps (up to a last partial batch)
    assert small.kl_warmup_epochs == healthy.kl_warmup_epochs * 8  # the warm-up spans the same steps too
    with pytest.raises(ValueError, match="from 1 to 4000"):
        dc.curve_config(5000, False, 4000)


def test_a_row_splits_the_kl_of_the_digits_it_trained_on(tiny, tiny_data):
    from vae.model import VAE

    config = tiny(train_digits=32)
    row = dc.curve_row(VAE(config), tiny_data, config, {"sample_valid": 0.5, "sample_coverage": 0.9, "recon_keeps_digit": 0.7,
                                                        "knn_acc": 0.6})
    assert row["n"] == 32 and row["log_n"] == pytest.approx(math.log(32))
    assert row["kl_info"] <= row["log_n"] + 1e-6
    assert row["kl_info"] + row["kl_mismatch"] == pytest.approx(row["kl"], abs=0.05)  # an untrained model's KL is small
    assert row["sample_valid"] == 0.5


def test_the_curve_is_saved_and_a_torn_file_reads_as_not_measured(tmp_path):
    rows = [{"n": n, "augment": a, "epochs": 10, "sample_valid": 0.2, "sample_coverage": 1.0, "recon_keeps_digit": 0.9, "knn_acc": 0.9,
             "kl": 30.0, "kl_info": 7.0, "kl_mismatch": 23.0, "log_n": math.log(n)} for a in (False, True) for n in (500, 4000)]
    dc.save_curve(tmp_path, rows, "`cmd` on a day")
    assert dc.load_curve(tmp_path)["rows"] == rows
    table = dc.curve_table(rows).splitlines()
    assert len(table) == 2 + 4 and table[2].startswith("| 500 | no |") and table[-1].startswith("| 4,000 | yes |")
    (tmp_path / dc.RESULTS).write_text('{"rows": [')
    assert dc.load_curve(tmp_path) is None
    assert dc.load_curve(tmp_path / "nowhere") is None


@pytest.mark.slow
def test_the_command_trains_each_size_and_writes_the_curve(tiny_data, tmp_path, monkeypatch, capsys):
    from vae import cli

    monkeypatch.setattr("vae.data.load_dataset", lambda name, data_dir=None: tiny_data)
    tiny = ["latent_dim=4", "hidden_dim=32", "decoder_channels=8-8-4", "pretrained=false", "fast_path=fp32", "epochs=1"]
    argv = ["data-curve", "--sizes", "32,128", "--out", str(tmp_path / "curve"), "--checkpoints", str(tmp_path)]
    assert cli.main(argv + [f"--set={s}" for s in tiny]) == 0
    curve = dc.load_curve(tmp_path / "curve")
    assert [(r["n"], r["augment"]) for r in curve["rows"]] == [(32, False), (128, False), (32, True), (128, True)]
    assert "python -m vae data-curve --sizes 32,128" in curve["provenance"]
    out = capsys.readouterr().out
    printed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert "| 32 | no |" in out and [r["n"] for r in printed] == [32, 128, 32, 128]
    config = json.loads((tmp_path / "curve" / "n32-augmented" / "config.json").read_text())
    assert config["train_digits"] == 32 and config["augment"] is True


def test_the_prior_tab_draws_the_curve_when_it_has_been_measured(tmp_path):
    from playground import explain
    from playground.prior import curve_view

    assert curve_view(tmp_path) == (explain.DATA_CURVE_MISSING, None)
    rows = [{"n": n, "augment": a, "epochs": 10, "sample_valid": v, "sample_coverage": 1.0, "recon_keeps_digit": 0.9, "knn_acc": 0.9,
             "kl": 30.0, "kl_info": math.log(n) - 0.2, "kl_mismatch": m, "log_n": math.log(n)}
            for a, shift in ((False, 0.0), (True, 0.05)) for n, v, m in ((500, 0.1, 40.0), (4000, 0.25, 22.0)) for v in [v + shift]]
    dc.save_curve(tmp_path / dc.FOLDER, rows, "`python -m vae data-curve` on a day")
    sentence, picture = curve_view(tmp_path)
    assert "10% and then 25%" in sentence and "from 40.0 to 22.0 nats" in sentence and "4,000 digits" in sentence
    assert "within 0.2 nats of log N" in sentence
    assert "same 4,000 digits (more copies, no new digits): 30%" in sentence and "on a day" in sentence
    assert picture.ndim == 3 and picture.shape[2] == 3 and picture.std() > 0
