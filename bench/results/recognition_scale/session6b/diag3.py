import json
import sys
from pathlib import Path

sys.path.insert(0, "/work/wt/scale/bench")
import recognition_scale as rs
from tonearm.core.audio.signal import Signal
from tonearm.recognition import service
from tonearm.recognition.index import FingerprintIndex

refs, queries = rs.load_corpus_cached(60, "/tmp/scale/corpus60.pkl")
ix = FingerprintIndex.load(Path("/tmp/scale/ix_100000"))
want = [
    ("track18.ogg", "white_0db"),
    ("voc-dark.ogg", "pitch_-1st"),
    ("call_of_the_winding_path.ogg", "pitch_+1st"),
]
qs = [q for q in queries if q.in_catalog and (q.song.split("/")[-1], q.cond) in want]
peaks = [(q, service.query_peaks(Signal(q.y, q.sr))) for q in qs]
for st in (
    {},
    {"PROBE_RAREST": 0.3},
    {"PROBE_ASSETS": 16},
    {"PROBE_STRIDE": 5, "PROBE_RAREST": 1.0},
):
    saved = {k: getattr(service, k) for k in st}
    for k, v in st.items():
        setattr(service, k, v)
    res = []
    for q, p in peaks:
        m = service.match_peaks(ix, p)
        res.append((q.song.split("/")[-1], q.cond, m[0].asset_id.split("/")[-1] if m else None))
    print(json.dumps({"settings": st, "answers": res}), flush=True)
    for k, v in saved.items():
        setattr(service, k, v)
