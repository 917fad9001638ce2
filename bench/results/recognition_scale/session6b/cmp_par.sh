#!/bin/bash
# main's engine and this branch's side by side (concurrently), same index and queries
N=$1; STEP=$2; OUT=/tmp/scale/run/cmp_${N}_s${STEP}.jsonl
cd /tmp/scale
echo "{\"start\": \"$(date -u +%H:%M:%S)\", \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" > $OUT
PYTHONPATH=/tmp/scale/base/src nice -n 5 /work/main/.venv/bin/python knobs2.py $N $STEP '[{"_engine": "main"}]' 60 /tmp/scale/corpus60.pkl > $OUT.main 2>>$OUT.err &
P1=$!
PYTHONPATH=/work/wt/scale/src nice -n 5 /work/main/.venv/bin/python knobs2.py $N $STEP '[{"_engine": "branch"}]' 60 /tmp/scale/corpus60.pkl > $OUT.branch 2>>$OUT.err &
P2=$!
wait $P2; cat $OUT.branch >> $OUT
wait $P1; cat $OUT.main >> $OUT
echo "{\"end\": \"$(date -u +%H:%M:%S)\", \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> $OUT
