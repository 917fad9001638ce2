import json, sys
a = json.load(open(f"/tmp/scale/run/quick_{sys.argv[1]}_rows.json"))
b = json.load(open(f"/tmp/scale/run/quick_{sys.argv[2]}_rows.json"))
assert len(a) == len(b)
def ans(x): return (x["ours"], round(x["ours_offset"], 1)) if x["ours_score"] >= 0.5 else None
diff = [(x["deg"], x["length_s"], x["song"].split("/")[-1], x["in_catalog"], x["ours"], round(x["ours_offset"],1), y["ours"], round(y["ours_offset"],1), x["ours_score"], y["ours_score"]) for x, y in zip(a, b)
        if ans(x) != ans(y) or (ans(x) and abs(x["ours_score"] - y["ours_score"]) > 1e-3)]
print(len(a), "queries,", len(diff), "differ (answer, offset or score)")
for d in diff[:20]: print(d)
import numpy as np
for L in (10.0, 5.0):
  for r, n in ((a, sys.argv[1]), (b, sys.argv[2])):
    c = np.array([x["extra"]["cpu_ms"] for x in r if x["length_s"] == L][1:])
    print(n, L, "cpu p50/p95", round(float(np.percentile(c, 50)), 1), round(float(np.percentile(c, 95)), 1))
