"""Shareable links: a tab's settings in the page's address, restored when someone opens it.

A link is the page's own address with `tab=<the tab's id>` and the tab's settings as its query. It is built in the
browser (no server round trip, and right behind any proxy, where the server cannot know the address people see).
On page load, ui.py selects the link's tab and each tab restores its own settings from the query, checked as its
handlers check them, with a sentence for a link whose settings could not be used.
"""
from __future__ import annotations

import gradio as gr

TABS = ("draw", "walk", "train")  # the tabs a link can open (their gr.Tab ids)


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
    params = getattr(request, "query_params", None) if request is not None else None
    return dict(params) if params is not None else {}


def asked(request: gr.Request | None, tab: str) -> dict | None:
    """The page's query when it is a link to `tab`, else None (the tab keeps its defaults)."""
    query = query_of(request)
    return query if query.get("tab") == tab else None


def select_tab(request: gr.Request):
    """Page load: the tab a link names is opened."""
    tab = query_of(request).get("tab")
    return gr.Tabs(selected=tab) if tab in TABS else gr.skip()
