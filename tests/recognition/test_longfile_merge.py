"""The one long-file scanner's merge rule (recognition.longfile.merge_chunks) and its
incremental form (recognition.scanner.PlayScanner), behind /enterprise/, `tonearm scan` and
the stream monitors: a play is a stretch where one song's alignment holds; a repeated
section or a dropout inside it is not a new play; the song started over is."""

from __future__ import annotations

import copy

import numpy as np

from tonearm.recognition import alignment
from tonearm.recognition import fingerprint as fp
from tonearm.recognition.longfile import ChunkMatch, merge_chunks
from tonearm.recognition.scanner import HEARD_INWARD_S, PlayScanner, ScanEvent


def cm(aid: str, k: int, a: float, b: float, song: float, score: float = 1.0) -> ChunkMatch:
    return ChunkMatch(aid, k, a, b, song, score)


def spans(plays: list[ChunkMatch]) -> list[tuple[str, float, float]]:
    return [(p.asset_id, p.file_start_s, p.file_end_s) for p in plays]


def test_a_repeated_section_inside_a_play_is_one_play() -> None:
    """The DJ plays 15 s of the song twice (file 40-55 is song 30-45 again): the chunks
    after the repeat are 15 s behind in the song, which moves the alignment; still one
    play, whose song position at the start is that of the alignment most of it holds."""
    song = {0: 10.0, 1: 22.0, 2: 34.0, 3: 31.0, 4: 43.0, 5: 55.0}  # chunk -> song position
    chunks = [cm("A", k, 12.0 * k, 12.0 * k + 12.0, song[k]) for k in range(6)]
    plays = merge_chunks(chunks, durations={"A": 200.0})
    assert spans(plays) == [("A", 0.0, 72.0)]
    assert plays[0].song_start_s == 10.0 and plays[0].pieces == 6


def test_a_repeat_at_the_start_of_a_short_song_is_not_a_restart() -> None:
    """A 70 s song played from 5 s with 0-15 s repeated: the song position falls back near
    its beginning, but the play's own alignment has not run out of song, so no restart."""
    chunks = [
        cm("A", 0, 0.0, 12.0, 5.0),
        cm("A", 1, 12.0, 21.0, 17.0),  # song 17-26 (file 12-21)... then 0-15 again
        cm("A", 2, 24.0, 36.0, 1.0),
        cm("A", 3, 36.0, 48.0, 13.0),
    ]
    plays = merge_chunks(chunks, durations={"A": 70.0})
    assert spans(plays) == [("A", 0.0, 48.0)]


def test_a_dropout_is_not_a_new_play() -> None:
    """Two chunks lost in noise (24 s unheard), the alignment unchanged: one play. A repeat
    with one chunk lost next to it: one play too."""
    chunks = [cm("A", k, 12.0 * k, 12.0 * k + 11.0, 12.0 * k) for k in (0, 1, 4, 5)]
    assert spans(merge_chunks(chunks)) == [("A", 0.0, 71.0)]
    jumped = [cm("A", 0, 0.0, 11.0, 40.0), cm("A", 2, 24.0, 35.0, 49.0)]  # 15 s back, 13 s gap
    assert spans(merge_chunks(jumped, durations={"A": 200.0})) == [("A", 0.0, 35.0)]


def test_a_repeat_after_a_chunk_lost_in_noise_is_not_a_new_play() -> None:
    """A play with a 15 s repeated section: the chunk over the repeat heard nothing (noise)
    and the last piece before it ended 1.25 s before its chunk did, so the piece after it,
    15 s back in the song, follows 13.25 s of silence from the chunks: still one play.
    With another song heard in between, the two pieces stay two plays."""
    chunks = [cm("A", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k + 50.0) for k in range(3)]
    chunks += [cm("A", 3, 36.0, 46.75, 86.0), cm("A", 5, 60.0, 71.7, 95.0)]  # 15 s back
    plays = merge_chunks(chunks, durations={"A": 300.0})
    assert spans(plays) == [("A", 0.0, 71.7)]
    assert plays[0].song_start_s == 50.0
    other = [*chunks, cm("B", 4, 48.0, 58.0, 20.0)]
    assert [p.asset_id for p in merge_chunks(other, durations={"A": 300.0})] == ["A", "B", "A"]


def test_the_song_started_over_is_a_new_play() -> None:
    """A 70 s song played whole, then at once again: the second play's first chunk is
    matched at a repeat of its opening section (song 28 s, not 0 s), yet the first play's
    alignment ran out of song before it: two plays. The same song again after 30 s of
    other music, at another position: two plays."""
    first = [cm("A", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k) for k in range(5)]  # 0-60
    again = [
        cm("A", 5, 70.0, 72.0, 28.0),  # the opening section, matched at its repeat
        cm("A", 6, 72.0, 84.0, 2.0),
        cm("A", 7, 84.0, 96.0, 14.0),
    ]
    plays = merge_chunks([*first, *again], durations={"A": 70.0})
    assert [p.asset_id for p in plays] == ["A", "A"]
    assert plays[1].file_start_s == 70.0
    later = [cm("A", k, 12.0 * k, 12.0 * k + 12.0, 100.0 + 12.0 * (k - 8)) for k in (8, 9)]
    plays = merge_chunks([*first, *later], durations={"A": 300.0})
    assert spans(plays) == [("A", 0.0, 60.0), ("A", 96.0, 120.0)]


def _events(
    scanner: PlayScanner, chunks: list[ChunkMatch], end_s: float, hop_s: float = 12.0
) -> list[ScanEvent]:
    """Feed the chunks step by step, as a stream reaches them; every event emitted."""
    events = []
    t = hop_s
    while t <= end_s + 1e-9:
        new = [copy.copy(c) for c in chunks if t - hop_s <= c.file_start_s < t]
        events += scanner.add_matches(new, t)
        t += hop_s
    events += scanner.finish(end_s)
    return events


def _feed(
    scanner: PlayScanner, chunks: list[ChunkMatch], end_s: float, hop_s: float = 12.0
) -> list[tuple[str, str]]:
    return [(e.kind, e.play.asset_id) for e in _events(scanner, chunks, end_s, hop_s)]


def test_scanner_emits_each_play_once_as_the_batch_merge_finds_it() -> None:
    """Fed chunk by chunk (the stream path), the scanner emits one start and one end per
    play, in order, with the plays the merge finds over the whole file (the file path):
    a repeat, a dropout and a crossfade included; min_pieces keeps a lone window out."""
    a = [cm("A", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k) for k in (0, 1, 2, 5, 6)]
    a.append(cm("A", 7, 84.0, 94.0, 70.0))  # a repeat: song 70 again at file 84
    b = [cm("B", k, 12.0 * k + 2.0, 12.0 * k + 12.0, 12.0 * (k - 8)) for k in range(8, 14)]
    stray = cm("C", 20, 240.0, 250.0, 50.0, score=0.95)
    blip = cm("D", 21, 252.0, 257.0, 80.0)  # 5 s of a song: a shared passage, no play
    chunks = [*a, *b, stray, blip]
    batch = merge_chunks(chunks)
    assert [p.asset_id for p in batch] == ["A", "B", "C"]

    def none(aid: str) -> None:
        return None

    scanner = PlayScanner(none, lambda aid: 300.0, sr=8000)
    got = _feed(scanner, chunks, 260.0)
    assert got == [
        ("start", "A"),
        ("start", "B"),
        ("end", "A"),
        ("end", "B"),
        ("start", "C"),
        ("end", "C"),
    ]
    scanner = PlayScanner(none, lambda aid: 300.0, sr=8000, min_pieces=2)
    assert _feed(scanner, chunks, 260.0) == [
        ("start", "A"),
        ("start", "B"),
        ("end", "A"),
        ("end", "B"),
    ]


def test_stream_scanner_needs_more_than_one_passage_heard_by_overlapping_windows() -> None:
    """Windows of 10 s every 3 s (a stream): three windows hear the same 7 s another song
    shares with catalog song C; that is not a play of C. A real play is."""
    shared = [cm("C", k, 100.0 + 0.3 * k, 107.0, 20.0 + 0.3 * k, 0.95) for k in range(3)]
    real = [cm("A", k, 3.0 * k, 3.0 * k + 10.0, 3.0 * k) for k in range(10)]
    scanner = PlayScanner(lambda aid: None, lambda aid: 300.0, sr=8000, min_pieces=2, min_span_s=13)
    assert _feed(scanner, [*real, *shared], 200.0, hop_s=3.0) == [("start", "A"), ("end", "A")]


def test_scanner_ends_a_play_only_after_a_dropout_could_no_longer_continue_it() -> None:
    """After 20 s unheard the play is still open (a dropout); the song back at the same
    alignment continues it, so one end event, not two."""
    chunks = [cm("A", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k) for k in (0, 1, 2, 4, 5)]
    scanner = PlayScanner(lambda aid: None, lambda aid: 300.0, sr=8000)
    events = _feed(scanner, chunks, 200.0)
    assert events == [("start", "A"), ("end", "A")]


def test_boundary_refinement_stays_near_the_chunks_evidence() -> None:
    """A quiet passage 4-12 s before the end of a play (its peaks lost in noise): the peaks'
    presence alone would end the play at the passage; the chunks heard the song up to
    60 s, so the end stays within HEARD_INWARD_S of it."""
    rng = np.random.default_rng(3)
    n = int(120 * fp.FPS)
    t = np.sort(rng.integers(0, n - 70, size=3 * n))
    f1 = rng.integers(10, fp.N_BANDS - 10, size=t.size)
    df = rng.integers(-8, 9, size=t.size)
    dt = rng.integers(fp.DT_MIN, fp.DT_MAX + 1, size=t.size)
    h = ((f1 << (fp.DF_BITS + fp.DT_BITS)) | ((df + fp.DF_MAX) << fp.DT_BITS) | dt).astype(
        np.uint32
    )
    song = alignment.song_peaks(h, t.astype(np.int32))
    # the file plays the song from its t=0 for 60 s, then unrelated audio
    ft = t[t < 60 * fp.FPS].astype(np.float64)
    ff = f1[t < 60 * fp.FPS].astype(np.float64)
    quiet = (ft >= 48 * fp.FPS) & (ft < 56 * fp.FPS)
    ft, ff = ft[~quiet], ff[~quiet]
    other_t = rng.uniform(60 * fp.FPS, 100 * fp.FPS, size=3000)
    other_f = rng.uniform(0, fp.N_BANDS - 1, size=3000)
    scanner = PlayScanner(lambda aid: song, lambda aid: 120.0, sr=8000)
    scanner.add_audio(np.zeros(100 * 8000, dtype=np.float32))
    scanner.add_peaks(np.concatenate([ft, other_t]), np.concatenate([ff, other_f]))
    chunks = [cm("A", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k) for k in range(5)]
    events = []
    for k in range(9):
        events += scanner.add_matches([c for c in chunks if c.chunk == k], 12.0 * k + 12.0)
    events += scanner.finish(100.0)
    (play,) = [e.play for e in events if e.kind == "end"]
    assert abs(play.file_start_s) <= 1.0
    assert play.file_end_s >= 60.0 - HEARD_INWARD_S


def test_two_songs_of_one_recording_report_the_earliest_ingested_with_the_other_listed() -> None:
    """Catalog songs 12 and 5 are one recording (a game ships it under two names): every
    chunk matches both at the same alignment, the later-ingested one a little higher in
    this noise. Which was played the audio cannot tell: the tie rule reports the earliest
    ingested (5), whatever the scores' noise and the input order, with 12 in its
    also_matches and never as a play of its own."""
    twin12 = [cm("12", k, 12.0 * k, 12.0 * k + 12.0, 30.0 + 12.0 * k, 1.0) for k in range(5)]
    twin5 = [cm("5", k, 12.0 * k + 0.5, 12.0 * k + 12.0, 30.5 + 12.0 * k, 0.93) for k in range(5)]
    for chunks in ([*twin12, *twin5], [*twin5, *twin12]):
        plays = merge_chunks(chunks)
        assert [(p.asset_id, p.also) for p in plays] == [("5", ["12"])]
    # the same through the incremental scanner (the stream path), chunk by chunk
    scanner = PlayScanner(lambda aid: None, lambda aid: 300.0, sr=8000)
    events = _events(scanner, [*twin12, *twin5], 120.0)
    assert [(e.kind, e.play.asset_id) for e in events] == [("start", "5"), ("end", "5")]
    assert events[-1].play.also == ["12"]


def test_a_song_sharing_part_of_the_play_is_listed_not_chosen_by_the_tie_rule() -> None:
    """Song 3 (ingested first) shares 36 s of the 60 s song 9 plays: 9's alignment holds
    over the whole play, so 9 is reported and 3 listed; the tie rule is only for songs the
    audio cannot rank."""
    nine = [cm("9", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k) for k in range(5)]
    three = [cm("3", k, 12.0 * k, 12.0 * k + 12.0, 100.0 + 12.0 * k) for k in (1, 2, 3)]
    plays = merge_chunks([*three, *nine])
    assert [(p.asset_id, p.also) for p in plays] == [("9", ["3"])]


def test_a_song_squeezed_out_by_its_neighbours_is_listed_in_the_play_it_shares() -> None:
    """Song 12 heard at 52-64 s over the end of song 5's play (0-60) and the start of
    C's (62-): too little of it inside either to fold, and the crossfade midpoints leave
    it 7 s, under MIN_PLAY_S: no play of 12, but it is in the also_matches of the play
    whose chunks heard it over the longest stretch (5), not lost."""
    five = [cm("5", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k) for k in range(5)]
    twelve = [cm("12", 4, 52.0, 64.0, 30.0)]
    c = [
        cm("C", k, 62.0 + 12.0 * (k - 5), 72.0 + 12.0 * (k - 5), 12.0 * (k - 5))
        for k in range(5, 10)
    ]
    scanner = PlayScanner(lambda aid: None, lambda aid: 300.0, sr=8000)
    events = _events(scanner, [*five, *twelve, *c], 200.0)
    ends = [e.play for e in events if e.kind == "end"]
    assert [p.asset_id for p in ends] == ["5", "C"]
    assert ends[0].also == ["12"]


def test_a_play_sent_never_changes_when_a_song_is_listed_in_it_later() -> None:
    """Song 5's play (0-60 s) ends and is sent; song 12, heard at 57-68 s over its end and
    C's start, is squeezed out one step later and listed in 5's play: the play that was
    sent keeps the also list it was sent with (a stream's callback stands), and an
    ``also`` event carries the grown list (a file's answer takes it)."""
    five = [cm("5", k, 12.0 * k, 12.0 * k + 12.0, 12.0 * k) for k in range(5)]
    twelve = [cm("12", 4, 57.0, 68.0, 30.0)]
    c = [
        cm("C", k, 62.0 + 12.0 * (k - 5), 74.0 + 12.0 * (k - 5), 12.0 * (k - 5))
        for k in range(5, 12)
    ]
    scanner = PlayScanner(lambda aid: None, lambda aid: 300.0, sr=8000)
    events = _events(scanner, [*five, *twelve, *c], 200.0)
    ends = [e.play for e in events if e.kind == "end"]
    assert [p.asset_id for p in ends] == ["5", "C"]
    assert ends[0].also == []  # as it was sent
    (amend,) = [e.play for e in events if e.kind == "also"]
    assert amend.asset_id == "5" and amend.also == ["12"]
    assert amend.file_start_s == ends[0].file_start_s
    starts = [e.play for e in events if e.kind == "start"]
    assert all(p.also == [] for p in starts)


def test_a_repeat_near_the_end_of_a_short_song_is_not_a_restart() -> None:
    """A 70 s song played from 4 s with song 40-55 s played twice (file 0-81): the play's
    first alignment runs out of song at file 66 s; the chunk heard from 63.2 s, after the
    repeat, starts within the restart slack of that, but it puts the song's start 15 s
    later, not after the song's end: one play (hour 34's song 12 was split there). A
    restart crossfaded 2 s into the song's end (its start 2 s before the end) is still a
    new play."""
    chunks = [cm("A", k, 12.0 * k, 12.0 * k + 12.0, 4.0 + 12.0 * k) for k in range(4)]
    chunks += [
        cm("A", 4, 48.0, 51.0, 52.0),  # the repeat begins at file 51 (song 40 again)
        cm("A", 5, 63.2, 72.0, 52.2),  # first vote at 63.2 s: the song's t=0 at file 11
        cm("A", 6, 72.0, 81.0, 61.0),
    ]
    plays = merge_chunks(chunks, durations={"A": 70.0})
    assert spans(plays) == [("A", 0.0, 81.0)]
    restart = [*chunks[:4], cm("A", 4, 48.0, 60.0, 52.0), cm("A", 5, 64.0, 76.0, 0.0)]
    restart.append(cm("A", 6, 76.0, 88.0, 12.0))
    plays = merge_chunks(restart, durations={"A": 70.0})
    assert [p.asset_id for p in plays] == ["A", "A"] and plays[1].file_start_s == 64.0


def test_a_play_resting_on_one_weak_chunk_match_is_no_play() -> None:
    """One 12 s chunk matched at 0.775 (seed 149 +3 %: a sped-up texture matched at the
    wrong speed and pitch) is no play; one chunk at 1.0 is (a song heard once, clearly);
    and a play of several pieces counts whatever its pieces score (noise)."""
    weak = cm("W", 8, 96.0, 106.0, 169.0, score=0.775)
    clear = cm("C", 20, 240.0, 251.0, 50.0, score=1.0)
    noisy = [cm("N", k, 12.0 * k, 12.0 * k + 11.0, 12.0 * k - 300.0, score=0.6) for k in (30, 31)]
    scanner = PlayScanner(lambda aid: None, lambda aid: 300.0, sr=8000)
    assert _feed(scanner, [weak, clear, *noisy], 400.0) == [
        ("start", "C"),
        ("end", "C"),
        ("start", "N"),
        ("end", "N"),
    ]


def test_a_play_runs_at_the_speed_most_of_it_is_heard_at() -> None:
    """Hour 97, song 39: the play's first piece (4.7 s of a chunk) is matched at the next
    speed step, 1.0125 with no pitch change, the other five chunks at 1.0. The play takes
    the speed, pitch and alignment most of it is heard at, not its first piece's (at
    1.0125 and no pitch change it is off the speed line: its fits search a wider lag
    around a drifting alignment)."""
    first = ChunkMatch("A", 0, 243.0, 247.7, 10.49, 1.0, speed=1.0125)
    rest = [cm("A", k, 12.0 * k + 240.0, 12.0 * k + 251.5, 12.0 * k + 7.5) for k in range(1, 6)]
    (play,) = merge_chunks([first, *rest], durations={"A": 76.6})
    assert play.speed == 1.0 and play.shift_bands == 0.0
    assert abs(play.anchor_s - 232.5) < 1e-9 and abs(play.song_start_s - 10.5) < 1e-9
