"""Clicking a latent map decodes the point under the pointer (issue 19, item 1): the pixel -> latent maps, exact."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
import torch

from playground import compare, draw, plots, walk
from vae.analysis import fit_pca2


def click(x, y) -> gr.SelectData:
    return gr.SelectData(None, {"index": [x, y], "value": None, "selected": True})


def assert_ringed_at(ringed: np.ndarray, picture: np.ndarray, px, radius: int = 8):
    """The picture again, with a red ring around pixel px and nothing else changed."""
    rgb = np.asarray(plots.mark_point(picture, (-100, -100)))  # the picture as RGB, no ring in sight
    changed = np.argwhere((ringed != rgb).any(-1))
    assert ringed.shape == rgb.shape and len(changed) > 20
    assert (np.abs(changed[:, ::-1] - np.asarray(px)) <= radius + 2).all()  # every changed pixel is on the ring
    assert (ringed[tuple(changed.T)][:, 0] > 200).all()  # and red


def test_a_grid_pixel_names_the_cell_under_it():
    values = np.linspace(-3, 3, 15)
    left, top, _, _ = plots.GRID_MARGINS
    scale, pad = 2, 2
    cell = 28 * scale + pad
    for i, j in [(0, 0), (3, 11), (14, 14), (7, 7)]:
        centre = (left + pad + i * cell + 14 * scale, top + pad + j * cell + 14 * scale)
        assert plots.grid_value_at(centre, values, scale, pad) == (values[i], values[14 - j])  # row 0 at the top
    assert plots.grid_value_at((left - 5, top + 40), values, scale, pad) is None  # on the y axis' labels
    assert plots.grid_value_at((left + 40, top + pad + 15 * cell + 3), values, scale, pad) is None  # below the last row


def test_a_plane_pixel_maps_back_to_the_point_drawn_there():
    raster = plots.Raster(None, np.array([40.0, -35.0]), np.array([200.0, 150.0]), np.array([[-4.0, 4.0], [-3.0, 3.0]]))
    xy = np.array([[1.25, -0.5], [-3.9, 2.9]])
    assert np.allclose(raster.to_data(raster.to_pixels(xy)), xy)
    plane = plots.plane_map(raster, "healthy")
    assert np.allclose(plots.point_on_plane(plane, raster.to_pixels(xy[0])), xy[0])
    assert plots.point_on_plane(plane, raster.to_pixels([5.0, 0.0])) is None  # right of the axes


def test_lift_is_the_inverse_of_project_on_the_plane():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(200, 6)).astype(np.float32) * np.array([3, 2, 1, 0.5, 0.2, 0.1], np.float32)
    pca = fit_pca2(codes)
    xy = np.array([0.7, -1.2], np.float32)
    assert np.allclose(pca.project(pca.lift(xy)), xy, atol=1e-5)
    z = pca.lift(xy) - pca.mean  # nothing off the plane: the other directions stay at the mean
    assert np.allclose(z, xy @ pca.components, atol=1e-6)
    two = fit_pca2(codes[:, :2])
    assert np.allclose(two.lift(xy), xy)  # a 2-D model's plane is its own z1, z2


@pytest.mark.parametrize("name", ["healthy", "healthy-2d"])
def test_clicking_the_bubble_plane_decodes_the_point_under_it(tiny_hub, name):
    h = draw.DrawHandlers(tiny_hub)
    ready = tiny_hub.get(name)
    x = tiny_hub.test_digit(3)[0]
    v = draw.draw_view(ready, x)
    q = ready.model.posterior(torch.from_numpy(x)[None, None])
    centre = ready.latents.pca.project(q.mu[0].numpy())
    px = plots.Raster(None, np.asarray(v.plane["scale"]), np.asarray(v.plane["offset"]), None).to_pixels(centre)
    image, words, ringed = h.pick(v.plane, click(*px))
    assert_ringed_at(ringed, v.bubble, px)
    with torch.no_grad():
        expected = ready.model.decode(torch.from_numpy(ready.latents.pca.lift(centre))[None])[0, 0].numpy()
    assert np.array_equal(image, plots.digit_image(expected, 6))
    assert "decoded at" in words and (("PCA" in words) == (name == "healthy"))
    if name == "healthy-2d":  # its plane is z itself: the click at mu decodes mu
        with torch.no_grad():
            assert np.allclose(expected, ready.model.decode(q.mu)[0, 0].numpy(), atol=1e-5)


def test_a_click_off_the_plane_or_before_any_digit_says_so(tiny_hub):
    h = draw.DrawHandlers(tiny_hub)
    v = draw.draw_view(tiny_hub.get("healthy"), tiny_hub.test_digit(3)[0])
    image, words, ringed = h.pick(v.plane, click(1, 1))  # the figure's corner, outside the axes
    assert "outside the plane's axes" in words and image == ringed == gr.skip()
    with pytest.raises(gr.Error, match="Draw or pick a digit first"):
        h.pick(None, click(10, 10))


def test_clicking_a_grid_cell_moves_the_sliders_there(tiny_hub):
    h = walk.WalkHandlers(tiny_hub)
    values = np.linspace(-walk.SPAN, walk.SPAN, walk.GRID_N)
    left, top, _, _ = plots.GRID_MARGINS
    cell = 28 * walk.GRID_SCALE + 2
    i, j = 12, 2  # column 12 (z1 = values[12]), row 2 from the top (z2 = values[12])
    px = (left + 2 + i * cell + 20, top + 2 + j * cell + 20)
    z1, z2, grid = h.pick("healthy-2d", 0, 1, click(*px))
    assert abs(z1 - values[i]) <= walk.STEP / 2 and abs(z2 - values[14 - j]) <= walk.STEP / 2
    assert np.array_equal(grid, walk.grid_image(tiny_hub.get("healthy-2d"), (0, 1), (z1, z2)))
    assert h.pick("healthy-2d", 0, 1, click(3, 3)) == (gr.skip(),) * 3  # on the axes' labels: nothing moves


def test_clicking_a_compare_pca_panel_decodes_with_that_panels_model(tiny_hub):
    h = compare.CompareHandlers(tiny_hub)
    planes = h._view(compare.ALONE, None).pca_planes
    assert [p["model"] for p in planes] == list(compare.REGIMES)
    for plane in planes:
        (x0, x1), (y0, y1) = plane["limits"]
        xy = np.array([x0 + 0.7 * (x1 - x0), y0 + 0.4 * (y1 - y0)], np.float32)  # inside this panel's axes
        px = plots.Raster(None, np.asarray(plane["scale"]), np.asarray(plane["offset"]), None).to_pixels(xy)
        image, words, ringed = h.pick(compare.ALONE, click(*px))
        assert_ringed_at(ringed, h._view(compare.ALONE, None).pca, px)
        ready = tiny_hub.get(plane["model"])
        with torch.no_grad():
            expected = ready.model.decode(torch.from_numpy(ready.latents.pca.lift(xy))[None])[0, 0].numpy()
        assert np.array_equal(image, plots.digit_image(expected, 6)) and words.startswith(f"**{plane['model']}**")
    assert "outside the panels" in h.pick(compare.ALONE, click(1, 1))[1]


def test_clicking_a_prior_plane_decodes_with_that_planes_model(tiny_hub):
    from playground import prior

    h = prior.PriorHandlers(tiny_hub)
    parts = h._parts()
    maps = plots.stacked_maps([p.plane_maps for p in parts.values()], [p.plane.shape[0] for p in parts.values()])
    assert [m["model"] for m in maps] == [name for name in prior.MODELS for _ in range(2)]  # two panels per model, in order
    for plane in maps[1::2]:  # each model's right panel, under the models above it
        (x0, x1), (y0, y1) = plane["limits"]
        xy = np.array([x0 + 0.3 * (x1 - x0), y0 + 0.6 * (y1 - y0)], np.float32)
        px = plots.Raster(None, np.asarray(plane["scale"]), np.asarray(plane["offset"]), None).to_pixels(xy)
        image, words, ringed = h.pick(click(*px))
        assert_ringed_at(ringed, prior.stacked_planes(parts)[0], px)
        ready = tiny_hub.get(plane["model"])
        with torch.no_grad():
            expected = ready.model.decode(torch.from_numpy(ready.latents.pca.lift(xy))[None])[0, 0].numpy()
        assert np.array_equal(image, plots.digit_image(expected, 6)) and words.startswith(f"**{plane['model']}**")
    assert "outside the panels" in h.pick(click(1, 1))[1]


def test_clicking_the_train_tabs_cloud_decodes_with_the_runs_latest_epoch(tiny_hub, tiny, tmp_path):
    from types import SimpleNamespace

    from playground import train_tab
    from playground.runs import RunManager
    from test_train_tab import settle

    runs = RunManager(tmp_path, tiny_hub, tiny(), build_view=lambda run, ready: train_tab.epoch_view(ready, tiny_hub.data.test, "epoch"))
    h = train_tab.TrainHandlers(tiny_hub, runs, ())
    alice, bob = SimpleNamespace(session_hash="alice"), SimpleNamespace(session_hash="bob")
    with pytest.raises(gr.Error, match="Train a run first"):
        h.pick(click(50, 50), alice)
    run = settle(runs, runs.submit("alice", tiny(epochs=1, latent_dim=2)))
    plane = run.view.plane
    (x0, x1), (y0, y1) = plane["limits"]
    xy = np.array([x0 + 0.6 * (x1 - x0), y0 + 0.35 * (y1 - y0)], np.float32)
    px = plots.Raster(None, np.asarray(plane["scale"]), np.asarray(plane["offset"]), None).to_pixels(xy)
    row, image, words, ringed = h.pick(click(*px), alice)
    assert_ringed_at(ringed, run.view.cloud, px)
    with torch.no_grad():
        expected = run.ready.model.decode(torch.from_numpy(xy)[None])[0, 0].numpy()  # a 2-D run's plane is z itself
    assert np.allclose(image, plots.digit_image(expected, 6), atol=1) and "Epoch 1" in words and "your run 1" in words
    assert "outside the cloud's axes" in h.pick(click(1, 1), alice)[2]
    with pytest.raises(gr.Error, match="Train a run first"):  # another visitor's cloud is not theirs to decode
        h.pick(click(*px), bob)
