"""bench/recognition.py with engine settings of tonearm.recognition.service set:

quick_knobs.py '{"SHORTLIST": true}' -- ARGS
"""

import json
import runpy
import sys
from pathlib import Path

bench = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(bench))
from tonearm.recognition import service  # noqa: E402

for k, v in json.loads(sys.argv[1]).items():
    setattr(service, k, v)
print("knobs", sys.argv[1], file=sys.stderr)
sys.argv = ["recognition.py"] + sys.argv[3:]
runpy.run_path(str(bench / "recognition.py"), run_name="__main__")
