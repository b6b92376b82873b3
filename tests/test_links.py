"""Hostile links: every value a link carries is a short name or number before any tab sees it."""
from __future__ import annotations

import types

import pytest

from playground import draw, links, train_tab, walk

HOSTILE_MODEL = ('<h1 style="color:red">SESSION EXPIRED</h1><a href="http://example.invalid">Log in again</a>'
                 '<form action="http://example.invalid"><input type=password></form>')


def request(**query):
    return types.SimpleNamespace(query_params=query, session_hash="s")


@pytest.mark.parametrize("value", [HOSTILE_MODEL, "[Log in](http://example.invalid)", "a" * 41, "x y", "<b>", "é"])
def test_values_that_are_not_names_or_numbers_never_arrive(value):
    assert links.query_of(request(tab="draw", model=value)) == {"tab": "draw", "model": links.UNREADABLE}


def test_names_and_numbers_arrive_as_they_are():
    q = dict(tab="walk", model="healthy-2d", dim_x="3", dim_y="5", z1="-1.5", z2="2e-1")
    assert links.query_of(request(**q)) == q


def test_a_hostile_model_name_is_not_echoed_into_any_sentence():
    model, said = draw.DrawHandlers.restore(request(tab="draw", model=HOSTILE_MODEL))
    assert "<" not in said and "SESSION" not in said and links.UNREADABLE in said
    settings, said = walk.settings_from_link(links.query_of(request(tab="walk", model=HOSTILE_MODEL)))
    assert settings is None and "<" not in said
    settings, said = train_tab.settings_from_link(links.query_of(request(tab="train", likelihood=HOSTILE_MODEL)))
    assert "<" not in said and "SESSION" not in said


@pytest.mark.parametrize("dim", [str(2**64), "-1", "1024"])
def test_a_link_with_a_huge_dimension_is_refused_with_a_sentence(dim):
    settings, said = walk.settings_from_link(links.query_of(request(tab="walk", model="healthy", dim_x=dim, dim_y="3")))
    assert settings is None and "between 0 and" in said
