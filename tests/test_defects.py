"""Issue 10's defects, each pinned by a test that fails without its fix (the browser's own in test_browser.py)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from playground import draw, plots, walk
from playground.models import ModelHub, ModelState
from vae.digits import InputError, open_picture
from vae.workers import Event


def test_a_bubble_off_the_plane_widens_the_axes(tiny_hub):
    """Defect 3: an unusual input's bubble (a single dot: KL 63 nats) must be drawn inside the axes, not off them."""
    ready = tiny_hub.get("healthy")
    lat = ready.latents
    far = lat.pca_xy.max(0) + 25.0
    assert not ready.bubble.contains(far)
    _, wide = plots.bubble_background(lat.pca_xy, lat.labels, ready.prior_xy, include=far[None])
    assert wide.contains(far) and wide.contains(lat.pca_xy)
    x, y = wide.to_pixels(far)
    assert 0 <= x < wide.image.shape[1] and 0 <= y < wide.image.shape[0]


def test_bubble_samples_use_no_digit_colour():
    """Defect 4: the bubble's samples were the red of the digit 3."""
    def rgb(c):
        return np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)])

    for c in plots.DIGIT_COLORS:
        assert np.abs(rgb(c) - np.array(plots.SAMPLE_COLOR)).sum() > 150, c


def test_clipped_mu_bars_are_marked_with_their_true_range(tiny_hub):
    """Defect 9: the autoencoder's mu (mean |mu| about 5.5) were pinned at the axis edge with no marker."""
    raster = tiny_hub.get("healthy").musigma
    mu, sigma = np.array([5.5, -6.0, 0.3] + [0.0] * 5), np.full(8, 0.1)
    marked = plots.draw_musigma(raster, mu, sigma)
    clip = np.all(marked == np.array(plots.CLIP_COLOR), axis=2).sum()
    assert clip > 10
    plain = plots.draw_musigma(raster, np.clip(mu, -3, 3), sigma)
    assert np.all(plain == np.array(plots.CLIP_COLOR), axis=2).sum() == 0
    note = plots.clipped_note(mu)
    assert "2 of the 8" in note and "-6.0 to 5.5" in note
    assert plots.clipped_note(np.clip(mu, -3, 3)) == ""


def test_the_traversal_strip_has_its_values(tiny_hub):
    """Defect 7: the one-dimension strip names the value of each column (-3 ... +3)."""
    strip, dims = walk.traversals(tiny_hub.get("healthy"), n_dims=2)
    images = plots.labelled_rows({"a": np.zeros((11, 28, 28)), "b": np.zeros((11, 28, 28))}, scale=2, label_width=walk.TRAVERSAL_LABEL)
    assert strip.shape[0] > images.shape[0]  # a header row of values above the rows
    header = strip[: strip.shape[0] - images.shape[0], walk.TRAVERSAL_LABEL :]
    assert (header < 100).any()


@pytest.mark.parametrize("write, words", [
    (lambda p: p.write_text("hello, I am text"), "not a picture"),
    (lambda p: Image.new("1", (15000, 15000)).save(p), "too many pixels"),  # a decompression bomb: 225 megapixels
    (lambda p: p.write_bytes(_png_bytes()[:60]), "damaged"),
])
def test_uploads_that_are_not_pictures_get_a_sentence(tmp_path, write, words):
    """Defect 5: a text file named .png and a 15000 x 15000 PNG showed a broken thumbnail and a traceback."""
    path = tmp_path / "digit.png"
    write(path)
    with pytest.raises(InputError, match=words):
        open_picture(path)


def _png_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_a_blank_upload_is_not_called_a_canvas(tiny_hub, tmp_path):
    """Defect 5: a blank upload said 'The canvas is blank: draw a digit first'."""
    import gradio as gr

    path = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(path)
    with pytest.raises(gr.Error) as err:
        draw.DrawHandlers(tiny_hub).reconstruct(str(path), "healthy")
    assert "uploaded picture is blank" in err.value.message and "canvas" not in err.value.message


def test_an_invalid_dimension_clears_the_grid(tiny_hub):
    """Defect 11: an invalid dimension stayed beside the grid of the previous ones."""
    point, grid, note, drag = walk.WalkHandlers(tiny_hub).change_dims("healthy-2d", 0, 7, 0.0, 0.0)
    assert point is None and grid is None and "dimensions 0 to 1" in note
    assert "version" not in drag and "dimensions 0 to 1" in drag["message"]  # the drag pad is cleared too
    point, grid, note, drag = walk.WalkHandlers(tiny_hub).change_dims("healthy-2d", 1, 0, 0.0, 0.0)
    assert grid.ndim == 3 and "Dimensions 1 (x) and 0 (y)" in note and drag["dims"] == [1, 0]


def test_the_bars_title_counts_the_active_dimensions(tiny_hub):
    """Defect 10: the text said unused dimensions sit at the prior while the page said all 128 are active; the chart's
    title now says how many this model uses, from the same definition as the Compare table."""
    from vae.analysis import active_units

    ready = tiny_hub.get("healthy")
    assert ready.active == active_units(ready.latents.mu)
    assert f"{ready.active} of {ready.model.config.latent_dim} active" in ready.musigma_title


def test_a_training_worker_that_started_is_not_called_queued(tmp_path):
    """Defect 12: the status said 'queued' for a preset whose worker had already started."""
    hub = ModelHub(tmp_path)
    hub._set("healthy", ModelState.QUEUED)
    hub._on_event(Event("start", "healthy", 123))
    assert hub.status()["healthy"].startswith("training")
