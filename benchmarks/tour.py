"""The guided tour walked by its Next button alone, in a real browser: which tab each stop opened, what its controls
show, and how long until its picture was drawn.

    python benchmarks/tour.py [--url http://127.0.0.1:7860]

Run it against the app with its models trained (`python app.py`). A stop's first visit to a tab that measures whole
models (Compare, Prior, Likelihood) includes that measurement; later visits are served from the app's cache. The
browser test (tests/test_browser.py) walks the tour with the same function.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import commit  # noqa: E402
from benchmarks.words import CHROMIUM, FLAGS  # noqa: E402
from playground.tour import STOPS  # noqa: E402

PICTURE = {"how": "how-encoder", "draw": "recon", "walk": "grid", "interpolate": "interp-strip", "compare": "compare-pca",
           "prior": "prior-samples", "likelihood": "lik-blur"}  # the picture each tab draws first (the Train tab: none until Train)
MESSAGE = {"how": "how-message", "draw": "draw-message"}  # the line that names the model a picture was drawn with
CONTROL = {"how.model": "#how-model input:checked", "draw.model": "#draw-model input:checked", "walk.model": "#walk-model input:checked",
           "train.beta": "#train-beta input", "interpolate.a": "#interp-a input", "interpolate.b": "#interp-b input"}  # where the page shows each control a stop sets


def selected_tab(page) -> str:
    return page.locator("button[role=tab][aria-selected=true]:not(.step-button)").get_attribute("data-tab-id")


def control_value(page, key: str) -> str:
    el = page.locator(CONTROL[key]).first
    return el.get_attribute("value") if "checked" in CONTROL[key] else el.input_value()


def drawn_js(n: int) -> str:
    """A page predicate: stop n's tab is open and its picture drawn (with the model the stop set, where a line names it)."""
    stop = STOPS[n]
    checks = [f"document.querySelector('button[role=tab][aria-selected=true][data-tab-id=\"{stop.tab}\"]')"]
    if stop.tab in PICTURE:
        checks.append(f"document.querySelector('#{PICTURE[stop.tab]} img')")
    model = stop.setup.get(f"{stop.tab}.model")
    if model and stop.tab in MESSAGE:
        checks.append(f"(document.querySelector('#{MESSAGE[stop.tab]}')?.innerText || '').includes('{model}')")
    if "train.beta" in stop.setup:
        checks.append(f"document.querySelector('#train-beta input')?.value === '{stop.setup['train.beta']}'")
    return "() => !!(" + " && ".join(checks) + ")"


def walk_tour(page, timeout_ms: int = 60_000) -> list[dict]:
    """From the first stop (the page as it opened) to the last by pressing Next only. Per stop: its number, title,
    the tab that is open, the values of the controls it set, and the seconds from Next until its picture was drawn."""
    rows = []
    for n, stop in enumerate(STOPS):
        start = time.perf_counter()
        if n:
            page.locator(f"#tour-next-{n}").click()
        page.wait_for_function(drawn_js(n), timeout=timeout_ms)
        seconds = time.perf_counter() - start
        page.wait_for_selector(f"#tour-step-{n + 1}", state="visible", timeout=timeout_ms)
        rows.append(dict(stop=n + 1, title=stop.title, tab=selected_tab(page), seconds=seconds,
                         controls={k: control_value(page, k) for k in stop.setup if k in CONTROL}))
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Walk the guided tour by Next in Chromium and time each stop's picture.")
    p.add_argument("--url", default="http://127.0.0.1:7860")
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(args.url, wait_until="load")
            rows = walk_tour(page)
            browser.close()
    except Exception as err:  # no app at the address, no Chromium, a stop that never drew: one sentence
        sys.exit(f"Could not walk the tour at {args.url}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    command = "python benchmarks/tour.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"The tour by Next alone ({command.strip()}, {datetime.date.today()}, commit {commit()}):\n")
    print("| stop | title | tab opened | controls set | seconds until its picture |\n|---:|---|---|---|---:|")
    for r in rows:
        controls = ", ".join(f"{k} = {v}" for k, v in r["controls"].items()) or "-"
        print(f"| {r['stop']} | {r['title']} | {r['tab']} | {controls} | {r['seconds']:.2f} |")


if __name__ == "__main__":
    main()
