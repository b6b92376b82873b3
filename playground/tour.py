"""The guided tour: the article's ideas in its order, one stop at a time, each driving the tab that shows it.

Each stop opens its tab, sets the controls it needs, says in at most two sentences what to look at, and asks for a
prediction; "Show me" then does what answers it (switches the model, draws new noise) and says what happened. The
tour lives in a sidebar beside the tabs (Gradio's gr.Walkthrough inside a gr.Sidebar): it never covers them, every
tab stays usable while it is open, and the sidebar's own arrow closes it. `?tour=N` links to stop N.

The stops are data (`STOPS`); `setup` and `reveal` are pure functions of a stop that say which control gets which
value; `build` wires them to the tabs' controls and to the events that draw each tab (`TabParts.show`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

from . import links
from .handling import ERROR_TOAST_S, QUIET
from .how import SOURCES
from .models import ModelHub, ModelState, NotReady
from .widgets import TabParts


@dataclass(frozen=True)
class Stop:
    title: str
    tab: str  # the gr.Tab id the stop opens
    look: str  # what to look at: at most two sentences
    predict: str  # the question asked before the reveal
    answer: str  # what "Show me" says
    setup: dict = field(default_factory=dict)  # "tab.control" -> value, set when the stop opens
    reveal: dict = field(default_factory=dict)  # "tab.control" -> value, set by "Show me"
    needs: tuple[str, ...] = ()  # the models its pictures need
    focus: str = ""  # the elem_id the stop lights up and scrolls to when it opens: what to use or look at
    answer_focus: str = ""  # ... and on Show me, where the answer shows (default: focus)


TEST_DIGIT = 0  # the test digit the tour's Draw stops show when the learner has not drawn one


@dataclass(frozen=True)
class FirstTestDigit:
    """A stop's setting that names the first test digit of a class; `values` turns it into that digit's number."""

    label: int


FIRST_1, FIRST_7 = FirstTestDigit(1), FirstTestDigit(7)  # the article's interpolation, from a 1 to a 7

STOPS: tuple[Stop, ...] = (
    Stop("The pass, on one digit", "how",
         "The article's pseudo-code run on one digit: the encoder's maps, then mu and sigma, z = mu + sigma * eps, the "
         "decoder's stages and the two losses with their numbers. Draw your own digit on the Draw tab and it goes through here.",
         "Before you press New eps: which strips will change, mu, sigma or z?",
         "Only eps and z. mu and sigma are this digit's bubble, eps picks a new point inside it; the decoder is trained on "
         "such points, never on mu alone.",
         setup={"how.model": "healthy", "how.seed": 0}, reveal={"how.seed": 1}, needs=("healthy",), focus="how-eps", answer_focus="how-reparam"),
    Stop("Why an autoencoder cannot generate", "how",
         "The same digit through the plain autoencoder: beta = 0, so no KL term pulls its codes towards the prior.",
         "Will its mu values stay within the prior's grey band of +-2, as the healthy model's do?",
         "No: mu runs far beyond the band and sigma shrinks to a dot. A z drawn from N(0, I) lands where no digit's code "
         "lives, so the decoder has never learned what to draw there.",
         setup={"how.model": "autoencoder", "how.seed": 0}, needs=("autoencoder",), focus="how-reparam"),
    Stop("The tug of war", "train",
         "Reconstruction pushes codes apart so each digit can be redrawn; beta x KL is a spring pulling every code to the "
         "origin. beta is set to 0 here: no spring.",
         "Before you press Train with beta = 0: will the codes stay inside the prior's circles or fly beyond them?",
         "Beyond: the red KL line stays at 0 and the cloud spills past the circles (codes off the window are ringed on its "
         "edge). Train again with beta = 100 and the spring wins: every code is pulled into one blur at the centre.",
         setup={"train.beta": 0}, focus="train-button"),
    Stop("Three regimes", "compare",
         "One network trained three ways, differing only in beta: no spring (autoencoder), balanced (healthy), and a "
         "spring so stiff the code carries nothing (collapsed).",
         "Which model's samples from the prior, bottom right, will look like digits?",
         "Only the healthy one's, and not all of them (its sentence counts the digits). The autoencoder's z lands in "
         "the empty middle of its far-flung codes, the collapsed one decodes every z to one blur; stop 8 shows the healthy one's misses.",
         needs=("autoencoder", "healthy", "collapsed"), focus="compare-samples"),
    Stop("The bubble, not the dot", "draw",
         "Your digit as a bubble on the plane of the codes: the cross is mu, the ellipses its sigma, the black dots samples "
         "from it, decoded in the row of samples.",
         "Switch to the autoencoder: how big will its bubble be?",
         "A dot: with no KL term nothing stops sigma shrinking, so every sample decodes to the same picture. The healthy "
         "model's decoder had to draw its whole bubble as one digit, which is what makes the space smooth.",
         setup={"draw.model": "healthy", "draw.digit": TEST_DIGIT}, reveal={"draw.model": "autoencoder"},
         needs=("healthy", "autoencoder"), focus="bubble", answer_focus="samples"),
    Stop("What one z_i does", "walk",
         "Each row of the bottom strip moves one dimension of the healthy model from -3 to 3 and holds the rest at 0; the "
         "grid moves the two dimensions with the most KL.",
         "Will moving a single dimension change which digit it is, or how it is written?",
         "Mostly how it is written (slant, width, an open or closed loop), and some rows cross from one digit to the next. "
         "Nobody told a dimension what to mean: these are the few the KL left active.",
         setup={"walk.model": "healthy"}, needs=("healthy",), focus="traversal"),
    Stop("Smooth, or dead zones", "interpolate",
         "The straight line from a 1's code to a 7's, decoded by the healthy VAE and by the autoencoder; under each step, "
         "how far it lies from the nearest training code.",
         "Halfway along, which model will still draw something like a digit?",
         "Read the brackets: the VAE's steps stay near 1x, as close to training codes as a real digit's. The "
         "autoencoder's rise towards the middle, where its line leaves the codes for space its decoder was never trained on.",
         setup={"interpolate.a": FIRST_1, "interpolate.b": FIRST_7, "interpolate.use_drawing": False},
         needs=("healthy", "autoencoder"), focus="interp-strip"),
    Stop("The prior's holes", "prior",
         "Top: samples from the prior N(0, I) beside samples from a mixture fitted to the training codes. Bottom: the "
         "shaded holes, where the prior puts mass and no code lives.",
         "Which row will hold more shapes that are not digits?",
         "The prior's: its z often lands in a hole, the mixture's lands where codes live. 4,000 training digits leave much "
         "of the prior empty, which limits what the plain prior can promise.",
         needs=("healthy", "autoencoder"), focus="prior-samples", answer_focus="prior-planes"),
    Stop("Why VAEs are blurry", "likelihood",
         "The same digit reconstructed under L2 (the healthy model) and under L1 (the Laplace model), each with its "
         "sharpness against the input's.",
         "Which will be sharper: L2's mean of the strokes the bubble leaves in doubt, or L1's median?",
         "L1's median: a mean of slightly different strokes smears them into a blur, a median keeps one of them. Under a "
         "squared error the best answer to doubt is the average.",
         needs=("healthy", "laplace"), focus="lik-blur"),
    Stop("The variance cheat", "likelihood",
         "Below: a decoder that may also choose sigma for every pixel, its sigma map, and the nats each pixel pays or earns.",
         "Where will it make sigma large, and where tiny?",
         "Large on the strokes' edges, where errors then cost almost nothing; tiny on the empty border, which earns nats "
         "for drawing nothing. The loss falls without a better drawing: that is why sigma stays fixed.",
         needs=("learned-sigma", "healthy"), focus="lik-cheat"),
    Stop("Retrospection", "draw",
         "The article ends with two questions; answer them from what you have seen, then show the answers.",
         "Does each digit form its own Gaussian in latent space? And what is the randomness for?",
         "No: each *image* has its own Gaussian, its bubble; a digit class is a crowd of bubbles with no shape of its own, "
         "and all of them together are what the prior must cover. The randomness makes the decoder draw whole bubbles, so "
         "nearby codes mean similar digits, and with the KL spring it lets a z from N(0, I) decode to a digit.",
         setup={"draw.model": "healthy", "draw.digit": TEST_DIGIT}, needs=("healthy",), focus="bubble"),
)


# --- pure functions of a stop ----------------------------------------------------------------------

def waits(hub: ModelHub, n: int) -> str:
    """What stop n waits for, in a sentence: its models not served yet, and those served while they still train
    ("" when all of them are fully trained)."""
    states = hub.status()
    missing = [f"{name} ({states.get(name, 'not served')})" for name in STOPS[n].needs if not hub.is_ready(name)]
    growing = [f"{name} ({states[name]})" for name in STOPS[n].needs if hub.is_ready(name) and hub.state(name) is ModelState.TRAINING]
    said = []
    if missing:
        said.append(f"This stop's pictures wait for {', '.join(missing)}; the other tabs work meanwhile.")
    if growing:
        said.append(f"Still training, shown as it is now: {', '.join(growing)}.")
    return " ".join(said)


def values(n: int, which: str, drawing, hub: ModelHub) -> dict[str, object]:
    """The controls stop n sets ("setup" when it opens, "reveal" on Show me), by name, as values the components take.
    The Draw tab's digit is the learner's own when there is one, else test digit `TEST_DIGIT`; the How it works tab
    takes the learner's digit too."""
    stop = STOPS[n]
    out = dict(stop.setup if which == "setup" else stop.reveal)
    if drawing is not None:
        out.pop("draw.digit", None)  # the learner's own digit stays
    for key, value in list(out.items()):
        try:
            if key == "draw.digit":
                out[key] = hub.test_digit(value)[0]
            elif isinstance(value, FirstTestDigit):
                out[key] = hub.first_test_digit(value.label)
        except NotReady:  # the digits still loading: the tab keeps its own
            del out[key]
    if which == "setup" and stop.tab == "how":
        out["how.source"] = SOURCES[1] if drawing is not None else SOURCES[0]
    return out


# --- the builder -------------------------------------------------------------------------------------

def focus_js(elem_id: str) -> str:
    """A button's js: once the element is on screen (its tab opened and drawn, up to 4 s), scroll it to the middle of the
    window and light it up for a moment: the focus cue."""
    return f"""() => {{
  let tries = 0;
  const go = () => {{
    const el = document.getElementById("{elem_id}");
    if (el && el.checkVisibility()) {{
      el.scrollIntoView({{behavior: "smooth", block: "center"}});
      el.classList.add("tour-focus");
      setTimeout(() => el.classList.remove("tour-focus"), 2500);
    }} else if (tries++ < 20) setTimeout(go, 200);
  }};
  setTimeout(go, 300);
}}"""


def only_on(tab: str, show) -> callable:
    """`show` for the tour's stop on `tab`, a no-op on any other stop and for stop -1 (the page as it opened: its
    first tab draws itself, a link's tab too); the chain after a move runs every tab's."""
    fn, _, outputs = show

    def run(request: gr.Request, stop, *args):
        n = int(stop)
        if n < 0 or STOPS[n].tab != tab:
            return (gr.skip(),) * len(outputs)
        return fn(*args, request=request)

    return run


def build(hub: ModelHub, tabs: gr.Tabs, parts: dict[str, TabParts], drawing: gr.State, demo: gr.Blocks) -> tuple[gr.State, gr.Markdown]:
    """The tour in a sidebar; `parts` maps each tab id to its controls and the event that draws it. Returns the
    current stop (a State; -1 for the page as it opened) and the line saying what it waits for, for the
    status timer."""
    controls = {f"{tab}.{name}": c for tab, p in parts.items() for name, c in p.controls.items()}
    for stop in STOPS:  # a stop naming a control no tab gave is a bug: fail at build, not in a visitor's browser
        missing = [k for k in (*stop.setup, *stop.reveal) if k not in controls]
        assert not missing, f"tour stop {stop.title!r} sets unknown controls {missing}"
    shows = [(tab, p.show) for tab, p in parts.items() if p.show is not None]
    current = gr.State(0)
    answers, buttons = [], []
    with gr.Sidebar(open=True, width=360, elem_id="tour-sidebar", label="Tour") as sidebar:
        gr.Markdown(f"### The tour: the article in {len(STOPS)} stops", elem_id="tour-title")
        wait = gr.Markdown(elem_id="tour-wait")
        with gr.Walkthrough(selected=0, elem_id="tour") as walkthrough:
            for n, stop in enumerate(STOPS):
                with gr.Step(stop.title, id=n, elem_id=f"tour-step-{n + 1}"):
                    gr.Markdown(stop.look, elem_classes=["tour-look"])
                    gr.Markdown(f"**Predict:** {stop.predict}", elem_classes=["tour-predict"])
                    show_me = gr.Button("Show me", size="sm", elem_id=f"tour-show-{n + 1}")
                    answers.append(gr.Markdown(stop.answer, visible=False, elem_id=f"tour-answer-{n + 1}"))
                    with gr.Row():
                        back = gr.Button("Back", size="sm", interactive=n > 0, elem_id=f"tour-back-{n + 1}")
                        last = n == len(STOPS) - 1
                        ahead = gr.Button("Close the tour" if last else "Next", size="sm", variant="primary", elem_id=f"tour-next-{n + 1}")
                    gr.Markdown(f"[Link to this stop](?tour={n + 1})", elem_classes=["tour-link"])
                    buttons.append((show_me, back, ahead))

    moved = [current, walkthrough, tabs, wait, *controls.values(), *answers]

    def move(n: int, drawing_value, open_tab: bool = True) -> dict:
        """Everything that changes when the tour goes to stop n: its step, its tab (unless `open_tab` is False), its
        controls, its answer hidden."""
        out = {current: n, walkthrough: gr.Walkthrough(selected=n), wait: waits(hub, n)}
        if open_tab:
            out[tabs] = gr.Tabs(selected=STOPS[n].tab)
        out.update({controls[k]: v for k, v in values(n, "setup", drawing_value, hub).items()})
        out.update({a: gr.update(visible=False) for a in answers})
        return out

    def reveal(n: int, drawing_value) -> dict:
        out = {current: n, answers[n]: gr.update(visible=True)}
        out.update({controls[k]: v for k, v in values(n, "reveal", drawing_value, hub).items()})
        return out

    def then_draw(event):
        """After a move or a reveal: draw the stop's tab from the controls just set (the tabs that draw themselves
        when opened do that too; these are the ones whose pictures follow a control only on the person's input)."""
        for tab, show in shows:
            event = event.then(only_on(tab, show), [current, *show[1]], show[2], api_visibility="private", **QUIET)

    for n, (show_me, back, ahead) in enumerate(buttons):
        show_me.click(None, None, None, js=focus_js(STOPS[n].answer_focus or STOPS[n].focus))
        if n > 0:
            back.click(None, None, None, js=focus_js(STOPS[n - 1].focus))
        if n < len(STOPS) - 1:
            ahead.click(None, None, None, js=focus_js(STOPS[n + 1].focus))
        then_draw(show_me.click(lambda d, n=n: reveal(n, d), drawing, [current, answers[n], *controls.values()], api_visibility="private", **QUIET))
        if n > 0:
            then_draw(back.click(lambda d, n=n: move(n - 1, d), drawing, moved, api_visibility="private", **QUIET))
        if n < len(STOPS) - 1:
            then_draw(ahead.click(lambda d, n=n: move(n + 1, d), drawing, moved, api_visibility="private", **QUIET))
        else:
            ahead.click(lambda: gr.Sidebar(open=False), None, sidebar, api_visibility="private")
    # a finished step clicked in the walkthrough's bar goes back to it
    def pick(d, evt: gr.SelectData):
        return move(int(evt.index), d)

    then_draw(walkthrough.select(pick, drawing, moved, api_visibility="private", **QUIET))

    def land(drawing_value, request: gr.Request):
        """Page load: a `?tour=N` link's stop; a link to a tab keeps its tab (the tour waits at stop 1); else stop 1."""
        query = links.query_of(request)
        n, said = links.tour_stop(query, len(STOPS))
        if said:
            gr.Warning(said, duration=ERROR_TOAST_S)
        if n is None and query.get("tab") in links.TABS:
            return {current: -1, wait: waits(hub, 0)}
        if n is None:  # stop 1 on the page's first tab, which draws itself when the page opens; not selected again, so
            return {**move(0, drawing_value, open_tab=False), current: -1}  # a tab clicked while the page loads stays open
        return move(n, drawing_value)

    then_draw(demo.load(land, drawing, moved, api_visibility="private", **QUIET))
    return current, wait
