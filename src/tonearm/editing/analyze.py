"""Analyze: duration, tempo, beat boundaries, beat self-similarity and per-beat features.

The result object is Audjust's ``result`` (see the seed): ``duration`` (s, 2 decimals),
``tempo`` (BPM, integer), ``boundaries`` (s, 2 decimals), ``similarity`` ({data, min, max},
see :mod:`tonearm.editing.similarity`) and, when asked, ``features`` (13 values per beat).

Boundaries start at 0.0 (Audjust's do too: the intro before the first beat is segment 0),
continue with every tracked beat and end with the end of the audio (the duration rounded
down to 10 ms), so segment ``i`` runs from ``boundaries[i]`` to ``boundaries[i + 1]`` and
an edit that ends on the last boundary keeps the song's real ending, last beat and decay
included. The seed's example does the same: its last segment, beats ``[287, 291]``, ends
at 175.24 s in a song of 175.26 s. The similarity matrix, the features and the boundaries
all have the same N (the end boundary's row describes the last frames of the audio).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.signal import Signal
from tonearm.core.features.analysis_input import AnalysisInput
from tonearm.core.features.beats import Beats
from tonearm.core.features.beatsync import beat_features
from tonearm.core.features.ssm import beat_similarity
from tonearm.editing.similarity import encode_similarity

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

RAW_FEATURES = "raw_features"
# The beat-by-beat matrix grows with the square of the length: 30 min at 200 BPM is 6000
# beats, a 144 MB matrix and an 18 M character string. Longer inputs are refused by the
# API and analyzed without the matrix at ingest.
MAX_SIMILARITY_DURATION_S = 30 * 60.0
MIN_FIRST_BEAT_S = 0.05  # a first beat this close to 0 is the 0.0 boundary itself


@dataclass(frozen=True)
class BeatAnalysis:
    """Everything analyze computes, before formatting for the wire."""

    duration_s: float
    beats: Beats
    boundaries_s: np.ndarray
    similarity: np.ndarray  # (N, N) in [0, 1]
    raw_features: np.ndarray  # (N, 13)

    @property
    def bpm(self) -> float:
        return self.beats.bpm


def boundaries_from_beats(beats_s: np.ndarray, duration_s: float | None = None) -> np.ndarray:
    """0.0, the beats and, given ``duration_s``, the end of the audio (rounded down to
    10 ms), all rounded to 10 ms and strictly increasing. Beats at or past the end of the
    audio are dropped (the end boundary is the last one)."""
    b = np.round(np.asarray(beats_s, dtype=np.float64), 2)
    b = b[b >= MIN_FIRST_BEAT_S]
    if duration_s is not None:
        end = math.floor(duration_s * 100.0 + 1e-6) / 100.0
        b = np.concatenate([b[b < end], [end]]) if end > 0 else b
    b = np.concatenate([[0.0], b])
    keep = np.concatenate([[True], np.diff(b) > 0])
    return b[keep]


def analyze_signal(source: Signal | AnalysisInput, *, similarity: bool = True) -> BeatAnalysis:
    """Track beats and compute the beat-synchronous similarity and features of ``source``.

    The spectrogram (mono, 22,050 Hz) and the beats come from the :class:`AnalysisInput`,
    so at ingest they are the ones every other analyzer reads. With ``similarity=False``
    the matrix is left empty, shape (0, 0) (for very long files, where N x N would not
    fit in memory).
    """
    inp = AnalysisInput.of(source)
    spec = inp.spectrogram()
    beats = inp.beats()
    bounds = boundaries_from_beats(beats.times_s, inp.duration_s)
    feats = beat_features(spec, bounds)
    sim = beat_similarity(feats) if similarity else np.zeros((0, 0))
    return BeatAnalysis(inp.duration_s, beats, bounds, sim, feats.raw_vectors())


def result_object(analysis: BeatAnalysis, *, raw_features: bool = False) -> dict[str, Any]:
    """Audjust's ``result`` for an analysis."""
    out: dict[str, Any] = {
        "duration": round(analysis.duration_s, 2),
        "tempo": int(round(analysis.bpm)),
        "similarity": encode_similarity(analysis.similarity)
        if analysis.similarity.shape[0] == len(analysis.boundaries_s)
        else None,
        "boundaries": [round(float(x), 2) for x in analysis.boundaries_s],
    }
    if raw_features:
        out["features"] = [[round(float(v), 3) for v in row] for row in analysis.raw_features]
    return out


def analyze(signal: Signal, *, raw_features: bool = False) -> dict[str, Any]:
    """The Audjust ``result`` object for ``signal`` (library entry point)."""
    return result_object(analyze_signal(signal), raw_features=raw_features)


# -- sources -----------------------------------------------------------------------------
_UPLOAD_PATH = re.compile(r"/uploads/([a-z0-9]{32})(?:/|$)")


def local_upload_path(catalog: Catalog, url: str) -> Path | None:
    """The file behind one of our own ``/upload`` URLs (read from disk, not over HTTP)."""
    from tonearm.jobs.uploads import resolve_upload

    m = _UPLOAD_PATH.search(url.split("?", 1)[0])
    if not m:
        return None
    return resolve_upload(catalog, m.group(1))


def load_source(catalog: Catalog, url: str) -> Signal:
    """Download (SSRF-guarded) and decode ``url``.

    Raises
    ------
    JobFailed
        With a message saying what went wrong (download, size, not audio, too long).
    """
    from tonearm.catalog.decoding import decode_audio
    from tonearm.core.audio.limits import Purpose
    from tonearm.jobs.queue import JobFailed
    from tonearm.net.fetch import fetch_bytes

    s = catalog.settings
    local = local_upload_path(catalog, url)
    try:
        data: bytes | Path
        if local is not None:
            data = local
        else:
            data = fetch_bytes(
                url,
                max_bytes=s.fetch_max_bytes,
                timeout_s=s.fetch_timeout_s,
                allow_private=s.allow_private_urls,
                allowlist=s.private_allowlist,
            )
        return decode_audio(catalog, data, Purpose.CATALOG_FILE)
    except AudioError as e:
        raise JobFailed(source_failure_message(e)) from e


def source_failure_message(e: AudioError) -> str:
    if e.reason == "bad_url":
        return f"Failed to retrieve the source file: {e.message}"
    if e.reason == "too_large":
        return f"The source file is too large: {e.message}"
    if e.reason == "too_long":
        return f"The source file is too long: {e.message}"
    return f"The source file is not audio we can decode: {e.message}"
