"""The Latent walk's drag pad in a real browser: frames a second over a scripted drag, milliseconds a decode, and the
in-page decode against PyTorch's, per model.

    python benchmarks/pad.py [--url http://127.0.0.1:7860]

Run it against the app with its models trained (`python app.py`); `python benchmarks/run.py --only pad` measures the
same in its own app, into RESULTS.md. The browser test (tests/test_browser.py) drags with the same function.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.words import CHROMIUM, FLAGS, print_browser_figures  # noqa: E402

PAD = "document.querySelector('#drag-pad .pad')"
PLANE = "#drag-pad canvas.pad-plane"
MODELS = ("healthy-2d", "healthy")
DECODES = 100  # decodes timed back to back in the page, beside the drag


def scripted_drag(page, selector: str, start, end, moves: int = 90) -> None:
    """A mouse drag over an element, from and to fractions of its box, in `moves` steps."""
    box = page.locator(selector).bounding_box()
    at = lambda f: (box["x"] + box["width"] * f[0], box["y"] + box["height"] * f[1])  # noqa: E731
    page.mouse.move(*at(start))
    page.mouse.down()
    for t in range(1, moves + 1):
        page.mouse.move(*at([a + (b - a) * t / moves for a, b in zip(start, end)]))
    page.mouse.up()


def drag_rate(page, moves: int = 120) -> dict:
    """Drag over the pad from bottom left to top right: {frames, seconds, fps, decode_ms} as the page counted them
    (one decode per requestAnimationFrame, of the latest point the pointer reached)."""
    page.locator(PLANE).scroll_into_view_if_needed()
    scripted_drag(page, PLANE, (0.15, 0.85), (0.85, 0.15), moves)
    s = page.evaluate(f"() => {PAD}.vae.state.stats")
    seconds = (s["last"] - s["first"]) / 1000
    return dict(frames=s["frames"], seconds=seconds, fps=(s["frames"] - 1) / seconds if seconds > 0 else 0.0, decode_ms=s["decode_ms"])


def decode_ms(page, n: int = DECODES) -> float:
    """Milliseconds a decode, n back to back in the page at spread-out points (the mean)."""
    return page.evaluate(f"""(n) => {{ const pad = {PAD}.vae, d = pad.state.net.latent_dim, t0 = performance.now();
        for (let k = 0; k < n; k++) {{ const z = new Array(d).fill(0); z[0] = Math.sin(k); z[1] = Math.cos(k); VAEDecoder.decode(pad.state.net, z); }}
        return (performance.now() - t0) / n; }}""", n)


def open_pad(page, url: str, model: str, timeout_ms: int = 120_000) -> None:
    """The Latent walk tab at `url` with `model` chosen and its decoder's weights in the page."""
    if not page.url.startswith(url):
        page.goto(url, wait_until="load")
        page.wait_for_selector("button[role=tab][data-tab-id]", timeout=timeout_ms)
    page.get_by_role("tab", name="Latent walk", exact=True).click()
    page.locator("#walk-model").get_by_label(model, exact=True).check()
    page.wait_for_function(f"(m) => {{ const s = {PAD}?.vae?.state; return !!(s && s.net && s.view && s.view.model === m); }}", arg=model,
                           timeout=timeout_ms)


def measure(url: str, models=MODELS, decoders=None) -> dict:
    """Per model: the drag's frames a second and the milliseconds a decode; with `decoders` ({name: torch decoder}),
    also the largest difference per pixel between the page's decode and PyTorch's for a few z."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for model in models:
            open_pad(page, url, model)
            rate = drag_rate(page)
            out[f"pad_{model}_fps"] = rate["fps"]
            out[f"pad_{model}_decode_ms"] = decode_ms(page)
            if decoders and model in decoders:
                out[f"pad_{model}_max_diff"] = max_diff(page, decoders[model])
        browser.close()
    return out


def max_diff(page, decoder, n: int = 5) -> float:
    """The largest |page - PyTorch| per pixel over n random z on the pad's own model (the other dimensions of the
    walk's z are 0; here every dimension is drawn)."""
    import numpy as np
    import torch

    z = torch.randn(n, decoder.config.latent_dim, generator=torch.Generator().manual_seed(0)) * 2
    got = np.array(page.evaluate(f"(zs) => zs.map(z => {PAD}.vae.decode(z))", z.tolist()))
    with torch.no_grad():
        want = decoder(z)[:, 0].numpy().reshape(n, -1)
    return float(np.abs(got - want).max())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Drag over the Latent walk's pad in Chromium: frames a second, ms a decode.")
    p.add_argument("--url", default="http://127.0.0.1:7860/")
    args = p.parse_args(argv)
    print_browser_figures("the drag pad", args.url, lambda: measure(args.url), argv)


if __name__ == "__main__":
    main()
