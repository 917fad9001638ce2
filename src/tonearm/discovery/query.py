"""Reading a search query: negations ("no vocals", "not rock", "without drums") apart from
what is wanted.

Text embeddings handle negation badly ("no vocals" lands next to "vocals"), so negated words
are taken out of the text that is embedded and matched, and honoured lexically by the
search: a track whose metadata says what the user does not want is dropped, one whose audio
description says it is demoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tonearm.discovery.fts import STOPWORDS, fold

_NEGATORS = r"(?:no|not|without|w/o|non|minus|except|excluding|exclude|avoid|nothing|zero|sans)"
_NEG = re.compile(
    rf"(?:(?<=\s)|^)(?:but\s+)?{_NEGATORS}[\s\-]+"
    r"(?P<terms>[^\W_]+(?:\s*(?:,|or|nor|and|/)\s*[^\W_]+)*)"
)
_MINUS = re.compile(r"(?:(?<=\s)|^)-(?P<terms>[^\W_]+)")
_NOT_A_TERM = frozenset(
    ["too", "very", "so", "much", "more", "less", "than", "any", "a", "an", "the"]
)

# What a negated word also rules out (folded tokens).
NEGATION_SYNONYMS: dict[str, frozenset[str]] = {
    "vocal": frozenset(
        [
            "vocal",
            "vocals",
            "voice",
            "voices",
            "singing",
            "singer",
            "singers",
            "sung",
            "lyrics",
            "lyric",
            "vox",
            "choir",
            "rap",
            "rapping",
            "acapella",
        ]
    ),
    "drum": frozenset(
        [
            "drum",
            "drums",
            "drumming",
            "drummer",
            "percussion",
            "percussive",
            "breakbeat",
            "breakbeats",
        ]
    ),
    "guitar": frozenset(["guitar", "guitars"]),
    "piano": frozenset(["piano", "pianos"]),
    "synth": frozenset(["synth", "synths", "synthesizer", "synthesizers"]),
    "beat": frozenset(["beat", "beats", "drum", "drums", "percussive"]),
}
# Words that say the negated thing is absent, added to what is wanted.
POSITIVE_FOR_NEGATED: dict[str, str] = {"vocal": "instrumental", "drum": "beatless"}


def _stem(word: str) -> str:
    for suf in ("ing", "es", "s"):
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            base = word[: -len(suf)]
            if suf == "ing" and base in ("sing", "drumm"):
                return {"sing": "vocal", "drumm": "drum"}[base]
            return base
    return word


def expand_negated(word: str) -> frozenset[str]:
    """The folded words that count as ``word`` when it is negated."""
    w = fold(word)
    stem = _stem(w)
    for key, syns in NEGATION_SYNONYMS.items():
        if w in syns or stem == key:
            return syns
    return frozenset({w, stem, stem + "s", stem + "es"})


@dataclass
class ParsedQuery:
    """A query split into what is wanted and what is not.

    Attributes
    ----------
    text : str
        The query as given.
    positive : str
        The query without its negations (what is embedded and keyword-matched), plus
        words implied by them ("no vocals" -> "instrumental").
    negated : list[str]
        The negated words, folded, in order ("no vocals or drums" -> ["vocals", "drums"]).
    excluded : frozenset[str]
        Every folded word that matches a negated one (with synonyms).
    """

    text: str
    positive: str
    negated: list[str] = field(default_factory=list)
    excluded: frozenset[str] = frozenset()


def parse_query(text: str) -> ParsedQuery:
    q = fold(" ".join(text.split()))
    negated: list[str] = []
    implied: list[str] = []

    def take(m: re.Match[str]) -> str:
        words = [w for w in re.split(r"[\s,/]+", m.group("terms")) if w]
        kept = []
        for w in words:
            if w in ("or", "nor", "and"):
                continue
            if w in _NOT_A_TERM or (w in STOPWORDS and w not in NEGATION_SYNONYMS):
                return m.group(0)  # "not too fast", "no more than": leave it alone
            kept.append(w)
        for w in kept:
            if w not in negated:
                negated.append(w)
            key = _stem(w)
            for k, syns in NEGATION_SYNONYMS.items():
                if w in syns or key == k:
                    key = k
                    break
            if key in POSITIVE_FOR_NEGATED:
                implied.append(POSITIVE_FOR_NEGATED[key])
        return " "

    positive = _NEG.sub(take, q)
    positive = _MINUS.sub(take, positive)
    positive = " ".join(positive.split() + [w for w in implied if w not in positive.split()])
    excluded: set[str] = set()
    for w in negated:
        excluded |= expand_negated(w)
    return ParsedQuery(text, positive, negated, frozenset(excluded))
