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


def test_bigram_prefilter_changes_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """With thousands of artists a bigram filter skips names that cannot reach the cutoff;
    every answer must equal comparing with all names."""
    import random

    import tonearm.discovery.artists as artists_mod

    rng = random.Random(7)
    syl = ["ka", "lo", "mi", "ra", "ne", "zu", "ta", "vi", "so", "el", "an", "or", "dra", "ven"]

    def word() -> str:
        return "".join(rng.choice(syl) for _ in range(rng.randint(2, 3))).title()

    names = sorted({f"{word()} {word()}" for _ in range(1500)} | {word() for _ in range(300)})

    def typo(s: str) -> str:
        i = rng.randrange(len(s))
        op = rng.choice("sdi")
        c = rng.choice("abcdefghijklmnopqrstuvwxyz")
        return s[:i] + (c if op != "d" else "") + s[i + (op != "i") :]

    queries = []
    for n in rng.sample(names, 60):
        q = n.lower()
        for _ in range(rng.randint(0, 2)):
            q = typo(q)
        queries += [q, f"music like {q}", f"calm {q} piano", f"like {q} but slower"]
    queries += ["dark cinematic tension", "upbeat summer vibes", "slow ambient music"]

    fast = ArtistIndex(names)
    assert fast._multi.matrix is not None  # the filter is in use
    monkeypatch.setattr(artists_mod, "PREFILTER_MIN_NAMES", 10**9)
    brute = ArtistIndex(names)
    assert brute._multi.matrix is None
    found = 0
    for q in queries:
        a, b = fast.recognize(q), brute.recognize(q)
        got = (a.name, a.score, a.remainder) if a else None
        want = (b.name, b.score, b.remainder) if b else None
        assert got == want, q
        found += a is not None
    assert found > len(queries) // 3  # the typo'd names are mostly still recognised
