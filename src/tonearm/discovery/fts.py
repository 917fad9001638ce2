"""The stored keyword index of music (``search_fts``) and the lexical helpers search shares.

The ``search_fts`` table (migration 0006) holds one row per music asset (rowid = asset_id)
with its metadata and the words the audio analysis supports (column ``sound``). On SQLite
it is an FTS5 table; on PostgreSQL a plain table with a generated, GIN-indexed ``tsvector``
(``migrations_pg/0006``). It is kept in sync explicitly by :func:`sync`, called when the
search index sees the catalog change. Query-time ranking does not read it: it runs on the
in-memory BM25F of :mod:`tonearm.discovery.bm25`, built from the same rows on both backends.
:func:`keyword_search` and :func:`matching_ids` query it directly (SQLite FTS5 only).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tonearm.storage.search import SEARCH_COLUMNS as FTS_COLUMNS

if TYPE_CHECKING:
    from tonearm.storage.base import Store

# Columns a keyword query matches ("lacks" is only searched for negated words).
MATCH_COLUMNS = FTS_COLUMNS[:-1]
# BM25 column weights, in FTS_COLUMNS order: what a track is called and filed under counts
# more than its free text and far more than the words derived from its audio.
BM25_WEIGHTS = (4.0, 3.0, 1.5, 4.0, 2.5, 1.0, 0.5, 1.0)

# Multi-word spellings folded into one token, on documents and queries alike.
_COMPOUNDS = (
    (re.compile(r"\blo[\s\-_]*fi\b"), "lofi"),
    (re.compile(r"\bhip[\s\-_]*hop\b"), "hiphop"),
    (re.compile(r"\bchip[\s\-_]*tunes?\b"), "chiptune"),
    (re.compile(r"\bsynth[\s\-_]*wave\b"), "synthwave"),
    (re.compile(r"\bdrum[\s\-_]*(?:and|&|n|'n')[\s\-_]*bass\b|\bdnb\b"), "drumandbass"),
    (re.compile(r"\b8[\s\-_]*bit\b"), "8bit"),
    (re.compile(r"\bpost[\s\-_]*rock\b"), "postrock"),
)

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "with",
        "from",
        "into",
        "some",
        "any",
        "me",
        "my",
        "i",
        "we",
        "you",
        "our",
        "your",
        "want",
        "need",
        "looking",
        "look",
        "find",
        "give",
        "get",
        "play",
        "something",
        "that",
        "this",
        "these",
        "those",
        "is",
        "are",
        "be",
        "it",
        "its",
        "please",
        "track",
        "tracks",
        "song",
        "songs",
        "music",
        "tune",
        "tunes",
        "piece",
        "pieces",
        "sound",
        "sounds",
        "sounding",
        "kind",
        "type",
        "vibe",
        "vibes",
        "style",
        "like",
        "similar",
        "very",
        "really",
        "bit",
        "more",
        "less",
    ]
)


def fold(text: str) -> str:
    """Lower-case, accents removed, compounds folded: the form every lexical match uses."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).casefold()
    for pat, rep in _COMPOUNDS:
        t = pat.sub(rep, t)
    return t


def tokens(text: str) -> list[str]:
    """Word tokens of folded text (letters and digits)."""
    return re.findall(r"[^\W_]+", fold(text))


def query_terms(text: str) -> list[str]:
    """Content words of a query, in order, without duplicates or stopwords."""
    out: list[str] = []
    for t in tokens(text):
        if t not in STOPWORDS and t not in out:
            out.append(t)
    return out


def match_expression(terms: Iterable[str], columns: Iterable[str] = MATCH_COLUMNS) -> str | None:
    """An FTS5 MATCH string: any of the terms in any of ``columns`` (terms are quoted and
    only letters/digits, so user text is never FTS syntax)."""
    quoted = [f'"{t}"' for t in terms if t and re.fullmatch(r"[^\W_]+", t)]
    if not quoted:
        return None
    return f"{{{' '.join(columns)}}} : ({' OR '.join(quoted)})"


def fts_row(
    fields: Mapping[str, Any], sound_words: Iterable[str], lacks: Iterable[str] = ()
) -> tuple[str, ...]:
    """Column values for one asset, folded like queries are."""
    vals = [fold(str(fields.get(c) or "")) for c in FTS_COLUMNS[:-2]]
    vals.append(fold(" ".join(sound_words)))
    vals.append(fold(" ".join(lacks)))
    return tuple(vals)


def sync(store: Store, rows: Mapping[int, tuple[str, tuple[str, ...]]]) -> int:
    """Make ``search_fts`` hold exactly ``rows`` ({asset_id: (version, column values)}); only
    rows whose version changed are rewritten. Returns the number of rows written or deleted
    (:meth:`~tonearm.storage.search.SearchQueries.sync_search_docs`)."""
    return store.sync_search_docs(rows)


def keyword_search(
    store: Store, terms: list[str], limit: int = 1000, columns: Iterable[str] = MATCH_COLUMNS
) -> list[tuple[int, float]]:
    """Best ``limit`` (asset_id, bm25) for any of ``terms`` in ``columns``, best first
    (bm25: lower is better)."""
    expr = match_expression(terms, columns)
    if expr is None:
        return []
    return store.fts_keyword_search(expr, BM25_WEIGHTS, limit)


def matching_ids(store: Store, terms: Iterable[str], columns: Iterable[str]) -> set[int]:
    """Every asset with any of ``terms`` in ``columns``."""
    expr = match_expression(terms, columns)
    if expr is None:
        return set()
    return store.fts_matching_ids(expr)
