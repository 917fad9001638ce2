"""Music embedding: timbre (aisfx windows) + rhythm and harmony (beat-synchronous DSP).

Vector = concat(w_model * aisfx_mean, w_dsp * [clip statistics, beat-synchronous chroma and
MFCC statistics, tempo and pulse]) then L2-normalized. ``w_dsp = 0.5`` was chosen by
``bench/similarity.py --parts music`` (30 game soundtrack tracks, 5 soundtracks): aisfx alone
ranks same-soundtrack tracks best (precision@5 0.30 vs 0.13 for DSP alone) but finds a
second excerpt of the same track only 80 % of the time; w_dsp = 0.5 keeps precision@5 at
0.27 and lifts same-track top-1 to 97 % (0.7: 0.25 / 100 %, 1.0: 0.21 / 100 %).
Without torch the model block is left out (``dsp-music/v1``). Long tracks are analysed on
a centred excerpt of at most :data:`MAX_EXCERPT_S` seconds, which bounds ingest cost and
still covers the body of a song.
"""

from __future__ import annotations

import numpy as np

from tonearm.core.audio.signal import Signal
from tonearm.core.embeddings.aisfx_model import PendingEmbedding, complete
from tonearm.core.embeddings.base import l2_normalize
from tonearm.core.embeddings.dsp import DSP_DIM, DSP_SR, HOP, N_FFT, dsp_features, prepare

MAX_EXCERPT_S = 120.0
# aisfx windows (2.32 s, no overlap) taken evenly over the excerpt (of up to 52): 20 rank
# tracks as 24 did (bench/music_windows.py, bench/results/ingest/NOTES.md, session 6)
MAX_WINDOWS = 20
TEMPO_GRID_BPM = np.geomspace(50, 220, 12)
BEAT_DIM = 24 + 38 + len(TEMPO_GRID_BPM) + 2


def excerpt(signal: Signal, max_s: float = MAX_EXCERPT_S) -> Signal:
    """The centred ``max_s`` seconds of a longer signal (the signal itself otherwise)."""
    if signal.duration_s <= max_s:
        return signal
    start = (signal.duration_s - max_s) / 2
    return signal.slice_s(start, start + max_s)


def beat_features(y: np.ndarray) -> np.ndarray:
    """Beat-synchronous harmony and timbre statistics plus tempo, shape (BEAT_DIM,).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono at :data:`~tonearm.core.embeddings.dsp.DSP_SR`, peak-normalized.
    """
    import librosa

    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=S, sr=DSP_SR, n_mels=64))
    onset = librosa.onset.onset_strength(S=log_mel, sr=DSP_SR)
    tempo, beats = librosa.beat.beat_track(onset_envelope=onset, sr=DSP_SR, hop_length=HOP)
    bpm = float(np.atleast_1d(tempo)[0]) if np.size(tempo) else 0.0
    chroma = librosa.feature.chroma_stft(S=S, sr=DSP_SR, tuning=0.0)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=20)[1:]
    if len(beats) >= 2:
        chroma = librosa.util.sync(chroma, list(beats), aggregate=np.median)
        mfcc = librosa.util.sync(mfcc, list(beats), aggregate=np.mean)
    # key-relative chroma would lose "same key" similarity; keep absolute, it is what
    # "more like this" users hear first
    harm = np.concatenate([chroma.mean(axis=1), chroma.std(axis=1)])
    timbre = np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)])
    if bpm > 0:
        # soft one-hot on a log grid: 120 vs 122 BPM close, 120 vs 60 BPM (octave) apart
        d = np.log2(TEMPO_GRID_BPM / bpm)
        tempo_v = np.exp(-0.5 * (d / 0.08) ** 2)
    else:
        tempo_v = np.zeros(len(TEMPO_GRID_BPM))
    pulse = np.array(
        [
            float(onset.std() / (onset.mean() + 1e-9)) / 4,
            len(beats) / max(1.0, y.size / DSP_SR) / 4,
        ]
    )
    return np.concatenate(
        [
            0.8 * l2_normalize(harm),
            0.6 * l2_normalize(timbre),
            0.6 * l2_normalize(tempo_v),
            0.2 * np.clip(pulse, 0, 1),
        ]
    ).astype(np.float32)


class MusicEmbedder:
    """Music "more like this" vector: optional aisfx block + DSP + beat-synchronous block."""

    def __init__(
        self,
        use_model: bool = True,
        w_model: float = 1.0,
        w_dsp: float = 0.5,
        max_windows: int = MAX_WINDOWS,
    ) -> None:
        self.use_model = use_model
        self.w_model = w_model
        self.w_dsp = w_dsp
        self.dim = (512 if use_model else 0) + DSP_DIM + BEAT_DIM
        self.model_id = (
            f"music-aisfx+dsp/v1(w={w_model:g},{w_dsp:g})" if use_model else "dsp-music/v1"
        )
        self._aisfx = None
        if use_model:
            from tonearm.core.embeddings.aisfx_model import AisfxEmbedder

            # no window overlap and at most max_windows windows: bounded cost on long tracks
            self._aisfx = AisfxEmbedder(hop_frames=100, max_windows=max_windows)

    def load(self) -> None:
        if self._aisfx is not None:
            self._aisfx.load()

    def prepare(self, signal: Signal) -> np.ndarray | PendingEmbedding:
        """The CPU half (DSP blocks and the model's input windows); the model half runs in
        :func:`~tonearm.core.embeddings.aisfx_model.complete` (bulk ingest batches it)."""
        if not np.any(signal.samples):
            return np.zeros(self.dim, dtype=np.float32)
        ex = excerpt(signal)
        y = prepare(ex.mono(), ex.sr)
        dsp = np.concatenate([dsp_features(y), beat_features(y)])
        rest = (self.w_dsp * l2_normalize(dsp)).astype(np.float32)
        if self._aisfx is None:
            return l2_normalize(rest)
        model_part = self._aisfx.prepare(ex)
        if not isinstance(model_part, PendingEmbedding):  # the excerpt is digital silence
            return l2_normalize(np.concatenate([self.w_model * model_part, rest]))
        return PendingEmbedding(model_part.windows, rest=rest, w_model=self.w_model)

    def embed(self, signal: Signal) -> np.ndarray:
        return complete(self.prepare(signal))
