"""Decode/encode round trips for every format, and every bad-input class."""

from __future__ import annotations

import numpy as np
import pytest

from tonearm.core.audio.decode import decode
from tonearm.core.audio.encode import encode
from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.signal import Signal

FORMATS = ["wav", "flac", "mp3_128", "mp3_256", "mp3_320", "ogg", "opus", "m4a"]


def _corr_at_best_lag(a: np.ndarray, b: np.ndarray, max_lag: int = 4000) -> float:
    """Peak normalized cross-correlation (codecs add encoder delay)."""
    n = min(len(a), len(b)) - max_lag
    a0 = a[max_lag : max_lag + n]
    best = 0.0
    for lag in range(0, 2 * max_lag, 8):
        seg = b[lag : lag + n]
        if len(seg) < n:
            break
        c = float(np.dot(a0, seg) / (np.linalg.norm(a0) * np.linalg.norm(seg) + 1e-12))
        best = max(best, c)
    return best


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_every_format(fmt: str, tone: Signal) -> None:
    data = encode(tone, fmt)
    assert len(data) > 100
    out = decode(data)
    assert out.channels == 2
    # lossy codecs pad a little; duration must still be right within 60 ms
    assert abs(out.duration_s - tone.duration_s) < 0.06
    ref = tone.resample(out.sr).samples[0]
    assert _corr_at_best_lag(ref, out.samples[0]) > 0.95


def test_wav_is_sample_exact_at_16_bit(tone: Signal) -> None:
    out = decode(encode(tone, "wav"))
    assert out.sr == tone.sr and out.n_samples == tone.n_samples
    assert np.max(np.abs(out.samples - tone.samples)) < 1.0 / 32767 * 1.01


def test_decode_from_path_mono_and_resample(tmp_path, tone: Signal) -> None:
    p = tmp_path / "x.flac"
    p.write_bytes(encode(tone, "flac"))
    out = decode(p, mono=True, sr=16000)
    assert out.channels == 1 and out.sr == 16000
    assert abs(out.duration_s - 2.0) < 0.01


@pytest.mark.parametrize("fmt", ["ogg", "mp3_128", "flac"])
def test_decode_blocks_do_not_change_the_samples(fmt: str, tone: Signal) -> None:
    """The decode loop gathers codec frames into blocks; any block length gives the same
    samples, also downmixed and resampled (soxr streams block by block)."""
    from tonearm.core.audio.pcm import iter_pcm, open_container

    data = encode(tone, fmt)

    def run(block_s: float, **kw: object) -> np.ndarray:
        with open_container(data) as c:
            return np.concatenate([x for x, _ in iter_pcm(c, block_s=block_s, **kw)], axis=1)

    for kw in ({}, {"mono": True, "sr": 11025}):
        whole = run(1e3, **kw)
        assert whole.shape[1] > 0
        for block_s in (1e-4, 0.05, 1.0):
            assert np.array_equal(run(block_s, **kw), whole), (block_s, kw)


def test_signal_resample_keeps_pitch(tone: Signal) -> None:
    y = tone.resample(8000).mono()
    spec = np.abs(np.fft.rfft(y))
    freqs = np.fft.rfftfreq(len(y), 1 / 8000)
    top2 = sorted(freqs[np.argsort(spec)[-2:]])
    assert abs(top2[0] - 440) < 2 and abs(top2[1] - 660) < 2


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "empty"),
        (b"this is plain text, not audio at all" * 50, "not_audio"),
        (bytes(range(256)) * 64, "not_audio"),
    ],
)
def test_bad_bytes_raise_audio_error(data: bytes, reason: str) -> None:
    with pytest.raises(AudioError) as ei:
        decode(data)
    assert ei.value.reason == reason
    assert ei.value.message


def test_truncated_mp3_keeps_what_decoded_or_fails_cleanly(tone: Signal) -> None:
    data = encode(tone, "mp3_128")
    out = decode(data[: len(data) // 2])
    assert 0.5 < out.duration_s < 1.5
    with pytest.raises(AudioError):
        decode(data[:40])


def test_wav_header_only_is_empty_or_corrupt(tone: Signal) -> None:
    data = encode(tone, "wav")[:44]
    with pytest.raises(AudioError) as ei:
        decode(data)
    assert ei.value.reason in {"empty", "corrupt", "not_audio"}


def test_too_large_is_refused_before_decoding(tone: Signal) -> None:
    data = encode(tone, "wav")
    with pytest.raises(AudioError) as ei:
        decode(data, max_bytes=1000)
    assert ei.value.reason == "too_large"


def test_too_long_stops_early(tone: Signal) -> None:
    with pytest.raises(AudioError) as ei:
        decode(encode(tone, "flac"), max_duration_s=1.0)
    assert ei.value.reason == "too_long"


def test_garbage_inside_a_valid_container_never_crashes(tone: Signal) -> None:
    rng = np.random.default_rng(0)
    data = bytearray(encode(tone, "mp3_128"))
    # corrupt the middle of the stream heavily
    idx = rng.integers(200, len(data), size=len(data) // 4)
    for i in idx:
        data[i] = int(rng.integers(0, 256))
    try:
        out = decode(bytes(data), timeout_s=20)
    except AudioError as e:
        assert e.reason in {"corrupt", "empty", "not_audio"}
    else:
        assert np.all(np.isfinite(out.samples))


def test_decode_time_limit() -> None:
    """A decode that cannot finish in time is cut off with reason 'timeout'."""
    sr = 48000
    big = Signal(np.zeros((2, sr * 600), dtype=np.float32), sr)  # 10 min of silence
    data = encode(big, "flac")
    with pytest.raises(AudioError) as ei:
        decode(data, timeout_s=0.05)
    assert ei.value.reason == "timeout"


def test_missing_file() -> None:
    with pytest.raises(AudioError) as ei:
        decode("/nonexistent/file.mp3")
    assert ei.value.reason == "not_audio"


def test_unsupported_export_format(tone: Signal) -> None:
    with pytest.raises(AudioError) as ei:
        encode(tone, "mp3_999")
    assert ei.value.reason == "unsupported"
    with pytest.raises(AudioError):
        encode(tone, "aiff-ish")


def test_mp3_bitrate_is_honoured(tone: Signal) -> None:
    small = len(encode(tone, "mp3_128"))
    big = len(encode(tone, "mp3_320"))
    assert 2.0 < big / small < 3.0
