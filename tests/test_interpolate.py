"""Smoothness against dead zones (issue 10, view 1): the line between two codes and its distance to the training codes."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from playground import interpolate
from vae import analysis as A
from vae.digits import InputError


def test_nearest_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    points, queries = rng.normal(size=(50, 5)).astype(np.float32), rng.normal(size=(7, 5)).astype(np.float32)
    dist, idx = A.nearest(queries, points, k=3)
    brute = np.linalg.norm(queries[:, None] - points[None], axis=2)
    np.testing.assert_array_equal(idx, np.argsort(brute, axis=1)[:, :3])
    np.testing.assert_allclose(dist, np.sort(brute, axis=1)[:, :3], atol=1e-4)
    assert A.nearest(points[4], points)[0][0, 0] < 1e-3  # a code is at distance 0 from itself


def test_line_and_pairs():
    z = A.line_between(np.zeros(3), np.array([2.0, 4.0, -2.0]), 5)
    np.testing.assert_allclose(z[[0, 2, 4]], [[0, 0, 0], [1, 2, -1], [2, 4, -2]])
    labels = np.array([0, 0, 1, 1, 2, 7])
    pairs = A.different_digit_pairs(labels, 20, seed=3)
    assert pairs.shape == (20, 2) and (labels[pairs[:, 0]] != labels[pairs[:, 1]]).all()
    np.testing.assert_array_equal(pairs, A.different_digit_pairs(labels, 20, seed=3))
    with pytest.raises(ValueError):
        A.different_digit_pairs(np.zeros(5), 1)


def test_two_dimensional_codes_are_their_own_plane():
    """View 5: a 2-D model's bubble lands on its literal z1, z2 plane, not a rotated PCA of it."""
    mu = np.random.default_rng(1).normal(size=(40, 2)).astype(np.float32) * [3, 0.5] + [1, -2]
    pca = A.fit_pca2(mu)
    np.testing.assert_allclose(pca.project(mu), mu)


def sides(hub):
    return {name: interpolate.Side(hub.get(name), hub.train_codes(hub.get(name)).mu, hub.typical_gap(hub.get(name))) for name in interpolate.MODELS}


def test_interpolate_view_measures_each_step(tiny_hub):
    test = tiny_hub.data.test
    x_a, x_b = test.images[0, 0].numpy(), test.images[1, 0].numpy()
    s = sides(tiny_hub)
    v = interpolate.interpolate_view(s, x_a, x_b, ("one", "other"))
    assert v.strip.ndim == 3 and v.strip.shape[1] > interpolate.STEPS * 84
    assert len(v.table) == interpolate.STEPS and len(v.table[0]) == len(interpolate.TABLE_HEADERS)
    assert "one" in v.summary and "x" in v.summary
    for name, side in s.items():
        # step 0 is A's own code: its distance is that of A's mu to the nearest training code
        mu_a = side.ready.model.encode(torch.from_numpy(x_a)[None, None])[0].detach().numpy()
        assert v.distances[name][0] == pytest.approx(A.nearest(mu_a, side.train_mu)[0][0, 0], rel=1e-4, abs=1e-5)
        np.testing.assert_allclose(v.ratios[name], v.distances[name] / side.typical)
        assert len(side.train_mu) == len(tiny_hub.data.train)  # the training codes, cached beside the checkpoint
    assert (tiny_hub.root / "healthy" / "train_latents.npz").exists()
    assert tiny_hub.train_codes(tiny_hub.get("healthy")) is tiny_hub.train_codes(tiny_hub.get("healthy"))  # computed once


def test_interpolate_handlers_say_what_is_wrong(tiny_hub):
    import gradio as gr

    h = interpolate.InterpolateHandlers(tiny_hub)
    with pytest.raises(gr.Error, match="between 0 and 63"):
        h.interpolate(0, 64)
    with pytest.raises(gr.Error, match="by its number"):
        h.interpolate("x", 1)
    with pytest.raises(gr.Error, match="Draw a digit on the Draw tab first"):
        h.show(0, 1, True, None)
    a, b, summary, strip, table = h.show(None, None, False, None)  # the tab opened: the first 1 and the first 7
    assert int(tiny_hub.data.test.labels[a]) == 1 and int(tiny_hub.data.test.labels[b]) == 7
    drawn = h.show(a, b, True, tiny_hub.data.test.images[5, 0].numpy())
    assert "your drawing" in drawn[2]
    with pytest.raises(InputError):
        h._digit(2.5, "A")


def test_gaps_command_writes_its_table(tiny_hub, tmp_path, capsys):
    """`python -m vae gaps` measures the presets and keeps the rest of the results file."""
    from vae import cli

    root = tmp_path / "checkpoints"
    shutil.copytree(tiny_hub.root / "healthy", root / "healthy")
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nkept\n")
    assert cli.main(["gaps", "--checkpoints", str(root), "--presets", "healthy", "--pairs", "3", "--results", str(results)]) == 0
    text = results.read_text()
    assert "kept" in text and text.count(cli.GAPS_BEGIN) == 1 and "| healthy |" in text and "commit" in text
    cli.main(["gaps", "--checkpoints", str(root), "--presets", "healthy", "--pairs", "3", "--results", str(results)])
    assert results.read_text().count(cli.GAPS_BEGIN) == 1  # replaced, not appended again
    assert cli.main(["gaps", "--presets", "nope"]) == 2
    assert "no preset called nope" in capsys.readouterr().err
