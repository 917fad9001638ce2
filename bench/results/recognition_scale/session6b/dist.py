import json
import sys

import numpy as np

sys.path.insert(0, "/work/wt/scale/bench")
import recognition_scale as rs
from tonearm.core.audio.signal import Signal
from tonearm.recognition import match, service

n = int(sys.argv[1])
starts = np.load(f"/tmp/scale/ix_{n}/starts.npy").astype(np.int64)
cnt = np.diff(starts)
refs, queries = rs.load_corpus_cached(60, "/tmp/scale/corpus60.pkl")
qs = queries[::8]
tot = {r: [] for r in (1.0, 0.5, 0.3, 0.2, 0.1, 0.05)}
nh = []
for q in qs:
    p = service.query_peaks(Signal(q.y, q.sr))
    h, t, hy = match._hash_hypotheses(p, [0], 8)
    c = np.sort(cnt[h.astype(np.int64)])
    nh.append(len(c))
    for r in tot:
        k = int(np.ceil(r * len(c)))
        tot[r].append(c[:k].sum())
print(
    json.dumps(
        {
            "n": n,
            "total_postings": int(starts[-1]),
            "used_hashes": int((cnt > 0).sum()),
            "mean_per_used": float(starts[-1] / (cnt > 0).sum()),
            "q_hashes_med": float(np.median(nh)),
            "identity_postings_med_by_rarest_share": {
                str(r): float(np.median(v)) for r, v in tot.items()
            },
            "count_quantiles": {
                str(x): float(np.quantile(cnt[cnt > 0], x))
                for x in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999)
            },
            "share_of_postings_in_top1pct_hashes": float(
                np.sort(cnt)[::-1][: int(0.01 * len(cnt))].sum() / starts[-1]
            ),
        }
    )
)
