"""Faster forms of ingest's analyses give the same outputs as the forms they replace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tonearm.core.features.hpss import hpss, median_filter_axis

REAL_TRACK = Path("/usr/share/games/frozen-bubble/snd/introzik.ogg")  # fb-music-high


def _test_spectrogram(n_frames: int) -> np.ndarray:
    """A magnitude spectrogram with harmonic lines, clicks, silence and exact ties."""
    rng = np.random.default_rng(7)
    s = np.abs(rng.standard_normal((1025, n_frames))).astype(np.float32) * 0.01
    s[[40, 41, 200], :] += 3.0  # steady partials
    s[:, ::9] += 2.0  # broadband clicks
    s[:, : n_frames // 5] = 0.0  # digital silence (the soft masks' 0/0 cells)
    s[500:520, :] = 0.25  # a plateau: many equal values in one median window
    return s


@pytest.mark.parametrize("n_frames", [5, 63, 64, 700])
@pytest.mark.parametrize("axis", [0, 1])
def test_median_filter_axis_equals_scipy_2d(n_frames: int, axis: int) -> None:
    from scipy.ndimage import median_filter

    s = _test_spectrogram(n_frames)
    ref = median_filter(s, size=(1, 17) if axis == 1 else (17, 1), mode="reflect")
    assert np.array_equal(median_filter_axis(s, 17, axis), ref)


@pytest.mark.parametrize("n_frames", [7, 400])
def test_hpss_equals_librosa_bit_for_bit(n_frames: int) -> None:
    import librosa

    s = _test_spectrogram(n_frames)
    h, p = hpss(s, kernel_size=17)
    h_ref, p_ref = librosa.decompose.hpss(s, kernel_size=17)
    assert h.dtype == h_ref.dtype == np.float32
    assert np.array_equal(h, h_ref) and np.array_equal(p, p_ref)
    assert float((p**2).sum()) > 0 and float((h**2).sum()) > 0


@pytest.mark.skipif(not REAL_TRACK.exists(), reason="fb-music-high is not installed")
def test_hpss_equals_librosa_on_real_music() -> None:
    import librosa

    from tonearm.core.audio.decode import decode

    sig = decode(REAL_TRACK.read_bytes(), max_duration_s=600)
    y = librosa.resample(sig.mono().astype(np.float32), orig_sr=sig.sr, target_sr=22050)
    s = np.abs(librosa.stft(y[: 22050 * 20], n_fft=2048, hop_length=512))
    for a, b in zip(hpss(s, 17), librosa.decompose.hpss(s, kernel_size=17), strict=True):
        assert np.array_equal(a, b)


def _musicnn_or_skip():  # type: ignore[no-untyped-def]
    from tonearm.core.embeddings import musicnn

    ok, why = musicnn.musicnn_available()
    if not ok:
        pytest.skip(why)
    return musicnn


@pytest.mark.parametrize("model", ["MTT_musicnn", "MSD_musicnn"])
def test_musicnn_fast_front_end_is_bit_identical(model: str) -> None:
    import importlib.util

    import torch

    musicnn = _musicnn_or_skip()
    spec = importlib.util.find_spec("musicnn")
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations))) / model
    w = musicnn.read_tf_bundle(f"{root}/")
    fast, ref = musicnn._build_net(w), musicnn._build_net(w, reference=True)
    rng = np.random.default_rng(3)
    t = np.arange(musicnn.SR * 9) / musicnn.SR
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (rng.random(t.size) > 0.5)
    y += 0.05 * rng.standard_normal(t.size)
    mels = [musicnn.patches(musicnn.log_mel(y.astype(np.float32)))]
    if REAL_TRACK.exists():
        from tonearm.core.audio.decode import decode
        from tonearm.core.audio.resample import resample

        sig = decode(REAL_TRACK.read_bytes(), max_duration_s=600)
        mels.append(musicnn.patches(musicnn.log_mel(resample(sig.mono(), sig.sr, musicnn.SR))))
    with torch.inference_mode():
        for mel in mels:
            x = torch.from_numpy(np.ascontiguousarray(mel[:6]))
            a, b = fast(x), ref(x)
            assert a.shape == (len(x), 50)
            assert torch.equal(a, b)


def _wav_bytes(codec: str, channels: int, seconds: float = 3.0) -> bytes:
    """A WAV file of ``codec`` made here with PyAV (FFmpeg's encoders)."""
    import io

    import av

    rate = 22050 if codec.startswith("adpcm") else 44100
    t = np.arange(int(rate * seconds)) / rate
    y = 0.4 * np.sin(2 * np.pi * 330 * t) * np.exp(-((t % 0.5) * 6))
    pcm = (np.tile(y, (channels, 1)) * 32767).astype(np.int16)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="wav") as out:
        st = out.add_stream(codec, rate=rate, layout="stereo" if channels == 2 else "mono")
        frame = av.AudioFrame.from_ndarray(
            pcm.T.reshape(1, -1).copy(), format="s16", layout=st.layout.name
        )
        frame.rate = rate
        for p in st.encode(frame):
            out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return buf.getvalue()


@pytest.mark.parametrize(
    "codec", ["pcm_s16le", "pcm_s24le", "pcm_f32le", "pcm_mulaw", "adpcm_ms", "adpcm_ima_wav"]
)
@pytest.mark.parametrize("channels", [1, 2])
def test_wav_short_probe_decodes_the_same_samples(
    codec: str, channels: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tonearm.core.audio import pcm
    from tonearm.core.audio.decode import decode

    try:
        data = _wav_bytes(codec, channels)
    except Exception as e:  # an FFmpeg build without this encoder
        pytest.skip(f"cannot encode {codec}: {e}")
    assert pcm.probe_options(data[:12]) == {"probesize": str(pcm.WAV_PROBE_BYTES)}
    f = tmp_path / "x.wav"
    f.write_bytes(data)
    fast = [decode(data, isolate=False), decode(f, isolate=False, mono=True, sr=16000)]
    monkeypatch.setattr(pcm, "probe_options", lambda head: {})
    slow = [decode(data, isolate=False), decode(f, isolate=False, mono=True, sr=16000)]
    for a, b in zip(fast, slow, strict=True):
        assert (a.sr, a.channels) == (b.sr, b.channels)
        assert a.samples.shape[-1] > 0 and np.array_equal(a.samples, b.samples)


def test_probe_options_only_shorten_wav() -> None:
    from tonearm.core.audio.pcm import probe_options

    assert probe_options(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    assert probe_options(b"RF64\xff\xff\xff\xffWAVEds64")
    for head in (b"OggS\x00\x02", b"fLaC\x00\x00", b"ID3\x04", b"RIFF\x00\x00\x00\x00AVI ", b""):
        assert probe_options(head) == {}


def test_aisfx_channels_last_vectors_within_tolerance() -> None:
    """The trunk runs channels-last (faster); its pooled, normalized vectors stay within
    1e-5 of the contiguous-layout network's (measured: < 4e-7 on 160 real files)."""
    import copy

    from tonearm.core.embeddings import aisfx_model as am

    ok, why = am.aisfx_available()
    if not ok:
        pytest.skip(why)
    import torch

    from tonearm.core.audio.signal import Signal
    from tonearm.core.embeddings.base import l2_normalize

    net = am.load_trunk().net
    ref = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
    assert net.conv_block1.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    rng = np.random.default_rng(5)
    t = np.arange(am.AISFX_SR * 6) / am.AISFX_SR
    y = np.sin(2 * np.pi * 440 * t * (1 + t)) * (
        rng.random(t.size) < 0.3
    ) + 0.1 * rng.standard_normal(t.size)
    sig = Signal(y[None, :].astype(np.float32), am.AISFX_SR)
    w = am.model_windows(sig)
    assert len(w) > 1
    with torch.inference_mode():
        a = net(torch.from_numpy(w)).numpy()
        b = ref(torch.from_numpy(w)).numpy()
    assert np.abs(a - b).max() < 1e-4 * np.abs(b).max()
    assert np.abs(am.run_windows(w) - b).max() < 1e-4 * np.abs(b).max()
    for pool in (np.mean, np.max):
        va, vb = l2_normalize(pool(a, axis=0)), l2_normalize(pool(b, axis=0))
        assert np.abs(va - vb).max() < 1e-5


# -- fingerprint extraction: blocked FFT and the compiled neighbourhood maximum ---------------
def _log_spectrogram_one_pass(y: np.ndarray) -> np.ndarray:
    """The fingerprint's log band energies as first written: window, FFT, power and band
    sum over chunks of 4096 frames at once."""
    import scipy.fft

    from tonearm.recognition import fingerprint as fp

    y = np.asarray(y, dtype=np.float32)
    if len(y) < fp.N_FFT:
        y = np.pad(y, (0, fp.N_FFT - len(y)))
    frames = np.lib.stride_tricks.sliding_window_view(y, fp.N_FFT)[:: fp.HOP]
    win = np.hanning(fp.N_FFT).astype(np.float32)
    out = np.empty((len(frames), fp.N_BANDS), dtype=np.float32)
    for i in range(0, len(frames), 4096):
        spec = scipy.fft.rfft(frames[i : i + 4096] * win, axis=1)
        power = spec.real**2 + spec.imag**2
        out[i : i + 4096] = np.log(power.astype(np.float32) @ fp._filterbank() + 1e-10)
    return out


def _fingerprint_reference(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of mono 8 kHz samples with the straightforward log spectrogram and scipy's
    neighbourhood maximum in place of the fast ones."""
    from unittest import mock

    from scipy.ndimage import maximum_filter

    from tonearm.recognition import fingerprint as fp

    def scipy_max(x: np.ndarray, dt: int, df: int) -> np.ndarray:
        return maximum_filter(x, size=(2 * dt + 1, 2 * df + 1), mode="nearest")

    with mock.patch.object(fp, "_local_max", scipy_max):
        peaks = fp.find_peaks(_log_spectrogram_one_pass(y), fp.REF_DENSITY)
    return fp.pair_hashes(peaks, fan_out=fp.FAN_OUT)


def _fp_test_signal(n_samples: int) -> np.ndarray:
    """Tones, noise, clicks and a stretch of digital silence at 8 kHz."""
    rng = np.random.default_rng(n_samples)
    t = np.arange(n_samples) / 8000
    y = 0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0)
    y += 0.05 * rng.standard_normal(n_samples)
    y[::2700] += 0.9
    y[n_samples // 3 : n_samples // 3 + 4000] = 0.0
    return y.astype(np.float32)


# 1 frame (shorter than the FFT), partial FFT blocks, exactly one band-sum chunk, one frame
# over it, several chunks with a partial tail
@pytest.mark.parametrize("n_frames", [1, 3, 300, 4096, 4097, 9000])
def test_log_spectrogram_blocked_is_bit_identical(n_frames: int) -> None:
    from tonearm.recognition import fingerprint as fp

    y = _fp_test_signal(fp.N_FFT + (n_frames - 1) * fp.HOP)
    assert np.array_equal(fp.log_spectrogram(y), _log_spectrogram_one_pass(y))
    assert np.array_equal(fp.log_spectrogram(y[:500]), _log_spectrogram_one_pass(y[:500]))


@pytest.mark.parametrize("shape", [(3, 143), (4, 5), (11, 9), (700, 143)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_local_max_equals_scipy_maximum_filter(shape: tuple[int, int], dtype: type) -> None:
    from scipy.ndimage import maximum_filter

    from tonearm.recognition import fingerprint as fp

    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    x[:, : shape[1] // 3] = np.round(x[:, : shape[1] // 3])  # ties
    x[shape[0] // 2 :, :] = -5.0  # a flat floor
    for dt, df in [(fp.PEAK_DT, fp.PEAK_DF), (1, 0), (0, 2)]:
        ref = maximum_filter(x, size=(2 * dt + 1, 2 * df + 1), mode="nearest")
        got = fp._local_max(x, dt, df)
        assert got.dtype == x.dtype
        assert np.array_equal(got, ref)


def test_fingerprints_bit_identical_to_the_straightforward_computation() -> None:
    from tonearm.core.audio.signal import Signal
    from tonearm.recognition import fingerprint as fp

    signals = [_fp_test_signal(8000 * 150)]  # > 4096 frames: two band-sum chunks
    if REAL_TRACK.exists():
        from tonearm.core.audio.decode import decode

        signals.append(decode(REAL_TRACK.read_bytes(), mono=True, sr=fp.SR).samples[0])
    for y in signals:
        h, t = fp.fingerprint(Signal(y[None, :], fp.SR))
        h_ref, t_ref = _fingerprint_reference(y)
        assert len(h) > 1000
        assert np.array_equal(h, h_ref) and np.array_equal(t, t_ref)


# -- decode: the decoder's own sample format converted by numpy, 1 s at a time -------------
def _encoded(fmt: str, codec: str, channels: int, seconds: float = 2.5) -> bytes:
    """A file of ``codec`` in container ``fmt`` made here with PyAV: a decaying tone per
    channel plus noise at full scale (every bit of a 32-bit integer sample used)."""
    import io

    import av

    rate = 44100
    rng = np.random.default_rng(channels)
    t = np.arange(int(rate * seconds)) / rate
    y = np.stack([0.6 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)])
    y += 0.3 * rng.uniform(-1, 1, y.shape)
    y[:, ::997] = 1.0  # clipped peaks
    buf = io.BytesIO()
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    with av.open(buf, mode="w", format=fmt) as out:
        st = out.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(y.astype(np.float64), format="dblp", layout=layout)
        frame.rate = rate
        conv = av.AudioResampler(format=st.codec_context.format, layout=layout, rate=rate)
        for f in [*conv.resample(frame), *conv.resample(None)]:
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "codec"),
    [
        ("wav", "pcm_u8"),
        ("wav", "pcm_s16le"),
        ("wav", "pcm_s24le"),
        ("wav", "pcm_s32le"),
        ("wav", "pcm_f32le"),
        ("wav", "pcm_f64le"),
        ("flac", "flac"),
        ("mp3", "libmp3lame"),
    ],
)
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_direct_sample_formats_decode_like_ffmpegs_conversion(
    fmt: str, codec: str, channels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tonearm.core.audio import pcm

    if codec == "libmp3lame" and channels > 2:
        pytest.skip("MP3 carries at most two channels")
    try:
        data = _encoded(fmt, codec, channels)
    except Exception as e:  # an FFmpeg build without this encoder
        pytest.skip(f"cannot encode {codec}: {e}")
    truncated = data[: len(data) * 2 // 3]
    runs = []
    for direct in (True, False):
        if not direct:  # every frame through FFmpeg's conversion to planar float
            monkeypatch.setattr(pcm, "DIRECT_FORMATS", {})
        out = []
        for src in (data, truncated):
            for mono, sr in [(False, None), (True, 8000), (True, 22050)]:
                info: dict[str, int] = {}
                x, out_sr = pcm.decode_inprocess(src, None, mono, sr, info)
                out.append((x, out_sr, info))
        runs.append(out)
    for (a, a_sr, a_info), (b, b_sr, b_info) in zip(*runs, strict=True):
        assert a.dtype == b.dtype == np.float32
        assert (a_sr, a_info) == (b_sr, b_info) and a.shape == b.shape
        assert np.array_equal(a, b)
    assert runs[0][0][0].shape[0] == channels and np.abs(runs[0][0][0]).max() > 0.5


def test_direct_formats_are_the_decoders_own() -> None:
    """The fast path sees the formats FFmpeg's decoders give for common files."""
    import io

    import av

    from tonearm.core.audio.pcm import DIRECT_FORMATS

    seen = set()
    for fmt, codec in [("wav", "pcm_s16le"), ("flac", "flac"), ("wav", "pcm_u8")]:
        with av.open(io.BytesIO(_encoded(fmt, codec, 2))) as c:
            seen.add(next(c.decode(c.streams.audio[0])).format.name)
    assert seen <= set(DIRECT_FORMATS)


def test_a_codec_ffmpeg_cannot_decode_is_an_audio_error() -> None:
    """A WAV whose codec tag FFmpeg has no decoder for (lmms-common ships such files, named
    .ogg) fails as ``unsupported``, not with an AttributeError."""
    import struct

    from tonearm.core.audio.errors import AudioError
    from tonearm.core.audio.pcm import decode_inprocess

    body = b"\x00" * 4000
    fmt = struct.pack("<HHIIHH", 0x1234, 1, 22050, 22050, 1, 8)
    head = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    data = head + b"data" + struct.pack("<I", len(body)) + body
    wav = b"RIFF" + struct.pack("<I", len(data)) + data
    with pytest.raises(AudioError) as e:
        decode_inprocess(wav, None, False, None)
    assert e.value.reason == "unsupported"


@pytest.mark.skipif(not REAL_TRACK.exists(), reason="fb-music-high is not installed")
def test_music_vector_from_fewer_windows_within_tolerance() -> None:
    """Music vectors use MAX_WINDOWS (20) sampled aisfx windows instead of 24: on 48 real
    tracks the cosine to the 24-window vector was >= 0.9990 and the neighbours ranked the
    same (bench/music_windows.py). A loose bound: it catches a cap of a few windows (4
    windows: 0.992 on this track), not a small change of the cap."""
    from tonearm.core.embeddings.aisfx_model import aisfx_available
    from tonearm.core.embeddings.music import MAX_WINDOWS, MusicEmbedder

    if not aisfx_available()[0]:
        pytest.skip("the aisfx model is not available")
    from tonearm.core.audio.decode import decode
    from tonearm.core.features.onset import ANALYSIS_SR

    sig = decode(REAL_TRACK.read_bytes(), mono=True, sr=ANALYSIS_SR, isolate=False)
    sig = sig.slice_s(20, 80)  # more windows (of 2.32 s) than either cap
    assert MAX_WINDOWS == 20
    v = MusicEmbedder().embed(sig)
    ref = MusicEmbedder(max_windows=24).embed(sig)
    assert not np.array_equal(v, ref)
    assert float(v @ ref) >= 0.998
