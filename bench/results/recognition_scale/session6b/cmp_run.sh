#!/bin/bash
# same-run comparison: main's engine (/tmp/scale/base/src) then this branch's, same index and queries
N=$1; STEP=$2; OUT=/tmp/scale/run/cmp_${N}_s${STEP}.jsonl
cd /tmp/scale
echo "{\"start\": \"$(date -u +%H:%M:%S)\", \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" > $OUT
PYTHONPATH=/tmp/scale/base/src nice -n 5 /work/main/.venv/bin/python knobs2.py $N $STEP '[{"_engine": "main"}]' 60 /tmp/scale/corpus60.pkl 2>>$OUT.err | sed 's/"_engine"/"engine"/' >> $OUT
PYTHONPATH=/work/wt/scale/src nice -n 5 /work/main/.venv/bin/python knobs2.py $N $STEP '[{"_engine": "branch"}]' 60 /tmp/scale/corpus60.pkl 2>>$OUT.err | sed 's/"_engine"/"engine"/' >> $OUT
echo "{\"end\": \"$(date -u +%H:%M:%S)\", \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> $OUT
