"""musicnn tags: the ported network, the words they become, and search finding untagged
tracks by them."""

from __future__ import annotations

import numpy as np
import pytest

from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import ingest_bytes
from tonearm.core.audio.encode import encode_wav
from tonearm.core.audio.signal import Signal
from tonearm.core.embeddings import musicnn
from tonearm.discovery import describe, search_analyzer
from tonearm.discovery.search import search
from tonearm.storage.base import Analysis

needs_musicnn = pytest.mark.skipif(
    not musicnn.musicnn_available()[0], reason=musicnn.musicnn_available()[1]
)


def test_patches_repeat_a_short_track_and_cut_a_long_one() -> None:
    mel = np.arange(50 * 96, dtype=np.float32).reshape(50, 96)
    p = musicnn.patches(mel)
    assert p.shape == (1, musicnn.PATCH_FRAMES, 96)
    assert np.array_equal(p[0, 50:100], mel)  # repeated, not zero-padded
    long = np.zeros((musicnn.PATCH_FRAMES * 3 + 10, 96), dtype=np.float32)
    assert musicnn.patches(long).shape[0] == 3


def test_tag_words_keep_confident_tags_in_searchable_words() -> None:
    tags = {
        "MTT_musicnn": {"piano": 0.9, "no vocals": 0.5, "guitar": 0.05, "solo": 0.1},
        "MSD_musicnn": {"jazz": 0.4, "00s": 0.3, "rock": 0.02},
    }
    words = describe.tag_words(tags)
    assert words[0] == "piano"  # most probable first
    assert "instrumental" in words and "no vocals" not in words  # positive words only
    assert "jazz" in words
    assert "guitar" not in words and "rock" not in words  # below the floor
    assert "00s" not in words  # says nothing searchable
    assert describe.tag_words({}) == [] and describe.tag_words(None) == []


def test_bundle_reader_rejects_a_file_that_is_not_a_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "x.index").write_bytes(b"\0" * 64)
    (tmp_path / "x.data-00000-of-00001").write_bytes(b"")
    with pytest.raises(musicnn.TaggerUnavailable):
        musicnn.read_tf_bundle(tmp_path / "x")


@needs_musicnn
def test_checkpoint_loads_and_tags_are_probabilities() -> None:
    t = musicnn.MusicTagger("MTT_musicnn")
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(musicnn.SR * 4)).astype(np.float32)
    probs = t.patch_probs(musicnn.patches(musicnn.log_mel(y)))
    assert probs.shape == (1, 50)
    assert np.all((probs >= 0) & (probs <= 1)) and probs.std() > 0.01


@needs_musicnn
def test_tones_and_noise_get_different_tags() -> None:
    """A sustained harmonic tone and white noise are told apart (the weights are really
    loaded: a network with wrong weights gives both the same few tags)."""
    sr = musicnn.SR
    t = np.arange(6 * sr) / sr
    tone = sum(0.3 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 6))
    noise = np.random.default_rng(1).standard_normal(t.size) * 0.3
    tagger = musicnn.MusicTagger("MTT_musicnn")
    a = tagger.patch_probs(musicnn.patches(musicnn.log_mel(tone.astype(np.float32)))).mean(0)
    b = tagger.patch_probs(musicnn.patches(musicnn.log_mel(noise.astype(np.float32)))).mean(0)
    assert np.argmax(a) != np.argmax(b)
    assert float(np.abs(a - b).max()) > 0.2


def test_untitled_track_is_found_by_its_tags(catalog: Catalog, tone: Signal) -> None:
    """Two tracks with no metadata at all: the query names what one of them was tagged."""
    ids = []
    for gain, name, top in ((1.0, "a.wav", "piano"), (0.5, "b.wav", "techno")):
        sig = Signal(tone.samples * gain, tone.sr)
        out = ingest_bytes(catalog, encode_wav(sig), filename=name, kind="music", analyzers=[])
        assert out.asset_id
        tags = {"MTT_musicnn": {top: 0.9, "guitar": 0.01}}
        catalog.store.put_analysis(
            Analysis(out.asset_id, search_analyzer.ANALYSIS_NAME, 2, {"features": {}, "tags": tags})
        )
        ids.append(out.asset_id)
    res = search(catalog, "techno", method="keyword")
    assert res.asset_ids[:1] == [ids[1]]
    res = search(catalog, "piano", method="keyword")
    assert res.asset_ids[:1] == [ids[0]]


def test_tag_ranking_orders_untitled_tracks_by_the_named_tag(
    catalog: Catalog, tone: Signal
) -> None:
    """With the text model: "solo piano" is close to the tag word "piano", so tracks rank
    by how probably they are piano, also one whose piano tag is too weak to be among its
    words (.3 next to a .9 techno tag)."""
    from tonearm.discovery import text as text_model

    if text_model.get_text_encoder() is None:
        pytest.skip("text model not installed")
    ids = {}
    tracks = ((1.0, 0.3, "techno", 0.9), (0.7, 0.95, "guitar", 0.6), (0.5, 0.02, "harp", 0.6))
    for gain, piano, other, p_other in tracks:
        sig = Signal(tone.samples * gain, tone.sr)
        out = ingest_bytes(
            catalog, encode_wav(sig), filename=f"{gain}.wav", kind="music", analyzers=[]
        )
        assert out.asset_id
        tags = {"MTT_musicnn": {"piano": piano, other: p_other}}
        catalog.store.put_analysis(
            Analysis(out.asset_id, search_analyzer.ANALYSIS_NAME, 2, {"features": {}, "tags": tags})
        )
        ids[piano] = out.asset_id
    assert "piano" not in describe.tag_words({"MTT_musicnn": {"piano": 0.3, "techno": 0.9}})
    res = search(catalog, "solo piano")
    assert res.asset_ids[:2] == [ids[0.95], ids[0.3]]


def test_backfill_adds_tags_to_rows_stored_before_the_tagger(
    catalog: Catalog, tone: Signal, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    out = ingest_bytes(catalog, encode_wav(tone), filename="old.wav", kind="music", analyzers=[])
    assert out.asset_id
    catalog.store.put_analysis(
        Analysis(out.asset_id, search_analyzer.ANALYSIS_NAME, 1, {"features": {"rms_dbfs": -9}})
    )
    monkeypatch.setattr(search_analyzer, "audio_tags", lambda inp: {"MTT_musicnn": {"harp": 0.8}})
    monkeypatch.setattr("tonearm.core.embeddings.musicnn.musicnn_available", lambda: (True, "ok"))
    assert search_analyzer.backfill(catalog) == 1
    a = catalog.store.get_analysis(out.asset_id, search_analyzer.ANALYSIS_NAME)
    assert a is not None and a.data["tags"] == {"MTT_musicnn": {"harp": 0.8}}
    assert search_analyzer.backfill(catalog) == 0  # tagged rows are left alone
