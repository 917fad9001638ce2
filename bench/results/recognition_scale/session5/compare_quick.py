"""Row-by-row table of bench/recognition.py JSON outputs: compare_quick.py NAME=FILE ..."""

import json
import sys
from pathlib import Path

names = [a.split("=", 1)[0] for a in sys.argv[1:]]
ds = [json.loads(Path(a.split("=", 1)[1]).read_text())["tonearm"] for a in sys.argv[1:]]
acc = [d["shipped_threshold"]["accuracy"] for d in ds]
print(
    "len  degradation "
    + "".join(f"{'top1 ' + n:>13}" for n in names)
    + "".join(f"{'tc ' + n:>11}" for n in names)
    + "".join(f"{'fm ' + n:>11}" for n in names)
)
for L in ("10s", "5s"):
    for deg in acc[0][L]:
        r = [a[L][deg] for a in acc]
        print(
            f"{L:4} {deg:11} "
            + "".join(f"{x['top1']:13.3f}" for x in r)
            + "".join(f"{x['timecode_0.5s']:11.3f}" for x in r)
            + "".join(f"{x['false_match']:11.3f}" for x in r)
        )
for d, n in zip(ds, names, strict=True):
    s = d["shipped_threshold"]
    t = d["no_match_threshold"]
    print(
        n,
        "fm",
        s["false_match_rate"],
        s["false_match_rate_no_shared_audio"],
        "tuning/fresh",
        t["false_match_tuning_excerpts"],
        t["false_match_fresh_excerpts"],
        "MB/h",
        d.get("index_mb_per_hour"),
        "cpu",
        d.get("query_cpu_ms") or {k: v for k, v in d.items() if "ms" in k},
    )
