"""The pen (issue 19, item 3): the Draw tab's canvas, a plain <canvas> that sends its strokes rather than pictures.

Gradio's sketchpad sent nothing while the pen moved, then many uploads and three PNGs after it lifted, before the
server heard of the stroke (benchmarks/NOTES.md has the figures). This canvas keeps the drawing as strokes, points as
fractions of its side, and sends them (a few hundred numbers) while the pen moves and when it lifts; the server inks
them (vae.digits.ink_from_strokes) with the pen the page draws with. inputs.Pen checks what arrives.
"""
from __future__ import annotations

from pathlib import Path

from vae.digits import PEN_WIDTH

from .inputs import Pen

SCRIPT = (Path(__file__).parent / "static" / "pen.js").read_text()
SIDE = 336  # px, the canvas


def build(label: str, elem_id: str) -> Pen:
    html = f"""
<div class="pen pen-empty" data-width="{PEN_WIDTH:.6f}">
  <span class="pen-label">{label}</span>
  <canvas width="{SIDE}" height="{SIDE}" aria-label="{label}: draw here"></canvas>
  <div class="pen-tools">
    <button type="button" class="pen-undo" aria-label="Undo the last stroke">Undo stroke</button>
    <button type="button" class="pen-clear" aria-label="Clear canvas">Clear</button>
  </div>
</div>
"""
    css = f"""
.pen {{ display: flex; flex-direction: column; gap: 6px; align-items: flex-start; }}
.pen canvas {{ width: {SIDE}px; height: {SIDE}px; max-width: 100%; aspect-ratio: 1; cursor: crosshair; touch-action: none;
              border: 1px solid var(--border-color-primary); border-radius: 4px; background: #fff; }}
.pen-label {{ font-size: var(--text-sm); color: var(--block-label-text-color); }}
.pen-tools {{ display: flex; gap: 8px; }}
.pen-tools button {{ padding: 2px 10px; border: 1px solid var(--border-color-primary); border-radius: 4px;
                    background: var(--button-secondary-background-fill); font-size: var(--text-sm); cursor: pointer; }}
.pen-empty .pen-tools button {{ opacity: 0.5; }}
"""
    return Pen(None, label=label, html_template=html, css_template=css, js_on_load=SCRIPT, elem_id=elem_id, apply_default_css=False)
