import json
import tempfile
import time
from pathlib import Path

from tonearm.recognition.index import FingerprintIndex

out = {}
for n in (10_000, 200_000):
    with tempfile.TemporaryDirectory(dir="/tmp/scale") as d:
        ix = FingerprintIndex(Path(d))
        ix.asset_ids = [f"{i:08d}-aaaa-bbbb-cccc-dddddddddddd" for i in range(n)]
        ix.idx_of = {a: i for i, a in enumerate(ix.asset_ids)}
        ix.n_hashes = {i: 40000 for i in range(n)}
        ix.span_frames = {i: 8800 for i in range(n)}
        c0 = time.perf_counter()
        ix._save_manifest()
        full = time.perf_counter() - c0
        c0 = time.perf_counter()
        for k in range(200):
            ix._log(
                {
                    "op": "add",
                    "idx": n + k,
                    "id": f"x{k}",
                    "n": 1,
                    "span": 1,
                    "seg": f"seg-{n + k}.npy",
                }
            )
        per = (time.perf_counter() - c0) / 200
        out[n] = {
            "manifest_rewrite_ms": round(full * 1000, 1),
            "journal_append_ms": round(per * 1000, 3),
        }
print(json.dumps(out))
