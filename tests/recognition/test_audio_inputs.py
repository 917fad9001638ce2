"""One way in for audio: a query excerpt reaches the fingerprinter through the same decode
and resampler (soxr) as a catalog reference; each purpose has its limits; the streaming
decoder gives the same samples as a whole-file decode and reads live HTTP streams."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audd_testkit import file_server, song
from fastapi.testclient import TestClient

from tonearm.api.app import create_app
from tonearm.catalog.analyzers import select_analyzers
from tonearm.catalog.context import Catalog
from tonearm.catalog.decoding import audio_limits
from tonearm.catalog.ingest import ingest_bytes
from tonearm.catalog.keys import create_key
from tonearm.core.audio.decode import decode, decode_for
from tonearm.core.audio.encode import encode
from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.limits import DecodeLimits, Purpose
from tonearm.core.audio.signal import Signal
from tonearm.core.audio.stream import StreamingDecoder, stream_for
from tonearm.net.fetch import open_http_stream
from tonearm.recognition import fingerprint as fp
from tonearm.recognition import service
from tonearm.settings import Settings

SR_IN = 44100  # a CD-rate upload: neither the fingerprint rate nor the analysis rate


def _stereo_song(seed: int, duration_s: float) -> Signal:
    left = song(seed, duration_s, sr=SR_IN)
    right = np.roll(left, 7) * 0.8  # the two channels differ: the downmix matters
    return Signal(np.stack([left, right]), SR_IN)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    settings = Settings(data=tmp_path_factory.mktemp("inputs") / "data", allow_private_urls=True)
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    wav = encode(_stereo_song(21, 20.0), "wav")
    o = ingest_bytes(
        catalog, wav, filename="s.wav", kind="music", analyzers=select_analyzers(["fingerprint"])
    )
    assert o.status == "added" and o.asset_id is not None
    secret, _ = create_key(catalog.store, "inputs")
    with TestClient(create_app(catalog=catalog)) as client:
        yield {"catalog": catalog, "client": client, "key": secret, "wav": wav, "id": o.asset_id}
    catalog.close()


def test_route_query_and_reference_fingerprint_bit_identically(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Signal] = []
    real = service.recognize

    def spy(catalog: Catalog, signal: Signal, **kw: Any) -> Any:
        seen.append(signal)
        return real(catalog, signal, **kw)

    monkeypatch.setattr(service, "recognize", spy)
    body = env["client"].post("/", data={"api_token": env["key"]}, files={"file": env["wav"]})
    assert body.json()["status"] == "success"
    result = body.json()["result"]
    assert result is not None and result["timecode"] == "00:00"
    # the route hands recognition the file as decoded (44.1 kHz stereo, no FFmpeg
    # resampling to 8 kHz): the fingerprinter's own downmix and soxr make the query
    # hashes the very ones the reference was indexed with
    (query,) = seen
    assert (query.sr, query.channels) == (SR_IN, 2)
    stored = env["catalog"].store.get_analysis(env["id"], "fingerprint")
    assert stored is not None and stored.blob
    assert fp.pack(*fp.fingerprint(query)) == stored.blob


def test_route_applies_the_query_limits(env: dict[str, Any]) -> None:
    client, key = env["client"], env["key"]
    long_clip = encode(_stereo_song(22, 27.0), "wav")  # over AudD's 25 s
    body = client.post("/", data={"api_token": key}, files={"file": long_clip}).json()
    assert body["status"] == "error" and body["error"]["error_code"] == 400
    short = encode(_stereo_song(23, 0.6), "wav")  # under 1 s: AudD's "too small"
    body = client.post("/", data={"api_token": key}, files={"file": short}).json()
    assert body["status"] == "error" and body["error"]["error_code"] == 300


def test_each_purpose_has_its_limits(tmp_path: Path) -> None:
    s = Settings(data=tmp_path, recognize_max_bytes=600_000, max_upload_bytes=2_000_000)
    limits = audio_limits(s)
    assert limits.for_purpose(Purpose.QUERY_EXCERPT).max_duration_s == pytest.approx(25.5)
    assert limits.for_purpose(Purpose.STREAM) == DecodeLimits(None, None, None)
    wav = encode(Signal(np.zeros(SR_IN * 6, dtype=np.float32), SR_IN), "wav")  # ~530 kB
    assert decode_for(wav, Purpose.QUERY_EXCERPT, limits).duration_s == pytest.approx(6.0)
    big = encode(Signal(np.zeros(SR_IN * 8, dtype=np.float32), SR_IN), "wav")  # ~706 kB
    with pytest.raises(AudioError) as e:
        decode_for(big, Purpose.QUERY_EXCERPT, limits)
    assert e.value.reason == "too_large"
    assert decode_for(big, Purpose.CATALOG_FILE, limits).duration_s == pytest.approx(8.0)
    s30 = Settings(data=tmp_path, recognize_max_duration_s=5.0)
    with pytest.raises(AudioError) as e:
        decode_for(wav, Purpose.QUERY_EXCERPT, audio_limits(s30))
    assert e.value.reason == "too_long"
    with pytest.raises(ValueError, match="stream"):
        decode_for(wav, Purpose.LONG_FILE, limits)
    with pytest.raises(AudioError) as e:
        list(
            stream_for(
                big,
                Purpose.LONG_FILE,
                audio_limits(s30.model_copy(update={"max_upload_bytes": 1000})),
                sr=8000,
            )
        )
    assert e.value.reason == "too_large"


def test_streaming_decoder_equals_the_whole_file_path(tmp_path: Path) -> None:
    """Long files and references share the arithmetic: channel mean, then soxr."""
    path = tmp_path / "s.mp3"
    path.write_bytes(encode(_stereo_song(24, 12.0), "mp3"))
    whole = decode(path).to_mono().resample(fp.SR).samples[0]
    dec = StreamingDecoder(path, fp.SR, block_s=2.0)
    blocks = list(dec)
    assert len(blocks) >= 5 and dec.end_reason == "eof"
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    assert decode(path, mono=True, sr=fp.SR).samples[0].tobytes() == whole.tobytes()


def test_streaming_decoder_reads_a_live_http_stream() -> None:
    mp3 = encode(_stereo_song(25, 8.0), "mp3")
    with file_server({"/live": mp3}) as base:
        opener = functools.partial(open_http_stream, f"{base}/live", True, 5.0)
        dec = StreamingDecoder(opener, 8000, DecodeLimits(None, None, None), stall_timeout_s=10)
        y = dec.read_all()
        assert abs(y.size / 8000 - 8.0) < 0.2
        refused = functools.partial(open_http_stream, f"{base}/live", False, 5.0)
        with pytest.raises(AudioError) as e:
            StreamingDecoder(refused, 8000).read_all()
        assert e.value.reason == "bad_url"
        with pytest.raises(AudioError) as e:
            StreamingDecoder(
                functools.partial(open_http_stream, f"{base}/missing", True, 5.0), 8000
            ).read_all()
        assert e.value.reason == "bad_url" and "404" in e.value.message
