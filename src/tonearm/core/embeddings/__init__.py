"""Audio (and text) embedding models behind one small protocol (:class:`AudioEmbedder`).

``audio_embedder(kind, prefer)`` picks the model for an asset kind:

- ``sfx``: the aisfx CNN, max-pooled over windows (``aisfx-ismir2022/v2-max``), else the DSP
  statistics (``dsp-stats/v1``);
- ``music``: aisfx + beat-synchronous DSP (``music-aisfx+dsp/...``), else ``dsp-music/v1``.

``prefer`` (or ``TONEARM_AUDIO_EMBEDDING``): ``auto`` (default: the model when it loads),
``dsp`` (never load torch), ``model`` (fail if the model cannot load).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from tonearm.core.embeddings.base import (
    AudioEmbedder,
    cosine_to_score,
    from_blob,
    l2_normalize,
    to_blob,
)

log = logging.getLogger("tonearm.embeddings")

__all__ = [
    "AudioEmbedder",
    "ModelChoice",
    "audio_embedder",
    "cosine_to_score",
    "from_blob",
    "l2_normalize",
    "to_blob",
]


@dataclass(frozen=True)
class ModelChoice:
    embedder: AudioEmbedder
    fallback: bool  # True when the DSP model stands in for an unavailable model
    reason: str  # why (e.g. "python package 'torch' is not installed")


def preference(prefer: str | None = None) -> str:
    """The model preference, normalised: ``auto`` (also for None), ``dsp`` or ``model``
    (the caller passes ``settings.audio_embedding``)."""
    p = (prefer or "auto").strip().lower()
    if p not in ("auto", "dsp", "model"):
        raise ValueError(f"audio embedding preference must be auto, dsp or model, got {p!r}")
    return p


@lru_cache(maxsize=8)
def _choose(kind: str, prefer: str) -> ModelChoice:
    from tonearm.core.embeddings.aisfx_model import AisfxEmbedder, ModelUnavailable
    from tonearm.core.embeddings.dsp import DspEmbedder
    from tonearm.core.embeddings.music import MusicEmbedder

    if prefer == "dsp":
        dsp: AudioEmbedder = DspEmbedder() if kind == "sfx" else MusicEmbedder(use_model=False)
        return ModelChoice(dsp, False, "DSP embedding chosen by configuration")
    try:
        model: AisfxEmbedder | MusicEmbedder = (
            AisfxEmbedder(pool="max") if kind == "sfx" else MusicEmbedder(use_model=True)
        )
        model.load()
        return ModelChoice(model, False, "ok")
    except ModelUnavailable as e:
        if prefer == "model":
            raise
        log.warning("aisfx model unavailable (%s): using the DSP-only embedding for %s", e, kind)
        dsp = DspEmbedder() if kind == "sfx" else MusicEmbedder(use_model=False)
        return ModelChoice(dsp, True, str(e))


def audio_embedder(kind: str, prefer: str | None = None) -> ModelChoice:
    """The embedding model for ``kind`` ("music" or "sfx"), loaded once per process."""
    if kind not in ("music", "sfx"):
        raise ValueError(f"kind must be music or sfx, got {kind!r}")
    return _choose(kind, preference(prefer))
