"""The guided tour (issue 18, item 2): its stops as data, the links to them, what each stop sets and waits for."""
from __future__ import annotations

import re

import numpy as np
import pytest

from playground import links, tour
from playground.how import SOURCES

APP_TABS = ("how", "draw", "walk", "interpolate", "compare", "prior", "likelihood", "train")


def sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s])


def test_the_stops_follow_the_article_and_each_asks_before_it_tells():
    titles = [s.title for s in tour.STOPS]
    assert titles[0] == "The pass, on one digit" and titles[-1] == "Retrospection"
    # the article's order: the pass, the autoencoder's failure, the tug of war, the regimes, the bubble, one z_i,
    # smoothness, the holes, blur, the variance cheat
    assert [s.tab for s in tour.STOPS] == ["how", "how", "train", "compare", "draw", "walk", "interpolate", "prior", "likelihood",
                                           "likelihood", "draw"]
    for stop in tour.STOPS:
        assert stop.tab in APP_TABS
        assert sentences(stop.look) <= 2, stop.title
        assert stop.predict.endswith("?"), stop.title
        assert stop.answer and stop.answer not in stop.look
    # the last stop asks the article's two Retrospection questions
    assert "own Gaussian" in tour.STOPS[-1].predict and "randomness" in tour.STOPS[-1].predict


@pytest.mark.parametrize("asked, stop", [("1", 0), ("3", 2), (str(len(tour.STOPS)), len(tour.STOPS) - 1)])
def test_a_tour_link_opens_its_stop(asked, stop):
    assert links.tour_stop({"tour": asked}, len(tour.STOPS)) == (stop, "")


@pytest.mark.parametrize("asked", ["0", "12", "-1", "2.5", "abc", links.UNREADABLE, "9" * 40])
def test_a_tour_link_that_names_no_stop_opens_the_first_with_a_sentence(asked):
    n, said = links.tour_stop({"tour": asked}, len(tour.STOPS))
    assert n == 0 and "not one of 1 to 11" in said


def test_a_page_without_a_tour_link_names_no_stop():
    assert links.tour_stop({}, 11) == (None, "") and links.tour_stop({"tab": "walk"}, 11) == (None, "")


def test_a_hostile_tour_link_is_never_echoed():
    class Request:
        query_params = {"tour": "<img src=x onerror=alert(1)>"}

    n, said = links.tour_stop(links.query_of(Request()), len(tour.STOPS))
    assert n == 0 and "<img" not in said and links.UNREADABLE in said


def test_the_draw_stops_show_the_learners_own_digit_when_there_is_one(tiny_hub):
    mine = np.ones((28, 28), np.float32)
    five = [n for n, s in enumerate(tour.STOPS) if s.tab == "draw"][0]
    assert "draw.digit" not in tour.values(five, "setup", mine, tiny_hub)
    picked = tour.values(five, "setup", None, tiny_hub)["draw.digit"]
    assert np.array_equal(picked, tiny_hub.test_digit(tour.TEST_DIGIT)[0])
    # the How it works stops run the learner's digit through the model when there is one
    assert tour.values(0, "setup", mine, tiny_hub)["how.source"] == SOURCES[1]
    assert tour.values(0, "setup", None, tiny_hub)["how.source"] == SOURCES[0]
    assert tour.values(0, "reveal", None, tiny_hub) == {"how.seed": 1}  # Show me on the first stop: a new eps


def test_the_interpolation_stop_sets_the_articles_1_and_7(tiny_hub):
    n = [n for n, s in enumerate(tour.STOPS) if s.tab == "interpolate"][0]
    v = tour.values(n, "setup", None, tiny_hub)
    labels = tiny_hub.data.test.labels.numpy()
    assert labels[v["interpolate.a"]] == 1 and labels[v["interpolate.b"]] == 7 and v["interpolate.use_drawing"] is False
    assert v["interpolate.a"] == int(np.flatnonzero(labels == 1)[0])


def test_a_stop_says_which_models_it_waits_for(tiny_hub, monkeypatch):
    prior = [n for n, s in enumerate(tour.STOPS) if s.tab == "prior"][0]
    assert tour.waits(tiny_hub, prior) == ""
    monkeypatch.setattr(tiny_hub, "is_ready", lambda name: name != "autoencoder")
    from playground.models import ModelState

    monkeypatch.setattr(tiny_hub, "status", lambda: {"autoencoder": "training (epoch 2 of 3)"})
    monkeypatch.setattr(tiny_hub, "state", lambda name: ModelState.TRAINING if name == "autoencoder" else ModelState.READY)
    said = tour.waits(tiny_hub, prior)
    assert "autoencoder (training (epoch 2 of 3))" in said and "healthy" not in said
    assert tour.waits(tiny_hub, [n for n, s in enumerate(tour.STOPS) if s.tab == "train"][0]) == ""  # the Train tab needs no preset
    # a model served from its latest epoch while it trains: the stop works, and says so
    monkeypatch.setattr(tiny_hub, "is_ready", lambda name: True)
    assert tour.waits(tiny_hub, prior) == "Still training, shown as it is now: autoencoder (training (epoch 2 of 3))."


def test_the_tour_sets_only_controls_the_tabs_have(tiny_hub, train_runs):
    from playground.ui import build_demo

    demo = build_demo(tiny_hub, train_runs)  # tour.build refuses a stop that names a control no tab gave
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {f"tour-step-{n + 1}" for n in range(len(tour.STOPS))} <= ids
    assert {"tour-sidebar", "tour-wait"} <= ids
    # each stop lights up something its tab has: the control to use or the picture to look at
    assert {s.focus for s in tour.STOPS} | {s.answer_focus for s in tour.STOPS if s.answer_focus} <= ids
