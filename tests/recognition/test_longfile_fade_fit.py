"""Boundaries placed on the songs' own audio (recognition.alignment.fade_fit_s and the
scanner's use of it): the file's spectrum projected on each song's, aligned to the
sample. Test songs are made here: random notes with harmonics, 8 kHz."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soxr

from tonearm.core.audio.decode import decode
from tonearm.core.audio.encode import encode
from tonearm.core.audio.limits import DecodeLimits
from tonearm.core.audio.pcm import decode_inprocess
from tonearm.core.audio.signal import Signal
from tonearm.recognition import alignment
from tonearm.recognition import fingerprint as fp
from tonearm.recognition.longfile import ChunkMatch
from tonearm.recognition.scanner import PcmTrack, PlayScanner, _audio_fade, _KeptSong

SR = 8000


def _song(rng: np.random.Generator, seconds: float, *, low: bool = False) -> np.ndarray:
    """Notes of 0.25 s (three random pitches with three harmonics each) and a little
    noise: broadband, never still, like music to the fingerprint."""
    n_note = SR // 4
    t = np.arange(n_note) / SR
    env = np.sin(np.pi * t / t[-1]) ** 0.5
    notes = []
    for _ in range(int(seconds * 4)):
        x = np.zeros(n_note)
        for f0 in rng.uniform(*((50, 300) if low else (150, 1200)), size=3):
            for h in (1, 2, 3):
                if f0 * h < 3800:
                    x += rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * f0 * h * t)
        notes.append(x * env)
    y = np.concatenate(notes) + 0.05 * rng.standard_normal(len(notes) * n_note)
    return (y / np.sqrt(np.mean(y**2))).astype(np.float32)


def _crossfade(a: np.ndarray, b: np.ndarray, mid_s: float, fade_s: float) -> np.ndarray:
    """``a`` fading out into ``b`` (equal power), both already placed in the file."""
    t = np.arange(a.size) / SR
    th = np.clip((t - (mid_s - fade_s / 2)) / fade_s, 0.0, 1.0) * np.pi / 2
    return (a * np.cos(th) + b * np.sin(th)).astype(np.float32)


def test_fade_fit_puts_a_crossfade_between_songs_of_different_loudness_at_its_midpoint() -> None:
    """An 8 s crossfade at 20 s from a song into one 9 dB quieter, with noise 10 dB under
    the mix: the quieter song's peaks are heard only late in the fade, but its gain in
    the file follows the fade whatever the other song's level. The alignment is given
    40 ms off (a fingerprint frame and more) and refined on each song's own side."""
    rng = np.random.default_rng(0)
    song_a, song_b = _song(rng, 60), _song(rng, 60)
    n = 40 * SR
    a = alignment.placed_song(song_a, SR, -15.0, 1.0, 0.0, n)  # song A from its 15 s
    b = 0.35 * alignment.placed_song(song_b, SR, 14.0, 1.0, 0.0, n)  # song B from its 2 s
    x = _crossfade(a, b, 20.0, 8.0)
    x = x + 0.3 * np.std(x) * rng.standard_normal(n).astype(np.float32)
    refs = []
    given = ((song_a, -15.0, -0.04, slice(0, 5 * SR)), (song_b, 14.0, 0.04, slice(-5 * SR, None)))
    for song, true_s, off_s, side in given:
        anchor = true_s + off_s
        r = alignment.placed_song(song, SR, anchor, 1.0, 0.0, n)
        lag, corr = alignment.fine_lag(x[side], r[side], int(alignment.FIT_LAG_S * SR))
        assert corr > alignment.FIT_MIN_CORR and abs(anchor + lag / SR - true_s) <= 2 / SR
        refs.append(alignment.placed_song(song, SR, anchor + lag / SR, 1.0, 0.0, n))
    mid = alignment.fade_fit_s(x, refs[0], refs[1], SR)
    assert mid is not None and abs(mid - 20.0) < 0.1, mid
    # one side known only (the other song not in the catalog): its own fade says it
    for out, into in ((refs[0], None), (None, refs[1])):
        mid = alignment.fade_fit_s(x, out, into, SR)
        assert mid is not None and abs(mid - 20.0) < 0.2, mid
    # a cut (no fade at all) is found to the frame
    cut = np.where(np.arange(n) < 20 * SR, a, b).astype(np.float32)
    mid = alignment.fade_fit_s(cut, refs[0], refs[1], SR)
    assert mid is not None and abs(mid - 20.0) < 0.05, mid


def test_placed_song_follows_a_speed_change() -> None:
    """A file playing the song 3 % fast (pitch with it): the placed song lines up with
    it sample for sample after the resampling (correlation near 1 at lag 0)."""
    import soxr

    rng = np.random.default_rng(1)
    song = _song(rng, 40)
    fast = np.asarray(soxr.resample(song, SR * 1.03, SR), np.float32)  # file t=0: song t=0
    r = alignment.placed_song(song, SR, 0.0, 1.03, 10.0, 5 * SR)
    x = fast[10 * SR : 15 * SR]
    lag, corr = alignment.fine_lag(x, r, 200)
    assert abs(lag) <= 1 and corr > 0.95, (lag, corr)


def _peaks_of(y: np.ndarray, density: float) -> fp.Peaks:
    return fp.find_peaks(fp.log_spectrogram(y), density)


def _scanned_plays(
    x: np.ndarray,
    songs: dict[str, np.ndarray],
    chunks: list[ChunkMatch],
    *,
    lengths_s: dict[str, float],
    with_audio: bool = True,
    n_chunks: int = 0,
) -> list[ChunkMatch]:
    """The plays a PlayScanner reports for file ``x`` given its 12 s chunks' matches (at
    least ``n_chunks`` chunks fed), with the songs' audio (fade fits) or their peaks only."""
    index = {}
    for aid, y in songs.items():
        h, t = fp.pair_hashes(_peaks_of(y, fp.REF_DENSITY), fan_out=fp.FAN_OUT)
        index[aid] = alignment.song_peaks(h, t)
    q = _peaks_of(x, fp.QUERY_DENSITY)
    scanner = PlayScanner(
        index.get, lengths_s.get, sr=SR, song_audio=songs.get if with_audio else None
    )
    scanner.add_audio(x)
    scanner.add_peaks(q.t.astype(np.float64), q.f.astype(np.float64))
    events = []
    for k in range(max(n_chunks, max(c.chunk for c in chunks) + 1)):
        events += scanner.add_matches([c for c in chunks if c.chunk == k], 12.0 * k + 12.0)
    events += scanner.finish(x.size / SR)
    return [e.play for e in events if e.kind == "end"]


def test_scanner_places_a_crossfade_on_the_songs_audio() -> None:
    """The scanner, fed a file where song A (played from its t=0) fades over 8 s into song
    B, 4 dB quieter (from its t=0, file 36 s on; too close in level for the power to place
    the fade), midpoint 40 s: with the songs' audio both plays meet at 40 s to a tenth of
    a second; the peaks alone put the fade where the quieter song starts to win peaks,
    over a second late."""
    rng = np.random.default_rng(2)
    song_a, song_b = _song(rng, 60), _song(rng, 60)
    n = 80 * SR
    a = alignment.placed_song(song_a, SR, 0.0, 1.0, 0.0, n)
    b = 0.65 * alignment.placed_song(song_b, SR, 36.0, 1.0, 0.0, n)
    x = _crossfade(a, b, 40.0, 8.0)
    chunks = [ChunkMatch("A", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k, 1.0) for k in range(3)]
    chunks += [ChunkMatch("A", 3, 36.0, 42.0, 36.0, 1.0)]
    chunks += [ChunkMatch("B", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k - 36.0, 1.0) for k in (4, 5)]
    chunks[-2] = ChunkMatch("B", 3, 39.0, 48.0, 3.0, 1.0)
    chunks += [ChunkMatch("B", 6, 60.0, 72.0, 24.0, 1.0), ChunkMatch("B", 7, 72.0, 80.0, 36.0, 1.0)]
    songs, lengths = {"A": song_a, "B": song_b}, {"A": 60.0, "B": 60.0}

    with_audio = _scanned_plays(x, songs, chunks, lengths_s=lengths)
    assert [p.asset_id for p in with_audio] == ["A", "B"]
    assert abs(with_audio[0].file_end_s - 40.0) < 0.1, with_audio[0]
    assert abs(with_audio[1].file_start_s - 40.0) < 0.1, with_audio[1]
    assert abs(with_audio[1].song_start_s - 4.0) < 0.1  # the song position follows
    peaks_only = _scanned_plays(x, songs, chunks, lengths_s=lengths, with_audio=False)
    assert abs(peaks_only[0].file_end_s - 40.0) > 0.5, peaks_only  # what the audio fixes here


def test_the_stream_scanner_keeps_minutes_of_pcm_not_hours() -> None:
    """A stream of two hours with no catalog song: no play ever closes, yet the PCM the
    scanner keeps for its fade fits stays bounded."""
    scanner = PlayScanner(lambda aid: None, lambda aid: None, sr=SR, song_audio=lambda aid: None)
    block = np.zeros(10 * SR, dtype=np.float32)
    for k in range(720):
        scanner.add_audio(block)
        scanner.add_matches([], 10.0 * (k + 1))
    kept = scanner._own_pcm
    assert kept is not None and kept.n - kept.first <= 11 * 60 * SR
    assert kept.segment(7200.0 - 30.0, 20 * SR) is not None  # the last minutes are there


def test_a_one_sided_fit_puts_a_start_at_the_songs_first_sound_not_in_the_silence_before() -> None:
    """A song played from its first sample after 6 s of noise, as a one-sided fit sees it:
    before its first sample the placed song is silent, so every midpoint in the noise
    explains the file exactly as well as its true start. The audio shows no fade there:
    the start is the song's first sound (and the end, reversed, its last)."""
    rng = np.random.default_rng(4)
    song = _song(rng, 30)
    n = 20 * SR
    ref = alignment.placed_song(song, SR, 6.0, 1.0, 0.0, n)  # the song from file 6 s
    x = (ref + 0.1 * rng.standard_normal(n)).astype(np.float32)
    mid = alignment.fade_fit_s(x, None, ref, SR)
    assert mid is not None and abs(mid - 6.0) < 0.1, mid
    rev = np.ascontiguousarray(x[::-1])
    mid = alignment.fade_fit_s(rev, np.ascontiguousarray(ref[::-1]), None, SR)
    assert mid is not None and abs(mid - 14.0) < 0.1, mid


def test_the_lag_is_the_one_that_explains_the_file_not_the_sharpest_phase_peak() -> None:
    """The song's energy below 1 kHz lines up 20 ms late; what the file has above 1 kHz
    (a twentieth of the level, in three times the bins) lines up at 0. The phase transform
    weighs every bin alike, so its highest peak is 0; the lag that explains the file is
    20 ms."""
    rng = np.random.default_rng(5)
    song = _song(rng, 5)
    spec, hz = np.fft.rfft(song), np.fft.rfftfreq(song.size, 1 / SR)
    low = np.fft.irfft(np.where(hz < 1000, spec, 0), song.size)
    high = np.fft.irfft(np.where(hz >= 1000, spec, 0), song.size)
    x = (np.roll(low, 160) + 0.05 * high).astype(np.float32)
    lag, corr = alignment.fine_lag(x, song, int(alignment.FIT_LAG_S * SR))
    assert lag == 160 and corr > 0.8, (lag, corr)


def test_a_play_off_the_speed_line_is_lined_up_as_far_as_its_speed_drifts() -> None:
    """A play whose match said 1.25 % fast with its pitch unchanged (a stray window's
    tempo-only hypothesis; the file plays the song as recorded), aligned at its start
    under that speed: 55 s on, that alignment is 0.7 s off the song, beyond the usual
    quarter second of search. Searched as far as the speed can have drifted, the song
    lines up and its fade into a song not in the catalog is placed."""
    rng = np.random.default_rng(6)
    song, other = _song(rng, 120), _song(rng, 60)
    n = 80 * SR
    a = alignment.placed_song(song, SR, -40.0, 1.0, 0.0, n)  # from its 40 s on
    x = _crossfade(a, alignment.placed_song(other, SR, 50.0, 1.0, 0.0, n), 60.0, 6.0)
    pcm = PcmTrack(SR)
    pcm.add(x)
    speed = 1.0125
    play = ChunkMatch("A", 0, 0.0, 62.0, 40.0, 1.0, speed, 0.0, heard_s=(0.0, 62.0))
    m = _audio_fade(pcm, {"A": song}.get, (play, -40.0 / speed), None, 60.5, (0.0, 80.0))
    assert m is not None and abs(m - 60.0) < 0.2, m


def test_a_song_playing_to_the_end_of_a_stream_ends_with_it() -> None:
    """The stream ends 1.5 s after the guess of where its last song ends: the fit reads
    what there is (its own side well inside) and puts the end at the stream's last sample,
    not at the guess."""
    rng = np.random.default_rng(7)
    song = _song(rng, 80)
    n = 70 * SR
    pcm = PcmTrack(SR)
    pcm.add(alignment.placed_song(song, SR, -5.0, 1.0, 0.0, n))
    play = ChunkMatch("A", 0, 0.0, 67.0, 5.0, 1.0, heard_s=(0.0, 67.0))
    m = _audio_fade(pcm, {"A": song}.get, (play, -5.0), None, 68.5, (0.0, 70.0))
    assert m is not None and abs(m - 70.0) < 0.1, m


def _slow_crossfade(
    rng: np.random.Generator, song_a: np.ndarray, song_b: np.ndarray
) -> tuple[PcmTrack, tuple[ChunkMatch, float], tuple[ChunkMatch, float]]:
    """A 60 s file playing ``song_a`` (from 30 s) into ``song_b`` (from its start at
    28 s) 3 % slow (1/1.03, pitch with it), a 6 s crossfade at 32 s, in noise; and the two
    plays at the quantized speed 0.97, each with the alignment the fingerprint frames
    measured where it was heard."""
    n = 60 * SR
    true_speed = 1 / 1.03
    a = alignment.placed_song(song_a, SR, -30.0, true_speed, 0.0, n)
    b = 0.5 * alignment.placed_song(song_b, SR, 28.0, true_speed, 0.0, n)
    x = _crossfade(a, b, 32.0, 6.0)
    x = x + 0.2 * np.std(x) * rng.standard_normal(n).astype(np.float32)
    pcm = PcmTrack(SR)
    pcm.add(x)
    speed = 0.97
    bands = 12.0 * fp.BANDS_PER_SEMITONE * float(np.log2(speed))
    play_a = ChunkMatch("A", 0, 0.0, 33.0, 30.0, 1.0, speed, bands, heard_s=(0.0, 33.0))
    play_b = ChunkMatch("B", 0, 31.0, 60.0, 0.0, 1.0, speed, bands, heard_s=(31.0, 60.0))
    out = (play_a, 20.0 - (20.0 + 30.0) * true_speed / speed)
    into = (play_b, 40.0 - (40.0 - 28.0) * true_speed / speed)
    return pcm, out, into


def test_a_play_at_a_quantized_speed_is_placed_at_the_speed_the_file_plays() -> None:
    """The file plays both songs 3 % slow (1/1.03 = 0.97087, pitch with it) and the plays'
    speed is the quantized 0.97: placed at 0.97 and lined up on their own sides, the
    songs drift 0.9 ms a second against the file, ~7 ms off where the fade is, and the
    spectrum's upper half no longer lines up there. The lags of each own side's two
    halves give the speed the file plays at, and the crossfade's midpoint is placed."""
    rng = np.random.default_rng(8)
    # most of music's energy is low (bass, the lower voices): it is what lines up a song
    # over seconds whose speed is slightly off
    song_a, song_b = _song(rng, 90, low=True), _song(rng, 60, low=True)
    pcm, out, into = _slow_crossfade(rng, song_a, song_b)
    m = _audio_fade(pcm, {"A": song_a, "B": song_b}.get, out, into, 32.5, (0.0, 60.0))
    assert m is not None and abs(m - 32.0) < 0.1, m


# a fade fit reads seconds of a catalog song's kept original, not the whole song: the
# decoder seeks to the stretch (where the codec's timestamps are exact) and stops past it
FILE_SR = 44100


def _original(tmp_path: Path, y: np.ndarray, fmt: str) -> Path:
    """``y`` (at SR) as a stereo 44.1 kHz original, the way a catalog keeps one."""
    z = np.asarray(soxr.resample(y, SR, FILE_SR), np.float32)
    z = 0.3 * z / np.max(np.abs(z))
    path = tmp_path / f"song.{fmt.split('_')[0]}"
    path.write_bytes(encode(Signal(np.stack([z, 0.8 * z]), FILE_SR), fmt))
    return path


def test_a_stretch_of_an_original_is_the_whole_decodes_samples(tmp_path: Path) -> None:
    """FLAC (seeked) and MP3 (decoded from its start, its seek not sample-exact): the
    stretch from 23 s to 41.5 s is the whole decode's samples from 23 s on, and only the
    FLAC's frames around it were decoded."""
    y = _song(np.random.default_rng(11), 60)
    for fmt in ("flac", "mp3_192"):
        path = _original(tmp_path, y, fmt)
        whole = decode(path, mono=True, sr=SR).samples[0]
        part = decode(path, mono=True, sr=SR, span_s=(23, 41.5)).samples[0]
        assert part.size == int(np.ceil(41.5 * SR)) - 23 * SR
        ref = whole[23 * SR : 23 * SR + part.size]
        # the resampler starts without history at the stretch's edges: a few ms differ
        assert np.max(np.abs(part[80:-80] - ref[80:-80])) < 1e-4, fmt
        info: dict[str, int] = {}
        decode_inprocess(path, None, True, SR, source_info=info, span_s=(23, 41.5))
        if fmt == "flac":  # from the frame before 23 s
            assert info["frames"] < 20 * FILE_SR, info
        else:  # from the start, stopping past 41.5 s
            assert info["frames"] < 43 * FILE_SR, info


def test_a_fade_fit_reads_stretches_of_the_kept_original_and_places_the_same_boundary(
    tmp_path: Path,
) -> None:
    """Two songs kept as FLAC originals, played 3 % slow with a 6 s crossfade at 32 s
    (the plays at the quantized 0.97, so the fit refines the speed and searches lags):
    fitted on stretches read from the originals, the midpoint is the one the whole
    decodes give, and each song is read once, two minutes of it from its play's start,
    not the whole song (3-4 minutes)."""
    rng = np.random.default_rng(8)
    songs = {"A": _song(rng, 90, low=True), "B": _song(rng, 60, low=True)}
    more = np.random.default_rng(9)  # the rest of each song, past what the file plays
    songs = {k: np.concatenate([y, _song(more, 150, low=True)]) for k, y in songs.items()}
    for k in songs:
        (tmp_path / k).mkdir()
    paths = {k: _original(tmp_path / k, y, "flac") for k, y in songs.items()}
    whole = {k: decode(p, mono=True, sr=SR).samples[0] for k, p in paths.items()}
    pcm, out, into = _slow_crossfade(rng, whole["A"], whole["B"])
    m_whole = _audio_fade(pcm, whole.get, out, into, 32.5, (0.0, 60.0))
    kept = {k: _KeptSong(p, DecodeLimits()) for k, p in paths.items()}
    m_kept = _audio_fade(pcm, kept.get, out, into, 32.5, (0.0, 60.0))
    assert m_whole is not None and abs(m_whole - 32.0) < 0.1, m_whole
    assert m_kept is not None and abs(m_kept - m_whole) < 0.01, (m_kept, m_whole)
    read = [y.size / SR for song in kept.values() for _, y, _ in song.kept]
    assert len(read) == 2 and max(read) < 130.0, read


def test_a_lag_search_wider_than_the_stretch_is_cut_to_it() -> None:
    """A play far off its speed line asks for a lag search longer than the 5 s own side
    (seed 149 of the bench: ``tonearm scan`` stopped with an IndexError): the search is
    as wide as the stretch, and the lag is found."""
    song = _song(np.random.default_rng(12), 6)
    r = song[: 5 * SR]
    x = np.r_[np.zeros(SR, np.float32), r[: 4 * SR]]  # r played 1 s late
    lag, corr = alignment.fine_lag(x, r, 15 * SR)
    assert lag == SR and corr > 0.99, (lag, corr)


def test_an_end_after_a_repeated_section_is_placed_with_the_alignment_heard_last() -> None:
    """Song A repeats a 17 s section exactly (song 10-27 s and 35-52 s) and is played from
    its start; one chunk in the middle matches the repeat at its first occurrence (the
    song's start 25 s later in the file). A fades out 3 s past the repeat's end, midpoint
    55 s, into song B. Both alignments explain A's own side before the end; the one the
    chunks heard last (nearest the end) runs on to the fade, the other parts from the file
    where the repeat ends (52 s)."""
    rng = np.random.default_rng(5)
    x_, r_, y_, z_ = _song(rng, 10), _song(rng, 17), _song(rng, 8), _song(rng, 13)
    song_a = np.concatenate([x_, r_, y_, r_, z_])
    song_b = _song(rng, 60)
    n = 84 * SR
    a = alignment.placed_song(song_a, SR, 0.0, 1.0, 0.0, n)
    b = alignment.placed_song(song_b, SR, 54.0, 1.0, 0.0, n)
    x = _crossfade(a, b, 55.0, 2.0)
    chunks = [ChunkMatch("A", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k, 1.0) for k in range(3)]
    chunks += [ChunkMatch("A", 3, 36.0, 48.0, 11.0, 1.0)]  # the repeat's first occurrence
    chunks += [ChunkMatch("A", 4, 48.0, 56.0, 48.0, 1.0)]
    chunks += [ChunkMatch("B", 4, 54.0, 60.0, 0.0, 1.0), ChunkMatch("B", 5, 60.0, 72.0, 6.0, 1.0)]
    chunks += [ChunkMatch("B", 6, 72.0, 84.0, 18.0, 1.0)]
    songs = {"A": song_a, "B": song_b}
    lengths = {aid: y.size / SR for aid, y in songs.items()}
    plays = _scanned_plays(x, songs, chunks, lengths_s=lengths)
    assert [p.asset_id for p in plays] == ["A", "B"]
    assert abs(plays[0].file_end_s - 55.0) < 0.2, plays[0]
    assert abs(plays[1].file_start_s - 55.0) < 0.2, plays[1]
    assert abs(plays[0].song_start_s) < 0.2  # the start keeps the play's own alignment


def test_a_play_whose_chunks_heard_under_8_s_is_judged_on_its_placed_length() -> None:
    """Song A plays 22 s (file 30-52 s, cut in and out, between two songs not in the
    catalog); noise let one chunk hear it over 7.8 s only (36.6-44.4 s) and the next
    nothing. Its own audio places the play at 30-52 s: a play. A passage of 7 s of A
    inside a song not in the catalog, heard the same way, stays no play: A's audio
    stops explaining the file where the passage ends."""
    rng = np.random.default_rng(7)
    song_a, x_, y_ = _song(rng, 60), _song(rng, 90), _song(rng, 90)
    n = 84 * SR
    t = np.arange(n) / SR
    a = alignment.placed_song(song_a, SR, 20.0, 1.0, 0.0, n)  # A from its 10 s at 30 s
    x = np.where(t < 30.0, x_[:n], np.where(t < 52.0, a, y_[:n])).astype(np.float32)
    songs, lengths = {"A": song_a}, {"A": 60.0}
    heard = [ChunkMatch("A", 3, 36.6, 44.4, 16.6, 1.0)]
    plays = _scanned_plays(x, songs, heard, lengths_s=lengths)
    assert [p.asset_id for p in plays] == ["A"]
    assert abs(plays[0].file_start_s - 30.0) < 0.3, plays[0]
    assert abs(plays[0].file_end_s - 52.0) < 0.3, plays[0]
    assert abs(plays[0].song_start_s - 10.0) < 0.3
    # A's 20-27 s inside an outside song (file 36-43 s): a shared passage, no play
    passage = alignment.placed_song(song_a, SR, 16.0, 1.0, 0.0, n)
    shared = np.where((t >= 36.0) & (t < 43.0), passage, x_[:n]).astype(np.float32)
    heard = [ChunkMatch("A", 3, 36.3, 42.9, 20.3, 1.0)]
    assert _scanned_plays(shared, songs, heard, lengths_s=lengths) == []


def test_a_fade_both_songs_place_may_lie_past_where_the_outgoing_song_was_last_heard() -> None:
    """Song A fades over 8 s into song B (midpoint 40 s). As a stream's windows hear it,
    A is last heard at 38 s (under B in the fade's second half) and a chance vote makes
    B heard from 31 s, before its first sample (36 s). Both songs' audio put the fade at
    40 s: the boundary goes there, not to where the chunks last heard A."""
    rng = np.random.default_rng(11)
    song_a, song_b = _song(rng, 60), _song(rng, 60)
    n = 72 * SR
    a = alignment.placed_song(song_a, SR, 0.0, 1.0, 0.0, n)
    b = alignment.placed_song(song_b, SR, 26.0, 1.0, 0.0, n)  # B from its 10 s at 36 s
    x = _crossfade(a, b, 40.0, 8.0)
    chunks = [ChunkMatch("A", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k, 1.0) for k in range(3)]
    chunks += [ChunkMatch("A", 3, 36.0, 38.0, 36.0, 1.0)]
    chunks += [ChunkMatch("B", 2, 31.0, 36.0, 5.0, 1.0), ChunkMatch("B", 3, 38.5, 48.0, 12.5, 1.0)]
    chunks += [ChunkMatch("B", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k - 26.0, 1.0) for k in (4, 5)]
    songs, lengths = {"A": song_a, "B": song_b}, {"A": 60.0, "B": 60.0}
    plays = _scanned_plays(x, songs, chunks, lengths_s=lengths)
    assert [p.asset_id for p in plays] == ["A", "B"]
    assert abs(plays[0].file_end_s - 40.0) < 0.1, plays[0]
    assert abs(plays[1].file_start_s - 40.0) < 0.1, plays[1]


def test_a_passage_folded_into_a_play_does_not_come_back_once_the_play_is_over() -> None:
    """The chunks hear song A to 33 s, and song B (which shares A's recording there) over
    27-34 s: B's piece lies in A's stretch, is folded into A's play and listed in it.
    Once A's play is over, B's piece (ending after A's last chunk) is no longer pending:
    on its own it could come back as a play of B (its audio, the shared recording, may
    carry it past A's end)."""
    scanner = PlayScanner(lambda aid: None, lambda aid: 100.0, sr=SR)
    chunks = [ChunkMatch("A", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k, 1.0) for k in range(2)]
    chunks += [ChunkMatch("A", 2, 24.0, 33.0, 24.0, 1.0), ChunkMatch("B", 2, 27.0, 34.0, 7.0, 1.0)]
    for k in range(8):
        events = scanner.add_matches([c for c in chunks if c.chunk == k], 12.0 * k + 12.0)
        ended = [e.play for e in events if e.kind == "end"]
        if ended:
            assert [(p.asset_id, p.also) for p in ended] == [("A", ["B"])]
            assert scanner._pending == []
            return
    raise AssertionError("A's play never ended")


def _into_outside_song(
    rng: np.random.Generator, song: np.ndarray, cut_s: float, other_gain: float
) -> np.ndarray:
    """80 s of file: ``song`` from its 40 s on, cut at ``cut_s`` into a song not in the
    catalog (``other_gain`` times its level), a little noise throughout."""
    n = 80 * SR
    a = alignment.placed_song(song, SR, -40.0, 1.0, 0.0, n)
    b = other_gain * alignment.placed_song(_song(rng, 60), SR, 50.0, 1.0, 0.0, n)
    x = np.where(np.arange(n) < cut_s * SR, a, b)
    return (x + 0.01 * rng.standard_normal(n)).astype(np.float32)


def test_a_song_that_would_be_heard_but_is_not_is_absent_from_there() -> None:
    """The file leaves a song at 60 s for a song not in the catalog: the first block the
    song at its own side's gain would clearly explain, and does not, is at the cut. Where
    the song's own audio is 40 dB down (an outro's last seconds) under the other song,
    no block can tell, and none is said to."""
    rng = np.random.default_rng(30)
    song = _song(rng, 120)
    x = _into_outside_song(rng, song, 60.0, 1.0)
    a_s, n = 50.0, 20 * SR  # a fit's window, the song's own side its first 5 s
    window = x[int(a_s * SR) : int(a_s * SR) + n]
    r = alignment.placed_song(song, SR, -40.0, 1.0, a_s, n)
    xs, rs = alignment._stft(window), alignment._stft(r)
    t = (np.arange(xs.shape[0]) * alignment.FIT_HOP + alignment.FIT_N_FFT / 2) / SR
    got = alignment.absent_from_s(xs, rs, t, 5.0, end=True)
    assert got is not None and abs(a_s + got - 60.0) <= alignment.FIT_BLOCK_S, got
    quiet = song.copy()
    quiet[100 * SR :] *= 0.01  # from the file's 60 s the song's own audio is 40 dB down
    x = _into_outside_song(rng, quiet, 60.0, 1.0)
    r = alignment.placed_song(quiet, SR, -40.0, 1.0, a_s, n)
    xs = alignment._stft(x[int(a_s * SR) : int(a_s * SR) + n])
    assert alignment.absent_from_s(xs, alignment._stft(r), t, 5.0, end=True) is None


def test_a_speed_refined_on_audio_past_the_song_does_not_lose_its_own_side(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The play's speed is the quantized 0.97; its refinement reads the lag of a stretch
    next to the own side, which at a play's end may already be past the song (Hv2 in seed
    149 -3 %: a chance lag, a speed 0.25 % off). Placed at that speed the song no longer
    lines up on its own side; the fit keeps the play's speed, which does, and places the
    end at the cut instead of giving up."""
    rng = np.random.default_rng(31)
    song = _song(rng, 120, low=True)
    n = 80 * SR
    a = alignment.placed_song(song, SR, -40.0 / 0.97, 0.97, 0.0, n)  # the file plays it at 0.97
    other = alignment.placed_song(_song(rng, 60), SR, 50.0, 1.0, 0.0, n)
    x = np.where(np.arange(n) < 60 * SR, a, other).astype(np.float32)
    pcm = PcmTrack(SR)
    pcm.add(x + 0.01 * rng.standard_normal(n).astype(np.float32))
    speed = 0.97
    bands = 12.0 * fp.BANDS_PER_SEMITONE * float(np.log2(speed))
    play = ChunkMatch("A", 0, 0.0, 57.0, 40.0, 1.0, speed, bands, heard_s=(0.0, 57.0))

    def off(x_, r_, sr, speed_, anchor_s, a_s, *rest):  # noqa: ANN001, ANN202
        return speed_ * 1.0025, anchor_s + 0.01

    monkeypatch.setattr(alignment, "refined_speed", off)
    m = _audio_fade(pcm, {"A": song}.get, (play, -40.0 / 0.97), None, 61.0, (0.0, 80.0))
    assert m is not None and abs(m - 60.0) < 0.1, m
