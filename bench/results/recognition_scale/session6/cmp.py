"""Settings of one knobs2.py output side by side: cmp.py FILE (answers changed vs the first)."""

import json
import sys
from pathlib import Path

rows = [
    json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines() if '"answers"' in line
]
ref = rows[0]["answers"]
for r in rows:
    d = sum(a != b for a, b in zip(ref, r["answers"], strict=True))
    head = {k: v for k, v in r.items() if k not in ("answers", "misses")}
    print(head, "diff_vs_first:", d, "misses:", r["misses"][:4])
