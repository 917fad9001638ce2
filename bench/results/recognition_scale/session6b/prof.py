import sys, numpy as np
from pathlib import Path
sys.path.insert(0, "/work/wt/scale/bench")
import recognition_scale as rs
from tonearm.core.audio.signal import Signal
from tonearm.recognition import match, service
from tonearm.recognition.index import FingerprintIndex
n = int(sys.argv[1])
refs, queries = rs.load_corpus_cached(60, "/tmp/scale/corpus60.pkl")
ix = FingerprintIndex.load(Path(f"/tmp/scale/ix_{n}"))
peaks = [service.query_peaks(Signal(q.y, q.sr)) for q in queries[::6]]
service.match_peaks(ix, peaks[0])
import time; print("start", flush=True); time.sleep(1)
for rep in range(2):
    for p in peaks:
        service.match_peaks(ix, p)
print("done", flush=True)
