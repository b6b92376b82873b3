"""The Gradio app: the header, the models' status line, one tab per module (how.py, draw.py, walk.py, interpolate.py,
compare.py, prior.py, likelihood.py, train_tab.py) and the guided tour beside them (tour.py)."""
from __future__ import annotations

import gradio as gr

from . import compare, draw, explain, gradio_fixes, how, interpolate, likelihood, links, prior, tour, train_tab, walk, widgets
from .models import ModelHub
from .inputs import BodyLimit
from .presence import PRESENCE, HeartbeatWatch
from .runs import RunManager, VisitorModels
from .sweeper import Sweeper

MAX_UPLOAD = "5mb"  # any file sent to the app

# The page's own script and style (launch(js=PAGE_JS, css=CSS)), for what Gradio 6 leaves to the browser: a slider
# moved with the keyboard never sends "release" (Gradio listens for pointerup), so the latent grid's ring would not
# follow arrow keys: a key on a walk slider sends the same pointerup a mouse does.
PAGE_JS = """
() => {
  document.addEventListener('keyup', (e) => {
    const t = e.target;
    if (t && t.type === 'range' && t.closest('.walk-slider') && /^(Arrow|Page|Home|End)/.test(e.key)) {
      t.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));
    }
  });
}
"""
CSS = widgets.CSS


def build_demo(hub: ModelHub, runs: RunManager | None = None) -> gr.Blocks:
    """The app over `hub`'s presets; `runs` holds visitors' training runs (default: under runs/, the live recipe)."""
    gradio_fixes.apply()
    if runs is None:
        runs = RunManager("runs", hub, train_tab.live_base(), presence=PRESENCE)
    if runs.build_view is None:
        runs.build_view = lambda run, ready: train_tab.epoch_view(ready, hub.data.test, f"epoch {ready.epoch}")
    with gr.Blocks(title="VAE Playground") as demo:
        gr.Markdown(explain.HEADER)
        status = gr.Markdown(hub.status_markdown(), elem_id="status")
        timer = gr.Timer(1.0)
        models = VisitorModels(hub, runs)  # presets and each visitor's own finished runs, by name
        drawing = gr.State(None)  # this visitor's last digit: drawn, uploaded or picked on the Draw tab, shared by the tabs
        with gr.Tabs(selected="how") as tabs:
            how_parts = how.build_tab(hub, drawing, models)
            draw_parts = draw.build_tab(hub, demo, models, drawing)
            walk_parts, walk_restored = walk.build_tab(hub, demo, models)
            interpolate_parts = interpolate.build_tab(hub, drawing)
            compare_beside = compare.build_tab(hub, models)
            prior.build_tab(hub)
            likelihood.build_tab(hub, drawing)
            pickers = ((draw_parts.controls["model"], draw.MODELS), (walk_parts.controls["model"], walk.MODELS), (compare_beside, (compare.ALONE,)))
            train_parts = train_tab.build_tab(hub, runs, demo, pickers=pickers)
        stop, tour_wait = tour.build(hub, tabs, {"how": how_parts, "draw": draw_parts, "walk": walk_parts, "interpolate": interpolate_parts, "train": train_parts}, drawing, demo)

        def tick(n):
            return hub.status_markdown(), gr.Timer(active=bool(hub.busy())), tour.waits(hub, max(int(n), 0))

        # at load too: the page was built before training started, and its first words must be today's status
        demo.load(tick, stop, [status, timer, tour_wait], api_visibility="private", show_progress="hidden")
        # a shared link's tab, opened once the walk tab has its settings (opening it draws them)
        walk_restored.then(links.select_tab, None, tabs, api_visibility="private", show_progress="hidden")
        timer.tick(tick, stop, [status, timer, tour_wait], api_visibility="private", show_progress="hidden")
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, share: bool = False, quiet: bool = False) -> Sweeper:
    """Serve `demo` as app.py does (the queue, the upload cap, the page's script and style, the heartbeats counted
    for playground.presence), without blocking, and start the sweeper that keeps Gradio's cache folder small;
    returns the sweeper."""
    from starlette.middleware import Middleware

    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=host, server_port=port, share=share, max_file_size=MAX_UPLOAD, js=PAGE_JS, css=CSS, prevent_thread_lock=True,
                quiet=quiet, app_kwargs={"middleware": [Middleware(BodyLimit), Middleware(HeartbeatWatch, presence=PRESENCE)]})
    return Sweeper().start()
