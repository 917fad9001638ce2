"""What the audio says about itself, in words a searcher would use.

Pure functions: a :class:`Signal` in, a few interpretable measurements out
(:func:`audio_features`), then plain words for them (:func:`audio_words`). The words go into
the text every track is searched by, so a track with thin metadata (a file name and nothing
else) is still found by "slow dark ambient" or "fast happy chiptune".

Measurements (all on a mono excerpt of at most ``max_s`` seconds from the middle, 22.05 kHz):

- ``rms_dbfs``: overall level; ``dynamics_db``: spread between loud and quiet passages
  (95th - 10th percentile of 0.4 s frame levels).
- ``centroid_hz``: energy-weighted spectral centroid (brightness).
- ``mode``/``key``/``key_strength``: Krumhansl-Kessler key profiles correlated with the mean
  chroma; ``key_strength`` is the best correlation (< 0.5: no clear tonality).
- ``percussive_ratio``: share of spectral energy in the percussive part of a median-filter
  harmonic/percussive separation (HPSS).
- ``onset_rate_hz``: detected onsets per second.
- ``tempo_bpm``: the whole track's tempo from the beat tracker
  (:meth:`AnalysisInput.tempo_bpm`, the one estimate the catalog ``bpm`` also comes from),
  0 for an excerpt without attacks; used only when the catalog has no ``bpm``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tonearm.core.audio.signal import Signal
from tonearm.core.features.analysis_input import AnalysisInput
from tonearm.core.features.hpss import hpss

ANALYSIS_SR = 22050
HOP = 512
N_FFT = 2048

# Krumhansl-Kessler probe-tone profiles, C = index 0.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
BASS_MAX_HZ = 300.0
ONSET_DELTA_DB = 0.5
BASS_WEIGHT = 0.5
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def estimate_key(
    chroma_mean: np.ndarray, bass_chroma_mean: np.ndarray | None = None
) -> tuple[str, str, float]:
    """Key and mode of a 12-bin mean chroma vector (C first).

    Parameters
    ----------
    chroma_mean : np.ndarray, shape (12,)
    bass_chroma_mean : np.ndarray, shape (12,), optional
        Chroma of the bass range only; its correlation is added with weight
        ``BASS_WEIGHT`` (on the 45 demo pieces: mode right 31 times instead of 28).

    Returns
    -------
    (key, mode, strength): e.g. ``("A", "minor", 0.81)``; strength is the Pearson correlation
    of the full chroma with the best of the 24 rotated Krumhansl-Kessler profiles.
    """
    c = np.asarray(chroma_mean, dtype=np.float64)
    if c.shape != (12,) or not np.isfinite(c).all() or c.std() < 1e-9:
        return "", "", 0.0
    b = None if bass_chroma_mean is None else np.asarray(bass_chroma_mean, dtype=np.float64)
    if b is not None and (b.shape != (12,) or not np.isfinite(b).all() or b.std() < 1e-9):
        b = None
    best = ("", "", -2.0)
    best_score = -9.0
    for mode, prof in (("major", _MAJOR), ("minor", _MINOR)):
        for tonic in range(12):
            p = np.roll(prof, tonic)
            r = float(np.corrcoef(c, p)[0, 1])
            score = r + (BASS_WEIGHT * float(np.corrcoef(b, p)[0, 1]) if b is not None else 0.0)
            if score > best_score:
                best_score = score
                best = (PITCH_NAMES[tonic], mode, r)
    return best


def _excerpt(inp: AnalysisInput, max_s: float) -> np.ndarray:
    """At most ``max_s`` seconds from the middle of the shared 22,050 Hz mono signal."""
    y = inp.at_rate(ANALYSIS_SR).samples[0]
    n_max = int(max_s * ANALYSIS_SR)
    if y.shape[0] > n_max:
        start = (y.shape[0] - n_max) // 2
        y = y[start : start + n_max]
    return np.asarray(y, dtype=np.float32)


def audio_features(signal: Signal | AnalysisInput, *, max_s: float = 30.0) -> dict[str, Any]:
    """Interpretable measurements of one track (see the module docstring for each field).

    Parameters
    ----------
    signal : Signal or AnalysisInput
        Decoded audio, any rate and channel count (an ingest passes its shared input, so
        the 22,050 Hz signal and the beats are the ones the other analyzers use).
    max_s : float
        Longest excerpt analysed, in seconds (taken from the middle of the track).

    Returns
    -------
    dict with rms_dbfs, dynamics_db, centroid_hz, key, mode, key_strength,
    percussive_ratio, onset_rate_hz, tempo_bpm (floats rounded for storage; strings for key
    and mode, empty when the excerpt is silent).
    """
    import librosa

    inp = AnalysisInput.of(signal)
    y = _excerpt(inp, max_s)
    sr = ANALYSIS_SR
    out: dict[str, Any] = {
        "rms_dbfs": -120.0,
        "dynamics_db": 0.0,
        "centroid_hz": 0.0,
        "key": "",
        "mode": "",
        "key_strength": 0.0,
        "percussive_ratio": 0.0,
        "onset_rate_hz": 0.0,
        "tempo_bpm": 0.0,
    }
    if y.size < N_FFT or float(np.max(np.abs(y))) < 1e-5:
        return out
    duration_s = y.size / sr
    out["rms_dbfs"] = round(float(10 * np.log10(np.mean(y.astype(np.float64) ** 2) + 1e-12)), 2)

    # 0.4 s frame levels: the loud/quiet spread is the "dynamics" a listener hears.
    frame = int(0.4 * sr)
    n_frames = y.size // frame
    if n_frames >= 3:
        lv = 10 * np.log10(np.mean(y[: n_frames * frame].reshape(n_frames, frame) ** 2, 1) + 1e-12)
        lv = lv[lv > lv.max() - 60]  # ignore digital silence between pieces
        out["dynamics_db"] = round(float(np.percentile(lv, 95) - np.percentile(lv, 10)), 2)

    stft = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = stft**2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    frame_energy = power.sum(axis=0)
    loud = frame_energy > frame_energy.max() * 1e-4  # skip near-silent frames
    if loud.any():
        mag = stft[:, loud]
        centroid = (freqs[:, None] * mag).sum(0) / np.maximum(mag.sum(0), 1e-12)
        out["centroid_hz"] = round(float(np.median(centroid)), 1)

    harm, perc = hpss(stft, kernel_size=17)  # librosa's, bit for bit, faster
    h_e, p_e = float((harm**2).sum()), float((perc**2).sum())
    if h_e + p_e > 0:
        out["percussive_ratio"] = round(p_e / (h_e + p_e), 4)

    chroma = librosa.feature.chroma_stft(S=harm**2, sr=sr, n_fft=N_FFT, hop_length=HOP)
    # the bass line usually sits on the tonic: it settles relative major/minor confusions
    bass = harm.copy()
    bass[freqs > BASS_MAX_HZ] = 0.0
    bass_chroma = librosa.feature.chroma_stft(
        S=bass**2, sr=sr, n_fft=N_FFT, hop_length=HOP, tuning=0.0
    )
    key, mode, strength = estimate_key(chroma.mean(axis=1), bass_chroma.mean(axis=1))
    out.update(key=key, mode=mode, key_strength=round(strength, 4))

    env = librosa.onset.onset_strength(S=librosa.amplitude_to_db(stft, ref=np.max), sr=sr)
    # absolute threshold (mean dB rise): a steady pad must not show "onsets" from noise
    onsets = librosa.onset.onset_detect(
        onset_envelope=env, sr=sr, hop_length=HOP, normalize=False, delta=ONSET_DELTA_DB
    )
    out["onset_rate_hz"] = round(len(onsets) / duration_s, 3)
    if duration_s >= 4 and out["onset_rate_hz"] >= 0.3:  # no attacks: no tempo to speak of
        out["tempo_bpm"] = round(inp.tempo_bpm, 2)
    return out


def tempo_words(bpm: float | None) -> list[str]:
    """ "slow" < 80 <= "mid-tempo" < 105 <= "upbeat" < 135 <= "fast" (beats per minute)."""
    if not bpm or bpm <= 0:
        return []
    if bpm < 80:
        return ["slow", "slow tempo", "laid-back"]
    if bpm < 105:
        return ["mid-tempo", "moderate tempo"]
    if bpm < 135:
        return ["upbeat", "danceable"]
    return ["fast", "fast tempo", "high tempo"]


def audio_words(features: dict[str, Any], bpm: float | None = None) -> list[str]:
    """Plain words for the measurements, in a fixed order (tempo, energy, dynamics,
    brightness, mode, texture). ``bpm`` (the catalog's beat tracker) wins over the rough
    ``tempo_bpm`` of :func:`audio_features`.

    The words are positive descriptions only ("beatless", never "no drums"), so that a
    negated query ("without drums") can never be satisfied or defeated by a description.
    """
    if not features or features.get("rms_dbfs", -120.0) <= -90:
        return []
    words: list[str] = []
    words += tempo_words(bpm if bpm else features.get("tempo_bpm"))

    rms = float(features.get("rms_dbfs", -120.0))
    onset_rate = float(features.get("onset_rate_hz", 0.0))
    perc = float(features.get("percussive_ratio", 0.0))
    # energy: level and how busy the attacks are, together
    energy = (rms + 20.0) / 8.0 + (onset_rate - 3.0) / 3.0 + (perc - 0.2) * 2.0
    if energy >= 1.0:
        words += ["intense", "energetic", "powerful"]
    elif energy <= -0.8:
        words += ["calm", "gentle", "soft", "relaxing"]
    else:
        words += ["moderate energy"]

    dyn = float(features.get("dynamics_db", 0.0))
    if dyn >= 14:
        words += ["dynamic", "swelling"]
    elif 0 < dyn <= 5:
        words += ["steady"]

    centroid = float(features.get("centroid_hz", 0.0))
    if 0 < centroid < 1200:
        words += ["dark timbre", "warm", "mellow"]
    elif centroid >= 2500:
        words += ["bright timbre", "crisp"]

    mode = features.get("mode") or ""
    if float(features.get("key_strength", 0.0)) >= 0.5:
        if mode == "major":
            words += ["major key", "happy", "uplifting", "cheerful"]
        elif mode == "minor":
            words += ["minor key", "sad", "melancholic", "moody"]

    if perc >= 0.35 or onset_rate >= 5.5:
        words += ["percussive", "rhythmic", "beat-driven"]
    elif perc <= 0.12 and onset_rate < 2.0:
        words += ["sustained", "smooth", "flowing", "beatless"]
    return words


# -- learned tags (musicnn) ------------------------------------------------------------------
TAG_MODELS = ("MTT_musicnn", "MSD_musicnn")
TAG_MAX_S = 30.0  # seconds tagged, from the middle of the track (10 patches of 3 s)
# A tag becomes a word when its probability is at least TAG_MIN and at least TAG_REL times
# the model's best tag; at most TAG_TOP per model (bench/results/discovery/ for the choice).
TAG_MIN = {"MTT_musicnn": 0.15, "MSD_musicnn": 0.12}
TAG_REL = 0.35
TAG_TOP = 5
# tag -> the words a searcher uses for it ("" drops a tag that says nothing searchable);
# positive words only ("no vocals" -> "instrumental"), as for the DSP words
TAG_WORDS = {
    "no vocals": "instrumental",
    "no vocal": "instrumental",
    "no voice": "instrumental",
    "female": "female vocals",
    "woman": "female vocals",
    "female vocal": "female vocals",
    "female voice": "female vocals",
    "female vocalists": "female vocals",
    "female vocalist": "female vocals",
    "male": "male vocals",
    "man": "male vocals",
    "male vocal": "male vocals",
    "male voice": "male vocals",
    "male vocalists": "male vocals",
    "vocal": "vocals",
    "voice": "vocals",
    "singing": "vocals",
    "classic": "classical",
    "choral": "choir",
    "beats": "beat",
    "weird": "experimental",
    "Mellow": "mellow",
    "Hip-Hop": "hip-hop",
    "House": "house",
    "Progressive rock": "progressive rock",
    "00s": "",
    "90s": "",
    "sexy": "",
    "catchy": "",
    "solo": "solo instrument",
}


def audio_tags(signal: Signal | AnalysisInput, *, max_s: float = TAG_MAX_S) -> dict[str, Any]:
    """musicnn tag probabilities of one track, per model, averaged over its 3 s patches.

    Returns ``{model: {tag: probability}}`` (probabilities rounded to 3 decimals), or ``{}``
    when the tagger cannot run here (torch or the ``musicnn`` wheel missing) or the excerpt
    is silent.
    """
    from tonearm.core.embeddings.musicnn import SR, TaggerUnavailable, log_mel, patches

    inp = AnalysisInput.of(signal)
    y = inp.at_rate(SR).samples[0]
    n_max = int(max_s * SR)
    if y.shape[0] > n_max:
        start = (y.shape[0] - n_max) // 2
        y = y[start : start + n_max]
    if y.size == 0 or float(np.max(np.abs(y))) < 1e-5:
        return {}
    mel = patches(log_mel(y))
    out: dict[str, Any] = {}
    for model in TAG_MODELS:
        try:
            probs = _tagger(model).patch_probs(mel).mean(axis=0)
        except TaggerUnavailable:
            return {}
        out[model] = {
            lab: round(float(p), 3) for lab, p in zip(_tagger(model).labels, probs, strict=True)
        }
    return out


_TAGGERS: dict[str, Any] = {}


def _tagger(model: str) -> Any:
    from tonearm.core.embeddings.musicnn import MusicTagger

    t = _TAGGERS.get(model)
    if t is None:
        t = _TAGGERS[model] = MusicTagger(model)
    return t


def tag_words(tags: dict[str, Any] | None) -> list[str]:
    """Words for the confident tags of :func:`audio_tags` (most probable first, each once)."""
    if not tags:
        return []
    scored: list[tuple[float, str]] = []
    for model, probs in tags.items():
        if not isinstance(probs, dict) or not probs:
            continue
        best = max(float(p) for p in probs.values())
        floor = max(TAG_MIN.get(model, 0.15), TAG_REL * best)
        top = sorted(((float(p), t) for t, p in probs.items() if float(p) >= floor), reverse=True)
        scored += top[:TAG_TOP]
    words: list[str] = []
    for _, tag in sorted(scored, reverse=True):
        w = TAG_WORDS.get(tag, tag.lower())
        if w and w not in words:
            words.append(w)
    return words


def tag_word_probs(tags: dict[str, Any] | None) -> dict[str, float]:
    """Every tag of :func:`audio_tags` as its search word (:data:`TAG_WORDS`) with its
    probability; a word several tags map to ("instrumental") keeps the highest."""
    out: dict[str, float] = {}
    for probs in (tags or {}).values():
        if not isinstance(probs, dict):
            continue
        for tag, p in probs.items():
            w = TAG_WORDS.get(tag, tag.lower())
            if w:
                out[w] = max(out.get(w, 0.0), float(p))
    return out
