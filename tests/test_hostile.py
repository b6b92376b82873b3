"""Hostile visitors (issue 23): what a crafted call costs the app, through the real app on a localhost port.

Each test here sends what a script would send, not what the page does: a drawing of a million points, files left in
Gradio's cache, numbers that are not numbers, forged visitors.
"""
from __future__ import annotations

import os
import re
import threading
import time

import numpy as np
import pytest
import httpx

from playground.runs import folder_bytes
from vae.digits import MAX_POINTS, MAX_STROKES, InputError, check_strokes


class PeakMemory:
    """The largest growth of this process's resident memory while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        self.start = self.peak = self._rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1024**2

    def _watch(self):
        while not self._done.wait(0.005):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- 1. the pen: a drawing is strokes, checked before they are inked ----------------------------------

def test_a_drawing_is_checked_before_it_is_inked():
    strokes = check_strokes({"strokes": [[[0.5, 0.2], [0.5, 0.8]], [[2, -1]]]})
    assert [s.tolist() for s in strokes] == [[[0.5, 0.2], [0.5, 0.8]], [[1.0, 0.0]]]  # off the canvas: on its edge
    assert check_strokes(None) == check_strokes({}) == check_strokes({"strokes": []}) == []
    refused = {
        "points": {"strokes": [[[0.5, 0.5]] * (MAX_POINTS + 1)]},
        "strokes": {"strokes": [[[0.5, 0.5]]] * (MAX_STROKES + 1)},
        "must be finite": {"strokes": [[[0.5, float("nan")]]]},
        "list of [x, y] points": {"strokes": [[[0.5, "0.5"]], [[True, 0]]]},
        "[x, y] points ": {"strokes": [[[10**400, 0]]]},
        "A drawing is": {"strokes": "<script>"},
    }
    for words, value in refused.items():
        with pytest.raises(InputError, match=re.escape(words.strip())):
            check_strokes(value)


def test_a_drawing_of_a_million_points_is_refused_before_it_is_read(app_url):
    """A script's drawing of a million points (16 MB of JSON, some 480 MB once parsed) is refused by its size before
    Gradio reads it (inputs.BodyLimit), and one over MAX_POINTS but under the size by counting its points, before any
    ink; the app's memory stays flat and the pen still draws."""
    import json

    from gradio_client import Client

    body = json.dumps({"data": [{"strokes": [[[0.5, 0.5], [0.2, 0.8]] * 500_000]}, "healthy", 0], "fn_index": 0,
                       "session_hash": "hostile"}).encode()
    with PeakMemory() as memory:
        r = httpx.post(f"{app_url}gradio_api/queue/join", content=body, headers={"Content-Type": "application/json"}, timeout=60)
        chunked = httpx.post(f"{app_url}gradio_api/queue/join", content=iter([body[i:i + 2**20] for i in range(0, len(body), 2**20)]),
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == chunked.status_code == 413 and "KB" in r.json()["detail"]
    assert memory.growth_mb < 50, f"the app's memory grew by {memory.growth_mb:.0f} MB"
    client = Client(app_url, verbose=False)
    with pytest.raises(Exception, match="over 5,000 points"):
        client.predict({"strokes": [[[0.5, 0.5]] * (MAX_POINTS + 1)]}, "healthy", api_name="/draw")
    for bad in ({"strokes": [[["a", "b"]]]}, "not a drawing", [1, 2, 3]):
        with pytest.raises(Exception, match="stroke|drawing"):
            client.predict(bad, "healthy", api_name="/draw")
    recon, bubble, message = client.predict({"strokes": [[[0.5, 0.2], [0.5, 0.8]]]}, "healthy", api_name="/draw")
    assert os.path.exists(recon) and "nats" in message


# --- 2. the training queue: forged visitors -------------------------------------------------------------

def forged_train(app_url: str, fn_index: int, address: str, epochs: int = 10) -> str:
    """What a script sends to start a run without a page: a queue join under a session id it made up, from `address`
    (as a proxy in front of the app reports it); no heartbeat stream is ever opened for it. Returns the session."""
    import secrets

    session = secrets.token_hex(6)
    body = {"data": [10, "gaussian", 0.1, 2, epochs, 0], "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    r = httpx.post(f"{app_url}gradio_api/queue/join", json=body, headers={"X-Forwarded-For": address}, timeout=30)
    assert r.status_code == 200, r.text
    return session


def wait_for(check, timeout: float, step: float = 0.2):
    deadline = time.time() + timeout
    while not check() and time.time() < deadline:
        time.sleep(step)
    return check()


def presence_of(client) -> bool:
    from playground.presence import PRESENCE

    return PRESENCE.here(client.session_hash)


def test_the_address_is_the_one_our_proxy_saw(monkeypatch):
    from types import SimpleNamespace

    from playground.presence import client_address

    def request(forwarded=None):
        return SimpleNamespace(headers={"x-forwarded-for": forwarded} if forwarded else {}, client=SimpleNamespace(host="10.0.0.2"))

    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("VAE_TRUSTED_PROXIES", raising=False)
    assert client_address(request("1.2.3.4")) == "10.0.0.2"  # no proxy of ours: the header is the client's own words
    monkeypatch.setenv("SPACE_ID", "someone/vae")  # a Space: its proxy appends the address it saw
    assert client_address(request("1.2.3.4, 5.6.7.8")) == "5.6.7.8"  # the left entry is whatever the client wrote
    assert client_address(request()) == "10.0.0.2"
    monkeypatch.setenv("VAE_TRUSTED_PROXIES", "2")
    assert client_address(request("1.2.3.4, 5.6.7.8, 9.9.9.9")) == "5.6.7.8"
    monkeypatch.setenv("VAE_TRUSTED_PROXIES", "lots")
    assert client_address(request("1.2.3.4")) == "10.0.0.2"


def test_presence_counts_open_heartbeats():
    from playground.presence import Presence

    p = Presence()
    assert not p.here("a") and p.gone_since("a", time.time() - 5) >= 5  # never connected: gone since the run came
    p.opened("a"), p.opened("a")  # two tabs of one session
    p.closed("a")
    assert p.here("a") and p.gone_since("a", 0) is None
    p.closed("a")
    assert not p.here("a") and p.gone_since("a", 0) < 1  # gone since the last one closed, not since 0


@pytest.mark.stress
def test_forged_visitors_cannot_take_the_queue(app_demo, app_url, train_runs, monkeypatch):
    """Issue 23, hole 2: four queue joins under made-up sessions from one address queued four runs, and a real visitor
    waited behind all four; runs of sessions that never had a page trained to the end. Now one address has at most
    MAX_PER_ADDRESS runs, and runs whose session has no live connection are stopped and deleted within a minute."""
    from gradio_client import Client

    from playground import runs as runs_mod

    monkeypatch.setenv("VAE_TRUSTED_PROXIES", "1")
    monkeypatch.setattr(runs_mod, "ABSENT_S", 3)  # a minute in the app; seconds here
    fn_index = next(i for i, fn in app_demo.fns.items() if fn.api_name == "train")
    forged = [forged_train(app_url, fn_index, "203.0.113.9") for _ in range(4)]
    from_there = lambda: [r for r in train_runs._runs if r.address == "203.0.113.9"]  # noqa: E731
    assert wait_for(lambda: len(from_there()) >= runs_mod.MAX_PER_ADDRESS, 30)
    time.sleep(1)  # the other two joins have been answered by now
    assert len(from_there()) == runs_mod.MAX_PER_ADDRESS and {r.owner for r in from_there()} < set(forged)

    person = Client(app_url, verbose=False, headers={"X-Forwarded-For": "198.51.100.7"})  # a page: it holds a heartbeat open
    job = person.submit(10, "gaussian", 0.1, 2, 1, 0, api_name="/train")
    assert wait_for(lambda: not from_there(), runs_mod.ABSENT_S + runs_mod.JANITOR_S + 20)  # the forged runs are gone
    record = job.result()[1]
    assert record["state"] == "done"  # the visitor who is here trained to the end
    assert presence_of(person) and not wait_for(lambda: not any(r.owner == person.session_hash for r in train_runs._runs),
                                               runs_mod.ABSENT_S + runs_mod.JANITOR_S + 1)  # and keeps the run
    train_runs.forget(person.session_hash)


def test_the_disk_cap_never_deletes_the_run_of_a_visitor_who_is_here(tiny_hub, tiny, tmp_path):
    from playground.presence import Presence
    from playground.runs import RunManager, RunRefused
    from test_train_tab import settle

    presence = Presence()
    presence.opened("alice"), presence.opened("bob")
    manager = RunManager(tmp_path, tiny_hub, tiny(), presence=presence)
    alice = settle(manager, manager.submit("alice", tiny(epochs=1)))
    manager.disk_cap = int(1.5 * folder_bytes(alice.directory))  # room for one run like it, not two
    bob = settle(manager, manager.submit("bob", tiny(epochs=1)))
    assert manager.runs("alice") == [alice] and alice.directory.exists()  # before: the oldest of anyone's went
    assert manager.runs("bob") == [bob] and bob.directory.exists()  # and the run just finished stays too
    with pytest.raises(RunRefused, match="space for visitors' runs is full"):
        manager.submit("carol", tiny(epochs=1))
    presence.closed("alice")  # alice leaves without her page saying so: her run may go now
    carol = settle(manager, manager.submit("carol", tiny(epochs=1)))
    assert manager.runs("alice") == [] and not alice.directory.exists() and carol.directory.exists()


# --- 5. Gradio's cache: bounded by age and size, exports gone with their runs ---------------------------

def test_the_sweep_deletes_old_files_then_the_oldest_over_the_cap(tmp_path):
    from playground.sweeper import forget_named, sweep

    now = time.time()
    for i, age in enumerate([7200, 3000, 2000, 1000, 10]):
        path = tmp_path / f"hash{i}" / f"file{i}.png"
        path.parent.mkdir()
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - age, now - age))
    swept = sweep(tmp_path, max_age_s=3600, max_bytes=2500, now=now)  # the 2 h old one by age, then the two oldest by size
    assert swept.deleted == 3 and swept.bytes_left == 2000
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["file3.png", "file4.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hash3", "hash4"]  # emptied folders go too
    (tmp_path / "hash4" / "vae-run-0001-abcd1234.zip").write_bytes(b"z")
    assert forget_named(tmp_path, "vae-run-0001-abcd1234") == 1 and (tmp_path / "hash4" / "file4.png").exists()


def test_the_cache_shrinks_and_the_app_draws_on(app_url, tmp_path):
    """Issue 23, hole 5: every new drawing left 8 files in Gradio's cache for good."""
    from gradio_client import Client

    from playground.sweeper import Sweeper, cache_folder

    client = Client(app_url, verbose=False)
    rng = np.random.default_rng(0)
    drawings = [{"strokes": [rng.uniform(0.15, 0.85, (4, 2)).round(3).tolist()]} for _ in range(6)]  # six different digits
    for drawing in drawings:
        client.predict(drawing, "healthy", api_name="/draw")
    full = folder_bytes(cache_folder())
    cap = full // 2
    sweeper = Sweeper(cache_folder(), every_s=0.1, max_bytes=cap).start()
    try:
        deadline = time.time() + 10
        while folder_bytes(cache_folder()) > cap and time.time() < deadline:
            time.sleep(0.1)
    finally:
        sweeper.stop()
    assert folder_bytes(cache_folder()) <= cap < full
    recon, bubble, message = client.predict(drawings[0], "healthy", api_name="/draw")
    assert os.path.exists(recon) and os.path.exists(bubble)  # a picture swept away is written again when asked for


def test_an_export_is_deleted_with_its_run(app_url, train_runs):
    from gradio_client import Client

    from playground.sweeper import cache_folder

    client = Client(app_url, verbose=False)
    done = client.submit(10, "gaussian", 0.1, 2, 1, 0, api_name="/train").result()[1]
    client.predict(done["run"], api_name="/export")
    copies = list(cache_folder().glob(f"*/vae-run-{done['run']}*"))
    assert {p.suffix for p in copies} == {".zip", ".csv"}  # the zip and the codes, as Gradio serves them
    train_runs.forget(client.session_hash)  # the visitor's session ended
    assert not any(p.exists() for p in copies)


# --- numbers: one check for every number input -----------------------------------------------------------

def call_raw(app_url: str, api_name: str, body: str) -> tuple[str, str]:
    """POST a raw JSON body (NaN and Infinity are not JSON, and no client sends them) to Gradio's /call API and
    return the last event of its answer: ("complete", data) or ("error", message)."""
    r = httpx.post(f"{app_url}gradio_api/call/{api_name}", content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    event, data = None, None
    with httpx.stream("GET", f"{app_url}gradio_api/call/{api_name}/{r.json()['event_id']}", timeout=60) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data = line.split(":", 1)[1].strip()
    return event, data


@pytest.mark.parametrize("bad, said", [("NaN", "not NaN"), ("Infinity", "not infinity"), ('"abc"', "what was sent is text"),
                                       ("[1, 2]", "what was sent is a list"), ("true", "true or false"), ("1e400", "not infinity"),
                                       ("-7", "from -3 to 3; it was -7")])
def test_numbers_that_are_not_numbers_get_a_sentence_and_no_traceback(app_url, bad, said, capfd):
    event, data = call_raw(app_url, "decode", f'{{"data": ["healthy-2d", 0, 1, {bad}, 0]}}')
    assert event == "error" and said in data and "Z1" in data, (event, data)
    assert "Traceback" not in capfd.readouterr().err


def test_a_number_sent_as_text_is_taken(app_url):
    event, data = call_raw(app_url, "pass", '{"data": ["healthy", "7", "0"]}')
    assert event == "complete" and '"mu"' in data


def test_the_api_lists_the_types_the_server_takes(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    params = {p["parameter_name"]: p for p in client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/train"]["parameters"]}
    assert params["beta"]["type"]["type"] == "number" and params["latent_dim"]["type"]["type"] == "integer"
    assert 10 in params["beta"]["type"]["enum"] and params["latent_dim"]["type"]["enum"] == [2, 8, 32, 128]
    with pytest.raises(Exception, match="must be one of 0, 0.1, 1, 3, 10"):
        client.predict(11, "gaussian", 0.1, 2, 1, 0, api_name="/train")
    with pytest.raises(Exception, match="must be one of 2, 8, 32, 128"):
        client.predict(10, "gaussian", 0.1, "<b>", 1, 0, api_name="/train")
