"""Checkpoints through the Hugging Face Hub, with the network off: huggingface_hub's own code reads a Hub cache laid out
here by hand (HF_HUB_OFFLINE), and a local HTTP server answers as the Hub does for a revision or repo it lacks."""
from __future__ import annotations

import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest
import torch

import vae.config as config_mod
from conftest import tiny_config
from vae import cli, hub
from vae.cache import checkpoint_state
from vae.config import Preset
from vae.model import VAE
from vae.store import CheckpointError, default_checkpoints
from vae.train import train
from vae.workers import Task, task_events

REPO = "someone/vae-presets"
TINY = {"healthy": dict(latent_dim=4), "collapsed": dict(latent_dim=4)}  # one recipe: trained once, copied (the Hub does not care)


@pytest.fixture
def tiny_presets(monkeypatch, tiny_data):
    for name, overrides in TINY.items():
        monkeypatch.setitem(config_mod.PRESETS, name, Preset(name, tiny_config(**overrides), "tiny"))
    monkeypatch.setattr("vae.train.load_dataset", lambda name, data_dir=None: tiny_data)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data) -> Path:
    """A checkpoints folder with the two tiny presets trained (one epoch on 128 digits) and their digit judge."""
    root = tmp_path_factory.mktemp("checkpoints")
    train(tiny_config(**TINY["healthy"]), root / "healthy", progress=False, data=tiny_data, log=lambda s: None, iw_samples=0)
    shutil.copytree(root / "healthy", root / "collapsed")
    return root


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache of this test, the Hub turned off (HF_HUB_OFFLINE)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def published(trained: Path, out: Path, folders: dict[str, Path] | None = None) -> Path:
    """What `python -m vae publish --presets-root trained` uploads, written into out."""
    return hub.write_release(folders or hub.release_folders([], trained), out, REPO, "python -m vae publish", extras_root=trained)


def same_tensors(a: VAE, b: VAE) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_published_presets_load_back_tensor_for_tensor(trained, tmp_path, hf_cache, tiny_presets):
    release = published(trained, tmp_path / "release")
    assert sorted(p.name for p in release.iterdir()) == ["README.md", "collapsed", "healthy", "judge-mnist-5k"]
    assert not (release / "healthy" / "train_state.safetensors").exists()  # the optimizer's state stays home
    card = (release / "README.md").read_text()
    assert 'VAE.from_pretrained("someone/vae-presets", subfolder="healthy")' in card
    assert "latent_dim=4" in card and "| 5-NN accuracy on mu |" in card and "mnist-5k" in card
    assert "Trained by: `python " in card and "commit " in card  # metrics.json's trained_by, on the card
    hub.cache_snapshot(hf_cache, REPO, release)
    for name in TINY:
        assert same_tensors(VAE.from_pretrained(REPO, subfolder=name), VAE.from_pretrained(trained / name))


def test_one_folder_is_the_repo_itself(trained, tmp_path, hf_cache, tiny_presets):
    release = published(trained, tmp_path / "release", hub.release_folders([trained / "healthy"]))
    assert (release / "model.safetensors").is_file() and "## someone/vae-presets" in (release / "README.md").read_text()
    hub.cache_snapshot(hf_cache, REPO, release)
    assert same_tensors(VAE.from_pretrained(REPO), VAE.from_pretrained(trained / "healthy"))


def test_fetch_brings_presets_and_sets_aside_what_was_in_the_way(trained, tmp_path, hf_cache, tiny_presets):
    hub.cache_snapshot(hf_cache, REPO, published(trained, tmp_path / "release"))
    root = tmp_path / "checkpoints"
    (root / "healthy").mkdir(parents=True)
    (root / "healthy" / "config.json").write_text("{")  # a broken folder: kept aside, never deleted
    said = []
    assert hub.fetch_presets(REPO, ["healthy", "collapsed"], root, log=said.append) == {}
    assert all(checkpoint_state(root / n, n)[0] == "ready" for n in TINY)
    assert len(list(root.glob("healthy.old-*"))) == 1 and (root / "judge-mnist-5k" / "judge.json").is_file()
    assert said == [f"healthy: brought from {REPO}", f"collapsed: brought from {REPO}"]
    assert hub.fetch_presets(REPO, ["healthy"], root) == {}  # ready here: nothing is asked of the Hub


def test_missing_preset_is_a_sentence(trained, tmp_path, hf_cache, tiny_presets):
    hub.cache_snapshot(hf_cache, REPO, published(trained, tmp_path / "release", {"healthy": trained / "healthy"}))
    root = tmp_path / "checkpoints"
    assert hub.fetch_presets(REPO, ["healthy", "collapsed"], root) == {"collapsed": f"collapsed is not in {REPO}"}
    assert not (root / "collapsed").exists()


def test_offline_with_an_empty_cache_is_a_sentence(tmp_path, hf_cache, tiny_presets):
    why = hub.fetch_presets(f"{REPO}@v2", ["healthy"], tmp_path / "checkpoints")
    assert why == {"healthy": f"{REPO} at revision v2 is not in the Hugging Face cache and the Hub is turned off here (HF_HUB_OFFLINE)"}
    with pytest.raises(CheckpointError, match=f"^{REPO} is no folder on this machine, and {REPO} is not in the Hugging Face cache"):
        VAE.from_pretrained(REPO)


def test_corrupt_download_is_a_sentence_and_keeps_what_was_saved(trained, tmp_path, hf_cache, tiny_presets):
    release = published(trained, tmp_path / "release")
    weights = release / "healthy" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a download cut in half
    hub.cache_snapshot(hf_cache, REPO, release)
    root = tmp_path / "checkpoints"
    why = hub.fetch_presets(REPO, ["healthy", "collapsed"], root)
    assert why == {"healthy": f"healthy from {REPO} cannot be used: healthy's model.safetensors cannot be read (SafetensorError)"}
    assert not (root / "healthy").exists() and not list(root.glob(".healthy*"))  # no half copy left behind
    assert checkpoint_state(root / "collapsed", "collapsed")[0] == "ready"


class FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers every request as the Hub answers for a revision it lacks, or a repo it lacks (X-Error-Code)."""

    code = "RevisionNotFound"

    def do_GET(self):
        self.send_response(404)
        self.send_header("X-Error-Code", self.code)
        self.send_header("Content-Type", "application/json")
        body = json.dumps({"error": self.code}).encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("code, sentence", [
    ("RevisionNotFound", f"{REPO} has no revision 'nope' on the Hugging Face Hub"),
    ("RepoNotFound", f"{REPO} is not a model repository on the Hugging Face Hub that this machine may read"),
])
def test_bad_revision_or_repo_is_a_sentence(tmp_path, hf_cache, monkeypatch, tiny_presets, code, sentence):
    from huggingface_hub import constants

    handler = type("Handler", (FakeHub,), {"code": code})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        assert hub.fetch_presets(f"{REPO}@nope", ["healthy"], tmp_path / "checkpoints") == {"healthy": sentence}
    finally:
        server.shutdown()


def test_the_hub_sentence_is_why_a_preset_trains_here(trained, tmp_path, hf_cache, tiny_presets, tiny_data, monkeypatch):
    from playground.models import ModelHub

    hub.cache_snapshot(hf_cache, REPO, published(trained, tmp_path / "release", {"healthy": trained / "healthy"}))
    planned = []
    monkeypatch.setattr("playground.models.run_tasks", lambda tasks, *args, **kwargs: planned.extend(tasks))
    models = ModelHub(tmp_path / "checkpoints", names=("healthy", "collapsed"), data=tiny_data, from_hub=REPO)
    monkeypatch.setattr(models, "warm", lambda: None)
    models.run()
    assert models.status()["healthy"] == "ready"  # brought from the Hub and served, not trained
    assert [(t.name, t.state, t.reason) for t in planned] == [("collapsed", "train", f"collapsed is not in {REPO}"),
                                                              ("healthy second VAE", "second-stage", "healthy's second VAE is missing or stale")]
    assert f"`collapsed`: queued to train (collapsed is not in {REPO})" in models.status_markdown()


def test_publish_command_refuses_bad_input_with_a_sentence(trained, tmp_path, capsys):
    assert cli.main(["publish", str(trained / "healthy"), "--repo", "not a repo"]) == 2
    assert cli.main(["publish", str(trained / "healthy"), "--presets-root", str(trained), "--repo", REPO]) == 2
    assert cli.main(["publish", str(tmp_path / "nothing"), "--repo", REPO, "--out", str(tmp_path / "out")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
    assert cli.main(["publish", "--presets-root", str(trained), "--repo", REPO, "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "healthy" / "model.safetensors").is_file()


def test_persistent_storage_holds_the_checkpoints(tmp_path, monkeypatch):
    from vae.speed import cache_file

    monkeypatch.delenv("VAE_CACHE_DIR")
    monkeypatch.setenv("VAE_PERSISTENT_DIR", str(tmp_path))
    assert default_checkpoints() == tmp_path / "checkpoints" and cache_file() == tmp_path / "cache" / "fast_path.json"
    for off in (str(tmp_path / "absent"), ""):
        monkeypatch.setenv("VAE_PERSISTENT_DIR", off)
        assert default_checkpoints() == Path("checkpoints")


def test_app_takes_the_presets_repo_from_its_flag_or_the_environment(monkeypatch):
    from app import parse_args

    monkeypatch.setenv("VAE_PRESETS", f"{REPO}@v1")
    assert parse_args([]).presets == f"{REPO}@v1"
    assert parse_args(["--presets", "a/b"]).presets == "a/b"
    monkeypatch.delenv("VAE_PRESETS")
    assert parse_args([]).presets is None


def test_zerogpu_call_streams_the_training_events(tmp_path, tiny_data):
    from playground import zerogpu

    assert not zerogpu.active()  # off a ZeroGPU Space spaces.GPU hands the function back as it is
    task = Task("healthy", tiny_config(), tmp_path / "healthy", "train", "healthy has no checkpoint yet")
    kinds = [e.kind for e in task_events(task, tiny_data, device="cpu")]
    assert kinds[0] == "start" and kinds[-1] == "done" and "epoch" in kinds


def test_zerogpu_refusal_leaves_the_preset_to_the_cpu(tmp_path, monkeypatch):
    from playground import zerogpu

    def refused(task, data=None):
        raise RuntimeError("ZeroGPU quota exceeded")
        yield

    monkeypatch.setattr(zerogpu, "train_on_gpu", refused)
    said = []
    task = Task("healthy", tiny_config(), tmp_path / "healthy", "train", "")
    assert zerogpu.train_presets([task], said.append) == ["healthy"]
    assert said[0].data == "healthy could not have a ZeroGPU GPU (RuntimeError: ZeroGPU quota exceeded); it trains on the CPU"
