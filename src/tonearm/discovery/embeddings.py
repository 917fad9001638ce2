"""Audio embeddings of catalog assets: which model is in use, and every stored vector.

Each asset's vector is stored as its ``embedding`` analysis: ``blob`` = little-endian float32,
L2-normalized; ``data`` = ``{"model": <model id>, "dim": N}``. Vectors of different models are
never compared; ``tonearm reindex`` recomputes the ones that are not from the current model.

Used by similar music / similar SFX here and by natural-language search (issue 7).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.core.audio.signal import Signal
from tonearm.core.embeddings import AudioEmbedder, audio_embedder, from_blob, to_blob
from tonearm.settings import Settings

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

log = logging.getLogger("tonearm.discovery")

ANALYSIS_NAME = "embedding"
KINDS = ("music", "sfx")


def embedding_preference(catalog: Catalog | None) -> str:
    """``settings.audio_embedding`` (auto|dsp|model): the catalog's, else the environment's
    (``TONEARM_AUDIO_EMBEDDING``, read by Settings)."""
    return (catalog.settings if catalog is not None else Settings()).audio_embedding


def audio_embedding_model(catalog: Catalog | None, kind: str = "music") -> AudioEmbedder:
    """The audio embedding model in use for ``kind`` (loaded once per process); records
    which one in ``catalog.cache["models_status"]`` (shown by /healthz)."""
    choice = audio_embedder(kind, embedding_preference(catalog))
    if catalog is not None:
        record_models_status(catalog)
    return choice.embedder


def models_status(catalog: Catalog | None = None) -> dict[str, Any]:
    """What /healthz says about the audio embedding models, per kind."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        try:
            c = audio_embedder(kind, embedding_preference(catalog))
        except Exception as e:  # "model" preference and no model: say so, do not crash
            out[kind] = {"model": None, "status": "unavailable", "reason": str(e)}
            continue
        out[kind] = {
            "model": c.embedder.model_id,
            "dim": c.embedder.dim,
            "status": "fallback" if c.fallback else "ok",
            "reason": c.reason,
        }
    return out


def record_models_status(catalog: Catalog) -> dict[str, Any]:
    status = catalog.cache.setdefault("models_status", {})
    if "audio_embedding" not in status:
        status["audio_embedding"] = models_status(catalog)
        for kind, s in status["audio_embedding"].items():
            log.info("audio embedding for %s: %s (%s)", kind, s.get("model"), s.get("reason"))
    return status


def embed_signal(catalog: Catalog | None, signal: Signal, kind: str) -> np.ndarray:
    """The vector of any signal (e.g. a query clip), with the model used for ``kind``."""
    return audio_embedding_model(catalog, kind).embed(signal)


def pack(vector: np.ndarray, model_id: str) -> tuple[dict[str, Any], bytes]:
    """(data, blob) of an ``embedding`` analysis."""
    v = np.asarray(vector, dtype=np.float32)
    return {"model": model_id, "dim": int(v.shape[0])}, to_blob(v)


@dataclass
class VectorSet:
    """Stored vectors of one kind and model.

    Attributes
    ----------
    asset_ids : list[str]
    matrix : np.ndarray, shape (n, dim), float32, rows L2-normalized
    model_id : str
    """

    asset_ids: list[str]
    matrix: np.ndarray
    model_id: str


def asset_vector(catalog: Catalog, asset_id: str) -> tuple[str, np.ndarray] | None:
    """(model id, vector) of one asset, or None when it has no embedding."""
    a = catalog.store.get_analysis(asset_id, ANALYSIS_NAME)
    if a is None or a.blob is None:
        return None
    return str(a.data.get("model", "")), from_blob(a.blob)


def all_vectors(catalog: Catalog, kind: str, model_id: str | None = None) -> VectorSet:
    """Every stored vector of ``kind`` made by ``model_id`` (default: the model in use)."""
    if model_id is None:
        model_id = audio_embedding_model(catalog, kind).model_id
    ids: list[str] = []
    vecs: list[np.ndarray] = []
    for a in catalog.store.iter_analyses(ANALYSIS_NAME, kind=kind):
        if (a.data or {}).get("model") != model_id or a.blob is None:
            continue
        ids.append(a.asset_id)
        vecs.append(from_blob(a.blob))
    dim = vecs[0].shape[0] if vecs else int(audio_embedding_model(catalog, kind).dim)
    m = np.stack(vecs) if vecs else np.zeros((0, dim), dtype=np.float32)
    return VectorSet(ids, m, model_id)
