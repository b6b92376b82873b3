"""The Train tab through gradio_client, as a visitor's script would use it: tiny models on 128 digits."""
from __future__ import annotations

import csv
import time
import zipfile

import pytest

from vae.model import VAE

gradio_client = pytest.importorskip("gradio_client")

RECORD = 1  # the /train stream's outputs: status, record, losses, cloud, kl, digits, runs table, rate-distortion plane, run to download, the Draw, Latent walk and Compare tabs' model lists


def args(beta=10, likelihood="gaussian", sigma=0.1, latent_dim=2, epochs=2, seed=0):
    return (beta, likelihood, sigma, latent_dim, epochs, seed)


def visitor(app_url):
    return gradio_client.Client(app_url, verbose=False)


def records(job) -> list[dict]:
    return [out[RECORD] for out in job.outputs() if isinstance(out[RECORD], dict)]


def wait_until(job, check):
    """Poll a streaming job's records until check(record) holds for the latest one (or the job ends)."""
    while True:
        seen = records(job)
        if seen and check(seen[-1]):
            return seen[-1]
        if job.done():
            return records(job)[-1]
        time.sleep(0.1)


def test_streamed_updates_arrive_in_order_and_end_in_a_model(app_url, tmp_path, tiny_data):
    client = visitor(app_url)
    job = client.submit(*args(latent_dim=8, epochs=2), api_name="/train")
    final = job.result()
    seen = records(job)
    assert len(seen) >= 3
    progress = [(r["epochs_done"], r["epoch"] or 0, r["batch"] or 0) for r in seen]
    assert progress == sorted(progress)  # never backwards
    assert seen[-1]["state"] == "done" and seen[-1]["epochs_done"] == 2 and seen[-1]["model"]
    status, record, losses, cloud, kl, digits, table, plane, pick, draw_model, walk_model, compare_beside = final
    assert "Done" in status and all(path for path in (losses, cloud, kl, digits, plane))
    assert [row[1] for row in table["data"]] == ["done"]

    archive, codes = client.predict(record["run"], api_name="/export")
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == ["config.json", "metrics.json", "model.safetensors"]
        z.extractall(tmp_path / "run")
    model = VAE.from_pretrained(tmp_path / "run")
    assert model.config.latent_dim == 8 and model.config.beta == 10
    with open(codes) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["label", *[f"mu_{i}" for i in range(1, 9)], *[f"logvar_{i}" for i in range(1, 9)]]
    assert len(rows) - 1 == len(tiny_data.test)


def test_stop_keeps_the_finished_epochs(app_url, train_runs):
    client = visitor(app_url)
    job = client.submit(*args(epochs=10), api_name="/train")
    wait_until(job, lambda r: r["epochs_done"] >= 1)
    message = client.predict(api_name="/stop")
    # /stop returns once the training process has ended: the run is stopped right then, its epochs kept
    assert "Stopped after epoch" in message
    run = next(r for r in train_runs._runs if r.owner == client.session_hash)
    assert run.state == "stopped" and not run._proc.process.is_alive()
    kept = run.epochs_done
    assert 1 <= kept < 10
    job.result()
    assert records(job)[-1]["state"] == "stopped" and records(job)[-1]["epochs_done"] == kept
    assert VAE.from_pretrained(run.directory).config.epochs == 10
    table = client.predict(api_name="/runs")
    assert table["data"][0][1] == "stopped" and table["data"][0][7] == f"{kept}/10"


def test_two_visitors_never_see_each_others_runs(app_url):
    alice, bob = visitor(app_url), visitor(app_url)
    job = alice.submit(*args(epochs=1), api_name="/train")
    done = job.result()[RECORD]
    assert [row[0] for row in alice.predict(api_name="/runs")["data"]] == [done["run"]]
    assert bob.predict(api_name="/runs")["data"] in ([], [[None] * 12])
    with pytest.raises(Exception, match="no run called") as err:
        bob.predict(done["run"], api_name="/export")
    assert "Traceback" not in str(err.value)
    with pytest.raises(Exception, match="no run queued or training"):
        bob.predict(api_name="/stop")


@pytest.mark.slow
def test_the_queue_trains_one_run_at_a_time(app_url, train_runs):
    first, second = visitor(app_url), visitor(app_url)
    job1 = first.submit(*args(epochs=2), api_name="/train")
    wait_until(job1, lambda r: r["state"] == "training")
    job2 = second.submit(*args(epochs=1, beta=0), api_name="/train")
    assert job1.result()[RECORD]["state"] == job2.result()[RECORD]["state"] == "done"
    waiting = [r for r in records(job2) if r["state"] == "queued"]
    assert waiting and waiting[0]["position"] == 1
    assert any("Waiting for 1 run ahead" in out[0] for out in job2.outputs())
    run1, run2 = (next(r for r in train_runs._runs if r.owner == c.session_hash) for c in (first, second))
    assert run1.ended <= run2.started  # the second started only once the first had ended


def test_one_run_at_a_time_per_visitor_and_bad_input_is_a_sentence(app_url):
    client = visitor(app_url)
    job = client.submit(*args(epochs=3), api_name="/train")
    wait_until(job, lambda r: r["state"] in ("queued", "training"))
    with pytest.raises(Exception, match="still (queued|training)"):
        client.predict(*args(), api_name="/train")
    client.predict(api_name="/stop")
    job.result()
    with pytest.raises(Exception, match="must be from 1 to 10; it was 50") as err:  # the slider's bounds, in a sentence
        client.predict(*args(epochs=50), api_name="/train")
    assert "Traceback" not in str(err.value)


def test_a_finished_run_is_one_of_its_visitors_models_and_no_one_elses(app_url, train_runs, tiny_hub, tmp_path):
    from PIL import Image

    from playground.runs import RunRefused, VisitorModels

    alice, bob = visitor(app_url), visitor(app_url)
    run_id = alice.submit(*args(beta=3, latent_dim=2, epochs=1), api_name="/train").result()[RECORD]["run"]
    digit = tmp_path / "digit.png"
    Image.fromarray((255 - tiny_hub.data.test.images[0, 0].numpy() * 255).astype("uint8")).save(digit)
    summary = alice.predict(gradio_client.handle_file(str(digit)), run_id, api_name="/reconstruct")[2]
    assert "your run 1 (beta 3, D 2)" in summary and "KL of this digit" in summary
    assert alice.predict(run_id, 0, 1, 0.5, -0.5, api_name="/decode")  # the Latent walk decodes with it too
    assert "nats" in alice.predict(gradio_client.handle_file(str(digit)), "healthy", api_name="/reconstruct")[2]  # presets stay
    sentences, table, *_ = alice.predict(run_id, api_name="/compare")  # Compare puts it beside the three regimes
    rows = [row[0] for row in table["data"]]
    assert rows[:3] == ["autoencoder", "healthy", "collapsed"] and rows[3].startswith("your run 1 (beta 3, D 2)")
    assert "**your run 1 (beta 3, D 2)" in sentences
    assert len(alice.predict(api_name="/compare")[1]["data"]) == 3  # and leaves it out by default

    with pytest.raises(Exception, match="not in the list of choices") as err:  # bob's model lists never had it
        bob.predict(gradio_client.handle_file(str(digit)), run_id, api_name="/reconstruct")
    assert "Traceback" not in str(err.value)
    with pytest.raises(Exception, match="not in the list of choices"):
        bob.predict(run_id, api_name="/compare")
    models = VisitorModels(tiny_hub, train_runs)  # nor does naming it reach it: the lookup checks whose run it is
    assert models.get(run_id, alice.session_hash).model.config.beta == 3
    with pytest.raises(RunRefused, match="no model called"):
        models.get(run_id, bob.session_hash)
    assert [value for _, value in models.choices(["healthy"], bob.session_hash)] == ["healthy"]
    assert [label for label, _ in models.choices(["healthy"], alice.session_hash)][-1].startswith("your run 1 (beta 3, D 2)")


def orange_pixels(image) -> int:
    import numpy as np

    from matplotlib.colors import to_rgb

    from playground import plots

    target = np.array(to_rgb(plots.RUN_COLOR)) * 255
    return int((np.abs(image[..., :3].astype(float) - target).max(axis=-1) < 12).sum())


def test_rate_distortion_plane_draws_presets_and_runs():
    from playground import plots

    presets = [plots.PlanePoint("collapsed", 1e-4, 0.08, 2.0), plots.PlanePoint("healthy", 31.0, 0.03, 0.2), plots.PlanePoint("autoencoder", 3700.0, 0.03, 0.0)]
    image = plots.rate_distortion(presets, "presets")
    assert image.dtype.name == "uint8" and image.ndim == 3
    with_run = plots.rate_distortion(presets + [plots.PlanePoint("your run 1", 12.0, 0.05, 0.6, own=True)], "with a run")
    assert orange_pixels(with_run) > orange_pixels(image)  # the run's star and its label beside the legend's


def test_a_stopped_runs_point_is_measured_as_the_final_metrics_are(tiny_hub):
    import dataclasses

    from playground.train_tab import plane_point

    # a model whose metrics say nothing (a stopped run's last epoch) is measured, with the final metrics' definitions
    ready = tiny_hub.get("healthy")
    point = plane_point(ready, tiny_hub.data.test, "healthy", own=False)
    assert (point.kl, point.mse) == (ready.metrics["kl"], ready.metrics["mse"])
    assert point.beta_eff == 2 * ready.model.config.sigma**2 * ready.model.config.beta
    measured = plane_point(dataclasses.replace(ready, metrics={}, _memo={}), tiny_hub.data.test, "stopped", own=True)
    assert measured.kl == pytest.approx(point.kl, rel=1e-3) and measured.mse == pytest.approx(point.mse, rel=1e-3)


def settle(manager, run):
    """Wait (without a clock) until `run` has finished and its last epoch is drawn."""
    seen = -1
    while not run.settled:
        seen = manager.wait(run, seen, timeout=1.0)
    return run


def test_the_disk_cap_evicts_the_oldest_finished_run(tiny_hub, tiny, tmp_path):
    from playground.runs import RunManager, folder_bytes

    manager = RunManager(tmp_path, tiny_hub, tiny())
    first = settle(manager, manager.submit("alice", tiny(epochs=1)))
    size = folder_bytes(first.directory)
    assert first.state == "done" and size > 0
    manager.disk_cap = int(1.5 * size)  # room for one run like it, not two
    second = settle(manager, manager.submit("bob", tiny(epochs=1)))
    assert second.state == "done" and second.directory.exists()
    assert manager.runs("alice") == [] and not first.directory.exists()  # another visitor's older run went first
    assert manager.runs("bob") == [second]


def test_opening_the_tab_starts_a_spare_process_that_the_next_run_takes(tiny_hub, tiny, tmp_path):
    """Python and PyTorch load in ~6 s: a spare process started when someone opens the Train tab spares their run that."""
    from playground.runs import RunManager

    manager = RunManager(tmp_path, tiny_hub, tiny())
    manager.warm_up()
    spare = manager._spare
    manager.warm_up()  # one spare at most
    assert manager._spare is spare and spare.process.is_alive()
    run = settle(manager, manager.submit("alice", tiny(epochs=1)))
    assert run.state == "done" and run._proc is spare and manager._spare is None
    spare.join(timeout=30)
    assert not spare.process.is_alive()  # its one task done, it ended


def test_a_visitors_runs_vanish_when_the_session_ends(tiny_hub, tiny, tmp_path):
    from playground.runs import RunManager, VisitorModels

    manager = RunManager(tmp_path, tiny_hub, tiny())
    done = settle(manager, manager.submit("alice", tiny(epochs=1)))
    training = manager.submit("alice", tiny(epochs=10))
    seen = -1
    while training.epochs_done < 1:  # the second run is mid-training when the page closes
        seen = manager.wait(training, seen, timeout=1.0)
    assert VisitorModels(tiny_hub, manager).get(done.id, "alice").model is done.ready.model
    manager.forget("alice")
    settle(manager, training)
    assert manager.runs("alice") == [] and manager.models_of("alice") == []
    assert not done.directory.exists() and not training.directory.exists()
    assert not training._proc.process.is_alive()
    with pytest.raises(Exception, match="no model called"):
        VisitorModels(tiny_hub, manager).get(done.id, "alice")


class InThread:
    """TaskProcess's stand-in: the same task body (vae.workers.train_task) in a thread of this process, where a test
    can break the training step; a spawned worker imports its own copy of vae.train."""

    def __init__(self, data=None, **_):
        self.data, self.thread = data, None

    def give(self, task, on_event):
        import threading

        from vae.workers import train_task

        self.thread = threading.Thread(target=train_task, args=(task, on_event, self.data, "cpu"), daemon=True)
        self.thread.start()
        return self

    def start(self):
        return self

    def stop(self, timeout=10.0):
        self.thread.join(timeout)

    def join(self, timeout=None):
        self.thread.join(timeout)


def test_a_diverging_run_stops_with_a_sentence_and_keeps_its_last_good_epoch(tiny_hub, tiny, tmp_path, monkeypatch):
    import vae.train
    from playground.runs import RunManager

    real_step, calls = vae.train.train_step, []
    batches = -(-len(tiny_hub.data.train) // tiny().batch_size)

    def step_that_diverges_in_epoch_2(*a, **k):
        calls.append(1)
        return None if len(calls) > batches else real_step(*a, **k)  # None: the loss was non-finite

    monkeypatch.setattr(vae.train, "train_step", step_that_diverges_in_epoch_2)
    monkeypatch.setattr("playground.runs.TaskProcess", InThread)
    manager = RunManager(tmp_path, tiny_hub, tiny())
    run = settle(manager, manager.submit("alice", tiny(epochs=3)))
    assert run.state == "failed" and run.epochs_done == 1
    assert run.message == "The run diverged: the loss became non-finite at epoch 2, batch 1. It stopped after epoch 1 of 3; its finished epoch is kept."
    assert manager.models_of("alice") == [run]  # the last good epoch is one of the visitor's models
    assert VAE.from_pretrained(run.directory).config.epochs == 3


def test_a_fresh_app_shows_its_presets_training_live(tiny_data, tmp_path):
    """On a fresh start the Train tab shows the first preset training: its curves (beta as the KL warm-up sets it),
    redrawn only when it has reported since the visitor's last look, and nothing once no preset trains."""
    import numpy as np

    from playground.models import ModelHub, ModelState
    from playground.train_tab import FORCES, NATS, presets_live
    from vae.config import preset_config
    from vae.workers import Event

    hub = ModelHub(tmp_path, data=tiny_data)  # not started: the test plays the workers' reports
    hidden = presets_live(hub, -1)
    assert hidden[0]["visible"] is False and hidden[-1].active  # nothing trains yet, but the presets are still to come
    hub._on_event(Event("start", "healthy", 1))
    for batch, recon, kl in ((25, 200.0, 10.0), (50, 150.0, 8.0)):
        hub._on_event(Event("progress", "healthy", {"epoch": 1, "epochs": 10, "batch": batch, "batches": 100, "loss": 0.0, "recon": recon, "kl": kl}))
    visible, sentence, losses, cloud, seen, timer = presets_live(hub, -1)
    assert visible["visible"] is True and "**healthy** is at epoch 1/10, batch 50/100" in sentence
    table = losses["value"]  # the native plot's rows: (epoch, nats, force), one per report and force
    assert list(table.columns) == ["epoch", NATS, "force"] and set(table["force"]) == set(FORCES)  # each force named from the first
    assert table[NATS].notna().sum() == 4 and losses["x_lim"] == [0, 10]  # the held-out forces have no value before an epoch ends
    t = hub.training_now()
    assert seen == t.version and len(t.curve) == 2
    # the second report's 25 batches: mean recon (150 * 50 - 200 * 25) / 25 = 100, KL 6, under beta 10 * (50/100) / 2 warm-up epochs
    warm = preset_config("healthy").kl_warmup_epochs
    assert t.curve[1] == (0.375, 100.0, 10 * (50 / 100) / warm * 6.0)
    assert all(out is not None and not isinstance(out, np.ndarray) for out in presets_live(hub, seen)[1:4])  # nothing new: skipped
    hub._on_event(Event("failed", "healthy", "stopped"))
    for name in hub.names:
        hub._set(name, ModelState.READY)
    hidden = presets_live(hub, seen)
    assert hidden[0]["visible"] is False and not hidden[-1].active  # every preset settled: the timer stops
