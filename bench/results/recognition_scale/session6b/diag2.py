import sys
from pathlib import Path

sys.path.insert(0, "/work/wt/scale/bench")
import recognition_scale as rs
from tonearm.core.audio.signal import Signal
from tonearm.recognition import match, service
from tonearm.recognition.index import FingerprintIndex

refs, queries = rs.load_corpus_cached(60, "/tmp/scale/corpus60.pkl")
ix = FingerprintIndex.load(Path("/tmp/scale/ix_10000"))
qs = [
    q
    for q in queries[::4]
    if q.song.endswith(("track25.ogg", "track7.ogg")) and q.cond == "pitch_+1st"
]
ov, ova = match.vote, match.vote_assets


def v(*a, **k):
    r = ov(*a, **k)
    print(
        "  vote",
        a[2] if len(a[2]) < 3 else "all",
        k,
        [(c.asset_idx, c.hyp, c.votes) for c in r[0][:4]],
    )
    return r


def va(*a, **k):
    r = ova(*a, **k)
    print("  vote_assets", a[2], a[3], [(c.asset_idx, c.hyp, c.votes) for c in r[:4]])
    return r


service.vote, service.vote_assets = v, va
for st in (
    {"PROBE_STRIDE": 1, "PROBE_RAREST": 0.2},
    {"PROBE_STRIDE": 1, "PROBE_RAREST": 0.2, "PROBE_BUDGET": 20000, "IDENTITY_BUDGET": 150000},
):
    for k, val in st.items():
        setattr(service, k, val)
    for q in qs:
        p = service.query_peaks(Signal(q.y, q.sr))
        print(st, q.song, ix.idx_of[q.song])
        print(service.match_peaks(ix, p))
