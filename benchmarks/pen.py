"""The pen in a real browser: from the end of a stroke on the Draw tab's canvas to its reconstruction and its bubble
shown in the page (the browser's own upload, queue call, event stream and picture downloads: what a person waits).

    python benchmarks/pen.py [--url http://127.0.0.1:7860] [--strokes 30] [--baseline http://127.0.0.1:7861]

Run it against the app with its models trained (`python app.py`); `python benchmarks/run.py --only pen` measures the
same in its own app, into RESULTS.md, beside gradio_client's `/reconstruct` call (section latency). With --baseline an
older commit's app is measured in turn in the same run, with the ratios old / new (`git worktree add ../old COMMIT`,
then in ../old `python app.py --port 7861 --checkpoints ../main/checkpoints`).
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
SETTLED_MS = 800

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
    """Milliseconds from the pointerup at `up` to the last load of the reconstruction and of the bubble after it: the
    pictures of the finished stroke (while the pen moved, pictures of the stroke so far may still land after it
    lifts), once neither has changed for SETTLED_MS."""
    page.wait_for_function("([up, settled]) => ['recon', 'bubble'].every(id => window.__pen.loads.some(l => l.id === id && l.t > up))"
                           " && performance.now() - Math.max(...window.__pen.loads.map(l => l.t)) > settled",
                           arg=[up, SETTLED_MS], timeout=timeout_ms, polling=50)
    loads = page.evaluate("() => window.__pen.loads")
    return {i: max(x["t"] for x in loads if x["id"] == i and x["t"] > up) - up for i in ("recon", "bubble")}


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


def against(url: str, baseline: str, strokes: int) -> dict:
    """measure() of the app at `url` and of another (an older commit's) at `baseline`, in turn, half the strokes each
    round over two rounds, with the ratios baseline / url."""
    runs = {"new": [], "old": []}
    for _ in range(2):
        for name, at in (("old", baseline), ("new", url)):
            runs[name].append(measure(at, max(2, strokes // 2)))
    out = {}
    for name, rs in runs.items():
        for key in ("pen_recon_p50_ms", "pen_recon_p95_ms"):
            out[f"{name}_{key}"] = float(np.median([r[key] for r in rs]))
    for key in ("pen_recon_p50_ms", "pen_recon_p95_ms"):
        out[f"{key.replace('_ms', '')}_ratio"] = out[f"old_{key}"] / out[f"new_{key}"]
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Strokes on the Draw tab in Chromium: stroke's end to its pictures shown.")
    p.add_argument("--url", default="http://127.0.0.1:7860/")
    p.add_argument("--baseline", help="another app to measure in the same run (e.g. an older commit's), with the ratio")
    p.add_argument("--strokes", type=int, default=STROKES)
    args = p.parse_args(argv)
    if args.baseline:
        print_browser_figures("the pen against a baseline", args.url, lambda: against(args.url, args.baseline, args.strokes), argv)
    else:
        print_browser_figures("the pen", args.url, lambda: measure(args.url, args.strokes), argv)


if __name__ == "__main__":
    main()
