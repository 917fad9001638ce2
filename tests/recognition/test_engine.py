"""Fingerprint engine: matching under degradations, no false match, index lifecycle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soxr
from test_engine_audio import add_noise, random_song

from tonearm.core.audio.decode import decode
from tonearm.core.audio.encode import encode_mp3
from tonearm.core.audio.signal import Signal
from tonearm.recognition import fingerprint as fp
from tonearm.recognition.index import FingerprintIndex
from tonearm.recognition.service import match_peaks, query_peaks

N_SONGS = 6


@pytest.fixture(scope="module")
def songs() -> list[Signal]:
    return [random_song(seed, 30.0) for seed in range(N_SONGS)]


@pytest.fixture(scope="module")
def index(songs: list[Signal]) -> FingerprintIndex:
    ix = FingerprintIndex()
    for i, s in enumerate(songs):
        h, t = fp.fingerprint(s)
        ix.add(f"song{i}", h, t)
    return ix


def recognize(ix: FingerprintIndex, sig: Signal):  # type: ignore[no-untyped-def]
    return match_peaks(ix, query_peaks(sig))


def test_exact_excerpt_found_with_timecode(index, songs) -> None:
    m = recognize(index, songs[3].slice_s(12.0, 20.0))
    assert [x.asset_id for x in m] == ["song3"]
    assert abs(m[0].offset_s - 12.0) <= 0.1
    assert m[0].score > 0.99
    assert m[0].speed == pytest.approx(1.0)


def test_noisy_excerpt_found(index, songs) -> None:
    m = recognize(index, add_noise(songs[1].slice_s(5.0, 15.0), snr_db=0.0, seed=3))
    assert m and m[0].asset_id == "song1"
    assert abs(m[0].offset_s - 5.0) <= 0.5


def test_mp3_64k_excerpt_found(index, songs) -> None:
    data = encode_mp3(songs[2].slice_s(8.0, 18.0), 64)
    m = recognize(index, decode(data, isolate=False))
    assert m and m[0].asset_id == "song2"
    assert abs(m[0].offset_s - 8.0) <= 0.5


def test_phone_band_excerpt_found(index, songs) -> None:
    import scipy.signal

    q = songs[4].slice_s(10.0, 20.0)
    sos = scipy.signal.butter(6, [300, 3400], btype="band", fs=q.sr, output="sos")
    y = scipy.signal.sosfilt(sos, q.samples[0]).astype(np.float32)
    m = recognize(index, Signal(soxr.resample(y, q.sr, 8000), 8000))
    assert m and m[0].asset_id == "song4"


@pytest.mark.parametrize("speed", [1.03, 0.97])
def test_speed_change_found_and_estimated(index, songs, speed: float) -> None:
    src = songs[0].slice_s(10.0, 10.0 + 8.0 * speed)
    # played `speed` times faster: pitch and tempo move together
    y = soxr.resample(src.samples[0], src.sr * speed, src.sr)
    m = recognize(index, Signal(y, src.sr))
    assert m and m[0].asset_id == "song0"
    assert abs(m[0].offset_s - 10.0) <= 0.5
    assert m[0].speed == pytest.approx(speed, abs=0.011)


def test_pitch_shift_found(index, songs) -> None:
    import librosa

    q = songs[5].slice_s(4.0, 12.0)
    y = librosa.effects.pitch_shift(q.samples[0], sr=q.sr, n_steps=1.0)
    m = recognize(index, Signal(y, q.sr))
    assert m and m[0].asset_id == "song5"
    assert m[0].pitch_semitones == pytest.approx(1.0, abs=0.2)
    assert m[0].speed == pytest.approx(1.0)


def test_tempo_change_found(index, songs) -> None:
    import librosa

    q = songs[3].slice_s(2.0, 2.0 + 8.0 * 0.95)
    y = librosa.effects.time_stretch(q.samples[0], rate=0.95)
    m = recognize(index, Signal(y, q.sr))
    assert m and m[0].asset_id == "song3"
    assert m[0].speed == pytest.approx(0.95, abs=0.011)
    assert abs(m[0].offset_s - 2.0) <= 0.5


def test_unknown_audio_gives_no_match(index) -> None:
    for seed in (100, 101, 102):
        assert recognize(index, random_song(seed, 10.0)) == []
    noise = np.random.default_rng(0).standard_normal(10 * 22050).astype(np.float32) * 0.1
    assert recognize(index, Signal(noise, 22050)) == []
    assert recognize(index, Signal(np.zeros(5 * 22050, np.float32), 22050)) == []
    assert recognize(index, Signal(np.zeros(10, np.float32), 22050)) == []


def test_top_k_distinct_assets(index, songs) -> None:
    m = match_peaks(index, query_peaks(songs[1].slice_s(0, 8)), top_k=3)
    assert m[0].asset_id == "song1"
    assert len({x.asset_id for x in m}) == len(m)


def test_blob_roundtrip(songs) -> None:
    h, t = fp.fingerprint(songs[0])
    h2, t2 = fp.unpack(fp.pack(h, t))
    assert np.array_equal(h, h2) and np.array_equal(t, t2)
    assert h.max() < (1 << fp.HASH_BITS)


def test_index_add_delete_persist_reload(tmp_path: Path, songs) -> None:
    path = tmp_path / "fp"
    path.mkdir()
    ix = FingerprintIndex(path)
    for i in range(3):
        ix.add(f"a{i}", *fp.fingerprint(songs[i]))
    q1 = query_peaks(songs[1].slice_s(3, 11))
    assert match_peaks(ix, q1)[0].asset_id == "a1"

    # reload from disk (segments only, not yet compacted)
    ix2 = FingerprintIndex.load(path)
    assert ix2 is not None and len(ix2) == 3
    assert match_peaks(ix2, q1)[0].asset_id == "a1"

    # delete: tombstoned immediately, gone after compaction and after reload
    assert ix2.remove("a1")
    assert not ix2.remove("a1")
    assert match_peaks(ix2, q1) == []
    ix2.compact()
    assert match_peaks(ix2, q1) == []
    q2 = query_peaks(songs[2].slice_s(3, 11))
    assert match_peaks(ix2, q2)[0].asset_id == "a2"
    assert sorted(p.name for p in path.iterdir()) == [
        "base.npy",
        "main.npy",
        "manifest.json",
        "starts.npy",
    ]

    ix3 = FingerprintIndex.load(path)
    assert ix3 is not None and sorted(ix3.idx_of) == ["a0", "a2"]
    assert match_peaks(ix3, q1) == []
    assert match_peaks(ix3, q2)[0].asset_id == "a2"
    # add after compaction goes to a segment next to the memory-mapped main array
    ix3.add("a1-again", *fp.fingerprint(songs[1]))
    assert match_peaks(ix3, q1)[0].asset_id == "a1-again"
    assert match_peaks(FingerprintIndex.load(path), q1)[0].asset_id == "a1-again"  # type: ignore[arg-type]


def test_index_replace_same_asset(songs) -> None:
    ix = FingerprintIndex()
    ix.add("x", *fp.fingerprint(songs[0]))
    ix.add("x", *fp.fingerprint(songs[1]))  # re-analysis replaces, never duplicates
    assert len(ix) == 1
    assert match_peaks(ix, query_peaks(songs[0].slice_s(2, 10))) == []
    assert match_peaks(ix, query_peaks(songs[1].slice_s(2, 10)))[0].asset_id == "x"


def test_corrupt_manifest_means_rebuild(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    assert FingerprintIndex.load(tmp_path) is None
    assert FingerprintIndex.load(tmp_path / "missing") is None
