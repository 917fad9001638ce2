#!/bin/bash
# main and the branch concurrently on the saved 10k index, every STEP-th query
cd /tmp/scale2; STEP=${1:-1}
echo "start $(date -u +%T) $(cat /proc/loadavg)" > run/cmp10k.log
PYTHONPATH=/tmp/scale2/base/src nice -n 5 /work/main/.venv/bin/python prog.py 10000 $STEP '[{"_engine": "main 06fe57a"}]' run/cmp10k_main.json 2>run/cmp10k_main.err >> run/cmp10k.log &
P1=$!
PYTHONPATH=/work/wt/scale2/src nice -n 5 /work/main/.venv/bin/python prog.py 10000 $STEP '[{"_engine": "branch IDENTITY_EARLY"}]' run/cmp10k_branch.json 2>run/cmp10k_branch.err >> run/cmp10k.log &
P2=$!
wait $P1 $P2
echo "end $(date -u +%T) $(cat /proc/loadavg)" >> run/cmp10k.log
