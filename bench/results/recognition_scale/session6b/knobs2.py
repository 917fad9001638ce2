"""Experiment harness: one catalog (built once and kept under /tmp/scale/ix_<n>, reloaded
memory-mapped), several engine settings one after another, the same queries.

    PYTHONPATH=src python knobs2.py N STEP '[{}, {"SHORTLIST": true}]' [MAX_SONGS CACHE]

A setting's keys are attributes of tonearm.recognition.service or .match (CAP_*).
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, "/work/wt/scale/bench")  # bench/
import numpy as np

import recognition_scale as rs
from tonearm.core.audio.signal import Signal
from tonearm.recognition import match, service
from tonearm.recognition.index import FingerprintIndex

n = int(sys.argv[1])
step = int(sys.argv[2])
settings = json.loads(sys.argv[3])
max_songs = int(sys.argv[4]) if len(sys.argv) > 4 else 60
cache = sys.argv[5] if len(sys.argv) > 5 else "/tmp/scale/corpus60.pkl"
refs, queries = rs.load_corpus_cached(max_songs, cache)
queries = queries[::step]
where = Path(f"/tmp/scale/ix_{n}")
ix = FingerprintIndex.load(where) if (where / "manifest.json").exists() else None
info = {"n": n, "queries": len(queries)}
if ix is None:
    spill = f"/tmp/scale/spill_{n}" if n >= 30000 else ""
    ix, audio_s, bcpu = rs.build_index(refs, n, 7, spill)
    where.mkdir(parents=True, exist_ok=True)
    ix.path = where
    ix.save()
    (where / "info.json").write_text(json.dumps({"build_cpu_s": bcpu, "audio_s": audio_s}))
    info["built"] = True
info.update(json.loads((where / "info.json").read_text()))
info["index_mb"] = round(ix.nbytes / 1e6, 1)
print(json.dumps(info), flush=True)
sigs = [(q, Signal(q.y, q.sr)) for q in queries]
peaks = [(q, service.query_peaks(s)) for q, s in sigs]
defaults = {}
for st in settings:
    for k in st:
        if k.startswith("_"):
            continue
        mod = match if k.startswith("CAP") else service
        defaults.setdefault(k, getattr(mod, k))
for st in settings:
    for k, v in {**defaults, **st}.items():
        if k.startswith("_"):
            continue
        setattr(match if k.startswith("CAP") else service, k, v)
    rows = []
    for q, p in peaks:
        c0 = time.process_time()
        ms = service.match_peaks(ix, p)
        rows.append((q, ms[0].asset_id if ms else None, (time.process_time() - c0) * 1000))
    pos = [r for r in rows if r[0].in_catalog]
    neg = [r for r in rows if not r[0].in_catalog]
    cpu = np.array([r[2] for r in rows])
    cpu10 = np.array([r[2] for r in rows])
    bad = [(r[0].song.split("/")[-1], r[0].cond, r[1]) for r in pos if r[1] != r[0].song]
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
                "answers": [r[1] for r in rows],
                "load": round(__import__("os").getloadavg()[0], 1),
            }
        ),
        flush=True,
    )
