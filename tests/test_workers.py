"""Presets trained side by side in worker processes: events in order, checkpoints that load, failures reported."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from conftest import tiny_config
from vae.model import VAE
from vae.workers import Event, Task, plan_jobs, run_tasks


def test_plan_jobs_shares_the_cores():
    assert plan_jobs(4, cores=2) == (2, 1)
    assert plan_jobs(1, cores=2) == (1, 2)
    assert plan_jobs(2, cores=16) == (2, 8)
    assert plan_jobs(0, cores=2) == (1, 2)


@pytest.mark.slow  # two training workers side by side: CI runs it, the everyday loop leaves it out
def test_two_presets_train_side_by_side(tmp_path, tiny_data):
    tasks = [Task("a", tiny_config(epochs=2), tmp_path / "a", "train", "a has no checkpoint yet"),
             Task("b", tiny_config(epochs=1, beta=0.0), tmp_path / "b", "train", "b has no checkpoint yet"),
             Task("c", tiny_config(epochs=1, latent_dim=2), tmp_path / "c", "train", "c has no checkpoint yet")]
    events: list[Event] = []
    run_tasks(tasks, events.append, jobs=2, threads=1, data=tiny_data)
    for task in tasks:
        mine = [e for e in events if e.name == task.name]
        kinds = [e.kind for e in mine]
        assert kinds[0] == "start" and kinds[-1] == "done", kinds
        assert [e.data["epoch"] for e in mine if e.kind == "epoch"] == list(range(1, task.config.epochs + 1))
        assert any(e.kind == "progress" for e in mine)
        assert VAE.from_pretrained(task.directory).config.latent_dim == task.config.latent_dim
    assert len({e.data for e in events if e.kind == "start"}) == 2  # two processes shared the three tasks


def test_a_failing_task_does_not_stop_the_others(tmp_path, tiny_data):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"not weights")  # "resume" from this fails and is set aside
    tasks = [Task("broken", tiny_config(), tmp_path / "broken", "resume", "broken was interrupted"),
             Task("fine", tiny_config(), tmp_path / "fine", "train", "fine has no checkpoint yet")]
    events: list[Event] = []
    run_tasks(tasks, events.append, jobs=2, threads=1, data=tiny_data)
    assert [e.kind for e in events if e.name == "fine"][-1] == "done"
    # the unreadable folder was kept aside (nothing deleted) and the preset trained again
    assert [e.kind for e in events if e.name == "broken"][-1] == "done"
    assert any(p.name.startswith("broken.old-") for p in tmp_path.iterdir())


def test_a_killed_worker_is_reported_and_the_run_ends(tmp_path, tiny_data):
    tasks = [Task("victim", tiny_config(epochs=50), tmp_path / "victim", "train", "victim has no checkpoint yet")]
    events: list[Event] = []

    def on_event(e: Event) -> None:
        events.append(e)
        if e.kind == "epoch" and e.data["epoch"] == 1:  # kill it once one epoch is safely on disk
            pid = next(ev.data for ev in events if ev.kind == "start")
            threading.Timer(0.2, os.kill, (pid, signal.SIGKILL)).start()

    run_tasks(tasks, on_event, jobs=1, threads=1, data=tiny_data)
    last = events[-1]
    assert last.kind == "failed" and "stopped unexpectedly" in last.data
    assert VAE.from_pretrained(tmp_path / "victim") is not None  # the finished epoch is whole


PARENT = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from conftest import tiny_config
from vae.data import DataBundle, Split, load_dataset
from vae.workers import Task, run_tasks
full = load_dataset()
data = DataBundle("mnist-5k", Split(full.train.images[:128], full.train.labels[:128]), Split(full.test.images[:64], full.test.labels[:64]), full.classes)
def on_event(e):
    if e.kind == "start":
        print(e.data, flush=True)
if __name__ == "__main__":
    run_tasks([Task("long", tiny_config(epochs=500), {out!r}, "train", "a long run")], on_event, jobs=1, threads=1, data=data)
"""


@pytest.mark.slow
def test_a_worker_ends_when_the_app_that_started_it_is_killed(tmp_path):
    """SIGKILL (or SIGTERM) of the app skips its clean-up; its training workers must not train on as orphans."""
    import subprocess
    import sys
    import time

    from conftest import ROOT

    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(root=str(ROOT), tests=str(ROOT / "tests"), out=str(tmp_path / "long")))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())  # the worker said "start": it is training
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and os.path.exists(f"/proc/{worker}") and "Z" not in _state(worker):
            time.sleep(0.2)
        assert not os.path.exists(f"/proc/{worker}") or "Z" in _state(worker), "the orphaned worker is still training"
    finally:
        parent.kill()


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
