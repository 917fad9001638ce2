"""Build /tmp/scale/ix_<n> with the spilled build (main.npy written in place), save the rest."""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, "/work/wt/scale/bench")
import recognition_scale as rs

n = int(sys.argv[1])
refs, queries = rs.load_corpus_cached(60, "/tmp/scale/corpus60.pkl")
where = Path(f"/tmp/scale/ix_{n}")
t0 = time.time()
ix, audio_s, bcpu = rs.build_index(refs, n, 7, str(where))
ix.path = where
ix._atomic_save_array(where / "starts.npy", ix.starts)
ix._atomic_save_array(where / "base.npy", ix.base)
ix._save_manifest()
info = {
    "build_cpu_s": bcpu,
    "audio_s": audio_s,
    "wall_s": time.time() - t0,
    "rss_peak_mb": rs.rss_mb(),
    "maxrss_mb": __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss
    / 1e3,
    "index_mb": ix.nbytes / 1e6,
    "mb_per_hour": ix.nbytes / 1e6 / (audio_s / 3600),
    "n_keys": ix.n_keys,
    "load": os.getloadavg()[0],
}
(where / "info.json").write_text(json.dumps(info))
print(json.dumps(info), flush=True)
