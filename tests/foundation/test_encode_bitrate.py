"""Every MP3 export format comes out at its own bitrate, whatever the source's sample rate."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from tonearm.core.audio.encode import encode, mp3_rate_for
from tonearm.core.audio.signal import Signal


def _noisy_tone(sr: int, seconds: float = 4.0) -> Signal:
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    mono = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    return Signal(np.stack([mono, mono]).astype(np.float32), sr)


def _bitrate_and_rate(data: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(data)) as c:
        st = c.streams.audio[0]
        return int(st.codec_context.bit_rate), int(st.codec_context.sample_rate)


@pytest.mark.parametrize("sr", [22050, 44100, 11025])
def test_mp3_formats_have_their_bitrates(sr: int) -> None:
    sig = _noisy_tone(sr)
    outputs = {}
    for kbps in (128, 256, 320):
        data = encode(sig, f"mp3_{kbps}")
        bitrate, rate = _bitrate_and_rate(data)
        assert bitrate == kbps * 1000, (sr, kbps, bitrate)
        assert rate >= min(sr, 44100)
        outputs[kbps] = data
    # different bitrates are different files, and bigger ones are bigger
    assert len(outputs[128]) < len(outputs[256]) < len(outputs[320])


def test_mp3_rate_choice() -> None:
    assert mp3_rate_for(22050, 128) == 22050
    assert mp3_rate_for(22050, 256) == 44100
    assert mp3_rate_for(8000, 96) == 44100
    assert mp3_rate_for(48000, 320) == 48000
    assert mp3_rate_for(7000, 64) == 44100
