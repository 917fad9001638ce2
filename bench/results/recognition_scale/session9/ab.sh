#!/bin/bash
# main then branch (then main, branch again), one process at a time, same index and queries
# usage: ab.sh N STEP TAG
cd /tmp/scale; N=$1; STEP=$2; TAG=$3
log=run/ab_${TAG}.log
echo "start $(date -u +%T) $(cat /proc/loadavg)" > $log
for rep in 1 2; do
for eng in main branch; do
  if [ $eng = main ]; then T=/tmp/scale/base/src; else T=/work/wt/scale/src; fi
  echo "$eng rep$rep start $(date -u +%T) $(cat /proc/loadavg)" >> $log
  PYTHONPATH=$T nice -n 5 /work/main/.venv/bin/python prog.py $N $STEP "[{\"_engine\": \"$eng\"}]" run/ab_${TAG}_${eng}_$rep.json 2>run/ab_${TAG}_${eng}_$rep.err >> $log
done
done
echo "end $(date -u +%T) $(cat /proc/loadavg)" >> $log
