"""The Train tab: set beta yourself and watch reconstruction and the KL spring pull against each other, live.

Builder (`build_tab`), thin handlers (`TrainHandlers`) and the pure views (`epoch_view`, `loss_view`, `status_text`)
in one place; the queue, the training processes and the run folders are playground/runs.py's.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import gradio as gr
import numpy as np
import pandas as pd

from vae.analysis import active_mask, decode_latents, prior_samples
from vae.config import VAEConfig
from vae.data import Split
from vae.digits import InputError
from vae.train import beta_at, run_record

from . import explain, inputs, links, plots
from .handling import guard, guard_stream, in_order, wire
from .widgets import TabParts, picked_point, picture, why
from .models import PICKED, Memo, ModelHub, Ready, first_of_each_digit, picked_on_plane, plane_axes
from .presence import client_address
from .runs import Run, RunManager, RunRefused, RunState, VisitorModels

BETAS = (0, 0.1, 1, 3, 10, 30, 100, 300, 1000)  # log-spaced, with the plain autoencoder
LIKELIHOODS = ("gaussian", "bernoulli")
LATENT_DIMS = (2, 8, 32, 128)
MAX_EPOCHS = 10
SIGMA_RANGE = (0.05, 1.0)
DEFAULTS = dict(beta=10, likelihood="gaussian", sigma=0.1, latent_dim=2, epochs=2, seed=0)  # healthy's beta on two dimensions
TRAIN_DIGITS = 2000  # of the 4,000 training digits: an epoch is ~16 s on one core here; the defaults take ~45 s in all
CLOUD_HALF_WIDTH = 4.0  # the latent cloud's one fixed window: +-4 around the prior's centre, for every epoch and run
N_SHOWN = 8  # held-out digits reconstructed, and prior samples, per epoch
SAMPLE_SEED = 0  # the same prior draws every epoch, so the samples change only because the decoder does
MIN_UPDATE_S = 0.5  # the streamed view redraws at most this often (and at least once a second)
SESSION_TTL_S = 3600  # a visitor's runs are deleted this long after their last /train, if the page never said goodbye
RUN_HEADERS = ["run", "state", "beta", "likelihood", "sigma", "beta_eff", "latent dim", "epochs", "held-out recon NLL",
               "held-out KL", "active units", "note"]


# A visitor's run: batch 32 as the presets, but Adam at a constant 1e-3 rather than their one-cycle 2e-3, whose warm-up
# takes 30% of a two-epoch run. Measured on the defaults (benchmarks/tune.py --preset healthy-2d, 2 epochs of 2,000
# digits, 2026-12-01): the latent-grid digit classes 6 against 5, reconstructions that keep their digit 0.35 against
# 0.25, 5-NN 0.42 against 0.39.
LIVE_RECIPE = dict(batch_size=32, lr=1e-3, lr_schedule="constant")


def live_base(fast_path: str = "auto") -> VAEConfig:
    """What every visitor's run shares: LIVE_RECIPE, no KL warm-up (the curves show beta x KL as set), TRAIN_DIGITS
    training digits."""
    return VAEConfig(**LIVE_RECIPE, train_digits=TRAIN_DIGITS, fast_path=fast_path)


def measured_fast_path(hub: ModelHub) -> str:
    """The precision and layout measured for the presets on this machine (their metrics.json's run record), so a run
    does not spend ~20 s measuring again for its own latent size; "auto" (measure once) while no preset has one."""
    for name in hub.names:
        ready = hub.get(name) if hub.is_ready(name) else None
        if ready is not None and ready.directory and (used := ready.memo(Memo.RUN_RECORD, lambda: run_record(ready.directory))["fast_path_used"]):
            return used
    return "auto"


def live_config(base: VAEConfig, beta, likelihood, sigma, latent_dim, epochs, seed) -> VAEConfig:
    """The run a person asked for, or InputError with a sentence saying what to change."""
    try:
        beta, sigma, latent_dim, epochs, seed = float(beta), float(sigma), int(latent_dim), int(epochs), int(seed)
    except (TypeError, ValueError):
        raise InputError("beta and sigma must be numbers; latent dimensions, epochs and seed whole numbers.") from None
    if not (math.isfinite(beta) and 0 <= beta <= max(BETAS)):
        raise InputError(f"beta must be between 0 and {max(BETAS)}, got {beta:g}.")
    if likelihood not in LIKELIHOODS:
        raise InputError(f"The likelihood must be {' or '.join(LIKELIHOODS)}, got {likelihood!r}.")
    if not (math.isfinite(sigma) and SIGMA_RANGE[0] <= sigma <= SIGMA_RANGE[1]):
        raise InputError(f"sigma must be between {SIGMA_RANGE[0]} and {SIGMA_RANGE[1]}, got {sigma:g}.")
    if latent_dim not in LATENT_DIMS:
        raise InputError(f"Latent dimensions must be one of {', '.join(map(str, LATENT_DIMS))}, got {latent_dim}.")
    if not 1 <= epochs <= MAX_EPOCHS:
        raise InputError(f"Epochs must be between 1 and {MAX_EPOCHS}, got {epochs}.")
    if not 0 <= seed < 2**31:
        raise InputError(f"The seed must be a whole number from 0 to {2**31 - 1}, got {seed}.")
    return dataclasses.replace(base, beta=beta, likelihood=likelihood, sigma=sigma, latent_dim=latent_dim, epochs=epochs, seed=seed)


def beta_eff_text(beta, likelihood, sigma) -> str:
    """beta_eff beside the controls: the KL weight against a plain squared error, which is what decides the regime."""
    try:
        config = VAEConfig(beta=float(beta), likelihood=likelihood, sigma=float(sigma))
    except (TypeError, ValueError):
        return ""
    if likelihood == "gaussian":
        return (f"**beta_eff = 2 sigma^2 beta = {config.beta_eff:.3g}** (the healthy preset: 0.2; collapse sets in near 2). "
                "Only beta_eff matters: beta 100 at sigma 0.1 trains like beta 1 at sigma 1.")
    return f"**Bernoulli likelihood**: the KL weight is beta itself, **{config.beta:g}** (no sigma)."


# --- shareable links: the settings in the page's address ------------------------------------------------

LINK_KEYS = ("beta", "likelihood", "sigma", "latent_dim", "epochs", "seed")  # a link's query (playground/links.py)


def picker_parts(n: int) -> tuple[str, ...]:
    """The names of n other tabs' model lists (which a finished run joins) among the /train stream's parts."""
    return tuple(f"models {i}" for i in range(n))


def stream_parts(n_pickers: int) -> tuple[str, ...]:
    """The /train stream's outputs, in order, with n_pickers other tabs' model lists."""
    return ("status", "record", "losses", "cloud", "kl", "digits", "table", "plane", "pick") + picker_parts(n_pickers) + ("owner", "digits_box")


def settings_from_link(query: dict) -> tuple[dict, str]:
    """The Train tab's settings from a shared link's query (missing ones keep their defaults), checked as a run's
    would be; with a sentence when the link's settings could not be used (then the defaults)."""
    asked = {**DEFAULTS, **{k: query[k] for k in LINK_KEYS if k in query}}
    try:
        c = live_config(VAEConfig(), asked["beta"], asked["likelihood"], asked["sigma"], asked["latent_dim"], asked["epochs"], asked["seed"])
    except InputError as err:
        return dict(DEFAULTS), f"The link's settings could not be used ({err}); these are the defaults."
    if c.beta not in BETAS:
        return dict(DEFAULTS), f"The link's beta {c.beta:g} is not one of {', '.join(f'{b:g}' for b in BETAS)}; these are the defaults."
    settings = dict(beta=c.beta, likelihood=c.likelihood, sigma=c.sigma, latent_dim=c.latent_dim, epochs=c.epochs, seed=c.seed)
    return settings, "Settings restored from the link: press **Train**."


# --- the views ------------------------------------------------------------------------------------------

@dataclass
class EpochView:
    """What the Train tab draws of one saved epoch."""

    epoch: int
    cloud: np.ndarray  # the held-out digits' mu on one fixed scale, with the prior's circles
    kl: np.ndarray  # KL per dimension, active units coloured
    digits: np.ndarray  # held-out digits, their reconstructions from mu, prior samples
    active: int
    kl_total: float
    plane: dict | None = None  # the cloud's pixel <-> plane map (plots.plane_map): what a click on it means


def epoch_view(ready: Ready, test: Split, title: str) -> EpochView:
    """Draw one saved epoch: the latent cloud, KL per dimension, N_SHOWN reconstructions and prior samples."""
    lat = ready.latents
    # the Draw tab's plane: a 2-D model's own z1, z2 (analysis.fit_pca2 leaves 2-D codes as they are), else PCA's
    _, cloud = plots.bubble_background(lat.pca_xy, lat.labels, ready.prior_xy, f"{title}: {len(lat.pca_xy):,} held-out digits (mu)",
                                       half_width=CLOUD_HALF_WIDTH, axis_names=plane_axes(lat.mu.shape[1]))
    active = active_mask(lat.mu)
    kl_total = float(lat.kl_per_dim.sum())
    kl = plots.kl_bars(lat.kl_per_dim, active, f"{int(active.sum())} of {len(active)} dimensions active; KL {kl_total:.1f} nats per digit")
    shown = first_of_each_digit(lat.labels, N_SHOWN)
    digits = plots.labelled_rows({
        "held-out digit": test.images[shown, 0].numpy(),
        "reconstruction": decode_latents(ready.model, lat.mu[shown]),
        "prior sample": prior_samples(ready.model, N_SHOWN, seed=SAMPLE_SEED),
    }, scale=2, label_width=110)
    return EpochView(ready.epoch, cloud.image, kl, digits, int(active.sum()), kl_total, plots.plane_map(cloud, ready.name))


def plane_point(ready: Ready, test: Split, label: str, own: bool) -> plots.PlanePoint:
    """A model's rate (KL) and distortion (squared error per pixel) on the held-out digits: from its final metrics
    when it finished all its epochs, else measured once here (a stopped or diverged run's last good epoch)."""
    m = ready.metrics
    if m.get("kl") is not None and m.get("mse") is not None:
        kl, mse = m["kl"], m["mse"]
    else:
        def measure():
            lat = ready.latents
            recon = decode_latents(ready.model, lat.mu)
            return float(lat.kl_per_dim.sum()), float(((recon - test.images[:, 0].numpy()) ** 2).mean())
        kl, mse = ready.memo(Memo.RATE_DISTORTION, measure)
    return plots.PlanePoint(label, float(kl), float(mse), ready.model.config.beta_eff, own)


def plane_view(hub: ModelHub, runs: list[Run]) -> np.ndarray:
    """The rate-distortion plane: every preset served in full, and these finished runs of one visitor. Not the view
    models: their NLLs are not the squared error whose beta_eff labels the plane's regimes."""
    points = [plane_point(hub.get(n), hub.data.test, n, own=False) for n in hub.presets if hub.is_ready(n) and hub.get(n).final]
    points += [plane_point(r.ready, hub.data.test, f"your run {r.number}", own=True) for r in runs]
    return plots.rate_distortion(points, "Rate against distortion: where each finished model settled")


FORCES = {"reconstruction NLL": plots.RECON_COLOR, "beta x KL": plots.KL_COLOR,  # per batch, then per epoch on held-out digits
          "held out: reconstruction": "#0b3c61", "held out: beta x KL": "#7f1416"}
NATS = "nats per digit"


def loss_view(config: VAEConfig, label: str, curve: list, history: list) -> dict:
    """The two forces as a native line plot's update (hover for the values): reconstruction and beta x KL per batch,
    and each finished epoch's held-out values (beta as it stood at the end of that epoch: a KL warm-up raises it over
    the first epochs). A table of (epoch, nats, force) rather than a picture: far cheaper to make than matplotlib's
    figure (benchmarks/run.py --only loss_plot), on the CPU the runs train on."""
    if not curve:  # Gradio's line plot sets its scales at its first data: an empty table leaves it blank for good
        return gr.skip()
    rows = [(x, r, "reconstruction NLL") for x, r, _ in curve] + [(x, k, "beta x KL") for x, _, k in curve]
    for h in history:  # 1 step an epoch: its end
        rows += [(h["epoch"], h["val_recon"], "held out: reconstruction"),
                 (h["epoch"], beta_at(config, h["epoch"], 1) * h["val_kl"], "held out: beta x KL")]
    if not history:  # and draws only the forces its first data named: the held-out ones are named, with no value yet
        rows += [(0.0, math.nan, "held out: reconstruction"), (0.0, math.nan, "held out: beta x KL")]
    frame = pd.DataFrame(rows, columns=["epoch", NATS, "force"]).round(2)
    return gr.update(value=frame, x_lim=[0, max(config.epochs, 1)], title=f"{label}: the two forces (nats per digit)", visible=True)


def loss_plot(elem_id: str, visible: bool = True) -> gr.LinePlot:
    """The plot loss_view updates."""
    return gr.LinePlot(x="epoch", y=NATS, color="force", color_map=FORCES, tooltip="all", height=300, elem_id=elem_id, visible=visible,
                       show_label=False)


LIVE = ("group", "words", "losses", "cloud", "seen", "timer")  # presets_live's outputs, in order


def presets_live(hub: ModelHub, seen: int):
    """While a fresh app trains its own models: the first one training, its two forces and its latest served epoch's
    latent cloud, drawn anew only when it has reported since the visitor's last look (`seen`, a version): the LIVE
    parts; the timer stops once no preset trains."""
    t = hub.training_now()
    if t is None:
        return in_order(dict(group=gr.update(visible=False), words="", seen=seen, timer=gr.Timer(active=bool(hub.busy()))), LIVE)
    if t.version == seen:
        return in_order(dict(timer=gr.Timer(active=True)), LIVE)
    p = t.progress or {}
    where = f"epoch {p.get('epoch', 1)}/{t.config.epochs}, batch {p.get('batch', 0)}/{p.get('batches', '?')}"
    sentence = (f"**The app is training its own models right now** (a fresh start): **{t.name}** is at {where}, "
                f"beta_eff {t.config.beta_eff:.3g}. The other tabs fill as each model is ready; meanwhile this is the tug of war.")
    losses = loss_view(t.config, t.name, t.curve, t.history)
    cloud = gr.skip()
    if hub.is_ready(t.name):  # served from its latest epoch once a quarter of its epochs is done
        ready = hub.get(t.name)
        cloud = gr.update(value=ready.memo(Memo.LIVE_CLOUD, lambda: epoch_view(ready, hub.data.test, f"{t.name}, epoch {ready.epoch}").cloud), visible=True)
    return in_order(dict(group=gr.update(visible=True), words=sentence, losses=losses, cloud=cloud, seen=t.version, timer=gr.Timer(active=True)), LIVE)


def time_left(run: Run, now: float) -> float | None:
    """Seconds until the last epoch ends, from the pace of the batches so far (None before there is a pace)."""
    p = run.progress
    if p is None or run.progress_since is None:
        return None
    done = (p["epoch"] - 1) * p["batches"] + p["batch"]
    total = run.config.epochs * p["batches"]
    elapsed = now - run.progress_since
    if done <= 0 or elapsed <= 0:
        return None
    return elapsed / done * (total - done)


def status_text(run: Run, waiting: str, now: float) -> str:
    """One line for the person: waiting (and why), training (epoch, batch, a bar, time left), or how it ended."""
    if run.state is RunState.QUEUED:
        return f"**{run.label}**: {waiting}"
    if run.finished:
        return f"**{run.label}**: {run.message}"
    p = run.progress
    if p is None:
        return f"**{run.label}**: {run.message or 'starting'}"
    if run.epochs_done >= run.config.epochs:
        return f"**{run.label}**: all {run.config.epochs} epochs trained; measuring the final model (KL, 5-NN accuracy, sample quality)."
    share = ((p["epoch"] - 1) * p["batches"] + p["batch"]) / (run.config.epochs * p["batches"])
    bar = "█" * round(20 * share) + "░" * (20 - round(20 * share))
    left = time_left(run, now)
    eta = f", about {left:.0f} s left" if left is not None else ""
    return f"**{run.label}**: epoch {p['epoch']}/{p['epochs']}, batch {p['batch']}/{p['batches']} `{bar}` {share:.0%}{eta}"


def status_record(run: Run, position: int) -> dict:
    """The same status for code (the /train stream's JSON output)."""
    p = run.progress or {}
    return {"run": run.id, "label": run.label, "state": run.state, "position": position, "epochs_done": run.epochs_done,
            "epochs": run.config.epochs, "epoch": p.get("epoch"), "batch": p.get("batch"), "batches": p.get("batches"),
            "message": run.message, "model": run.label if run.settled and run.ready is not None else None}


def runs_table(runs: list[Run]) -> list[list]:
    rows = []
    for r in runs:
        c, last = r.config, (r.history[-1] if r.history else {})
        view = r.view if isinstance(r.view, EpochView) else None
        rows.append([r.id, r.state, c.beta, c.likelihood, c.sigma if c.likelihood == "gaussian" else None, round(c.beta_eff, 4), c.latent_dim,
                     f"{r.epochs_done}/{c.epochs}", round(last["val_recon"], 1) if last else None, round(last["val_kl"], 2) if last else None,
                     view.active if view else None, r.message])
    return rows


# --- the handlers ---------------------------------------------------------------------------------------

class TrainHandlers:
    """Thin: each visitor is their Gradio session (request.session_hash); the runs and their processes are the manager's.
    `pickers`: the other tabs' model lists (their presets), which gain the visitor's run once it has finished."""

    def __init__(self, hub: ModelHub, runs: RunManager, pickers: tuple[list[str], ...] = ()):
        self.hub = hub
        self.runs = runs
        self.models = VisitorModels(hub, runs)
        self.pickers = pickers
        self.stream = stream_parts(len(pickers))

    def config(self, beta, likelihood, sigma, latent_dim, epochs, seed) -> VAEConfig:
        base = self.runs.base
        if base.fast_path == "auto":
            base = dataclasses.replace(base, fast_path=measured_fast_path(self.hub))
        return live_config(base, beta, likelihood, sigma, latent_dim, epochs, seed)

    @guard_stream
    def train(self, beta, likelihood, sigma, latent_dim, epochs, seed, request: gr.Request):
        owner = request.session_hash
        run = self.runs.submit(owner, self.config(beta, likelihood, sigma, latent_dim, epochs, seed), client_address(request))
        yield from self.watch(run, owner)

    def watch(self, run: Run, owner: str):
        """Yield the view of `run` as it changes (at most every MIN_UPDATE_S, at least every second) until it settles."""
        seen, drawn, last = -1, None, 0.0
        while True:
            version = self.runs.wait(run, seen, timeout=1.0)
            time.sleep(max(0.0, MIN_UPDATE_S - (time.monotonic() - last)))
            now = self.runs.snapshot(run)
            view, settled = now.view, now.settled
            status = status_text(run, now.waiting, time.time())
            losses = loss_view(run.config, run.label, now.curve, now.history)
            fresh = view is not drawn or settled
            drawn = view
            out = dict(status=status, record=status_record(run, now.position), losses=losses, table=runs_table(self.runs.runs(owner)),
                       owner=owner)
            if fresh and view is not None:
                out.update(cloud=gr.update(value=view.cloud, visible=True), kl=gr.update(value=view.kl, visible=True),
                           digits=gr.update(value=view.digits, visible=True), digits_box=gr.update(visible=True))  # the caption with them
            if settled:
                mine = [(r.label, r.id) for r in self.runs.runs(owner) if r.epochs_done]
                out["pick"] = gr.update(choices=mine, value=run.id if run.epochs_done else None)
                servable = self.runs.models_of(owner)
                # shown too once there is a run in them: the Compare tab's picker is hidden until then
                listed = {"visible": True} if servable else {}
                out.update(zip(picker_parts(len(self.pickers)), (gr.update(choices=self.models.choices(presets, owner), **listed)
                                                                 for presets in self.pickers)))
                out["plane"] = plane_view(self.hub, servable)
            yield in_order(out, self.stream, "watch")
            last, seen = time.monotonic(), version
            if settled:
                return

    @guard(parts=("row",) + PICKED, message="words")
    def pick(self, evt: gr.SelectData, request: gr.Request):
        """A click on the latent cloud: its row shown, and the PICKED parts for the digit the run's latest drawn epoch
        decodes at the point clicked; a click off the axes says so."""
        drawn = [r for r in self.runs.runs(request.session_hash) if r.view is not None]
        if not drawn:
            raise InputError("Train a run first: its latent cloud shows after its first epoch, and a click on it decodes that point.")
        now = self.runs.snapshot(drawn[0])  # the newest run: the cloud on the page
        xy = plots.point_on_plane(now.view.plane, evt.index)
        if xy is None:
            return {"row": gr.Row(visible=True), "words": "That click is outside the cloud's axes: click inside its frame to decode a point."}
        picked = picked_on_plane(now.ready, xy, now.view.cloud, evt.index)
        return {"row": gr.Row(visible=True), **picked, "words": f"Epoch {now.ready.epoch}: {picked['words']}"}

    @guard(parts=LINK_KEYS + ("status",))
    def restore(self, request: gr.Request):
        """Page load: the settings of a link to this tab (LINK_KEYS) and a sentence, else nothing changes."""
        query = links.asked(request, "train")
        if query is None:
            return {}
        settings, said = settings_from_link(query)
        beta = int(settings["beta"]) if float(settings["beta"]).is_integer() else settings["beta"]  # as the dropdown lists it
        return {**settings, "beta": beta, "status": said}

    @guard
    def stop(self, request: gr.Request) -> str:
        return self.runs.stop(request.session_hash)

    @guard
    def list_runs(self, request: gr.Request) -> list[list]:
        return runs_table(self.runs.runs(request.session_hash))

    @guard
    def plane(self, request: gr.Request) -> np.ndarray:
        return plane_view(self.hub, self.runs.models_of(request.session_hash))

    @guard
    def export(self, run_id, request: gr.Request):
        owner = request.session_hash
        if not run_id:
            kept = [r for r in self.runs.runs(owner) if r.settled and r.ready is not None]
            if not kept:
                raise RunRefused("You have no finished run to export yet: train one first.")
            run_id = kept[0].id
        archive, codes = self.runs.export(owner, str(run_id))
        return str(archive), str(codes)


def forget_visitor(runs: RunManager):
    """demo.unload: the page was closed or reloaded, so its runs go."""

    def forget(request: gr.Request) -> None:
        runs.forget(request.session_hash)

    return forget


# --- the builder ------------------------------------------------------------------------------------------

def build_tab(hub: ModelHub, runs: RunManager, demo: gr.Blocks, pickers: tuple[tuple[gr.Radio, list[str]], ...] = ()) -> TabParts:
    """The tab; `pickers` are the other tabs' model lists with their presets: a finished run joins them. Returns its
    controls the tour sets (beta)."""
    h = TrainHandlers(hub, runs, tuple(presets for _, presets in pickers))
    with gr.Tab("Train", id="train") as tab:
        gr.Markdown(explain.TRAIN_INTRO)
        with gr.Group(visible=False, elem_id="presets-live") as live:  # a fresh start: the app's own models training
            live_text = gr.Markdown()
            with gr.Row():
                live_losses = loss_plot("presets-live-losses")
                live_cloud = gr.Image(format="png", interactive=False, show_label=False, elem_id="presets-live-cloud", visible=False)  # once an epoch is served
        live_seen = gr.State(-1)
        live_timer = gr.Timer(1.0, active=bool(hub.busy()))
        owner = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=runs.forget)  # the session's key, for its clean-up
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                beta = inputs.NumberChoice(list(BETAS), value=DEFAULTS["beta"], label="beta: the stiffness of the KL spring", elem_id="train-beta")
                likelihood = gr.Radio(list(LIKELIHOODS), value=DEFAULTS["likelihood"], label="likelihood")
                sigma = inputs.Slider(*SIGMA_RANGE, value=DEFAULTS["sigma"], step=0.01, label="sigma of the Gaussian (its pixel noise)")
                beta_eff = gr.Markdown(beta_eff_text(DEFAULTS["beta"], DEFAULTS["likelihood"], DEFAULTS["sigma"]))
                latent_dim = inputs.NumberRadio(list(LATENT_DIMS), value=DEFAULTS["latent_dim"], label="latent dimensions")
                epochs = inputs.Slider(1, MAX_EPOCHS, value=DEFAULTS["epochs"], step=1, label=f"epochs (of {TRAIN_DIGITS:,} training digits each)")
                seed = inputs.Number(DEFAULTS["seed"], precision=0, label="seed", minimum=0)
                with gr.Row():
                    train = gr.Button("Train", variant="primary", elem_id="train-button")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop-button")
                status = gr.Markdown(explain.TRAIN_WAITING, elem_id="train-status")
                links.link_row("train", [beta, likelihood, sigma, latent_dim, epochs, seed], LINK_KEYS, "this tab with these settings")
            with gr.Column(scale=3):
                losses = loss_plot("train-losses", visible=False)  # each panel shows once a run draws it; the figures carry their titles
                with gr.Row():
                    cloud = gr.Image(label="The latent cloud after each epoch", format="png", interactive=False, show_label=False, elem_id="train-cloud", visible=False)
                    kl = gr.Image(label="KL per dimension after each epoch", format="png", interactive=False, show_label=False, elem_id="train-kl", visible=False)
                with gr.Row(visible=False) as picked_row:  # once the cloud is clicked: the digit decoded there
                    picked, picked_words = picked_point("train-picked", "")
        with gr.Column(visible=False) as digits_box:
            digits = picture("After each epoch: held-out digits, their reconstructions, and samples from the prior", elem_id="train-digits")
        record = gr.JSON(visible=False)  # the status for code: run, state, position, epoch, batch, model
        with gr.Row():
            table = gr.Dataframe(headers=RUN_HEADERS, label="Your runs (the last 3 are kept while this page is open)", interactive=False, wrap=True)
        with gr.Row():
            with gr.Column(scale=3):
                plane = picture("The rate-distortion plane: every finished model as its KL (rate) against its reconstruction error "
                                "(distortion), labelled by beta_eff (2 sigma^2 beta for the Gaussian likelihood, beta itself for "
                                "Bernoulli). Each run of yours lands on it when it ends.", elem_id="train-plane")
            with gr.Column(scale=2):
                why(explain.PLANE_NOTES)
        with gr.Row():
            pick = gr.Dropdown([], label="Run to download", allow_custom_value=True)  # validated by the manager, against this visitor's runs
            export = gr.Button("Download checkpoint and codes")
            archive = gr.File(label="Checkpoint (zip: unzip, then VAE.from_pretrained(folder))")
            codes = gr.File(label="Held-out codes (CSV: label, mu, logvar)")
        why(explain.TRAIN_NOTES)

    for control in (beta, likelihood, sigma):
        control.change(beta_eff_text, [beta, likelihood, sigma], beta_eff, api_visibility="private", show_progress="hidden")
    likelihood.change(lambda lk: gr.update(visible=lk == "gaussian"), likelihood, sigma, api_visibility="private", show_progress="hidden")
    # The stream mostly waits on the run, so it takes no slot from the views' concurrency limit; nor does Stop.
    streamed = dict(status=status, record=record, losses=losses, cloud=cloud, kl=kl, digits=digits, table=table, plane=plane, pick=pick,
                    owner=owner, digits_box=digits_box, **dict(zip(picker_parts(len(pickers)), (radio for radio, _ in pickers))))
    train.click(h.train, [beta, likelihood, sigma, latent_dim, epochs, seed], wire(streamed, h.stream),
                api_name="train", concurrency_limit=None, show_progress="hidden")
    stop.click(h.stop, None, status, api_name="stop", concurrency_limit=None)
    cloud.select(h.pick, None, wire(dict(row=picked_row, digit=picked, words=picked_words, plane=cloud), ("row",) + PICKED),
                 api_visibility="private", show_progress="hidden")
    tab.select(runs.warm_up, None, None, api_visibility="private", show_progress="hidden")  # a process ready for the Train button
    demo.load(h.list_runs, None, table, api_name="runs")
    tab.select(h.plane, None, plane, api_visibility="private", show_progress="hidden")  # when the tab opens: the page's first tab draws sooner
    export.click(h.export, pick, [archive, codes], api_name="export")
    demo.unload(forget_visitor(runs))
    settings = dict(beta=beta, likelihood=likelihood, sigma=sigma, latent_dim=latent_dim, epochs=epochs, seed=seed, status=status)
    demo.load(h.restore, None, wire(settings, LINK_KEYS + ("status",)), api_visibility="private", show_progress="hidden")
    live_outputs = wire(dict(group=live, words=live_text, losses=live_losses, cloud=live_cloud, seen=live_seen, timer=live_timer), LIVE)
    live_timer.tick(lambda seen: presets_live(hub, seen), live_seen, live_outputs, api_visibility="private", show_progress="hidden")
    demo.load(lambda seen: presets_live(hub, seen), live_seen, live_outputs, api_visibility="private", show_progress="hidden")
    return TabParts({"beta": beta})
