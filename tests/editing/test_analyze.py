"""Beat tracking and analysis on audio with known beat times."""

from __future__ import annotations

import numpy as np
import pytest

from tonearm.catalog.analyzers import select_analyzers
from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import ingest_bytes
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.core.features.beats import track_beats
from tonearm.demo.synth.basic import click_track
from tonearm.demo.synth.song import SongSpec, render_song
from tonearm.editing.analyze import analyze, analyze_signal
from tonearm.editing.analyzer import stored_result
from tonearm.editing.credits import analyze_cost, export_cost, resize_cost
from tonearm.editing.similarity import decode_similarity


def f_measure(ref: np.ndarray, est: np.ndarray, window_s: float = 0.07) -> float:
    """Beat F-measure: each reference beat matches at most one estimate within the window
    (as mir_eval's, which is a bench-only dependency)."""
    if len(ref) == 0 or len(est) == 0:
        return 0.0
    used = np.zeros(len(est), dtype=bool)
    hits = 0
    for r in ref:
        d = np.abs(est - r)
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= window_s:
            used[j] = True
            hits += 1
    p, rc = hits / len(est), hits / len(ref)
    return 0.0 if hits == 0 else 2 * p * rc / (p + rc)


@pytest.mark.parametrize("bpm", [72.0, 96.0, 128.0, 174.0])
def test_click_track_tempo_and_beats(bpm: float) -> None:
    ref = np.arange(0.3, 20.0, 60.0 / bpm)
    sig = click_track(ref, 20.5, 44100)
    b = track_beats(sig.mono(), sig.sr)
    assert abs(b.bpm - bpm) / bpm < 0.04
    # every beat within 20 ms
    assert len(b.times_s) == len(ref)
    assert np.max(np.abs(b.times_s - ref)) < 0.02


def test_tempo_change_is_followed() -> None:
    ibi = np.linspace(60 / 100, 60 / 130, 50)
    ref = 0.5 + np.concatenate([[0.0], np.cumsum(ibi)])
    sig = click_track(ref, ref[-1] + 0.5, 22050)
    b = track_beats(sig.mono(), sig.sr)
    assert f_measure(ref, b.times_s) >= 0.95
    assert f_measure(ref, ref + 0.1) == 0.0 and f_measure(ref, ref + 0.05) == 1.0


@pytest.mark.parametrize(
    "spec",
    [
        SongSpec(style="rock", bpm=112, bars=8, seed=2, humanize_ms=8),
        SongSpec(style="jazz", bpm=150, bars=8, seed=1),  # 3/4
        SongSpec(style="orchestral", bpm=90, bars=6, seed=3, humanize_ms=10),
    ],
    ids=["rock", "jazz-waltz", "orchestral"],
)
def test_synth_songs(spec: SongSpec) -> None:
    sig, beats, *_ = render_song(spec)
    ref = beats[:-1]
    b = track_beats(sig.mono(), sig.sr)
    assert abs(b.bpm - spec.bpm) / spec.bpm < 0.04
    assert f_measure(ref, b.times_s, 0.07) >= 0.9


def test_silence_and_tiny_inputs() -> None:
    assert track_beats(np.zeros(22050 * 3, np.float32), 22050).times_s.size == 0
    res = analyze(Signal(np.zeros(22050, np.float32), 22050))
    # no beats: one segment, from 0.0 to the end of the audio
    assert res["boundaries"] == [0.0, 1.0] and res["tempo"] == 0
    assert len(res["similarity"]["data"]) == 3 and res["similarity"]["data"][0] == "~"


def test_boundaries_end_at_the_end_of_the_audio() -> None:
    # as the seed's example (last segment ends at 175.24 s of a 175.26 s song): the last
    # boundary is the end, so an edit ending there keeps the last beat and its decay
    ref = np.arange(0.5, 16.0, 0.5)
    sig = click_track(ref, 16.537, 22050)
    res = analyze(sig)
    b = res["boundaries"]
    assert b[0] == 0.0 and b[-1] == 16.53 <= sig.duration_s
    assert b[-2] == pytest.approx(ref[-1], abs=0.03)
    n = len(b)
    assert len(res["similarity"]["data"]) == n * (n + 1) // 2


def test_analysis_shapes_and_similarity() -> None:
    ref = np.arange(0.5, 16.0, 0.5)
    sig = click_track(ref, 16.5, 22050)
    a = analyze_signal(sig)
    res = analyze(sig, raw_features=True)
    n = len(res["boundaries"])
    assert n == len(a.boundaries_s) == len(res["features"])
    assert res["boundaries"] == sorted(res["boundaries"])
    assert all(round(x, 2) == x for x in res["boundaries"])
    m = decode_similarity(res["similarity"])
    assert m.shape == (n, n) and np.allclose(np.diag(m), 1.0)
    assert np.allclose(m, a.similarity, atol=1.5 / 94 + 1e-6)
    assert all(0.0 <= v <= 1.0 for row in res["features"] for v in row)


def test_repeated_material_is_similar() -> None:
    # A B A: beats of the two A sections resemble each other more than they resemble B
    sr = 22050
    t = np.arange(int(sr * 0.5)) / sr
    env = np.exp(-t * 8)

    def beat(f: float) -> np.ndarray:
        return (np.sin(2 * np.pi * f * t) * env).astype(np.float32)

    a = np.concatenate([beat(f) for f in (262, 330, 392, 330) * 3])
    bsec = np.concatenate([beat(f) for f in (220, 277, 175, 147) * 3])
    sig = Signal(np.concatenate([a, bsec, a]), sr)
    an = analyze_signal(sig)
    bounds = an.boundaries_s
    sec = np.searchsorted([6.0, 12.0], bounds[1:-2], side="right")
    idx = np.arange(1, len(bounds) - 2)
    s = an.similarity
    a1, bb, a2 = idx[sec == 0], idx[sec == 1], idx[sec == 2]
    same = np.mean([s[i, j] for i in a1 for j in a2])
    diff = np.mean([s[i, j] for i in a1 for j in bb])
    assert same > diff + 0.1


def test_credit_costs() -> None:
    assert analyze_cost(175.26, False) == 30 and analyze_cost(175.26, True) == 45
    assert analyze_cost(0.5, False) == 10 and analyze_cost(60.0, False) == 10
    assert analyze_cost(60.01, False) == 20
    assert resize_cost(30) == 4 and export_cost(0) == 1


def test_ingest_stores_bpm_and_boundaries(catalog: Catalog) -> None:
    ref = np.arange(0.5, 14.0, 0.5)
    wav = encode(click_track(ref, 14.5, 22050), "wav")
    outcome = ingest_bytes(
        catalog, wav, filename="click120.wav", kind="music", analyzers=select_analyzers(["beats"])
    )
    assert outcome.status == "added" and outcome.asset_id, outcome.reason
    got = catalog.store.get_asset(outcome.asset_id)
    assert got is not None and got.bpm is not None and abs(got.bpm - 120) < 2
    stored = stored_result(catalog, got.asset_id, raw_features=True)
    assert stored is not None
    assert stored["boundaries"][0] == 0.0 and abs(stored["tempo"] - 120) <= 1
    n = len(stored["boundaries"])
    assert len(stored["similarity"]["data"]) == n * (n + 1) // 2 and len(stored["features"]) == n
