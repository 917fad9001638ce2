"""Experiment harness: one index, several engine settings, same queries."""

import json
import sys
import time

sys.path.insert(0, "/work/wt/scale/bench")
import numpy as np

import recognition_scale as rs
from tonearm.core.audio.signal import Signal
from tonearm.recognition import match, service

n = int(sys.argv[1])
step = int(sys.argv[2])
settings = json.loads(sys.argv[3])
refs, queries = rs.load_corpus_cached(int(sys.argv[4]), sys.argv[5])
queries = queries[::step]
ix, _, bcpu = rs.build_index(refs, n, 7)
print(json.dumps({"n": n, "build_cpu": round(bcpu, 1), "queries": len(queries)}), flush=True)
sigs = [(q, Signal(q.y, q.sr)) for q in queries]
peaks = [(q, service.query_peaks(s)) for q, s in sigs]
for st in settings:
    for k, v in st.items():
        setattr(match if k.startswith("CAP") else service, k, v)
    rows = []
    for q, p in peaks:
        c0 = time.process_time()
        ms = service.match_peaks(ix, p)
        rows.append((q, ms[0].asset_id if ms else None, (time.process_time() - c0) * 1000))
    pos = [r for r in rows if r[0].in_catalog]
    neg = [r for r in rows if not r[0].in_catalog]
    cpu = np.array([r[2] for r in rows])
    bad = [(r[0].song.split("/")[-1], r[0].cond) for r in pos if r[1] != r[0].song]
    print(
        json.dumps(
            {
                "n": n,
                **st,
                "cpu_p50": round(float(np.percentile(cpu, 50)), 1),
                "cpu_p95": round(float(np.percentile(cpu, 95)), 1),
                "top1": round(sum(r[1] == r[0].song for r in pos) / len(pos), 4),
                "fm": round(
                    sum(r[1] is not None and not rs.contains_recording(r[0], r[1]) for r in neg)
                    / len(neg),
                    4,
                ),
                "fm_any": round(sum(r[1] is not None for r in neg) / len(neg), 4),
                "misses": bad[:12],
            }
        ),
        flush=True,
    )
