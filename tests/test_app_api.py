"""The running app, called through gradio_client like any user script would."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from playground import plots

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client(app_url):
    return gradio_client.Client(app_url, verbose=False)


def _png(tmp_path, array, name="digit.png", mode=None):
    path = tmp_path / name
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return gradio_client.handle_file(str(path))


def _size(path):
    with Image.open(path) as im:
        return im.size


def test_named_endpoints_exist(client):
    api = client.view_api(return_format="dict", print_info=False)
    names = set(api["named_endpoints"])
    assert {"/reconstruct", "/draw", "/details", "/decode", "/grid", "/compare", "/interpolate", "/prior", "/likelihood"} <= names


def test_reconstruct_an_uploaded_digit(client, tiny_hub, tmp_path):
    digit = (255 - tiny_hub.data.test.images[5, 0].numpy() * 255).astype(np.uint8)  # black on white, like paper
    big = np.asarray(Image.fromarray(digit).resize((300, 300)))
    recon, bubble, message = client.predict(_png(tmp_path, big), "healthy", api_name="/reconstruct")  # first, as the pen needs
    seen, samples, musigma, nearest = client.predict("healthy", api_name="/details")  # then the rest, for this session's digit
    assert _size(seen) == _size(recon) == (224, 224)
    assert _size(bubble) == tiny_hub.get("healthy").bubble.image.shape[1::-1]
    assert "nats" in message
    w, h = _size(nearest)  # two rows of 5 training digits: nearest by code, nearest by pixels
    assert w > 5 * 84 and h > 2 * 84
    # what the model saw is white on black again
    seen_px = np.asarray(Image.open(seen).convert("L"), dtype=np.float32)
    assert seen_px[:8].mean() < 10 and seen_px.max() > 200


@pytest.mark.parametrize("model", ["autoencoder", "collapsed", "healthy-2d"])
def test_every_draw_model_answers(client, tiny_hub, tmp_path, model):
    digit = (tiny_hub.data.test.images[0, 0].numpy() * 255).astype(np.uint8)
    recon, bubble, message = client.predict(_png(tmp_path, digit), model, api_name="/reconstruct")
    assert f"**{model}**" in message and client.predict(model, api_name="/details")[3] is not None


def test_decode_and_grid(client):
    point = client.predict("healthy-2d", 0, 1, 1.0, -1.0, api_name="/decode")
    assert _size(point) == (224, 224)
    ringed = client.predict("healthy-2d", 0, 1, 1.0, -1.0, api_name="/grid")
    w, h = _size(ringed)
    left, top, right, bottom = plots.GRID_MARGINS
    assert (w, h) == (15 * 56 + 16 * 2 + left + right, 15 * 56 + 16 * 2 + top + bottom)  # the grid and its axes
    other = client.predict("healthy", 0, 3, 0.0, 0.0, api_name="/grid")
    assert _size(other) == (w, h)
    rgb = np.asarray(Image.open(ringed).convert("RGB")).astype(int)
    assert ((rgb[..., 0] > 200) & (rgb[..., 1] < 80)).sum() > 50  # the red ring of the point


def test_compare(client):
    sentences, table, pca, tsne, recons, samples = client.predict(api_name="/compare")
    assert "posterior collapse" in sentences or "healthy" in sentences
    assert [row[0] for row in table["data"]] == ["autoencoder", "healthy", "collapsed"]
    for path in (pca, tsne, recons, samples):
        assert min(_size(path)) > 50


@pytest.mark.parametrize("make, words", [
    (lambda: np.full((64, 64), 255, np.uint8), "blank"),
    (lambda: np.zeros((64, 64), np.uint8), "blank"),
    (lambda: np.pad(np.zeros((60, 60), np.uint8), 2, constant_values=255), "ink"),
])
def test_bad_uploads_get_a_sentence(client, tmp_path, make, words):
    with pytest.raises(Exception, match=words) as err:
        client.predict(_png(tmp_path, make()), "healthy", api_name="/reconstruct")
    assert "Traceback" not in str(err.value)


def test_a_file_that_is_not_a_picture_gets_a_sentence(client, tmp_path):
    """Issue 10 defect 5: a text file named .png gave a broken thumbnail and a traceback in the terminal."""
    fake = tmp_path / "digit.png"
    fake.write_text("not a picture at all")
    with pytest.raises(Exception, match="not a picture this app can read") as err:
        client.predict(gradio_client.handle_file(str(fake)), "healthy", api_name="/reconstruct")
    assert "Traceback" not in str(err.value)


def test_bad_walk_inputs_get_a_sentence(client):
    with pytest.raises(Exception, match="two different"):
        client.predict("healthy", 2, 2, 0.0, 0.0, api_name="/decode")
    with pytest.raises(Exception, match="dimensions 0 to 1"):
        client.predict("healthy-2d", 0, 7, 0.0, 0.0, api_name="/grid")


def test_odd_image_modes_work(client, tiny_hub, tmp_path):
    digit = (tiny_hub.data.test.images[2, 0].numpy() * 255).astype(np.uint8)
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = digit  # a digit drawn only with transparency
    for name, handle in [("rgba", _png(tmp_path, rgba, "rgba.png")),
                         ("palette", _png(tmp_path, np.stack([digit] * 3, -1), "p.png")),
                         ("grey16", _png(tmp_path, digit.astype(np.uint16) * 256, "g16.png"))]:
        out = client.predict(handle, "healthy", api_name="/reconstruct")
        assert "nats" in out[2], name


def test_interpolate_between_two_test_digits(client, tiny_hub):
    """Issue 10, view 1: the strip and the distances of its steps to the nearest training code, healthy and autoencoder."""
    labels = tiny_hub.data.test.labels.numpy()
    a, b = int(np.flatnonzero(labels == 1)[0]), int(np.flatnonzero(labels == 7)[0])
    summary, strip, table = client.predict(a, b, api_name="/interpolate")
    assert f"test digit {a} (a 1)" in summary and "healthy" in summary and "autoencoder" in summary
    w, h = _size(strip)
    assert w > 9 * 84 and h > 2 * 84
    assert len(table["data"]) == 9 and table["data"][0][:2] == [0, 0.0] and table["data"][-1][1] == 1.0
    with pytest.raises(Exception, match="between 0 and 63") as err:
        client.predict(a, 5000, api_name="/interpolate")
    assert "Traceback" not in str(err.value)


def test_prior_against_the_codes(client):
    """Issue 10, view 2: prior samples beside the codes' mixture, and the plane of holes and class Gaussians."""
    sentences, samples, planes, split = client.predict(api_name="/prior")
    assert "**healthy**" in sentences and "**autoencoder**" in sentences and "holes" in sentences
    assert "mismatch between the codes and the prior" in sentences and "log 128 = 4.9" in sentences  # the tiny models' 128 training digits
    assert min(_size(samples)) > 4 * 56 and min(_size(planes)) > 300 and min(_size(split)) > 100


def test_likelihood_of_a_test_digit(client, tiny_hub):
    """Issue 10, views 3 and 4: a test digit under L2, L1 and a learned sigma, beside the held-out figures."""
    message, findings, blur, cheat, blur_table, sigma_table = client.predict(7, api_name="/likelihood")
    assert f"Test digit 7 (a {int(tiny_hub.data.test.labels[7])})" in message and "Blur, L2 against L1" in findings
    assert min(_size(blur)) > 2 * 168 and min(_size(cheat)) > 2 * 168
    assert [row[0] for row in blur_table["data"]] == ["healthy", "laplace", "learned-sigma"]
    assert [row[0] for row in sigma_table["data"]] == ["never inked", "background", "edge", "ink"]
    with pytest.raises(Exception, match="between 0 and 63") as err:
        client.predict(64, api_name="/likelihood")
    assert "Traceback" not in str(err.value)


def endpoint_signatures(api: dict) -> dict:
    """Each named endpoint's parameters (name and component) and how many values it returns: what a script relies on."""
    return {name: {"parameters": [[p["parameter_name"], p["component"]] for p in e["parameters"]], "returns": len(e["returns"])}
            for name, e in sorted(api["named_endpoints"].items())}


def test_the_named_endpoints_are_the_ones_scripts_rely_on(client):
    """tests/data/endpoints.json was written from the app before the code-health refactors (issue 21): a refactor
    that renames, drops or reorders an endpoint's parameters, or changes what it returns, fails here."""
    import json
    from pathlib import Path

    saved = json.loads((Path(__file__).parent / "data" / "endpoints.json").read_text())
    assert endpoint_signatures(client.view_api(return_format="dict", print_info=False)) == saved
