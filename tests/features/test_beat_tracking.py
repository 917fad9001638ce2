"""Beat tracker on audio with known beats (numpy clicks, fluidsynth renders) and bad input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tonearm.core.features import beatnet
from tonearm.core.features.beats import activation_kind, local_tempo, tempo_changes, track_beats

SR = 22050


def clicks(times_s: np.ndarray, duration_s: float, *, sr: int = SR, gains=None) -> np.ndarray:
    """Decaying 1.5 kHz + 80 Hz clicks at ``times_s`` (a kick-and-tick per beat)."""
    y = np.zeros(int(duration_s * sr), dtype=np.float32)
    n = int(0.06 * sr)
    t = np.arange(n) / sr
    click = (np.sin(2 * np.pi * 1500 * t) + np.sin(2 * np.pi * 80 * t)) * np.exp(-t / 0.015)
    g = np.ones(len(times_s)) if gains is None else np.asarray(gains)
    for s, a in zip(times_s, g, strict=True):
        i = int(round(s * sr))
        m = min(n, len(y) - i)
        if m > 0:
            y[i : i + m] += 0.4 * a * click[:m].astype(np.float32)
    return y


def f_measure(ref: np.ndarray, est: np.ndarray, window_s: float = 0.07) -> float:
    if len(ref) == 0 or len(est) == 0:
        return 0.0
    used = np.zeros(len(est), dtype=bool)
    hits = 0
    for r in ref:
        d = np.abs(est - r)
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= window_s:
            used[j] = True
            hits += 1
    p, rc = hits / len(est), hits / len(ref)
    return 0.0 if hits == 0 else 2 * p * rc / (p + rc)


@pytest.mark.parametrize("bpm", [120.0, 182.0])
def test_clicks_with_offbeat_ticks(bpm: float) -> None:
    # beats plus quieter off-beat eighths: the beat level, not the eighths or half notes
    beat = np.arange(0.4, 24.0, 60.0 / bpm)
    eighth = beat[:-1] + 30.0 / bpm
    times = np.sort(np.concatenate([beat, eighth]))
    gains = np.where(np.isin(times, beat), 1.0, 0.35)
    b = track_beats(clicks(times, 24.5, gains=gains), SR, activation="dsp")
    assert abs(b.bpm - bpm) / bpm < 0.04
    assert f_measure(beat, b.times_s) >= 0.95


def test_waltz_with_accented_downbeats() -> None:
    bpm = 96.0
    beat = np.arange(0.3, 24.0, 60.0 / bpm)
    gains = np.where(np.arange(len(beat)) % 3 == 0, 1.0, 0.5)
    b = track_beats(clicks(beat, 24.5, gains=gains), SR, activation="dsp")
    assert abs(b.bpm - bpm) / bpm < 0.04
    assert f_measure(beat, b.times_s) >= 0.95


def test_bpm_hint_settles_the_metrical_level() -> None:
    # equal clicks every 0.35 s: 171 BPM or its half are both plausible; the hint decides
    beat = np.arange(0.3, 20.0, 0.35)
    y = clicks(beat, 20.5)
    fast = track_beats(y, SR, activation="dsp", bpm_hint=171.4)
    assert abs(fast.bpm - 171.4) < 171.4 * 0.04
    slow = track_beats(y, SR, activation="dsp", bpm_hint=85.7)
    assert abs(slow.bpm - 85.7) < 85.7 * 0.04
    assert f_measure(beat[::2], slow.times_s) >= 0.9 or f_measure(beat[1::2], slow.times_s) >= 0.9


def test_a_tempo_ramp_is_flagged_and_a_steady_tempo_is_not() -> None:
    # clicks speeding up from 100 to 125 BPM over 30 s, and humanized steady clicks
    ibi = 60.0 / np.linspace(100.0, 125.0, 56)
    ramp = 0.5 + np.concatenate([[0.0], np.cumsum(ibi)])
    steady = 0.5 + np.arange(56) * 0.5 + np.random.default_rng(1).normal(0, 0.008, 56)
    got_ramp = track_beats(clicks(ramp, ramp[-1] + 1.0), SR, activation="dsp")
    got_steady = track_beats(clicks(steady, steady[-1] + 1.0), SR, activation="dsp")
    assert f_measure(ramp, got_ramp.times_s) >= 0.9
    assert tempo_changes(got_ramp.times_s)
    assert not tempo_changes(got_steady.times_s)
    lt = local_tempo(got_ramp.times_s)
    assert lt[0] < 108 and lt[-1] > 115
    assert not tempo_changes(np.arange(5) * 0.5)  # too few beats to tell


def test_old_call_style_still_works() -> None:
    # track_beats(y, sr) with decoder keywords only, as the analyzers call it
    beat = np.arange(0.3, 12.0, 0.5)
    b = track_beats(clicks(beat, 12.5), SR, min_bpm=60.0, max_bpm=200.0)
    assert abs(b.bpm - 120.0) < 2.0
    assert b.activation.shape[0] > 0 and b.fps == pytest.approx(SR / 220, rel=0.02)


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth not installed")
def test_fluidsynth_render_of_a_midi_piece(tmp_path: Path) -> None:
    mido = pytest.importorskip("mido", reason="mido (bench extra) not installed")
    sf2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    if not sf2.exists():
        pytest.skip("fluid-soundfont-gm not installed")
    from tonearm.core.audio.decode import decode

    bpm, n = 104.0, 48
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage("set_tempo", tempo=int(60e6 / bpm), time=0))
    tr.append(mido.Message("program_change", channel=0, program=0, time=0))
    chord = [(48, 55, 60, 64), (45, 52, 57, 60), (41, 48, 53, 57), (43, 50, 55, 59)]
    gap = 0  # ticks since the last event
    for i in range(n):
        notes = chord[(i // 4) % 4] if i % 2 == 0 else chord[(i // 4) % 4][1:]
        vel = 100 if i % 4 == 0 else 75
        for k, nn in enumerate(notes):
            msg = mido.Message(
                "note_on", channel=0, note=nn, velocity=vel, time=gap if k == 0 else 0
            )
            tr.append(msg)
        for k, nn in enumerate(notes):
            tr.append(mido.Message("note_off", channel=0, note=nn, time=430 if k == 0 else 0))
        gap = 50
    mid.tracks.append(tr)
    path = tmp_path / "piece.mid"
    mid.save(path)
    wav = tmp_path / "piece.wav"
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", "22050", str(sf2), str(path)],
        check=True,
        capture_output=True,
    )
    sig = decode(wav, timeout_s=None, isolate=False)
    ref = np.arange(n) * 60.0 / bpm
    b = track_beats(sig.mono(), sig.sr)
    assert abs(b.bpm - bpm) / bpm < 0.04
    assert f_measure(ref[1:], b.times_s) >= 0.9


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["dsp", "auto"])
def test_silence_gives_no_beats(activation: str) -> None:
    b = track_beats(np.zeros(SR * 5, np.float32), SR, activation=activation)
    assert b.times_s.size == 0 and b.bpm == 0.0


@pytest.mark.parametrize("n", [0, 1, int(0.3 * SR)])
def test_tiny_clips_give_no_beats(n: int) -> None:
    y = np.random.default_rng(0).normal(0, 0.1, n).astype(np.float32)
    b = track_beats(y, SR)
    assert b.times_s.size == 0 and b.bpm == 0.0


def test_noise_gives_finite_beats() -> None:
    y = np.random.default_rng(1).normal(0, 0.2, SR * 10).astype(np.float32)
    b = track_beats(y, SR)
    assert np.all(np.isfinite(b.times_s)) and np.all(np.diff(b.times_s) > 0)
    assert b.bpm == 0.0 or 40.0 <= b.bpm <= 240.0


def test_non_finite_audio_is_a_clear_error() -> None:
    y = np.zeros(SR * 2, np.float32)
    y[100] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        track_beats(y, SR)
    with pytest.raises(ValueError, match="mono"):
        track_beats(np.zeros((SR, 2), np.float32), SR)
    with pytest.raises(ValueError, match="activation"):
        track_beats(np.zeros(SR, np.float32), SR, activation="magic")


def test_thirty_minute_file() -> None:
    # sparse clicks over 30 minutes, spectral-flux path: bounded memory, a steady answer
    dur = 30 * 60.0
    beat = np.arange(0.5, dur - 1, 0.5)
    b = track_beats(clicks(beat, dur), SR, activation="dsp")
    assert abs(b.bpm - 120.0) < 2.0
    assert f_measure(beat, b.times_s) >= 0.95


# -- the trained activation (optional) ---------------------------------------------------
needs_beatnet = pytest.mark.skipif(
    not beatnet.beatnet_available(), reason="optional BeatNet wheel not installed"
)


def test_activation_kind() -> None:
    assert activation_kind("dsp") == "dsp"
    assert activation_kind("auto") == ("blend" if beatnet.beatnet_available() else "dsp")
    with pytest.raises(ValueError):
        activation_kind("nope")


def test_beatnet_filterbank_shape() -> None:
    fb = beatnet.filterbank()
    # 136 bands of madmom's 24-per-octave log filterbank, each normalized to area 1
    assert fb.shape == (705, 136)
    np.testing.assert_allclose(fb.sum(axis=0), 1.0, rtol=1e-5)


@needs_beatnet
def test_beatnet_loads_offline_from_the_wheel_without_torch() -> None:
    import sys

    path = beatnet.checkpoint_path()
    assert path.is_file() and "BeatNet" in str(path)
    had_torch = "torch" in sys.modules
    w = beatnet.load_weights()
    assert had_torch or "torch" not in sys.modules
    assert w["conv1.weight"].shape == (2, 1, 10)
    assert w["lstm.weight_hh_l1"].shape == (600, 150)
    assert sum(a.size for a in w.values()) > 100_000
    assert all(a.dtype == np.float32 and np.all(np.isfinite(a)) for a in w.values())


def test_checkpoint_reader_refuses_code(tmp_path: Path) -> None:
    import pickle
    import zipfile

    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (print, ("ran",))

    bad = tmp_path / "evil.pt"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"x": Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError):
        beatnet.load_state_dict(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip")
    with pytest.raises(zipfile.BadZipFile):
        beatnet.load_state_dict(junk)


@needs_beatnet
def test_numpy_crnn_equals_torch() -> None:
    torch = pytest.importorskip("torch")
    from BeatNet.model import BDA

    rng = np.random.default_rng(3)
    beat = np.arange(0.5, 6.0, 0.45)
    y = clicks(beat, 6.5) + 0.02 * rng.standard_normal(int(6.5 * SR)).astype(np.float32)
    feats = beatnet.beatnet_features(y)
    ours = beatnet.crnn_forward(feats, beatnet.load_weights())
    model = BDA(272, 150, 2, "cpu")
    model.load_state_dict(
        torch.load(beatnet.checkpoint_path(), map_location="cpu", weights_only=True)
    )
    model.eval()
    with torch.inference_mode():
        out = model(torch.from_numpy(feats)[None])  # (1, 3, T), fresh zero LSTM state
        theirs = torch.softmax(out[0], dim=0).T.numpy()
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


@needs_beatnet
def test_beatnet_activation_peaks_on_clicks() -> None:
    beat = np.arange(0.5, 12.0, 0.5)
    y = clicks(beat, 12.5)
    b, d = beatnet.beatnet_activation(y, SR)
    assert b.shape == d.shape == (int(np.ceil(len(y) / beatnet.HOP)),)
    p = b + d
    on = p[np.round(beat * beatnet.BEATNET_FPS).astype(int)]
    off = p[np.round((beat + 0.25) * beatnet.BEATNET_FPS).astype(int)]
    assert on[4:].mean() > 3 * off[4:].mean()
    # the same call twice gives the same result (no LSTM state carried between songs)
    b2, _ = beatnet.beatnet_activation(y, SR)
    np.testing.assert_array_equal(b, b2)


@needs_beatnet
def test_beatnet_tracks_clicks() -> None:
    beat = np.arange(0.5, 16.0, 60.0 / 132)
    b = track_beats(clicks(beat, 16.5), SR, activation="beatnet")
    assert abs(b.bpm - 132.0) < 132 * 0.04
    assert f_measure(beat, b.times_s) >= 0.9


def test_healthz_says_which_beat_activation_runs(client) -> None:  # noqa: ANN001
    from tonearm.core.features.beats import default_activation

    got = client.get("/healthz").json()["beat_activation"]
    assert got == default_activation() and got in ("dsp", "beatnet", "blend")


def test_metre_level_prefers_the_level_whose_bars_fit_the_downbeats() -> None:
    from tonearm.core.features.beats import metre_level

    fps = 100.0
    down = np.zeros(6000, dtype=np.float32)
    down[::200] = 1.0  # a downbeat every 2 s: 3 beats of 90 BPM, 6 of 180
    assert metre_level(180.0, down, fps, margin=0.05) == pytest.approx(90.0)
    assert metre_level(90.0, down, fps, margin=0.05) == pytest.approx(90.0)
    assert metre_level(180.0, np.zeros(6000), fps, margin=0.05) == 180.0  # no cue: unchanged


def test_downbeats_settle_a_tempo_the_beat_activation_leaves_at_3_2() -> None:
    from tonearm.core.features.beats import estimate_tempo

    fps, n, lag = 100.0, 6000, 50  # beats every 0.5 s: 120 BPM
    act = np.zeros(n, dtype=np.float32)
    act[::lag] = 0.5
    act[:: 3 * lag // 2] = 1.0  # a louder figure every 1.5 beats (80 BPM)
    down = np.zeros(n, dtype=np.float32)
    down[::lag] = 0.3
    down[:: 4 * lag] = 1.0  # bars of 4 beats
    assert estimate_tempo(act, fps, preferred_bpm=135.0) == pytest.approx(80.0, rel=0.02)
    got = estimate_tempo(act, fps, preferred_bpm=135.0, downbeat=down)
    assert got == pytest.approx(120.0, rel=0.02)
    # no downbeat cue (all zero, or the wrong length): the beat activation alone decides
    for bad in (np.zeros(n, dtype=np.float32), down[:100]):
        assert estimate_tempo(act, fps, preferred_bpm=135.0, downbeat=bad) == pytest.approx(
            80.0, rel=0.02
        )


def test_periodicity_at_two_thirds_of_the_interval_argues_against_a_tempo() -> None:
    from tonearm.core.features.beats import estimate_tempo, tempo_salience

    fps, n, lag = 100.0, 6000, 50  # beats every 0.5 s: 120 BPM
    act = np.zeros(n, dtype=np.float32)
    act[::lag] = 0.6
    act[:: 3 * lag // 2] = 1.0  # a cross-rhythm every 1.5 beats, louder than the beat
    assert estimate_tempo(act, fps, preferred_bpm=135.0) == pytest.approx(80.0, rel=0.02)
    got = estimate_tempo(act, fps, preferred_bpm=135.0, third_penalty=0.3)
    assert got == pytest.approx(120.0, rel=0.02)
    # the penalty lowers the 80 BPM candidate (its 2/3 is the beat) and not the beat itself
    bpm = np.array([80.0, 120.0])
    plain = tempo_salience(act, fps, bpm, preferred_bpm=135.0)
    pen = tempo_salience(act, fps, bpm, preferred_bpm=135.0, third_penalty=0.3)
    assert pen[0] < plain[0] and pen[1] == pytest.approx(plain[1])


# -- swing -------------------------------------------------------------------------------
def _swung(bpm: float, duration_s: float, beat_gain: float, upbeat_gain: float):
    """Beats and long-short swung eighths (the off-beat 2/3 of a beat later)."""
    beat = np.arange(0.5, duration_s - 0.5, 60.0 / bpm)
    up = beat + (2.0 / 3.0) * 60.0 / bpm
    times = np.concatenate([beat, up])
    gains = np.concatenate([np.full(len(beat), beat_gain), np.full(len(up), upbeat_gain)])
    order = np.argsort(times)
    return beat, clicks(times[order], duration_s, gains=gains[order])


@pytest.mark.parametrize("activation", ["dsp", "auto"])
def test_accented_swung_offbeats_do_not_take_the_beat(activation: str) -> None:
    # jazz accents the swung off-beat: the decoder alone locks onto it (beats 2/3 late)
    beat, y = _swung(120.0, 30.0, beat_gain=0.8, upbeat_gain=1.0)
    b = track_beats(y, SR, activation=activation)
    assert abs(b.bpm - 120.0) / 120.0 < 0.04
    assert f_measure(beat, b.times_s) >= 0.9


def test_swing_phase_moves_only_beats_locked_to_a_swung_offbeat() -> None:
    from tonearm.core.features.beats import swing_phase

    interval, n = 60, 40  # frames per beat, beats
    beats = np.arange(n) * interval + 30
    act = np.zeros(n * interval + 120)
    act[beats] = 1.0
    act[beats + 2 * interval // 3] = 0.8  # swung eighths
    locked = beats + 2 * interval // 3  # the decoder on the off-beat
    moved = swing_phase(locked[:-1], act)
    assert np.abs(moved - beats[1:]).max() <= 1
    # on the beat already: nothing moves
    assert np.array_equal(swing_phase(beats, act), beats)
    # straight triplets (onsets at 1/3 and 2/3 alike) are no swing: nothing moves either
    trip = act.copy()
    trip[beats + interval // 3] = 0.8
    assert np.array_equal(swing_phase(locked[:-1], trip), locked[:-1])


# -- half-beat detours ---------------------------------------------------------------------
def _breakdown(bpm: float, duration_s: float, brk: tuple[float, float], seed: int) -> tuple:
    """Kick on every beat and quiet off-beat hats; in a breakdown the kick stops and loud
    off-beat hats and plucked bass notes play (a trance off-beat bass figure)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(duration_s * SR) + SR)
    ibi = 60.0 / bpm
    beats = np.arange(0.5, duration_s, ibi)
    t = np.arange(int(0.25 * SR)) / SR
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / SR) * np.exp(-t / 0.12)
    n_hat = int(0.06 * SR)
    n_bass = int(ibi / 2 * SR)
    tb = np.arange(n_bass) / SR
    for b in beats:
        inside = brk[0] <= b < brk[1]
        i, j = int(b * SR), int((b + ibi / 2) * SR)
        if not inside:
            y[i : i + len(kick)] += 0.8 * kick
        hat = np.diff(rng.standard_normal(n_hat + 2), 2)
        hat *= np.exp(-np.arange(n_hat) / SR / 0.015) / np.abs(hat).max()
        y[j : j + n_hat] += (1.0 if inside else 0.3) * hat
        if inside:
            f0 = 55.0 * 2 ** (int(rng.integers(0, 5)) / 12)
            note = np.sin(2 * np.pi * f0 * tb) + 0.5 * np.sin(4 * np.pi * f0 * tb)
            y[j : j + n_bass] += 0.5 * note * np.minimum(1.0, tb / 0.005) * np.exp(-tb / 0.4)
    return beats, y.astype(np.float32)


@pytest.mark.parametrize("activation", ["dsp", "auto"])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_breakdown_on_the_offbeat_does_not_move_the_beat(activation: str, seed: int) -> None:
    # the decoder alone slides onto the off-beat for the breakdown (20-36 s) and back
    beats, y = _breakdown(128.0, 60.0, (20.0, 36.0), seed)
    b = track_beats(y, SR, activation=activation)
    assert abs(b.bpm - 128.0) / 128.0 < 0.04
    assert f_measure(beats, b.times_s) >= 0.95


def _click_grid(interval: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` beat frames ``interval`` apart and an activation peaking on them, with
    weaker peaks on the off-beats."""
    beats = np.arange(n) * interval + 40
    act = np.zeros(n * interval + 200)
    act[beats] = 1.0
    act[beats + interval // 2] = 0.7
    return beats, act


def _detour(n: int, start: int, end: int) -> np.ndarray:
    """Phase shifts (beats) of ``n`` beats: half a beat late from beat ``start`` to ``end``,
    sliding there and back over 4 beats each way."""
    shift = np.zeros(n)
    shift[start - 4 : start] = np.linspace(0.1, 0.4, 4)
    shift[start:end] = 0.5
    shift[end : end + 4] = np.linspace(0.4, 0.1, 4)
    return shift


def test_phase_detours_puts_back_only_a_run_that_returns() -> None:
    from tonearm.core.features.beats import phase_detours

    interval, n = 50, 100  # frames per beat, beats
    beats, act = _click_grid(interval, n)
    # beats 40-59 slide half a beat late over 4 beats, stay there, and slide back
    detour = np.round(beats + _detour(n, 40, 60) * interval).astype(np.int64)
    assert np.abs(phase_detours(detour, act) - beats).max() <= 1
    # on the grid already: nothing moves
    assert np.array_equal(phase_detours(beats, act), beats)
    # the beats move half a beat for good (no return): nothing moves either
    stay = np.round(beats + np.where(np.arange(n) >= 40, 0.5, 0.0) * interval).astype(np.int64)
    assert np.array_equal(phase_detours(stay, act), stay)
    # a slow drift of the phase (tempo 1 % off for a while) is no detour
    drift = np.round(beats + np.clip(np.arange(n) - 30, 0, 50) * 0.01 * interval).astype(np.int64)
    assert np.array_equal(phase_detours(drift, act), drift)


def test_phase_detours_takes_a_long_detour_at_the_detours_own_tempo() -> None:
    from tonearm.core.features.beats import phase_detours

    # 50 frames a beat, then 0.2 % slower from beat 50 on: the grid extrapolated from the
    # 16 beats before a 90-beat detour misses its return by 0.2 beat
    n = 240
    period = np.where(np.arange(n) < 50, 50.0, 50.1)
    true = 40 + np.concatenate([[0.0], np.cumsum(period[:-1])])
    beats = np.round(true).astype(np.int64)
    act = np.zeros(n * 51 + 200)
    act[beats] = 1.0
    act[np.round(true + 25).astype(np.int64)] = 0.7
    detour = np.round(true + _detour(n, 64, 150) * period).astype(np.int64)
    assert np.abs(phase_detours(detour, act) - beats).max() <= 1


@pytest.mark.parametrize("activation", ["dsp", "auto"])
@pytest.mark.parametrize("brk", [(0.0, 12.0), (48.0, 61.0)])
def test_an_intro_or_outro_on_the_offbeat_takes_the_songs_beat(
    activation: str, brk: tuple[float, float]
) -> None:
    # the decoder alone stays on the off-beat through an intro of off-beat hats and bass
    # (or leaves the beat for such an outro): half a beat off the rest of the song
    beats, y = _breakdown(128.0, 60.0, brk, 0)
    b = track_beats(y, SR, activation=activation)
    assert abs(b.bpm - 128.0) / 128.0 < 0.04
    assert f_measure(beats, b.times_s) >= 0.95


def test_phase_ends_moves_only_a_short_end_run_half_a_beat_off() -> None:
    from tonearm.core.features.beats import phase_ends

    interval, n = 50, 100  # frames per beat, beats
    beats, act = _click_grid(interval, n)
    half = interval // 2
    # the first 20 beats half a beat late (an intro on the off-beat)
    intro = np.where(np.arange(n) < 20, beats + half, beats)
    assert np.abs(phase_ends(intro, act) - beats).max() <= 1
    # the last 20 beats half a beat late (an outro)
    outro = np.where(np.arange(n) >= 80, beats + half, beats)
    assert np.abs(phase_ends(outro, act)[: n - 1] - beats[: n - 1]).max() <= 1
    # on the grid already: nothing moves
    assert np.array_equal(phase_ends(beats, act), beats)
    # most of the song off the first 40 beats' grid: the majority is not moved
    most = np.where(np.arange(n) >= 40, beats + half, beats)
    assert np.array_equal(phase_ends(most, act), most)
    # an outro on the beat after a song locked 0.58 of a beat late (a swung off-beat, not
    # the off-beat itself): the minority is not moved onto the swing lock
    swung = np.where(np.arange(n) < 80, beats + 29, beats)
    assert np.array_equal(phase_ends(swung, act), swung)
    # 20 beats on the grid, 34 half a beat off, the rest on the grid again: the 34 are a
    # section (shorter than twice the 20 before), not the song's grid
    section = np.where((np.arange(n) >= 20) & (np.arange(n) < 54), beats + half, beats)
    assert np.array_equal(phase_ends(section, act), section)
    # an intro at another tempo is not half a beat off the song's grid
    free = beats.copy()
    free[:20] = beats[20] - np.arange(20, 0, -1) * 37
    free = free[free > 0]
    assert np.array_equal(phase_ends(free, act), free)


def _bowed(bpm: float, duration_s: float, attack_s: float, seed: int = 0) -> tuple:
    """Legato harmonic notes (random pitches), one per beat, rising over ``attack_s``."""
    rng = np.random.default_rng(seed)
    beats = np.arange(0.5, duration_s - 0.5, 60.0 / bpm)
    y = np.zeros(int(duration_s * SR))
    n = int(0.95 * 60.0 / bpm * SR)
    t = np.arange(n) / SR
    env = np.minimum(1.0, t / attack_s) ** 2 * np.minimum(1.0, (n / SR - t) / 0.03)
    for k, b in enumerate(beats):
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        tone = sum(
            np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 9)
        )
        i = int(b * SR)
        y[i : i + n] += (0.4 if k % 4 == 0 else 0.3) * env * tone
    return y.astype(np.float32), beats


def _median_error_s(ref: np.ndarray, est: np.ndarray) -> float:
    err = [est[np.argmin(np.abs(est - r))] - r for r in ref]
    return float(np.median([e for e in err if abs(e) <= 0.07]))


@pytest.mark.parametrize("activation", ["dsp", "auto"])
@pytest.mark.parametrize("attack_s", [0.06, 0.15])
def test_slow_attacks_are_not_heard_late(activation: str, attack_s: float) -> None:
    # notes that swell in over 60-150 ms peak in the flux 22-34 ms after they start; the
    # beats are the notes' starts (the score's grid)
    y, ref = _bowed(96.0, 30.0, attack_s)
    b = track_beats(y, SR, activation=activation)
    assert abs(_median_error_s(ref, b.times_s)) <= 0.01
    assert f_measure(ref, b.times_s) >= 0.95


def test_sharp_attacks_are_not_moved() -> None:
    from tonearm.core.features.beats import (
        attack_lag_s,
        dsp_activation,
        flux_peak_width_s,
    )
    from tonearm.core.features.onset import spectrogram

    # clicks and notes with a 5 ms attack: the flux peaks are narrow, no beat moves
    beat = np.arange(0.4, 20.0, 0.5)
    for y, ref in ((clicks(beat, 20.5), beat), _bowed(120.0, 20.0, 0.005)):
        b = track_beats(y, SR, activation="dsp")
        width = flux_peak_width_s(dsp_activation(spectrogram(y, SR)), b.times_s, b.fps)
        assert 0 < width < 0.035
        assert attack_lag_s(width) == 0.0
        assert abs(_median_error_s(ref, b.times_s)) <= 0.01


def test_flux_peak_width_of_known_peaks() -> None:
    from tonearm.core.features.beats import attack_lag_s, flux_peak_width_s

    fps = 100.0
    act = np.zeros(3000)
    times = np.arange(1.0, 28.0, 0.5)
    for t in times:  # triangles 2 frames up, 6 down: half height 1 + 3 frames wide
        c = int(t * fps)
        act[c - 2 : c + 7] = [0.0, 0.5, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0]
    assert flux_peak_width_s(act, times, fps) == pytest.approx(0.04, abs=1e-6)
    assert flux_peak_width_s(act, times[:5], fps) == 0.0  # too few beats to say
    assert flux_peak_width_s(np.zeros(3000), times, fps) == 0.0  # no peaks
    lags = [attack_lag_s(w) for w in (0.02, 0.035, 0.04, 0.044, 0.05, 0.08)]
    assert lags[:2] == [0.0, 0.0] and lags == sorted(lags) and lags[-1] <= 0.045
