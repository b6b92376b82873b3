"""The Gradio app: the header, the models' status line and one tab per module (draw.py, walk.py, compare.py, train_tab.py)."""
from __future__ import annotations

import gradio as gr

from . import compare, draw, explain, gradio_fixes, train_tab, walk
from .models import ModelHub
from .runs import RunManager

# Gradio 6's image editor can open with no tool chosen; pick the brush so the canvas is ready to draw.
SELECT_BRUSH_JS = """
() => {
  const pick = () => {
    const btn = document.querySelector('#sketch button[aria-label="Brush"]');
    if (btn) { btn.click(); return true; }
    return false;
  };
  if (!pick()) { const t = setInterval(() => { if (pick()) clearInterval(t); }, 200); setTimeout(() => clearInterval(t), 15000); }
}
"""


def build_demo(hub: ModelHub, runs: RunManager | None = None) -> gr.Blocks:
    """The app over `hub`'s presets; `runs` holds visitors' training runs (default: under runs/, the live recipe)."""
    gradio_fixes.apply()
    if runs is None:
        runs = RunManager("runs", hub, train_tab.live_base())
    if runs.build_view is None:
        runs.build_view = lambda run, ready: train_tab.epoch_view(ready, hub.data.test, f"epoch {ready.epoch}")
    with gr.Blocks(title="VAE Playground") as demo:
        gr.Markdown(explain.HEADER)
        status = gr.Markdown(hub.status_markdown())
        timer = gr.Timer(1.0)
        with gr.Tabs():
            draw.build_tab(hub, demo)
            walk.build_tab(hub)
            compare.build_tab(hub)
            train_tab.build_tab(hub, runs, demo)

        def tick():
            done = all(s in ("ready", "failed") for s in hub.status().values())
            return hub.status_markdown(), gr.Timer(active=not done)

        timer.tick(tick, None, [status, timer], api_visibility="private", show_progress="hidden")
    return demo
