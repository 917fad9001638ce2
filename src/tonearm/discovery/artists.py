"""Recognise a catalog artist named in a search query (fuzzy, case- and accent-insensitive).

"nova drift", "music like Nova Drift", "songs by nóva drfit" all name the artist
"Nova Drift". A name must be the whole query (apart from filler such as "music like"), or
follow a cue ("like", "by", "similar to", "in the style of"), or, for names of two or more
words, appear inside the query; a one-word artist named "Ember" is not recognised in
"ember glow ambient" (that is a description), but is in "sounds like ember".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz, process

# How close (0-100, rapidfuzz ratio on normalised names) a span must be to an artist name.
WHOLE_QUERY_MIN = 85.0
CUED_MIN = 85.0
INSIDE_MIN = 92.0

_CUES = re.compile(
    r"\b(?:(?:sounds?|sounding|something|music|songs?|tracks?|stuff)\s+)?"
    r"(?:like|by|from|similar\s+to|in\s+the\s+style\s+of|style\s+of|inspired\s+by|"
    r"reminiscent\s+of|a\s+la|vibes?\s+of)\s+(?P<name>.+)$"
)
_SUFFIX = re.compile(r"^(?P<name>.+?)\s+(?:style|vibes?|type\s+beat|sound|inspired)$")
_FILLER = frozenset(
    [
        "music",
        "songs",
        "song",
        "tracks",
        "track",
        "stuff",
        "artist",
        "band",
        "the",
        "by",
        "like",
        "similar",
        "to",
        "sounds",
        "sound",
        "more",
        "from",
        "please",
        "play",
    ]
)


def normalize_name(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, single-spaced."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).casefold()
    t = re.sub(r"[^\w]+|_", " ", t)
    return " ".join(t.split())


@dataclass
class ArtistMatch:
    """An artist recognised in a query; ``remainder`` is the rest of the query."""

    name: str
    score: float
    remainder: str


class ArtistIndex:
    """Catalog artist names, normalised once, for fast fuzzy lookup."""

    def __init__(self, names: list[str]) -> None:
        by_norm: dict[str, str] = {}
        for n in names:
            k = normalize_name(n)
            # "The Rust Coyotes" is also found as "rust coyotes"
            for key in (k, k[4:] if k.startswith("the ") else ""):
                if key and key not in by_norm:
                    by_norm[key] = n
        self.by_norm = by_norm
        self.norms = list(by_norm)
        self.multiword = [k for k in self.norms if " " in k]

    def _best(self, span: str, choices: list[str], cutoff: float) -> tuple[str, float] | None:
        if not span or not choices:
            return None
        if span in self.by_norm:
            return span, 100.0
        if len(span) < 6:  # "rock" must not become "Rocko": short names match exactly only
            return None
        hit = process.extractOne(span, choices, scorer=fuzz.ratio, score_cutoff=cutoff)
        return (hit[0], float(hit[1])) if hit else None

    def recognize(self, query: str) -> ArtistMatch | None:
        """The artist the query names, or None."""
        q = normalize_name(query)
        if not q or not self.norms:
            return None
        words = q.split()
        core = " ".join(w for w in words if w not in _FILLER)
        found = self._best(core, self.norms, WHOLE_QUERY_MIN) or self._best(
            q, self.norms, WHOLE_QUERY_MIN
        )
        if found:
            return ArtistMatch(self.by_norm[found[0]], found[1], "")

        for pat in (_CUES, _SUFFIX):
            m = pat.search(q)
            if m:
                span = m.group("name").strip()
                found = self._best(span, self.norms, CUED_MIN)
                if found:
                    rest = (q[: m.start()] + " " + q[m.end() :]).strip()
                    return ArtistMatch(self.by_norm[found[0]], found[1], " ".join(rest.split()))
                # the cue may be followed by more words: "like nova drift but slower"
                sub = span.split()
                for n in range(min(len(sub), 6), 0, -1):
                    found = self._best(" ".join(sub[:n]), self.norms, CUED_MIN)
                    if found:
                        rest = q[: m.start()] + " " + " ".join(sub[n:])
                        return ArtistMatch(self.by_norm[found[0]], found[1], " ".join(rest.split()))

        # a multi-word name anywhere in the query
        best: tuple[str, float, int, int] | None = None
        for n in range(2, min(len(words), 6) + 1):
            for i in range(len(words) - n + 1):
                found = self._best(" ".join(words[i : i + n]), self.multiword, INSIDE_MIN)
                if found and (best is None or found[1] > best[1]):
                    best = (found[0], found[1], i, i + n)
        if best:
            rest = " ".join(words[: best[2]] + words[best[3] :])
            return ArtistMatch(self.by_norm[best[0]], best[1], rest)
        return None
