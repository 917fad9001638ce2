"""Postings and CPU per pass of match_peaks, on a saved index /tmp/scale/ix_<n>.
python count.py N STEP [settings-json]"""
import json, sys, time
from collections import defaultdict
sys.path.insert(0, "/work/wt/scale/bench")
import numpy as np
import recognition_scale as rs
from tonearm.core.audio.signal import Signal
from tonearm.recognition import match, service
from tonearm.recognition.index import FingerprintIndex

n = int(sys.argv[1]); step = int(sys.argv[2])
st = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
for k, v in st.items():
    setattr(match if k.startswith("CAP") else service, k, v)
refs, queries = rs.load_corpus_cached(60, "/tmp/scale/corpus60.pkl")
queries = [q for q in queries[::step]]
ix = FingerprintIndex.load(__import__("pathlib").Path(f"/tmp/scale/ix_{n}"))
peaks = [(q, service.query_peaks(Signal(q.y, q.sr))) for q in queries]
rec = []
orig_vote, orig_va = match.vote, match.vote_assets
def postings(peaks_, hyp_ids, stride=1, rarest=1.0, budget=0):
    h, tq, hy = match._hash_hypotheses(peaks_, hyp_ids, 8, stride)
    src, _ = ix.ranges(h)
    per = sum((s.hi - s.lo for s in src), np.zeros(len(h), np.int64))
    if rarest < 1.0 or budget > 0:
        per = per[match.rarest_hashes(per, hy, rarest, budget)]
    return len(per), int(per.sum())
def v(ix_, p, hyps, **kw):
    c0 = time.process_time(); out = orig_vote(ix_, p, hyps, **kw); dt = time.process_time() - c0
    nh, npost = postings(p, hyps, kw.get("anchor_stride", 1), kw.get("rarest", 1.0), kw.get("budget", 0))
    label = "probe" if len(hyps) > 3 and kw.get("max_candidates") == service.PROBE_ASSETS else ("full_sweep" if len(hyps) > 3 else "identity")
    rec.append((label, nh, npost, dt * 1000)); return out
def va(ix_, p, hyps, assets, **kw):
    c0 = time.process_time(); out = orig_va(ix_, p, hyps, assets, **kw); dt = time.process_time() - c0
    rec.append(("vote_assets_%s" % ("id" if len(hyps) <= 2 else "sweep"), len(assets), 0, dt * 1000)); return out
service.vote, service.vote_assets = v, va
per_pass = defaultdict(list); tot = []
for q, p in peaks:
    rec.clear(); c0 = time.process_time(); ms = service.match_peaks(ix, p)
    tot_ms = sum(r[3] for r in rec)
    tot.append(tot_ms)
    for r in rec:
        per_pass[r[0]].append(r[1:])
    per_pass["_query"].append((len(p.t), sum(r[2] for r in rec), tot_ms))
out = {"n": n, "queries": len(peaks), "settings": st, "load": __import__("os").getloadavg()[0]}
for k, rows in per_pass.items():
    a = np.array(rows, float)
    out[k] = {"calls": len(rows), "med_hashes_or_assets": float(np.median(a[:, 0])), "med_postings": float(np.median(a[:, 1])), "mean_postings": float(a[:, 1].mean()), "med_ms": round(float(np.median(a[:, 2])), 1), "sum_ms": round(float(a[:, 2].sum()), 1)}
print(json.dumps(out), flush=True)
