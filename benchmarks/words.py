"""How many words each tab shows on its first screen, counted in a real browser.

    python benchmarks/words.py [--url http://127.0.0.1:7860] [--width 1400] [--height 900]

Opens the running app in Debian's Chromium, opens each tab in turn, waits for its pictures, and counts the words of
the text a person can see without scrolling: text nodes that are rendered (not hidden, not in a closed accordion) and
lie at least partly inside the window. The page's header and the tab bar count on every tab, as a person sees them;
the tour's sidebar, when open, is counted in a column of its own. Prints a Markdown table with the command, date and
commit.
"""
from __future__ import annotations

import argparse
import datetime
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import commit  # noqa: E402  the project's one way to name the measured commit
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def print_browser_figures(what: str, url: str, measure, argv=None) -> None:
    """measure() against the app at `url`, printed as a table under the command, date and commit that measured it (the
    browser benchmarks' command lines); no app there, no Chromium or a page that never loaded: one sentence."""
    try:
        figures = measure()
    except Exception as err:
        sys.exit(f"Could not measure {what} at {url}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    command = f"python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}"
    print(f"{what[:1].upper()}{what[1:]} ({command}, {datetime.date.today()}, commit {commit()}):\n")
    print("| figure | value |\n|---|---:|")
    for key, value in figures.items():
        print(f"| {key} | {value:.3g} |")

# words of the visible text nodes inside the window, split into those in the tour's sidebar and the rest
COUNT_JS = """
() => {
  const counts = {page: 0, tour: 0};
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const tour = document.querySelector('#tour-sidebar');
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || !node.textContent.trim() || ['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName)) continue;
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter(r => r.width > 0 && r.height > 0);
    if (!rects.some(r => r.bottom > 0 && r.top < window.innerHeight && r.right > 0 && r.left < window.innerWidth)) continue;
    const words = node.textContent.split(/\\s+/).filter(w => /[A-Za-z]/.test(w)).length;
    counts[tour && tour.contains(el) ? 'tour' : 'page'] += words;
  }
  return counts;
}
"""


def count_words(url: str, width: int = 1400, height: int = 900, settle_ms: int = 2500) -> dict[str, dict[str, int]]:
    """{tab label: {"page": words, "tour": words}} for every tab of the app at `url`, each on its first screen."""
    from playwright.sync_api import sync_playwright

    counts = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url, wait_until="load")
        page.wait_for_selector("button[role=tab]:not(.step-button)", timeout=60_000)
        page.wait_for_timeout(settle_ms)
        labels = [t.strip() for t in page.locator("button[role=tab]:not(.step-button)").all_inner_texts()]
        for label in labels:
            page.get_by_role("tab", name=label, exact=True).click()
            page.wait_for_timeout(settle_ms)
            page.evaluate("window.scrollTo(0, 0)")
            counts[label] = page.evaluate(COUNT_JS)
        browser.close()
    return counts


def table(counts: dict[str, dict[str, int]], command: str) -> str:
    rows = [f"Words on each tab's first screen ({command}, {datetime.date.today()}, commit {commit()}):", "",
            "| tab | words on the page | words in the tour's card |", "|---|---:|---:|"]
    for label, c in counts.items():
        rows.append(f"| {label} | {c['page']} | {c['tour']} |")
    rows.append(f"| all tabs | {sum(c['page'] for c in counts.values())} | |")
    return "\n".join(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Count the words visible on each tab's first screen, in Chromium.")
    p.add_argument("--url", default="http://127.0.0.1:7860")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=900)
    args = p.parse_args(argv)
    try:
        counts = count_words(args.url, args.width, args.height)
    except Exception as err:  # no app at the address, no Chromium: one sentence, not a traceback
        sys.exit(f"Could not count the words at {args.url}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    print(table(counts, "python benchmarks/words.py " + " ".join(argv if argv is not None else sys.argv[1:])))


if __name__ == "__main__":
    main()
