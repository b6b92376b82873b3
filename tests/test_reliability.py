"""Reliability: bad input of every kind, broken checkpoints in the app, no pickle, safe defaults.

The heavy runs (1,000+ fuzzed drawings, killed training, 20 concurrent visitors) carry the `stress` marker;
the README's test command runs them too.
"""
from __future__ import annotations

import concurrent.futures
import json
import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from conftest import ROOT
from playground.draw import FIRST, DrawHandlers
from playground.explain import DRAW_WAITING
from playground.inputs import Pen
from playground.walk import WalkHandlers

GENERIC_FAILURE = "failed inside the app"


def outcome(call):
    """('ok', result) or ('refused', sentence); anything else fails the test."""
    try:
        return "ok", call()
    except gr.Error as err:
        message = str(err.message)
        assert GENERIC_FAILURE not in message, f"an unhandled exception reached the person: {message}"
        assert "Traceback" not in message and 10 < len(message) < 400, message
        return "refused", message


# --- 4. fuzzed drawings --------------------------------------------------------------------------

MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "LA", "PA", "I;16"]


@st.composite
def pictures(draw):
    """A picture of any mode and size (1x1 to 4000x4000): blank, full of ink, a stroke, or noise."""
    h = draw(st.one_of(st.integers(1, 64), st.integers(1, 600), st.sampled_from([1, 2, 3999, 4000])))
    w = draw(st.one_of(st.integers(1, 64), st.integers(1, 600), st.sampled_from([1, 2, 3999, 4000])))
    mode = draw(st.sampled_from(MODES))
    kind = draw(st.sampled_from(["blank", "full", "stroke", "stroke", "noise"]))
    paper, ink = draw(st.sampled_from([(255, 0), (0, 255), (200, 30)]))
    img = Image.new("L", (w, h), paper if kind != "full" else ink)
    if kind == "stroke":
        width = draw(st.integers(1, max(1, min(w, h) // 2)))
        pts = draw(st.lists(st.tuples(st.integers(0, w), st.integers(0, h)), min_size=2, max_size=5))
        ImageDraw.Draw(img).line(pts, fill=ink, width=width)
    elif kind == "noise":
        seed = draw(st.integers(0, 2**16))
        img = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (min(h, 300), min(w, 300)), dtype=np.uint8))
    if mode == "I;16":
        return Image.fromarray(np.asarray(img, dtype=np.uint16) * 257)
    return img.convert(mode)


@st.composite
def arrays(draw):
    """Numpy arrays as an API caller might send: odd shapes, dtypes, NaN and infinity."""
    shape = draw(st.sampled_from([(0, 0), (1, 1), (5, 7), (28, 28), (60, 60, 1), (60, 60, 2), (60, 60, 3), (60, 60, 4), (3, 3, 3, 3), (100,)]))
    dtype = draw(st.sampled_from([np.uint8, np.float32, np.float64, np.int64, bool]))
    seed = draw(st.integers(0, 2**16))
    arr = np.random.default_rng(seed).random(shape) * draw(st.sampled_from([1.0, 255.0, 1e6]))
    if dtype in (np.float32, np.float64) and arr.size and draw(st.booleans()):
        arr.flat[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    with np.errstate(invalid="ignore"):
        return arr.astype(dtype)


@st.composite
def drawings(draw):
    """What a page or a script might send as a drawing: nothing, strokes in and off the canvas, dots, a scribble over
    the whole canvas, and JSON of any other shape (text, NaN, infinity, huge numbers, nesting)."""
    kind = draw(st.sampled_from(["empty", "strokes", "scribble", "json"]))
    if kind == "empty":
        return draw(st.sampled_from([None, "", {}, {"strokes": []}, {"strokes": [[]]}]))
    if kind == "strokes":
        point = st.lists(st.floats(-0.5, 1.5), min_size=2, max_size=2)
        return {"strokes": draw(st.lists(st.lists(point, min_size=1, max_size=30), min_size=1, max_size=5))}
    if kind == "scribble":
        return {"strokes": [np.random.default_rng(draw(st.integers(0, 99))).random((400, 2)).tolist()]}
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5))
    tree = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["strokes", "x"]), inner, max_size=2)),
                        max_leaves=20)
    return draw(st.one_of(tree, st.fixed_dictionaries({"strokes": tree})))


def drawn(h: DrawHandlers, value, model="healthy"):
    """A drawing through the pen's check (inputs.Pen's preprocess) and the Draw tab's handler, as the app runs them."""
    return h.draw(Pen(None).preprocess(value), model)


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.stress
@FUZZ
@given(image=st.one_of(pictures(), arrays()), model=st.sampled_from(["healthy", "autoencoder", "collapsed", "nope"]))
def test_fuzz_uploads(tiny_hub, image, model):
    kind, result = outcome(lambda: DrawHandlers(tiny_hub).reconstruct(image, model))
    if kind == "ok":
        shown = dict(zip(FIRST, result))
        assert shown["recon"].shape == (224, 224) and "nats" in shown["message"]


@pytest.mark.stress
@FUZZ
@given(value=drawings())
def test_fuzz_drawings(tiny_hub, value):
    kind, result = outcome(lambda: drawn(DrawHandlers(tiny_hub), value))
    if kind == "ok":
        recon = dict(zip(FIRST, result))["recon"]
        if isinstance(recon, dict):  # a blank canvas changes nothing: every part skipped
            assert all(part == gr.skip() for part in result)
        else:
            assert recon.shape == (224, 224)


numbers = st.one_of(st.integers(-5, 200), st.floats(allow_nan=True, allow_infinity=True), st.none(), st.sampled_from(["3", "x", ""]))


@pytest.mark.stress
@FUZZ
@given(model=st.sampled_from(["healthy", "healthy-2d", "bogus", None]), dx=numbers, dy=numbers, z1=numbers, z2=numbers, index=numbers)
def test_fuzz_walk_and_examples(tiny_hub, model, dx, dy, z1, z2, index):
    walk, draw = WalkHandlers(tiny_hub), DrawHandlers(tiny_hub)
    outcome(lambda: walk.decode(model, dx, dy, z1, z2))
    outcome(lambda: walk.grid(model, dx, dy, z1, z2))
    outcome(lambda: draw.example(index, "healthy"))


def test_each_kind_of_bad_drawing_gets_its_own_sentence(tiny_hub):
    h = DrawHandlers(tiny_hub)
    nothing = (gr.skip(),) * len(FIRST)  # blank canvas: not an error, nothing changes
    assert drawn(h, {}) == drawn(h, None) == drawn(h, {"strokes": []}) == nothing
    assert h.clear()[5] == DRAW_WAITING  # the Clear button brings back the prompt
    full = {"strokes": [[[0, y], [1, y]] for y in np.linspace(0, 1, 30).tolist()]}
    assert "ink" in outcome(lambda: drawn(h, full))[1]
    assert "finite" in outcome(lambda: drawn(h, {"strokes": [[[0.5, float("inf")]]]}))[1]
    nan = np.full((30, 30), np.nan, np.float32)
    assert "NaN" in outcome(lambda: h.reconstruct(nan, "healthy"))[1]
    assert "megapixels" in outcome(lambda: h.reconstruct(np.zeros((7000, 7000), np.uint8), "healthy"))[1]
    assert "Upload" in outcome(lambda: h.reconstruct(None, "healthy"))[1]
    big = Image.new("RGB", (4000, 4000), "white")
    ImageDraw.Draw(big).line([(1500, 800), (2500, 800), (1800, 3200)], fill="black", width=300)
    assert outcome(lambda: h.reconstruct(big, "healthy"))[0] == "ok"


# --- 2. broken checkpoints: the app starts, retrains what it must and says so --------------------

@pytest.mark.slow
def test_app_retrains_broken_checkpoints_and_keeps_them(tmp_path, tiny_data, tiny_hub, monkeypatch, capsys):
    import shutil

    from conftest import TINY_PRESET_CONFIGS, start_tiny_hub, tiny_config

    for name in TINY_PRESET_CONFIGS:
        shutil.copytree(tiny_hub.root / name, tmp_path / name)
    damage = {
        "healthy": lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:5000]),
        "autoencoder": lambda d: (d / "config.json").write_text("{not json"),
        "collapsed": lambda d: (d / "config.json").write_text(json.dumps(tiny_config(latent_dim=3).to_dict())),
        "healthy-2d": lambda d: (d / "metrics.json").unlink(),
    }
    for name, fn in damage.items():
        fn(tmp_path / name)
    start_tiny_hub(monkeypatch, tmp_path, tiny_data)
    said = capsys.readouterr().out
    assert "cannot be read" in said and "another config" in said and "interrupted" in said
    kept = sorted(p.name.split(".old-")[0] for p in tmp_path.iterdir() if ".old-" in p.name)
    assert kept == ["autoencoder", "collapsed", "healthy"]  # nothing already saved is lost


# --- 3. no pickle ----------------------------------------------------------------------------------

def test_project_code_never_unpickles():
    pattern = re.compile(r"torch\.load\(|pickle\.loads?\(|allow_pickle\s*=\s*True|import pickle|cloudpickle|joblib\.load")
    offenders = []
    for path in [ROOT / "app.py", *(ROOT / "vae").rglob("*.py"), *(ROOT / "playground").rglob("*.py")]:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, offenders


def test_a_pickle_posing_as_cached_latents_is_never_run(tmp_path, tiny_hub):
    """latents.npz is loaded with allow_pickle=False: a pickled object array is refused and recomputed."""
    import shutil

    from vae.analysis import latents_for

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    shutil.copytree(tiny_hub.root / "healthy", tmp_path / "healthy")
    with open(tmp_path / "healthy" / "latents.npz", "wb") as f:
        np.savez(f, fingerprint=np.array([Evil()], dtype=object), mu=np.array([Evil()], dtype=object))
    lat = latents_for(tiny_hub.get("healthy").model, tmp_path / "healthy", tiny_hub.data.test)
    assert not marker.exists() and lat.mu.shape == (64, 6)


# --- 6. safe defaults ----------------------------------------------------------------------------------

def test_safe_defaults(monkeypatch):
    import app
    from playground import ui

    args = app.parse_args([])
    assert args.host == "127.0.0.1" and args.share is False and args.port == 7860
    seen, order = {}, []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: (seen.update(kw), order.append("launch")))
    monkeypatch.setattr("playground.models.ModelHub.run", lambda self: order.append("train"))
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: order.append("serve"))
    app.main([])
    assert seen["server_name"] == "127.0.0.1" and seen["share"] is False
    assert seen["max_file_size"] == ui.MAX_UPLOAD
    # the UI is up first, then the models load or train (in worker processes, coordinated from here), then it keeps serving
    assert seen["prevent_thread_lock"] is True and order == ["launch", "train", "serve"]


def test_ctrl_c_while_training_closes_the_server(monkeypatch):
    import app

    def interrupted(self):
        raise KeyboardInterrupt

    order = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: order.append("launch"))
    monkeypatch.setattr("playground.models.ModelHub.run", interrupted)
    monkeypatch.setattr(gr.Blocks, "close", lambda self, *a, **kw: order.append("close"))
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: order.append("serve"))
    app.main([])  # returns quietly: finished epochs are on disk and the next start resumes
    assert order == ["launch", "close"]


def test_uploads_over_the_cap_are_refused(app_url, tmp_path):
    from gradio_client import Client, handle_file

    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (2200, 2200, 3), dtype=np.uint8)).save(big)  # ~14 MB
    assert big.stat().st_size > 5 * 1024 * 1024
    with pytest.raises(Exception, match="(?i)large|size|exceed"):
        Client(app_url, verbose=False).predict(handle_file(str(big)), "healthy", api_name="/reconstruct")


def test_no_user_input_becomes_a_path():
    """Handlers receive images, numbers and choices, never file names: no open()/Path() on an input."""
    source = "".join((ROOT / "playground" / f"{tab}.py").read_text() for tab in ("draw", "walk", "compare", "handling"))
    assert not re.search(r"\bopen\(|Path\(|os\.path|np\.load|Image\.open", source)


# --- 1. interrupted training ---------------------------------------------------------------------

TRAIN_TINY = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from conftest import tiny_config
from vae.data import DataBundle, Split, load_dataset
from vae.train import train
full = load_dataset()
data = DataBundle("mnist-5k", Split(full.train.images[:256], full.train.labels[:256]), Split(full.test.images[:64], full.test.labels[:64]), full.classes)
train(tiny_config(epochs=8), {out!r}, resume=True, progress=False, data=data)
"""


def assert_whole(out: Path) -> None:
    """Every checkpoint file present is complete: weights load, JSON parses, optimizer state opens."""
    from safetensors import safe_open

    from vae.model import VAE

    if (out / "model.safetensors").exists():
        VAE.from_pretrained(out)
    if (out / "metrics.json").exists():
        json.loads((out / "metrics.json").read_text())
    if (out / "train_state.safetensors").exists():
        with safe_open(str(out / "train_state.safetensors"), "pt") as f:
            list(f.keys())


@pytest.mark.stress
def test_sigkill_at_random_points_then_resume_finishes(tmp_path):
    import random
    import signal
    import subprocess
    import sys

    out = tmp_path / "run"
    code = TRAIN_TINY.format(root=str(ROOT), tests=str(ROOT / "tests"), out=str(out))
    rng = random.Random(0)
    kills, epochs_seen = 0, []
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=rng.uniform(2.0, 9.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        assert_whole(out)
        if (out / "metrics.json").exists():
            epochs_seen.append(json.loads((out / "metrics.json").read_text())["epochs_done"])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["epochs_done"] == 8
    assert [h["epoch"] for h in metrics["history"]] == list(range(1, 9))
    assert_whole(out)
    assert not list(out.glob(".*.tmp"))
    print(f"killed {kills} times; epochs saved when killed: {epochs_seen}")
    assert kills >= 3


# --- 5. many visitors ---------------------------------------------------------------------------

@pytest.mark.stress
def test_twenty_visitors_at_once(app_url, tiny_hub, tmp_path):
    import threading
    import time

    from gradio_client import Client, handle_file

    digits = tiny_hub.data.test.images[:, 0].numpy()
    files = []
    for i in range(5):
        path = tmp_path / f"d{i}.png"
        Image.fromarray((digits[i] * 255).astype(np.uint8)).resize((112, 112)).save(path)
        files.append(str(path))

    def read(path):
        return np.asarray(Image.open(path).convert("RGB"))

    ref_client = Client(app_url, verbose=False)
    # each visitor's own choices, and what they must see (computed alone, before the crowd arrives)
    plans = [dict(model=["healthy", "autoencoder", "collapsed"][v % 3], file=files[v % 5], walk=["healthy-2d", "healthy"][v % 2],
                  dims=(0, 1) if v % 2 == 0 else (v % 6, (v + 1) % 6), z=(-2 + 0.2 * v, 1 - 0.1 * v)) for v in range(20)]
    expected = {}
    for v, p in enumerate(plans):
        expected[v, "recon"] = read(ref_client.predict(handle_file(p["file"]), p["model"], api_name="/reconstruct")[0])
        expected[v, "point"] = read(ref_client.predict(p["walk"], *p["dims"], *p["z"], api_name="/decode"))
    errors, latencies = [], []

    # 8 calls each (160 in all, each kind of call twice per visitor): enough to interleave every pair of visitors; each
    # call costs 0.1-0.5 s of the server's CPU, so more only lengthens CI.
    CALLS = 8
    # Each visitor connects first (one config fetch each, about 0.2 s of the server's CPU for six tabs), then all of
    # them call at once: the crowd under test is twenty sessions calling concurrently.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # 4 at a time: 20 at once outran the client's 5 s timeout
        clients = list(pool.map(lambda _: Client(app_url, verbose=False), range(20)))

    def visitor(v):
        client = clients[v]
        p = plans[v]
        for call in range(CALLS):
            t0 = time.perf_counter()
            try:
                kind = call % 4
                if kind == 0:
                    got = read(client.predict(handle_file(p["file"]), p["model"], api_name="/reconstruct")[0])
                    assert np.array_equal(got, expected[v, "recon"]), f"visitor {v} saw another reconstruction"
                elif kind == 1:
                    got = read(client.predict(p["walk"], *p["dims"], *p["z"], api_name="/decode"))
                    assert np.array_equal(got, expected[v, "point"]), f"visitor {v} saw another decode"
                elif kind == 2:
                    client.predict(p["walk"], *p["dims"], *p["z"], api_name="/grid")
                else:
                    client.predict(api_name="/compare")
            except Exception as err:  # noqa: BLE001 - every failure counts
                errors.append(f"visitor {v} call {call}: {err!r}")
            latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=visitor, args=(v,)) for v in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    print(f"20 visitors x {CALLS} calls: {len(latencies)} calls, {len(errors)} errors, p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    assert not errors, errors[:5]
    assert len(latencies) == 20 * CALLS
