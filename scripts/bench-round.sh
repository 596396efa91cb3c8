#!/usr/bin/env bash
# The measurements behind BENCHMARKS.md's "this round" tables: before and after, alternately.
#
#   scripts/bench-round.sh OLD_HERD NEW_HERD [ROUNDS] [OUT_DIR]
#
# OLD_HERD and NEW_HERD are two release builds of `herd` (for example a worktree at the commit
# before the change, and this one). Each round runs, for each binary in turn, the in-process
# load and propagation at 50 connections and the persistent load at 400, then the new binary's
# --processes load without and with --threads 1, and the propagation beside the full load. One
# JSON report per run lands in OUT_DIR; scripts/bench-summary.py prints the medians and ranges.
set -euo pipefail
old=${1:?old herd binary}
new=${2:?new herd binary}
rounds=${3:-5}
out=${4:-bench-out}
mkdir -p "$out"
for i in $(seq 1 "$rounds"); do
  for v in old new; do
    b=$old; [ "$v" = new ] && b=$new
    "$b" bench --phases load,propagation --rounds 1 --json > "$out/$v-50-$i.json"
    "$b" bench --phases load --persistent -c 400 --rounds 1 --json > "$out/$v-400-$i.json"
  done
  "$new" bench --processes --phases load --persistent --rounds 1 --json > "$out/procs-$i.json"
  "$new" bench --processes --phases load --persistent --threads 1 --rounds 1 --json > "$out/procs1-$i.json"
  "$new" bench --phases propagation --under-load --json > "$out/ul-$i.json"
  echo "round $i of $rounds done; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
done
