"""bench/recognition.py with engine knobs set:

quick_knobs.py CAP_FACTOR PROBE_STRIDE PROBE_ASSETS -- ARGS
"""

import runpy
import sys

sys.path.insert(0, "/work/wt/scale/bench")
from tonearm.recognition import match, service

match.CAP_FACTOR = float(sys.argv[1])
service.PROBE_STRIDE = int(sys.argv[2])
service.PROBE_ASSETS = int(sys.argv[3])
print("knobs", match.CAP_FACTOR, service.PROBE_STRIDE, service.PROBE_ASSETS, file=sys.stderr)
sys.argv = ["recognition.py"] + sys.argv[5:]
runpy.run_path("/work/wt/scale/bench/recognition.py", run_name="__main__")
