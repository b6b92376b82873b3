"""Blur under L2 against L1, and the variance cheat (issue 10, views 3 and 4): the measures, the view, its wait and its command."""
from __future__ import annotations

import math
import shutil

import gradio as gr
import numpy as np
import pytest
import torch

from playground import likelihood
from vae import likelihoods as L
from vae.losses import LOG_SIGMA_MIN, recon_nll
from vae.model import VAE


def square(blur: int = 0) -> np.ndarray:
    """A white 10x10 square on black, box-blurred `blur` times (each pass averages a pixel with its 4 neighbours)."""
    x = np.zeros((28, 28), np.float32)
    x[9:19, 9:19] = 1
    for _ in range(blur):
        x = (x + np.roll(x, 1, 0) + np.roll(x, -1, 0) + np.roll(x, 1, 1) + np.roll(x, -1, 1)) / 5
    return x


def test_sharpness_is_the_mean_gradient_magnitude():
    step = np.zeros((28, 28), np.float32)
    step[:, 14:] = 1  # one vertical edge: central differences of 0.5 on the two columns beside it
    assert L.sharpness(step) == pytest.approx(2 * 28 * 0.5**2 / 784)
    ramp = np.clip((np.arange(28) - 12) / 4, 0, 1) * np.ones((28, 1), np.float32)  # the same edge spread over 4 pixels
    # central differences 0.125, 0.25, 0.25, 0.25, 0.125 across the ramp: squares sum to 0.21875 per row, 0.5 for the step
    assert L.sharpness_ratio(ramp, step) == pytest.approx(0.21875 / 0.5)
    assert L.sharpness(np.full((28, 28), 0.7)) == 0
    crisp, blurred = square(), square(blur=3)
    assert L.sharpness_ratio(crisp, crisp) == pytest.approx(1)
    assert L.sharpness_ratio(blurred, crisp) < 0.5  # a blur spreads the edge at a lower slope
    assert L.gradient_magnitude(blurred).mean() > 0.9 * L.gradient_magnitude(crisp).mean()  # why sharpness squares it
    assert L.sharpness_ratio(np.stack([blurred, crisp]), np.stack([crisp, crisp])).shape == (2,)


def test_pixel_kinds_first_match_wins():
    x = square()
    never = np.zeros((28, 28), bool)
    never[:3] = True  # the top rows: no training digit inks them
    kinds = L.pixel_kinds(x, never)
    name = {i: k for i, k in enumerate(L.PIXEL_KINDS)}
    assert name[kinds[14, 14]] == "ink"  # inside the square
    assert name[kinds[9, 14]] == "edge" and name[kinds[8, 14]] == "edge"  # on both sides of its border
    assert name[kinds[0, 0]] == "never inked" and name[kinds[25, 25]] == "background"
    assert set(np.unique(kinds)) == set(range(len(L.PIXEL_KINDS)))
    train = np.zeros((5, 1, 28, 28), np.float32)
    train[2, 0, 5:20, 4:24] = 0.3
    assert L.never_inked(train).sum() == 784 - 15 * 20


def test_decoded_pixels_add_up_to_the_loss(tiny):
    """The per-pixel NLL the tab draws is the training loss, pixel by pixel; sigma and its floor are the decoder's."""
    torch.manual_seed(0)
    model = VAE(tiny(likelihood="gaussian-learned-sigma")).eval()
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        mu, _ = model.encode(x)
        logits = model.decoder.logits(mu)
    d = L.decode_with_sigma(model, mu.numpy(), x, batch_size=2)  # in batches, as over the 1,000 digits
    np.testing.assert_allclose(d.nll.sum(axis=(1, 2)), recon_nll(x, logits, model.config).numpy(), rtol=1e-4)
    np.testing.assert_allclose(d.sigma, model.decoder.sigma(mu)[:, 0].detach().numpy(), rtol=1e-5)
    assert not d.at_floor.any()
    with torch.no_grad():
        model.decoder.net[-1].bias[1] = -50.0  # log sigma far below the floor everywhere
    floored = L.decode_with_sigma(model, mu.numpy(), x)
    assert floored.at_floor.all() and np.allclose(floored.sigma, math.exp(LOG_SIGMA_MIN))
    kinds = L.pixel_kinds(x[:, 0].numpy(), np.zeros((28, 28), bool))
    parts = L.by_kind(d, kinds)
    assert sum(p["share"] for p in parts.values()) == pytest.approx(1)
    assert sum(p["nll_per_digit"] for p in parts.values()) == pytest.approx(d.nll.sum(axis=(1, 2)).mean(), rel=1e-4)
    fixed = L.decode_with_sigma(VAE(tiny()).eval(), mu.numpy(), x)
    assert np.all(fixed.sigma == np.float32(0.1)) and not fixed.at_floor.any()


def measured(r2: float, r1: float) -> dict[str, L.Measured]:
    kinds = {k: {"share": 0.25, "median_sigma": s, "floor_share": f, "nll_per_pixel": -1.0, "nll_per_digit": n}
             for k, s, f, n in (("never inked", 0.01, 0.2, -300.0), ("background", 0.1, 0.0, -100.0), ("edge", 0.5, 0.0, 50.0), ("ink", 0.4, 0.0, 20.0))}
    summary = {"kl": 30.0, "mse": 0.02, "mae": 0.05, "recon_nll": -230.0, "digits": 1000}
    return {L.L2: L.Measured("L2", {**summary, "sharpness": r2}, kinds), L.L1: L.Measured("L1", {**summary, "sharpness": r1}, kinds),
            L.CHEAT: L.Measured("learned", {**summary, "sharpness": 0.3, "recon_nll": -700.0, "mse": 0.07}, kinds)}


def test_sentences_follow_the_figures():
    assert "the median is the sharper answer, 1.25x the mean's" in L.blur_sentence(measured(0.6, 0.75))
    assert "the mean is the sharper one" in L.blur_sentence(measured(0.75, 0.6))
    assert "about as sharp" in L.blur_sentence(measured(0.6, 0.61))
    cheat = L.cheat_sentence(measured(0.6, 0.6))
    assert "stops drawing the digit" in cheat and "yet its reconstruction NLL (decoding mu) is **-700 nats per digit against -230**" in cheat
    assert "**0.5** on edges" in cheat and "**0.01** on the 25% of pixels no digit ever inks (20% of them at the floor" in cheat
    honest = measured(0.6, 0.6)
    honest[L.CHEAT].summary.update(mse=0.021, recon_nll=-200.0)
    assert "draws the digit about as well" in L.cheat_sentence(honest) and "no better" in L.cheat_sentence(honest)
    assert [r[0] for r in L.sigma_rows(honest)] == list(L.PIXEL_KINDS)
    assert [r[0] for r in L.blur_rows(honest)] == list(L.MODELS)


def test_likelihood_view(tiny_hub):
    h = likelihood.LikelihoodHandlers(tiny_hub)
    message, findings, blur, cheat, blur_rows, sigma_rows = h.likelihood(3)
    test = tiny_hub.data.test
    assert f"Test digit 3 (a {int(test.labels[3])})" in message and "L1" in message
    assert "**Blur, L2 against L1.** Over the 64 held-out digits" in findings and "**The variance cheat.**" in findings
    assert blur.ndim == cheat.ndim == 3 and blur.shape[1] > 4 * 168 and cheat.shape[1] > 3 * 168 and cheat.shape[0] > 2 * 168
    assert [r[0] for r in blur_rows] == list(L.MODELS) and len(sigma_rows) == len(L.PIXEL_KINDS)
    ready = tiny_hub.get(L.CHEAT)
    assert ready.memo("likelihood", lambda: None) is not None  # measured once per set of weights
    drawn = h.show(0, True, test.images[5, 0].numpy())
    assert drawn[1].startswith("**Your drawing**")
    with pytest.raises(gr.Error, match="between 0 and 63"):
        h.likelihood(64)
    with pytest.raises(gr.Error, match="by its number"):
        h.likelihood("seven")
    with pytest.raises(gr.Error, match="Draw a digit on the Draw tab first"):
        h.show(0, True, None)
    use_drawing, index, *_ = h.another(None)
    assert use_drawing is False and 0 <= index < len(test)


def test_the_view_says_it_waits_for_its_models(tiny_hub, tmp_path):
    """While the view models train after the presets, the tab says which one it waits for, as a message, not an error."""
    from playground.models import ModelHub, ModelState

    hub = ModelHub(tmp_path, data=tiny_hub.data)
    hub._ready["healthy"] = tiny_hub.get("healthy")
    hub._set("healthy", ModelState.READY)
    hub._set("learned-sigma", ModelState.TRAINING, "epoch 2/10, batch 3/125, loss 900.0")
    hub._set("laplace", ModelState.QUEUED)
    out = likelihood.LikelihoodHandlers(hub).likelihood(0)
    assert "The laplace model is queued to train and starts when learned-sigma is done" in out[0] and out[1] == gr.skip()
    hub._ready["laplace"] = tiny_hub.get("laplace")
    hub._set("laplace", ModelState.READY)
    out = likelihood.LikelihoodHandlers(hub).likelihood(0)
    assert "The learned-sigma model is not ready yet (training: epoch 2/10" in out[0]


def test_likelihood_command_writes_its_figures(tiny_hub, tmp_path, monkeypatch):
    """`python -m vae likelihood` measures the three models and writes one block, with its command, into each file."""
    from vae import cli

    monkeypatch.setattr("vae.data.load_dataset", lambda name, data_dir=None: tiny_hub.data)
    root = tmp_path / "checkpoints"
    for name in L.MODELS:
        shutil.copytree(tiny_hub.root / name, root / name)
    readme, results = tmp_path / "README.md", tmp_path / "RESULTS.md"
    readme.write_text(f"# R\n\n{cli.LIKELIHOOD_BEGIN}\nold\n{cli.LIKELIHOOD_END}\n\nkept\n")
    assert cli.main(["likelihood", "--checkpoints", str(root), "--readme", str(readme), "--results", str(results)]) == 0
    for path in (readme, results):
        text = path.read_text()
        assert text.count(cli.LIKELIHOOD_BEGIN) == 1 and "old" not in text and "`python -m vae likelihood --checkpoints" in text
        assert "| healthy | L2: Gaussian, fixed sigma 0.1 |" in text and "| never inked |" in text and "commit" in text
    assert readme.read_text().endswith("kept\n")
    shutil.rmtree(root / "laplace")
    assert cli.main(["likelihood", "--checkpoints", str(root)]) == 2
