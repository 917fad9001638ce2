"""Artist recognition in search queries: fuzzy, case- and accent-insensitive, and not
fooled by descriptions that happen to contain a short artist name."""

from __future__ import annotations

import pytest

from tonearm.discovery.artists import ArtistIndex, normalize_name

ARTISTS = ["Nova Drift", "Ambra Léon", "Ember", "Rocko", "The Rust Coyotes", "Sigur Rós"]


@pytest.fixture(scope="module")
def index() -> ArtistIndex:
    return ArtistIndex(ARTISTS)


def test_normalize_name() -> None:
    assert normalize_name("  Ambra  LÉON! ") == "ambra leon"
    assert normalize_name("Willow & Wren") == "willow wren"
    assert normalize_name("") == ""


@pytest.mark.parametrize(
    ("query", "artist"),
    [
        ("Nova Drift", "Nova Drift"),
        ("nova drift", "Nova Drift"),
        ("NOVA DRIFT", "Nova Drift"),
        ("nova drfit", "Nova Drift"),  # typo
        ("ambra leon", "Ambra Léon"),  # accent-insensitive
        ("sigur ros", "Sigur Rós"),
        ("music like nova drift", "Nova Drift"),
        ("songs by the rust coyotes", "The Rust Coyotes"),
        ("something similar to ambra léon", "Ambra Léon"),
        ("in the style of ember", "Ember"),  # one-word name after a cue
        ("ember", "Ember"),  # the whole query
        ("rust coyotes", "The Rust Coyotes"),
        ("rust coyotes style", "The Rust Coyotes"),
    ],
)
def test_recognized(index: ArtistIndex, query: str, artist: str) -> None:
    m = index.recognize(query)
    assert m is not None, query
    assert m.name == artist


@pytest.mark.parametrize(
    "query",
    [
        "ember glow ambient",  # a one-word name inside a description is not an artist
        "rock",  # short: no fuzzy match to "Rocko"
        "upbeat summer vibes",
        "dark cinematic tension",
        "drifting nova pads",
        "",
        "   ",
    ],
)
def test_not_recognized(index: ArtistIndex, query: str) -> None:
    assert index.recognize(query) is None


def test_remainder_keeps_the_rest_of_the_query(index: ArtistIndex) -> None:
    m = index.recognize("upbeat tracks like nova drift")
    assert m is not None and m.name == "Nova Drift"
    assert m.remainder == "upbeat"
    m = index.recognize("like nova drift but slower")
    assert m is not None and m.name == "Nova Drift"
    assert "slower" in m.remainder
    m = index.recognize("sad rust coyotes ballads")
    assert m is not None and m.name == "The Rust Coyotes"
    assert m.remainder == "sad ballads"


def test_empty_catalog() -> None:
    assert ArtistIndex([]).recognize("nova drift") is None
