"""Encode a Signal to WAV or MP3 bytes."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import soundfile as sf

from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.signal import Signal

MP3_BITRATES_KBPS = (64, 96, 128, 192, 256, 320)
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def mp3_rate_for(sr: int, bitrate_kbps: int | None) -> int:
    """The sample rate to encode MP3 at so that ``bitrate_kbps`` is reachable.

    MPEG-2 Layer III (16-24 kHz) tops out at 160 kbps and MPEG-2.5 (8-12 kHz) at 64 kbps:
    LAME silently lowers the bitrate at those rates, so a 22,050 Hz source asked for 320 kbps
    would come out at 160. Such sources are resampled to 44,100 Hz (MPEG-1).
    """
    kbps = bitrate_kbps or 0
    if sr not in MP3_RATES:
        return 44100
    if (kbps > 160 and sr < 32000) or (kbps > 64 and sr < 16000):
        return 44100
    return sr


def encode_wav(signal: Signal, subtype: str = "PCM_16") -> bytes:
    """RIFF/WAV bytes (16-bit PCM by default; ``subtype="FLOAT"`` for 32-bit float)."""
    buf = io.BytesIO()
    data = np.clip(signal.samples, -1.0, 1.0) if subtype.startswith("PCM") else signal.samples
    sf.write(buf, data.T, signal.sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def encode_flac(signal: Signal) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(signal.samples, -1.0, 1.0).T, signal.sr, format="FLAC")
    return buf.getvalue()


def encode_ogg_vorbis(signal: Signal) -> bytes:
    # libsndfile ships a Vorbis encoder; the FFmpeg in PyAV's wheels does not
    buf = io.BytesIO()
    sf.write(buf, np.clip(signal.samples, -1.0, 1.0).T, signal.sr, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def encode_with_av(signal: Signal, container: str, codec: str, bitrate_kbps: int | None) -> bytes:
    """Encode with FFmpeg through PyAV (mp3, ogg/vorbis, ogg/opus, m4a/aac)."""
    import av

    sig = signal
    if codec == "libopus" and sig.sr != 48000:
        sig = sig.resample(48000)
    if codec == "libmp3lame" and mp3_rate_for(sig.sr, bitrate_kbps) != sig.sr:
        sig = sig.resample(mp3_rate_for(sig.sr, bitrate_kbps))
    layout = "mono" if sig.channels == 1 else "stereo"
    if sig.channels > 2:
        sig = Signal(sig.samples[:2], sig.sr)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream: Any = out.add_stream(codec, rate=sig.sr, layout=layout)
        if bitrate_kbps:
            stream.bit_rate = bitrate_kbps * 1000
        fmt = stream.codec_context.format.name
        samples = np.clip(sig.samples, -1.0, 1.0).astype(np.float32)
        frame_size = stream.codec_context.frame_size or 1152
        for start in range(0, samples.shape[1], frame_size):
            block = samples[:, start : start + frame_size]
            if fmt == "flt":  # packed float
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(block.T.reshape(1, -1)), format="flt", layout=layout
                )
            elif fmt == "s16":
                pcm = (block.T.reshape(1, -1) * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
            else:
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(block), format="fltp", layout=layout
                )
            frame.sample_rate = sig.sr
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def encode_mp3(signal: Signal, bitrate_kbps: int = 128) -> bytes:
    """MP3 bytes (LAME, CBR) at one of :data:`MP3_BITRATES_KBPS`."""
    if bitrate_kbps not in MP3_BITRATES_KBPS:
        raise AudioError("unsupported", f"unsupported MP3 bitrate {bitrate_kbps} kbps")
    return encode_with_av(signal, "mp3", "libmp3lame", bitrate_kbps)


def encode(signal: Signal, fmt: str) -> bytes:
    """Encode by a format name: ``wav``, ``flac``, ``mp3_128``/``mp3_256``/``mp3_320`` (any
    bitrate in :data:`MP3_BITRATES_KBPS`), ``ogg`` (vorbis), ``opus``, ``m4a`` (aac)."""
    if fmt == "wav":
        return encode_wav(signal)
    if fmt == "flac":
        return encode_flac(signal)
    if fmt.startswith("mp3"):
        kbps = int(fmt.split("_", 1)[1]) if "_" in fmt else 128
        return encode_mp3(signal, kbps)
    if fmt == "ogg":
        return encode_ogg_vorbis(signal)
    if fmt == "opus":
        return encode_with_av(signal, "ogg", "libopus", 96)
    if fmt == "m4a":
        return encode_with_av(signal, "ipod", "aac", 128)
    raise AudioError("unsupported", f"unsupported export format {fmt!r}")
