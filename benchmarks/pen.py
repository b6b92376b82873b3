"""The pen in a real browser: from the end of a stroke on the Draw tab's canvas to its reconstruction and its bubble
shown in the page (the browser's own upload, queue call, event stream and picture downloads: what a person waits).

    python benchmarks/pen.py [--url http://127.0.0.1:7860] [--strokes 30]

Run it against the app with its models trained (`python app.py`); `python benchmarks/run.py --only pen` measures the
same in its own app, into RESULTS.md, beside gradio_client's `/reconstruct` call (section latency).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.words import CHROMIUM, FLAGS, print_browser_figures  # noqa: E402

STROKES = 30
PER_DIGIT = 3  # strokes drawn before the canvas is cleared

# Every picture's load and every pointerup, stamped in the page's own clock (images load after the event's answer).
WATCH_JS = """() => {
    window.__pen = {ups: [], loads: []};
    window.addEventListener('pointerup', () => window.__pen.ups.push(performance.now()), true);
    document.addEventListener('load', (e) => {
        const box = e.target.closest && e.target.closest('#recon, #bubble');
        if (e.target.tagName === 'IMG' && box) window.__pen.loads.push({id: box.id, t: performance.now()});
    }, true);
}"""


def random_stroke(rng) -> list[tuple[float, float]]:
    """Three points inside the canvas's middle, as fractions of its box."""
    return [tuple(rng.uniform(0.2, 0.8, 2)) for _ in range(3)]


def draw_stroke(page, points, steps: int = 12) -> None:
    box = page.locator("#sketch canvas").first.bounding_box()
    at = lambda p: (box["x"] + box["width"] * p[0], box["y"] + box["height"] * p[1])  # noqa: E731
    page.mouse.move(*at(points[0]))
    page.mouse.down()
    for a, b in zip(points[:-1], points[1:]):
        for t in range(1, steps + 1):
            page.mouse.move(*at([u + (v - u) * t / steps for u, v in zip(a, b)]))
    page.mouse.up()


def shown_after(page, up: float, timeout_ms: int = 30_000) -> dict:
    """Milliseconds from the pointerup at `up` to the first load of the reconstruction and of the bubble after it."""
    page.wait_for_function("(up) => ['recon', 'bubble'].every(id => window.__pen.loads.some(l => l.id === id && l.t > up))",
                           arg=up, timeout=timeout_ms)
    loads = page.evaluate("() => window.__pen.loads")
    return {i: min(x["t"] for x in loads if x["id"] == i and x["t"] > up) - up for i in ("recon", "bubble")}


def measure(url: str, strokes: int = STROKES, timeout_ms: int = 120_000) -> dict:
    """p50 / p95 over `strokes` strokes (the first, which warms the model and the page, not counted) of the time from
    the stroke's end to its reconstruction, and to both pictures, shown in Chromium."""
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(0)
    recon, both = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(url, wait_until="load")
        page.wait_for_selector("button[role=tab][data-tab-id]", timeout=timeout_ms)
        page.get_by_role("tab", name="Draw", exact=True).click()
        page.wait_for_selector("#sketch canvas", timeout=timeout_ms)
        page.evaluate(WATCH_JS)
        for k in range(strokes + 1):
            if k and k % PER_DIGIT == 0:
                page.locator('#sketch button[aria-label="Clear canvas"]').click()
                page.wait_for_function("() => !document.querySelector('#recon img')", timeout=timeout_ms)
                page.wait_for_timeout(300)
            draw_stroke(page, random_stroke(rng))
            up = page.evaluate("() => window.__pen.ups[window.__pen.ups.length - 1]")
            t = shown_after(page, up, timeout_ms)
            if k:
                recon.append(t["recon"])
                both.append(max(t.values()))
            page.wait_for_timeout(200)  # the second event (the panels below) lands before the next stroke
        browser.close()
    return {"pen_recon_p50_ms": float(np.percentile(recon, 50)), "pen_recon_p95_ms": float(np.percentile(recon, 95)),
            "pen_both_p50_ms": float(np.percentile(both, 50)), "pen_both_p95_ms": float(np.percentile(both, 95)),
            "pen_strokes": len(recon)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Strokes on the Draw tab in Chromium: stroke's end to its pictures shown.")
    p.add_argument("--url", default="http://127.0.0.1:7860/")
    p.add_argument("--strokes", type=int, default=STROKES)
    args = p.parse_args(argv)
    print_browser_figures("the pen", args.url, lambda: measure(args.url, args.strokes), argv)


if __name__ == "__main__":
    main()
