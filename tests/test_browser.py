"""A real browser: Debian's Chromium, driven by Playwright, draws a stroke and finds the reconstruction."""
from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(app_url):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("VAE_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(app_url)
        page.wait_for_selector("#sketch canvas", timeout=30_000)
        yield page
        browser.close()


def stroke(page, points):
    box = page.locator("#sketch canvas").first.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + w * points[0][0], y0 + h * points[0][1])
    page.mouse.down()
    for (a, b), (c, d) in zip(points[:-1], points[1:]):
        for t in range(1, 16):
            page.mouse.move(x0 + w * (a + (c - a) * t / 15), y0 + h * (b + (d - b) * t / 15))
    page.mouse.up()


def test_drawing_a_stroke_shows_its_reconstruction(page):
    # no click on the brush tool first: the canvas must be ready to draw when the page opens
    stroke(page, [(0.3, 0.25), (0.7, 0.25), (0.45, 0.8)])  # a 7
    page.wait_for_selector("#recon img", timeout=30_000)
    page.wait_for_selector("#bubble img", timeout=30_000)
    assert page.locator("#samples img").count() == 1
    assert "nats" in page.locator("#draw-message").inner_text()
    assert page.locator("text=Traceback").count() == 0


def test_the_three_tabs_open(page):
    for tab in ("Latent walk", "Compare", "Draw"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(500)
    assert page.locator("text=Traceback").count() == 0
