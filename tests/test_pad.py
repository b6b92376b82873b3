"""The drag pad (issue 19, item 2): the decoder's weights as the page gets them, and decoder.js against PyTorch.

The page itself (a scripted drag in Chromium, frames counted there) is in test_browser.py.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess

import gradio as gr
import numpy as np
import pytest
import torch
from torch import nn

from playground import pad, walk
from vae.config import VAEConfig
from vae.model import VAE


def unpack(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype="<f4")


@pytest.mark.parametrize("overrides", [{}, {"decoder_depth": 2, "latent_dim": 2}, {"likelihood": "gaussian-learned-sigma"}])
def test_the_spec_is_the_decoders_own_weights_in_its_own_order(overrides):
    model = VAE(VAEConfig(pretrained=False, **overrides)).eval()
    spec = json.loads(json.dumps(pad.decoder_spec(model.decoder)))  # what the page receives
    d = model.decoder
    assert np.array_equal(unpack(spec["fc"]["w"]), d.fc.weight.detach().numpy().ravel())
    convs = [m for m in d.net if isinstance(m, nn.Conv2d)]
    assert [l["op"] for l in spec["layers"]] == [{nn.Conv2d: "conv", nn.ReLU: "relu", nn.Upsample: "up"}[type(m)] for m in d.net]
    for layer, conv in zip([l for l in spec["layers"] if l["op"] == "conv"], convs):
        assert np.array_equal(unpack(layer["w"]), conv.weight.detach().numpy().ravel())
        assert (layer["cin"], layer["cout"]) == (conv.in_channels, conv.out_channels)
    assert spec["mean"] == "sigmoid" and spec["latent_dim"] == model.config.latent_dim


def test_channels_last_weights_go_in_their_logical_order():
    """The app trains channels_last on some machines: the page must still get (cout, cin, 3, 3) row-major."""
    model = VAE(VAEConfig(pretrained=False)).eval()
    plain = pad.decoder_spec(model.decoder)
    model.to(memory_format=torch.channels_last)
    assert pad.decoder_spec(model.decoder) == plain


def test_a_layer_the_page_cannot_run_is_refused_in_a_sentence():
    model = VAE(VAEConfig(pretrained=False)).eval()
    model.decoder.net[0] = nn.Upsample(scale_factor=2, mode="bilinear")
    with pytest.raises(pad.UnsupportedDecoder, match="cannot run \\(Upsample\\); use the sliders"):
        pad.decoder_spec(model.decoder)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
@pytest.mark.parametrize("overrides", [{}, {"decoder_depth": 2, "latent_dim": 2}, {"likelihood": "gaussian-learned-sigma"},
                                       {"decoder_mean": "linear"}, {"decoder_channels": (128, 64, 32), "latent_dim": 2},
                                       {"decoder_channels": (6, 5, 3)}])  # healthy-2d's; channels no multiple of 4
def test_decoder_js_equals_pytorch(overrides, tmp_path):
    """decoder.js, run by Node on the spec the page gets, against PyTorch's decode(z) for the same z (the browser test
    checks the same in Chromium, on the app's own page)."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(pretrained=False, **overrides)).eval()
    z = torch.randn(4, model.config.latent_dim) * 2
    with torch.no_grad():
        expected = model.decode(z)[:, 0].numpy().reshape(4, -1)
    script = tmp_path / "decode.js"
    script.write_text("const window = {};\n" + (pad.STATIC / "decoder.js").read_text() +
                      f"\nconst net = VAEDecoder.prepare({json.dumps(pad.decoder_spec(model.decoder))});"
                      f"\nconsole.log(JSON.stringify({json.dumps(z.tolist())}.map(z => Array.from(VAEDecoder.decode(net, z)))));")
    got = np.array(json.loads(subprocess.run(["node", str(script)], capture_output=True, text=True, check=True).stdout))
    assert np.abs(got - expected).max() <= 1e-5


def test_the_page_gets_only_weights_it_was_shown(tiny_hub):
    served = pad.Served()
    ready = tiny_hub.get("healthy-2d")
    value = pad.pad_value(served, ready, (0, 1), (0.5, -1.0), walk.SPAN)
    assert json.loads(json.dumps(value)) == value  # plain JSON: no weights, no arrays
    assert value["dims"] == [0, 1] and value["z"] == [0.5, -1.0] and len(value["points"]["x"]) == len(ready.latents.labels)
    assert served.weights(value["version"]) == pad.decoder_spec(ready.model.decoder)
    assert pad.pad_value(served, ready, (1, 0), (0, 0), walk.SPAN)["version"] == value["version"]  # once per weights
    for hostile in ("healthy-2d", "", None, 7, ["x"], "x" * 10_000):
        assert "no longer served" in served.weights(hostile)["error"]


def test_only_the_latest_versions_are_remembered(tiny_hub, monkeypatch):
    monkeypatch.setattr(pad, "SERVED", 2)
    served = pad.Served()
    names = ["healthy", "healthy-2d", "autoencoder"]
    versions = [pad.pad_value(served, tiny_hub.get(n), (0, 1), (0, 0), walk.SPAN)["version"] for n in names]
    assert "error" in served.weights(versions[0]) and "error" not in served.weights(versions[2])


def test_a_drag_ending_moves_the_sliders_and_the_ring(tiny_hub):
    h = walk.WalkHandlers(tiny_hub)
    z1, z2, grid = h.from_pad("healthy-2d", 0, 1, gr.EventData(None, {"z": [1.234, -2.71]}))
    assert (z1, z2) == (1.25, -2.7)  # on the sliders' steps
    assert np.array_equal(grid, walk.grid_image(tiny_hub.get("healthy-2d"), (0, 1), (z1, z2)))
    for junk in ({}, {"z": "1,2"}, {"z": [float("nan"), 0]}, {"z": [1]}, None):
        assert h.from_pad("healthy-2d", 0, 1, gr.EventData(None, junk)) == (gr.skip(),) * 3
