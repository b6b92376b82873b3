"""Shared fixtures: tiny configs and a small real-digit data set so behaviour tests run in seconds."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# measured fast paths (vae/speed.py) go to a folder of this test session, never the user's cache
os.environ.setdefault("VAE_CACHE_DIR", tempfile.mkdtemp(prefix="vae-test-cache-"))
# no test reaches the Hugging Face Hub (tests/test_hub.py serves it from this machine), nor a Space's /data
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VAE_PERSISTENT_DIR", "")
# Gradio's cache folder (pictures served, uploads, exports) for this test session alone: the cache tests sweep it,
# and it is deleted at the end (a round of the tests leaves ~200 MB there)
GRADIO_CACHE = tempfile.mkdtemp(prefix="vae-test-gradio-")
os.environ["GRADIO_TEMP_DIR"] = GRADIO_CACHE

from vae.config import VAEConfig  # noqa: E402
from vae.data import DataBundle, Split, load_dataset  # noqa: E402

torch.set_num_threads(2)

# The everyday loop skips these; CI runs everything with --runslow (README has both commands).
SLOW_MARKERS = ("slow", "stress", "browser")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run the slow tests: stress, browser, DDP, real training, benchmarks (CI does)")


SESSION = pytest.StashKey()


def pytest_sessionfinish(session, exitstatus):
    from playground.runs import folder_bytes

    session.config.stash[SESSION] = session

    # what the app's cache holds after a round of these tests (README, Reliability): the sweeper keeps it bounded
    print(f"\nGradio's cache folder after these tests: {folder_bytes(GRADIO_CACHE) / 1024**2:.1f} MB")
    shutil.rmtree(GRADIO_CACHE, ignore_errors=True)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave with pytest's exit code without finalizing the interpreter. The app's daemon threads (a hub warming its
    views, a run's epoch being drawn) may be inside a PyTorch call when the tests end; such a thread that wakes into a
    finalizing interpreter is unwound through C++ code that must not throw, and the process aborted ("terminate called
    without an active exception", exit 134) after every test had passed: 1 round in 5 of tests/test_hostile.py, and
    once in CI's command."""
    session = config.stash.get(SESSION, None)
    if session is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(session.exitstatus))


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (CI does)")
    for item in items:
        if any(item.get_closest_marker(m) for m in SLOW_MARKERS):
            item.add_marker(skip)


def tiny_config(**overrides) -> VAEConfig:
    """The real architecture with small heads, one short epoch, no ImageNet lookup, and plain fp32 (the measured
    choice, vae/speed.py, has its own test; measuring it in every test would cost each one seconds)."""
    base = dict(latent_dim=4, hidden_dim=32, decoder_channels=(8, 8, 4), epochs=1, batch_size=32, pretrained=False, fast_path="fp32")
    return VAEConfig(**{**base, **overrides})


@pytest.fixture(scope="session")
def tiny_data() -> DataBundle:
    """128 training and 64 test digits of the real mnist-5k split."""
    full = load_dataset("mnist-5k")
    return DataBundle("mnist-5k", Split(full.train.images[:128], full.train.labels[:128]), Split(full.test.images[:64], full.test.labels[:64]), full.classes)


@pytest.fixture
def tiny():
    return tiny_config


TINY_PRESET_CONFIGS = {
    "healthy": dict(latent_dim=6),
    "autoencoder": dict(latent_dim=6, beta=0.0),
    "collapsed": dict(latent_dim=6, sigma=1.0, beta=50.0),
    "healthy-2d": dict(latent_dim=2),
    # the view models (vae/config.py VIEW_MODELS), trained after the presets
    "learned-sigma": dict(latent_dim=6, likelihood="gaussian-learned-sigma"),
    "laplace": dict(latent_dim=6, likelihood="laplace", sigma=0.05),
}


def start_tiny_hub(mp: pytest.MonkeyPatch, root, data):
    """A started ModelHub over `root` whose presets and view models are tiny one-epoch models on `data`; waits until ready."""
    import vae.config as config_mod
    from playground.models import ModelHub
    from vae.config import Preset

    for name, overrides in TINY_PRESET_CONFIGS.items():
        table = config_mod.VIEW_MODELS if name in config_mod.VIEW_MODELS else config_mod.PRESETS
        mp.setitem(table, name, Preset(name, tiny_config(**overrides), "tiny"))
    mp.setattr("vae.train.load_dataset", lambda name, data_dir=None: data)
    hub = ModelHub(root, data=data).start()
    hub.wait(timeout=600)
    assert all(s == "ready" for s in hub.status().values()), hub.status()
    return hub


@pytest.fixture(scope="session")
def tiny_hub(tmp_path_factory, tiny_data):
    """A ModelHub over the four presets and the two view models, each a tiny model trained for one epoch on 128 digits."""
    with pytest.MonkeyPatch.context() as mp:
        return start_tiny_hub(mp, tmp_path_factory.mktemp("checkpoints"), tiny_data)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def train_runs(tiny_hub, tmp_path_factory):
    """The Train tab's runs for the test app: tiny models on the tiny data, in a folder of this test session."""
    from playground.runs import RunManager

    from playground.presence import PRESENCE

    return RunManager(tmp_path_factory.mktemp("runs"), tiny_hub, tiny_config(), presence=PRESENCE)


@pytest.fixture(scope="session")
def app_demo(tiny_hub, train_runs):
    """The real app (build_demo + launch, as app.py does) on a free localhost port, in this process."""
    from playground.ui import build_demo, launch

    demo = build_demo(tiny_hub, train_runs)
    sweeper = launch(demo, port=free_port(), quiet=True)
    yield demo
    sweeper.stop()
    demo.close()


@pytest.fixture(scope="session")
def app_url(app_demo):
    return f"http://127.0.0.1:{app_demo.server_port}/"
