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
