"""Shareable links: a tab's settings in the page's address, restored when someone opens it.

A link is the page's own address with `tab=<the tab's id>` and the tab's settings as its query, or `tour=N` for the
guided tour's stop N (playground/tour.py). It is built in the
browser (no server round trip, and right behind any proxy, where the server cannot know the address people see).
On page load, ui.py selects the link's tab and each tab restores its own settings from the query, checked as its
handlers check them, with a sentence for a link whose settings could not be used.
"""
from __future__ import annotations

import re

import gradio as gr

TABS = ("draw", "walk", "train")  # the tabs a link can open (their gr.Tab ids)
# Every value a link may carry is a name or a number; anything else (HTML, Markdown, a page of text) never reaches a
# component or a sentence: it reads as UNREADABLE, which no check accepts, and the sentence names that instead.
SAFE_VALUE = re.compile(r"[A-Za-z0-9_.+-]{1,40}")
UNREADABLE = "(unreadable)"


def link_js(tab: str, keys: tuple[str, ...]) -> str:
    """A button's js: the given components' values (in `keys`' order, named by `keys`) as the page address's query."""
    args = ", ".join(keys)
    return f"""({args}) => {{
  const url = new URL(window.location.href);
  url.search = new URLSearchParams({{tab: "{tab}", {args}}}).toString();
  url.hash = "";
  return url.toString();
}}"""


def link_row(tab: str, controls: list, keys: tuple[str, ...], what: str) -> None:
    """A "Link to these settings" button and the box it fills, for `controls` saved under `keys`; `what` says in the
    box what the link opens."""
    with gr.Row():
        button = gr.Button("Link to these settings", size="sm", elem_id=f"{tab}-share")
        box = gr.Textbox(show_label=False, placeholder=f"a link that opens {what}", buttons=["copy"], interactive=False,
                         elem_id=f"{tab}-link", scale=3)
    button.click(None, controls, box, js=link_js(tab, keys))


def query_of(request: gr.Request | None) -> dict:
    """The page address's query, each value a short name or number or UNREADABLE."""
    params = getattr(request, "query_params", None) if request is not None else None
    if params is None:
        return {}
    return {str(k): (v if SAFE_VALUE.fullmatch(str(v)) else UNREADABLE) for k, v in dict(params).items()}


def asked(request: gr.Request | None, tab: str) -> dict | None:
    """The page's query when it is a link to `tab`, else None (the tab keeps its defaults)."""
    query = query_of(request)
    return query if query.get("tab") == tab else None


def tour_stop(query: dict, stops: int) -> tuple[int | None, str]:
    """The tour stop a `?tour=N` link names (N from 1 to `stops`; returned 0-based), None for a page address without
    one, and for a number that names no stop the first stop with a sentence saying why."""
    if "tour" not in query:
        return None, ""
    asked = query["tour"]
    if asked.isdigit() and 1 <= int(asked) <= stops:
        return int(asked) - 1, ""
    return 0, f"The link's tour stop {asked!r} is not one of 1 to {stops}; this is the tour's first stop."


def select_tab(request: gr.Request):
    """Page load: the tab a link names is opened."""
    tab = query_of(request).get("tab")
    return gr.Tabs(selected=tab) if tab in TABS else gr.skip()
