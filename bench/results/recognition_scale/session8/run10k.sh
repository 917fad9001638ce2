#!/bin/bash
cd /tmp/scale8
echo "start $(date -u +%T) $(cat /proc/loadavg)" > run/cmp10k.log
PYTHONPATH=/tmp/scale8/base/src nice -n 5 /work/main/.venv/bin/python prog.py 10000 1 '[{"_engine": "main 96baee2"}]' run/cmp10k_main.json 2>/dev/null >> run/cmp10k.log
PYTHONPATH=/work/wt/scale/src nice -n 5 /work/main/.venv/bin/python prog.py 10000 1 '[{"_engine": "branch 5088236"}]' run/cmp10k_branch.json 2>/dev/null >> run/cmp10k.log
echo "end $(date -u +%T) $(cat /proc/loadavg)" >> run/cmp10k.log
