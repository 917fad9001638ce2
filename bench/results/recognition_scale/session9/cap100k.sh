#!/bin/bash
# main and the branch concurrently on the 100k index, same queries (every STEP-th)
cd /tmp/scale; STEP=$1
echo "start $(date -u +%T) $(cat /proc/loadavg)" > run/cap100k.log
PYTHONPATH=/tmp/scale/base/src nice -n 5 /work/main/.venv/bin/python prog_cap.py 100000 $STEP '[{"_engine": "main"}]' run/cap100k_main.json 2>run/cap100k_main.err >> run/cap100k.log &
P1=$!
CAP=67108864 PYTHONPATH=/work/wt/scale/src nice -n 5 /work/main/.venv/bin/python prog_cap.py 100000 $STEP '[{"_engine": "branch"}]' run/cap100k_branch.json 2>run/cap100k_branch.err >> run/cap100k.log &
P2=$!
wait $P1 $P2
echo "end $(date -u +%T) $(cat /proc/loadavg)" >> run/cap100k.log
