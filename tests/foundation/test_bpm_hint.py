"""A BPM stated in the catalog metadata decides the tempo's metrical level at ingest."""

from __future__ import annotations

import numpy as np

from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import ingest_bytes
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal


def _clicks(bpm: float, seconds: float = 30.0, sr: int = 22050) -> Signal:
    """Loud clicks on every beat and softer ones halfway: double time is as plausible."""
    y = np.zeros(int(seconds * sr), np.float32)
    click = np.hanning(200).astype(np.float32) * np.sin(np.arange(200) * 0.9).astype(np.float32)
    beat = 60.0 / bpm
    t = 0.0
    while t < seconds - 0.1:
        i = int(t * sr)
        y[i : i + 200] += 0.9 * click
        j = int((t + beat / 2) * sr)
        y[j : j + 200] += 0.5 * click
        t += beat
    return Signal(y, sr)


def test_metadata_bpm_decides_the_metrical_level(catalog: Catalog) -> None:
    sig = _clicks(80.0)
    # the same audio twice (slightly different bytes), stated at either metrical level:
    # each keeps the level its metadata gives
    for gain, stated in ((1.0, 80.0), (0.99, 160.0)):
        data = encode(Signal(sig.samples * gain, sig.sr), "wav")
        out = ingest_bytes(
            catalog, data, filename=f"{stated}.wav", kind="music", metadata={"bpm": stated}
        )
        assert out.status == "added"
        beats = catalog.store.get_analysis(str(out.asset_id), "beats")
        assert beats is not None
        tempo = float(beats.data["tempo"])
        assert abs(tempo - stated) <= stated * 0.04, (stated, tempo)
        # every analyzer reads the same beats: the search words' tempo agrees
        words = catalog.store.get_analysis(str(out.asset_id), "search_text")
        assert words is not None
        word_tempo = float(words.data["features"]["tempo_bpm"])
        assert abs(word_tempo - stated) <= stated * 0.04, (stated, word_tempo)
