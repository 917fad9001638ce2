import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"answers"' in l]
ref = rows[0]["answers"]
for r in rows:
    d = sum(a != b for a, b in zip(ref, r["answers"]))
    print({k: v for k, v in r.items() if k not in ("answers", "misses")}, "diff_vs_first:", d, "misses:", r["misses"][:4])
