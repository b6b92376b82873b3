"""The How it works tab: one digit's pass, read off the model's own forward, and its `/pass` endpoint's numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_config
from playground.how import HowHandlers, how_view
from vae.losses import gaussian_pixel_nll, kl_per_dim
from vae.model import VAE
from vae.trace import trace

gradio_client = pytest.importorskip("gradio_client")


def _digit(tiny_data, i=0) -> np.ndarray:
    return tiny_data.test.images[i, 0].numpy()


def test_the_trace_is_the_models_own_forward(tiny_data):
    torch.manual_seed(0)
    model = VAE(tiny_config(latent_dim=3)).eval()
    x = _digit(tiny_data)
    eps = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    t = trace(model, x, eps=eps)
    mu, logvar = model.encode(torch.from_numpy(x)[None, None])
    assert np.allclose(t.mu, mu[0].detach().numpy(), atol=1e-6) and np.allclose(t.logvar, logvar[0].detach().numpy(), atol=1e-6)
    assert np.allclose(t.z, t.mu + np.exp(0.5 * t.logvar) * eps, atol=1e-6)
    assert np.allclose(t.mean, model.decode(torch.from_numpy(t.z)[None])[0, 0].detach().numpy(), atol=1e-6)
    # the encoder's stages in ResNet-18's shapes for a 28x28 digit, the head's vectors, the decoder's stages
    shapes = {s.name: s.shape for s in t.encoder + t.decoder}
    assert shapes["stem"] == (64, 14, 14) and shapes["layer2"] == (128, 4, 4) and shapes["layer4"] == (512, 1, 1)
    assert shapes["pooled"] == (512,) and shapes["hidden"] == (32,) and shapes["project"] == (6,)
    assert shapes["reshape"] == (8, 7, 7) and shapes["stage14"] == (8, 14, 14) and shapes["stage28"] == (4, 28, 28) and shapes["logits"] == (1, 28, 28)
    assert np.allclose(np.concatenate([t.mu, t.logvar]), next(s.value for s in t.encoder if s.name == "project"), atol=1e-5)
    # the loss terms: the fixed-sigma Gaussian per pixel, the closed-form KL, recon + beta * KL
    nats = gaussian_pixel_nll(torch.from_numpy(x), torch.from_numpy(t.mean), model.config.sigma).numpy()
    assert np.allclose(t.pixel_nats, nats, atol=1e-4) and t.recon == pytest.approx(float(nats.sum()), rel=1e-5)
    assert t.kl == pytest.approx(float(kl_per_dim(torch.from_numpy(t.mu), torch.from_numpy(t.logvar)).sum()), rel=1e-5)
    assert t.loss == pytest.approx(t.recon + model.config.beta * t.kl)
    # the hooks are gone afterwards: the model is as it was
    assert all(not m._forward_hooks for m in model.modules())


def test_the_view_draws_every_step(tiny_hub):
    ready = tiny_hub.get("healthy")
    v = how_view(ready, _digit(tiny_hub.data, 3), seed=1, source="test digit 3")
    for picture in (v.encoder, v.reparam, v.decoder, v.loss):
        assert picture.ndim == 3 and picture.shape[2] == 3 and picture.std() > 5  # drawn, not blank
    assert f"{v.trace.loss:.1f} nats" in v.summary and f"{v.trace.recon:.1f}" in v.loss_words and f"{v.trace.kl:.2f}" in v.loss_words


def test_a_missing_drawing_is_a_sentence(tiny_hub):
    import gradio as gr

    h = HowHandlers(tiny_hub)
    with pytest.raises(gr.Error, match="Draw tab first"):
        h.show("healthy", "my digit from the Draw tab", 0, None, 0)
    with pytest.raises(gr.Error, match="between 0 and"):
        h.show("healthy", "a test digit", 10**6, None, 0)


@pytest.fixture(scope="module")
def client(app_url):
    return gradio_client.Client(app_url, verbose=False)


def test_pass_endpoint_numbers_recompute_from_the_checkpoint(client, tiny_hub):
    out = client.predict("healthy", 7, 0, api_name="/pass")
    model = VAE.from_pretrained(tiny_hub.get("healthy").directory)
    x = torch.tensor(out["input"], dtype=torch.float32)
    assert torch.allclose(x, tiny_hub.data.test.images[7, 0], atol=1e-6)
    mu, logvar, eps = (torch.tensor(out[k]) for k in ("mu", "logvar", "eps"))
    z = mu + torch.exp(0.5 * logvar) * eps
    assert torch.allclose(z, torch.tensor(out["z"]), atol=1e-4)
    assert float(kl_per_dim(mu, logvar).sum()) == pytest.approx(out["kl"], abs=1e-4)
    with torch.no_grad():
        mean = model.decode(z[None].float())[0, 0]
    recon = float(gaussian_pixel_nll(x, mean, model.config.sigma).sum())
    assert recon == pytest.approx(out["recon_nats"], abs=1e-4 * max(1.0, abs(recon)))
    assert out["loss"] == pytest.approx(out["recon_nats"] + out["beta"] * out["kl"], rel=1e-6)
    assert out["shapes"]["mu"] == [len(out["mu"])] and out["shapes"]["encoder.layer4"] == [512, 1, 1]
    # a new eps moves z, never mu
    other = client.predict("healthy", 7, 1, api_name="/pass")
    assert other["mu"] == out["mu"] and other["z"] != out["z"]


def test_the_collapsed_models_bubble_is_the_prior(client):
    out = client.predict("collapsed", 7, 0, api_name="/pass")
    assert np.abs(out["mu"]).max() < 0.2 and np.abs(np.array(out["sigma"]) - 1).max() < 0.2
    assert out["kl"] < 0.5  # the DESIGN's collapse: under half a nat
