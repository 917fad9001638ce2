#!/bin/bash
# main and the branch concurrently on the saved 10k index, every 2nd query
cd /tmp/scale8
echo "start $(date -u +%T) $(cat /proc/loadavg)" > run/cmp10k_final.log
PYTHONPATH=/tmp/scale8/base/src nice -n 5 /work/main/.venv/bin/python prog.py 10000 2 '[{"_engine": "main 96baee2"}]' run/cmp10k_final_main.json 2>/dev/null >> run/cmp10k_final.log &
P1=$!
PYTHONPATH=/work/wt/scale/src nice -n 5 /work/main/.venv/bin/python prog.py 10000 2 '[{"_engine": "branch 3cfb889"}]' run/cmp10k_final_branch.json 2>/dev/null >> run/cmp10k_final.log &
P2=$!
wait $P1 $P2
echo "end $(date -u +%T) $(cat /proc/loadavg)" >> run/cmp10k_final.log
