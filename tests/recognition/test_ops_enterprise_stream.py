"""Enterprise scans in bounded memory: the file is decoded as a stream and fingerprinted a
block of chunks at a time. The answer must be the whole-file scan's (the same chunks, songs
and tracks; a peak picked near a block edge may differ, so times agree to 0.5 s), and a
track straddling a block boundary must be found once, with its true start and end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audd_testkit import SR, build_catalog, validate

from tonearm.catalog.context import Catalog
from tonearm.core.audio.encode import encode
from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.limits import DecodeLimits
from tonearm.core.audio.signal import Signal
from tonearm.core.audio.stream import StreamingDecoder
from tonearm.recognition.enterprise import (
    ChunkMatch,
    ScanOptions,
    decode_for_scan,
    scan_file,
    scan_path,
    scan_stream,
)
from tonearm.recognition.fingerprint import SR as FP_SR
from tonearm.recognition.longfile import merge_chunks
from tonearm.settings import Settings

BLOCK = 2  # chunks per block: 24 s blocks, so this 70 s file has boundaries at 24 and 48 s
# (seed, song from, song to): plays 0-20, 20-46 (across 24 s), 46-70 (across 48 s)
PLAN = [(61, 6.0, 26.0), (62, 2.0, 28.0), (63, 0.0, 24.0)]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("entstream") / "data"
    settings = Settings(data=data, decode_timeout_s=60)
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    songs = build_catalog(catalog, [(s, 30.0, {}) for s, _, _ in PLAN])
    parts, truth, t = [], [], 0.0
    for aid, (_, a, b) in zip(songs.songs, PLAN, strict=True):
        parts.append(songs.songs[aid][int(a * SR) : int(b * SR)])
        truth.append((aid, t, t + (b - a), a))
        t += b - a
    rng = np.random.default_rng(3)
    parts.append((0.05 * rng.standard_normal(5 * SR)).astype(np.float32))
    mix = Signal(np.concatenate(parts), SR)
    pcm = mix.resample(int(FP_SR))
    mp3 = data / "mix.mp3"
    mp3.write_bytes(encode(mix, "mp3_128"))
    yield {"catalog": catalog, "truth": truth, "pcm": pcm, "mp3": mp3, "tmp": data}
    catalog.close()


def assert_same_answer(a: dict[str, Any], b: dict[str, Any]) -> None:
    """The same AudD chunks (offsets, songs, their keys) and the same merged tracks."""
    assert [c["offset"] for c in a["result"]] == [c["offset"] for c in b["result"]]
    for ca, cb in zip(a["result"], b["result"], strict=True):
        assert ca["songs"][0]["title"] == cb["songs"][0]["title"], (ca, cb)
        assert [set(s) for s in ca["songs"]][:1] == [set(s) for s in cb["songs"]][:1]
        for k in ("start_seconds", "end_seconds"):
            if k in ca["songs"][0]:
                assert abs(ca["songs"][0][k] - cb["songs"][0][k]) <= 0.5, (ca, cb)
    assert [t["asset_id"] for t in a["tracks"]] == [t["asset_id"] for t in b["tracks"]]
    for ta, tb in zip(a["tracks"], b["tracks"], strict=True):
        assert set(ta) == set(tb)
        for k in ("start_seconds", "end_seconds", "song_start_seconds"):
            assert abs(ta[k] - tb[k]) <= 0.5, (k, ta, tb)


def _pieces(pcm: Signal, seconds: float) -> Iterator[np.ndarray]:
    """PCM as a decoder delivers it: blocks of a size unrelated to the chunks."""
    y = pcm.samples[0]
    step = int(seconds * pcm.sr)
    for i in range(0, y.size, step):
        yield y[i : i + step]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"accurate_offsets": "true"},
        {"skip_first_seconds": "7", "every": "2", "skip": "1"},
        {"limit": "3", "accurate_offsets": "true"},
    ],
)
def test_streaming_scan_equals_whole_file_scan(env: dict[str, Any], params: dict[str, Any]) -> None:
    catalog, pcm = env["catalog"], env["pcm"]
    opts = ScanOptions.from_params(params)
    whole = scan_file(catalog, pcm, opts, base_url="http://t")
    spool = env["tmp"] / "uploads" / "test.pcm"
    streamed = scan_stream(
        catalog, _pieces(pcm, 7.3), opts, base_url="http://t", spool_path=spool, block_chunks=BLOCK
    )
    assert_same_answer(streamed, whole)
    assert not spool.exists()  # the spool is removed
    validate({**streamed, "execution_time": "1s"}, "EnterpriseSuccessResponse")
    if not params:
        assert len(streamed["result"]) == 6  # a chunk per 12 s of music, none lost


def test_track_straddling_block_boundaries_is_found_once(env: dict[str, Any]) -> None:
    body = scan_path(
        env["catalog"],
        env["mp3"],
        ScanOptions(accurate_offsets=True),
        base_url="http://t",
        block_chunks=BLOCK,
    )
    validate({**body, "execution_time": "1s"}, "EnterpriseSuccessResponse")
    tracks = body["tracks"]
    assert [t["asset_id"] for t in tracks] == [aid for aid, *_ in env["truth"]]
    for t, (_, start, end, song_from) in zip(tracks, env["truth"], strict=True):
        assert abs(t["start_seconds"] - start) <= 1.5, (t, start)
        assert abs(t["end_seconds"] - end) <= 1.5, (t, end)
        assert abs(t["song_start_seconds"] - song_from) <= 1.5, (t, song_from)
    # the second song plays across the 24 s boundary: heard in the chunks on both sides
    second = tracks[1]["title"]
    offsets = [c["offset"] for c in body["result"] if second in {s["title"] for s in c["songs"]}]
    assert {"00:12", "00:24"} <= set(offsets) or {"00:24", "00:36"} <= set(offsets)
    # the same answer as decoding the whole file first
    whole = scan_file(
        env["catalog"],
        decode_for_scan(env["catalog"], env["mp3"]),
        ScanOptions(accurate_offsets=True),
        base_url="http://t",
    )
    assert_same_answer(body, whole)


def test_streaming_decode_errors(env: dict[str, Any], tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"this is not audio" * 100)
    with pytest.raises(AudioError) as e:
        list(StreamingDecoder(junk, 8000))
    assert e.value.reason in ("not_audio", "corrupt")
    with pytest.raises(AudioError) as e:
        list(StreamingDecoder(env["mp3"], 8000, DecodeLimits(max_duration_s=30.0)))
    assert e.value.reason == "too_long"
    with pytest.raises(AudioError) as e:
        StreamingDecoder(env["mp3"], 8000, DecodeLimits(max_bytes=100))
    assert e.value.reason == "too_large"
    blocks = list(StreamingDecoder(env["mp3"], 8000, block_s=5.0))
    assert max(b.size for b in blocks) < 8000 * 6  # bounded blocks
    assert abs(sum(b.size for b in blocks) / 8000 - 75.0) < 0.5


def test_merged_view_one_track_per_play_with_repeated_sections(tmp_path: Path) -> None:
    """A song whose sections repeat exactly (the offset of a repeat is ambiguous) is still one
    track per play; the same song started over right after itself is two."""
    from audd_testkit import song

    settings = Settings(data=tmp_path / "data", decode_timeout_s=60)
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    try:
        a, b, c = (song(s, 14.0) for s in (81, 82, 83))
        looped = np.concatenate([a, b, a, b, c])  # 70 s, verse-chorus-verse-chorus-outro
        other = song(84, 40.0)

        from tonearm.catalog.analyzers import select_analyzers
        from tonearm.catalog.ingest import ingest_bytes

        ids = []
        for name, y in (("Looped", looped), ("Other", other)):
            o = ingest_bytes(
                catalog,
                encode(Signal(y, SR), "wav"),
                filename=f"{name}.wav",
                kind="music",
                metadata={"name": name},
                analyzers=select_analyzers(["fingerprint"]),
            )
            assert o.asset_id is not None
            ids.append(o.asset_id)
        rng = np.random.default_rng(5)
        noise = (0.05 * rng.standard_normal(6 * SR)).astype(np.float32)
        # noise 0-6, looped 6-76, other 76-116, looped again 116-186 and at once 186-256
        mix = np.concatenate([noise, looped, other, looped, looped])
        path = tmp_path / "set.mp3"
        path.write_bytes(encode(Signal(mix, SR), "mp3_128"))
        body = scan_path(catalog, path, ScanOptions(), base_url="http://t")
        got = [(t["asset_id"], t["start_seconds"], t["end_seconds"]) for t in body["tracks"]]
        truth = [(ids[0], 6, 76), (ids[1], 76, 116), (ids[0], 116, 186), (ids[0], 186, 256)]
        assert [g[0] for g in got] == [t[0] for t in truth], got
        for (_, s0, e0), (_, s1, e1) in zip(got, truth, strict=True):
            assert abs(s0 - s1) <= 1.5 and abs(e0 - e1) <= 1.5, (got, truth)
        for t in body["tracks"]:
            assert t["song_start_seconds"] <= 1.5  # each play from the song's beginning
    finally:
        catalog.close()


def test_merged_view_drops_passages_shared_inside_a_long_play() -> None:
    """A few seconds of song B matched in the middle of a long play of song A (a shared drum
    loop) is not a play of B; B overlapping A's end (a crossfade) or played alone is."""

    def cm(aid: str, k: int, a: float, b: float, song: float, score: float = 1.0) -> ChunkMatch:
        return ChunkMatch(aid, k, a, b, song, score)

    long_a = [cm("A", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k) for k in range(5)]  # 0-60
    inside = cm("B", 2, 26.0, 31.0, 40.0)  # 5 s of B at 26-31
    crossfade = cm("C", 4, 56.0, 60.0, 0.0)  # C starts under A's last seconds...
    c_rest = [cm("C", 5, 60.0, 72.0, 4.0), cm("C", 6, 72.0, 84.0, 16.0)]  # ...and plays on
    alone = cm("B", 8, 96.0, 104.0, 10.0)  # B on its own later
    plays = merge_chunks([*long_a, inside, crossfade, *c_rest, alone])
    assert [(p.asset_id, p.file_start_s, p.file_end_s) for p in plays] == [
        ("A", 0.0, 60.0),
        ("C", 56.0, 84.0),
        ("B", 96.0, 104.0),
    ]
    # the passage B shares with A is reported inside A's play, not lost
    assert plays[0].also == ["B"] and plays[1].also == [] and plays[2].also == []


def test_songs_sharing_a_recording_are_one_play_with_also_matches() -> None:
    """Two catalog songs that reuse the same recording both match over the same minutes:
    one play (the song whose alignment holds over the whole stretch), the other listed in
    ``also``, never a second play over the same time."""

    def cm(aid: str, k: int, a: float, b: float, song: float, score: float) -> ChunkMatch:
        return ChunkMatch(aid, k, a, b, song, score)

    main = [cm("A", k, 12.0 * k, 12.0 * k + 12.0, 30.0 + 12.0 * k, 0.9) for k in range(6)]
    # B holds the same recording for 48 of those 72 s (at another position in B)
    twin = [cm("B", k, 12.0 * k, 12.0 * k + 12.0, 5.0 + 12.0 * k, 0.95) for k in range(1, 5)]
    after = [cm("C", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * (k - 6), 0.8) for k in range(6, 9)]
    plays = merge_chunks([*main, *twin, *after])
    assert [(p.asset_id, p.file_start_s, p.file_end_s) for p in plays] == [
        ("A", 0.0, 72.0),
        ("C", 72.0, 108.0),
    ]
    assert plays[0].also == ["B"] and plays[1].also == []


def test_crossfade_boundary_is_its_midpoint() -> None:
    """Both songs are heard during a crossfade: the boundary is the middle of that stretch,
    and the next song's position moves with it; a long overlap is no crossfade."""
    from tonearm.recognition.longfile import split_crossfades

    a = ChunkMatch("A", 0, 0.0, 64.0, 10.0, 1.0)
    b = ChunkMatch("B", 5, 58.0, 120.0, 0.0, 1.0, speed=1.03)  # heard from 58 s, A until 64 s
    c = ChunkMatch("C", 9, 100.0, 150.0, 30.0, 1.0)  # 20 s under B: not a crossfade
    split_crossfades([a, b, c])
    assert a.file_end_s == 61.0 and b.file_start_s == 61.0
    assert b.song_start_s == pytest.approx(3.0 * 1.03)
    assert b.file_end_s == 120.0 and c.file_start_s == 100.0
