#!/usr/bin/env bash
# The measurements behind BENCHMARKS.md's "Per-thread executors" table: two builds, alternately.
#
#   scripts/bench-pair.sh OLD_HERD NEW_HERD [OUT_DIR]
#
# OLD_HERD and NEW_HERD are two release builds of `herd`. Runs, for each in turn: the
# --processes persistent load (3 rounds, twice, alternating), the same with --threads 1, the
# in-process load at 50 connections (persistent and per command) and at 400 (5 rounds each),
# and propagation at 5,000 updates/s, idle and beside the full load (5 rounds each). One text
# report per run lands in OUT_DIR (default bench-pair-out).
set -euo pipefail
old=${1:?old herd binary}
new=${2:?new herd binary}
out=${3:-bench-pair-out}
mkdir -p "$out"
for r in 1 2; do
  for v in old new; do
    b=$old; [ "$v" = new ] && b=$new
    "$b" bench --processes --phases load --persistent --rounds 3 > "$out/procs-$v-$r.txt"
  done
done
for v in new old; do
  b=$old; [ "$v" = new ] && b=$new
  "$b" bench --processes --phases load --persistent --rounds 3 --threads 1 > "$out/procs1-$v.txt"
  "$b" bench --phases load --rounds 5 > "$out/load50-$v.txt"
  "$b" bench --phases load --persistent -c 400 --rounds 5 > "$out/load400-$v.txt"
done
for v in old new; do
  b=$old; [ "$v" = new ] && b=$new
  "$b" bench --phases propagation --under-load --rounds 5 > "$out/prop-under-load-$v.txt"
  "$b" bench --phases propagation --rounds 5 > "$out/prop-$v.txt"
done
grep -H "CPU per command\|throughput ratio\|MET " "$out"/*.txt | grep -v "n/a"
