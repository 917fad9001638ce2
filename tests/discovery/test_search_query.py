"""Reading negations out of search queries and metadata."""

from __future__ import annotations

import pytest

from tonearm.discovery.fts import fold, match_expression, query_terms
from tonearm.discovery.query import expand_negated, parse_query


@pytest.mark.parametrize(
    ("query", "positive", "negated"),
    [
        ("chill lo-fi beats no vocals", "chill lofi beats instrumental", ["vocals"]),
        ("ambient without drums", "ambient beatless", ["drums"]),
        ("upbeat rock, not metal", "upbeat rock,", ["metal"]),
        ("no vocals or drums", "instrumental beatless", ["vocals", "drums"]),
        ("epic orchestral -choir", "epic orchestral instrumental", ["choir"]),
        ("Non-vocal jazz", "jazz instrumental", ["vocal"]),
        ("something but not rock", "something", ["rock"]),
        ("dark cinematic tension", "dark cinematic tension", []),
        ("not too fast", "not too fast", []),  # not a negated term: left alone
        ("lo-fi hip-hop", "lofi hiphop", []),  # hyphens inside words are not "minus"
    ],
)
def test_parse_query(query: str, positive: str, negated: list[str]) -> None:
    pq = parse_query(query)
    assert pq.positive == positive
    assert pq.negated == negated


def test_negated_words_expand_to_synonyms() -> None:
    assert {"vocal", "vocals", "singing", "voice", "choir"} <= expand_negated("vocals")
    assert {"drum", "drums", "percussion"} <= expand_negated("drumming")
    assert {"rock", "rocks"} <= expand_negated("rock")
    assert "rocket" not in expand_negated("rock")


def test_fold_and_terms() -> None:
    assert fold("Lo-Fi Hip Hop Café") == "lofi hiphop cafe"
    assert query_terms("Some chill music for the lo-fi café") == ["chill", "lofi", "cafe"]


@pytest.mark.parametrize("hostile", ['"', "a OR b", "NEAR(x y)", "col:x", "*", "^a", "x'--"])
def test_match_expression_never_passes_fts_syntax(hostile: str) -> None:
    expr = match_expression(query_terms(hostile))
    if expr is not None:
        inner = expr.split(":", 1)[1]
        assert all(part.strip('" ()').isalnum() for part in inner.split(" OR "))
