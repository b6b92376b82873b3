"""The tabs' views as plain functions: shapes and types, and that each figure shows what it claims."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection

from playground import compare, draw, models, plots, walk
from vae import analysis as A
from playground.models import NotReady
from vae.analysis import ellipse_points, project_gaussian
from vae.digits import InputError


def a_digit(hub, i=0):
    return hub.data.test.images[i, 0].numpy()


def test_draw_view_shapes(tiny_hub):
    ready = tiny_hub.get("healthy")
    v = draw.draw_view(ready, a_digit(tiny_hub), seed=0)
    assert v.seen.shape == v.recon.shape == (224, 224) and v.seen.dtype == np.uint8
    assert v.samples.ndim == 2 and v.samples.shape[1] > 8 * 84
    assert v.bubble.shape == ready.bubble.image.shape and v.musigma.shape == ready.musigma.image.shape
    assert v.mu.shape == v.logvar.shape == (6,)
    assert "nats" in v.summary
    # the samples come from the bubble: reproducible with a seed, different with another
    again = draw.draw_view(ready, a_digit(tiny_hub), seed=0)
    other = draw.draw_view(ready, a_digit(tiny_hub), seed=1)
    assert np.array_equal(v.samples, again.samples) and not np.array_equal(v.samples, other.samples)
    with pytest.raises(InputError):
        draw.draw_view(ready, np.zeros((10, 10)))


def test_nearest_training_digits_by_code_and_by_pixels(tiny_hub):
    """Issue 10, view 5: the training digits nearest to a drawing's code, against those nearest by pixels."""
    ready = tiny_hub.get("healthy")
    train = draw.DrawHandlers(tiny_hub).train_digits(ready)
    assert train.images.shape == (128, 28, 28) and train.mu.shape == (128, 6)
    x = train.images[10]  # a training digit itself: nearest by pixels is itself, at distance 0
    mu = ready.model.encode(torch.from_numpy(x)[None, None])[0][0].numpy()
    strip = draw.nearest_digits(x, mu, train)
    row, x0 = 84 + 2 * 2, draw.NEAREST_LABEL + 2  # a tiled row of 84 px digits with 2 px gaps, then 20 px of text under it
    assert strip.shape == (2 * (row + 20), draw.NEAREST_LABEL + 5 * 84 + 6 * 2, 3)
    first_by_pixels = strip[row + 20 + 2 : row + 20 + 2 + 84, x0 : x0 + 84, 0]
    np.testing.assert_array_equal(first_by_pixels, plots.digit_image(x, 3))
    by_code = A.nearest(mu, train.mu, 5)[1][0]
    np.testing.assert_array_equal(strip[2 : 2 + 84, x0 : x0 + 84, 0], plots.digit_image(train.images[by_code[0]], 3))
    v = draw.draw_view(ready, x, train=train)
    assert np.array_equal(v.nearest, strip)


def test_healthy_2d_bubble_sits_on_its_own_plane(tiny_hub):
    """Issue 10, view 5: for D = 2 the bubble's plane is z1, z2 itself, no PCA rotation or centring."""
    ready = tiny_hub.get("healthy-2d")
    np.testing.assert_allclose(ready.latents.pca_xy, ready.latents.mu, atol=1e-6)
    np.testing.assert_allclose(ready.prior_xy, [0, 0])
    x = a_digit(tiny_hub, 2)
    mu, logvar = (t[0].numpy() for t in ready.model.encode(torch.from_numpy(x)[None, None]))
    center, cov = project_gaussian(ready.latents.pca, mu, logvar)
    np.testing.assert_allclose(center, mu, atol=1e-6)
    np.testing.assert_allclose(np.diag(cov), np.exp(logvar), rtol=1e-5)
    fig, _ = plots.bubble_background(ready.latents.pca_xy, ready.latents.labels, ready.prior_xy, axis_names=models.plane_axes(2))
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("z1", "z2")
    assert "healthy-2d" in draw.MODELS and "no PCA" in models.bubble_title("healthy-2d", 2)


def test_bubble_scatter_has_one_point_per_test_digit(tiny_hub):
    lat = tiny_hub.get("healthy").latents
    fig, _ = plots.bubble_background(lat.pca_xy, lat.labels, np.zeros(2), "t")
    points = [c for c in fig.axes[0].collections if isinstance(c, PathCollection) and len(c.get_offsets()) > 0]
    assert len(points) == 1
    assert len(points[0].get_offsets()) == len(tiny_hub.data.test) == 64
    np.testing.assert_allclose(points[0].get_offsets(), lat.pca_xy, atol=1e-5)


def test_bubble_is_centred_on_the_projected_mu(tiny_hub):
    ready = tiny_hub.get("healthy")
    x = torch.from_numpy(a_digit(tiny_hub, 3))[None, None]
    mu, logvar = (t[0].numpy() for t in ready.model.encode(x))
    center, cov = project_gaussian(ready.latents.pca, mu, logvar)
    np.testing.assert_allclose(center, ready.latents.pca.project(mu), atol=1e-5)
    np.testing.assert_allclose(ellipse_points(center, cov, 2.0, n=400).mean(0), center, atol=1e-3)
    # on the picture: what draw_bubble changed is centred on the pixel of the projected mu
    drawn = plots.draw_bubble(ready.bubble, center, cov)
    changed = np.argwhere(np.any(drawn != ready.bubble.image, axis=2))  # (row, col)
    cx, cy = ready.bubble.to_pixels(center)
    mid = (changed.min(0) + changed.max(0)) / 2
    assert abs(mid[1] - cx) < 3 and abs(mid[0] - cy) < 3


def test_raster_maps_data_to_the_right_pixels():
    fig = plots.new_figure(3, 3)
    ax = fig.add_subplot()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.plot([5], [5], "s", color="red", ms=6)
    raster = plots.rasterize(fig, ax)
    x, y = raster.to_pixels(np.array([5.0, 5.0]))
    r, g, b = raster.image[int(round(y)), int(round(x))]
    assert r > 200 and g < 60 and b < 60


def test_musigma_bars_are_sorted_by_kl(tiny_hub):
    ready = tiny_hub.get("healthy")
    kl = ready.latents.kl_per_dim
    assert list(kl[ready.kl_order]) == sorted(kl, reverse=True)


def test_walk_views(tiny_hub):
    ready = tiny_hub.get("healthy-2d")
    assert walk.default_dims(ready) in ((0, 1), (1, 0))
    img = walk.decode_point(ready, (0, 1), 1.5, -0.5)
    assert img.shape == (224, 224)
    z = torch.tensor([[1.5, -0.5]])
    np.testing.assert_array_equal(img, plots.digit_image(ready.model.decode(z)[0, 0].numpy(), 8))
    g1 = walk.grid_image(ready, (0, 1), (0.0, 0.0))
    left, top, right, bottom = plots.GRID_MARGINS
    side = 15 * 56 + 16 * 2
    assert g1.shape == (side + top + bottom, side + left + right, 3)
    assert ready.grid((0, 1), 15) is ready.grid((0, 1), 15)  # cached per model and pair
    plain = walk.WalkHandlers(tiny_hub).grid("healthy-2d", 0, 1)  # no point: no ring
    inner = plain[top : top + side, left : left + side, 0]
    assert np.array_equal(inner, plots.tile(ready.grid((0, 1), 15)[0], scale=2))
    # the axes carry their values (issue 10, defect 7): dark tick labels left of and below the grid
    assert (plain[top : top + side, : left - 4] < 100).any() and (plain[top + side + 4 :, left : left + side] < 100).any()
    # the ring sits on the grid cell of the slider point: centre cell for (0, 0)
    ring = np.argwhere((g1[:, :, 0] > 200) & (g1[:, :, 1] < 80))
    centre = (ring.min(0) + ring.max(0)) / 2
    assert np.allclose(centre, np.array([top, left]) + 2 + 7 * 58 + 28, atol=2)
    strip, dims = walk.traversals(tiny_hub.get("healthy"))
    assert strip.ndim == 3 and len(dims) == 6
    with pytest.raises(InputError):
        walk.check_dims(ready, (0, 0))
    with pytest.raises(InputError):
        walk.check_dims(ready, (0, 5))


def test_compare_view(tiny_hub):
    readies = {k: tiny_hub.get(k) for k in compare.REGIMES}
    test = tiny_hub.data.test
    v = compare.compare_view(readies, test.images[:, 0].numpy(), test.labels.numpy())
    assert v.pca.ndim == 3 and v.tsne.ndim == 3 and v.recons.ndim == 3 and v.samples.ndim == 3
    assert [row[0] for row in v.table] == list(compare.REGIMES) and len(v.table[0]) == len(compare.TABLE_HEADERS)
    assert v.sentences.count("**") >= 6


def test_regime_scatter_has_every_point_on_a_shared_scale(tiny_hub):
    panels = {k: (tiny_hub.get(k).latents.pca_xy, tiny_hub.get(k).latents.labels) for k in compare.REGIMES}
    fig = plots.regime_scatter(panels, "t", shared_scale=True)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        pts = [c for c in ax.collections if len(c.get_offsets()) > 0]
        assert len(pts[0].get_offsets()) == 64
    assert len({ax.get_xlim() for ax in fig.axes}) == 1


@pytest.mark.parametrize("name, m, words", [
    ("collapsed", {"kl": 0.01, "active_units": 0}, "posterior collapse"),
    ("autoencoder", {"kl": 3000, "active_units": 128, "mean_abs_mu": 6.0}, "no KL force"),
    ("healthy", {"kl": 130, "active_units": 128, "knn_acc": 0.94, "mean_abs_mu": 0.8}, "healthy"),
])
def test_regime_sentences(name, m, words):
    assert words in compare.regime_sentence(name, m, {"mean_abs_mu": 0.8})


def test_hub_says_what_it_waits_for(tmp_path):
    from playground.models import ModelHub, ModelState

    hub = ModelHub(tmp_path)  # never started
    with pytest.raises(NotReady, match="app is starting"):
        hub.get("healthy")
    hub._set("healthy", ModelState.TRAINING, "epoch 1/8, batch 3/125, loss 900.0")
    hub._set("collapsed", ModelState.QUEUED)
    with pytest.raises(NotReady, match="queued to train and starts when healthy is done"):
        hub.get("collapsed")
    with pytest.raises(InputError, match="no model called"):  # a wrong name is the caller's mistake, not a wait
        hub.get("bogus")
    hub._set("autoencoder", ModelState.LOADING)  # a cached model being loaded is not queued to train
    with pytest.raises(NotReady, match="loading from its checkpoint"):
        hub.get("autoencoder")
    assert "healthy" in hub.status_markdown()


def test_a_wait_is_an_info_message_not_an_error(tmp_path):
    """Issue 10 defect 12: a view opened while its model trains says what it waits for in its message, no red toast."""
    from playground.handling import guard
    from playground.models import ModelHub, ModelState

    hub = ModelHub(tmp_path)
    hub._set("healthy", ModelState.TRAINING, "epoch 1/8, batch 3/125, loss 900.0")
    out = guard(parts=("picture", "note", "plane"), message="note")(lambda: hub.get("healthy"))()
    assert out[0] == out[2] == gr.skip() and "not ready yet (training: epoch 1/8" in out[1]
    assert guard(lambda: hub.get("healthy"))() == gr.skip()
    with pytest.raises(gr.Error, match="no model called"):
        guard(lambda: hub.get("bogus"))()


def test_a_handler_names_its_outputs():
    """A handler of several outputs returns the parts it changes by name, in any order; the outputs come in the
    order of its parts, the rest skipped; a part it does not declare fails as a bug (one sentence, logged), and a
    message part that is not among them is refused when the handler is defined."""
    from playground.handling import guard, wire

    parts = ("picture", "note", "plane")
    assert guard(parts=parts)(lambda: {"plane": 3, "picture": 1})() == (1, gr.skip(), 3)
    assert guard(parts=parts)(lambda: {})() == (gr.skip(),) * 3
    with pytest.raises(gr.Error, match="failed inside the app"):
        guard(parts=parts)(lambda: {"pictures": 1})()
    with pytest.raises(ValueError, match="not one of its parts"):
        guard(parts=parts, message="words")(lambda: {})
    assert wire(dict(note="b", plane="c", picture="a", other="d"), parts) == ["a", "b", "c"]


def test_regime_sentence_without_a_healthy_reference():
    assert "units from the origin" in compare.regime_sentence("autoencoder", {"kl": 3000, "active_units": 128, "mean_abs_mu": 6.0}, None)
