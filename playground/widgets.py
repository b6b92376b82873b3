"""Components the tabs share, built the same way everywhere."""
from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

# Gradio draws a component's label as a chip over the top-left corner of its picture, where it hid the bubble's
# title, the grid's top row and the first row labels of the strips (issue 10, defect 6); pictures carry their caption
# above them instead, and their buttons sit in a bar of their own (CSS below).
CSS = """
.picture .icon-button-wrapper { position: static; justify-content: flex-end; margin: 0 0 4px 0; }
/* the test-digit gallery: ten thumbnails that shrink with the column (Gradio's are a fixed 100 px, and its fifth
   column fell off the edge at 1400 and 1024 px wide windows) */
#examples .grid-container { grid-template-columns: repeat(5, minmax(0, 1fr)); grid-auto-rows: min-content; grid-template-rows: none; }
#examples .thumbnail-item { width: 100%; height: auto; aspect-ratio: 1 / 1; min-width: 0; }
#examples .grid-wrap { height: auto !important; max-height: none; min-height: 0; }
.caption p { font-size: var(--text-md); margin: 0; }
/* every table: a header wraps between words, never inside one (Gradio's broke "sigma" into "sigm / a" at 1400 px) */
.gradio-container th, .gradio-container th * { word-break: normal !important; overflow-wrap: normal !important; }
/* the tour's focus cue: the control or picture a stop is about, lit for a moment when the stop opens */
.tour-focus { outline: 3px solid var(--color-accent); outline-offset: 4px; border-radius: var(--radius-lg); transition: outline-color 0.4s; }
"""


def why(text: str) -> None:
    """The longer explanation of a tab, under a closed "Why?" accordion: the tab's first screen keeps only the
    sentences its pictures need."""
    with gr.Accordion("Why?", open=False, elem_classes=["why"]):
        gr.Markdown(text)


def picked_point(elem_id: str, hint: str) -> tuple[gr.Image, gr.Markdown]:
    """Beside a clickable latent map: the digit decoded at the point clicked, and the sentence saying where (`hint`
    until the first click)."""
    with gr.Row(equal_height=True):
        image = gr.Image(show_label=False, format="png", interactive=False, height=140, width=140, elem_id=elem_id, scale=0,
                         elem_classes=["picture"])
        words = gr.Markdown(hint, elem_id=f"{elem_id}-words")
    return image, words


def picture(caption: str, elem_id: str | None = None, **kwargs) -> gr.Image:
    """An output picture with its caption above it, never on it."""
    gr.Markdown(caption, elem_classes=["caption"])
    return gr.Image(label=caption, show_label=False, format="png", interactive=False, elem_id=elem_id, elem_classes=["picture"],
                    buttons=["download", "fullscreen"], **kwargs)


@dataclass
class TabParts:
    """What a tab's builder hands the page: its controls by name (the tour sets them) and, for a tab whose pictures
    follow its controls only on the person's own input, the event that draws it from them: (fn, inputs, outputs)."""

    controls: dict = field(default_factory=dict)
    show: tuple | None = None
