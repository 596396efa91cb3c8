#!/usr/bin/env python3
"""Runs `herd sim` over herd sizes and topologies and prints the BENCHMARKS.md tables.

Usage: scripts/sim_bench.py [--herd target/release/herd] [--seeds 1,2,3] [--updates 2000]
                            [--sizes 100,300,1000] [--topologies ring,regular,grid] [--loss 0,0.01]

Every figure but wall time is in virtual time, so it does not depend on the machine's load:
each cell is the median over the seeds (the range in brackets when the seeds differ).
"""

import argparse
import json
import statistics
import subprocess


def run(herd, args):
    out = subprocess.run([herd, "sim", "--json", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"herd sim {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def cell(values, fmt):
    m = statistics.median(values)
    lo, hi = min(values), max(values)
    if fmt.format(lo) == fmt.format(hi):
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(lo)}-{fmt.format(hi)})"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--herd", default="target/release/herd")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--updates", default="2000")
    p.add_argument("--sizes", default="100,300,1000")
    p.add_argument("--topologies", default="ring,regular,grid")
    p.add_argument("--loss", default="0,0.01")
    a = p.parse_args()
    print("| topology | servers | links | diameter | loss | to 50% p50 / p99 (ms) | to 99% p50 / p99 (ms) "
          "| to 100% p50 / p99 (ms) | UPDATE msgs per update (x N-1) | ignored per update | KB per update "
          "| wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for topo in a.topologies.split(","):
        for n in a.sizes.split(","):
            for loss in a.loss.split(","):
                rs = [run(a.herd, ["--seed", s, "--topology", topo, "--servers", n, "--updates", a.updates,
                                   "--loss", loss]) for s in a.seeds.split(",")]
                for r in rs:
                    if r["violation"] or not r["converged"]:
                        raise SystemExit(f"seed {r['seed']} did not converge: {r['violation']}")
                frac = lambda i, k: [r["spread"]["to_fraction"][i][k] for r in rs]
                pu = lambda k: [r["per_update"][k] for r in rs]
                print("| " + " | ".join([
                    topo, n,
                    cell([r["links"] for r in rs], "{:.0f}"),
                    cell([r["diameter"] for r in rs], "{:.0f}"),
                    f"{float(loss) * 100:g}%",
                    f"{cell(frac(0, 'p50_ms'), '{:.0f}')} / {cell(frac(0, 'p99_ms'), '{:.0f}')}",
                    f"{cell(frac(1, 'p50_ms'), '{:.0f}')} / {cell(frac(1, 'p99_ms'), '{:.0f}')}",
                    f"{cell(frac(2, 'p50_ms'), '{:.0f}')} / {cell(frac(2, 'p99_ms'), '{:.0f}')}",
                    f"{cell(pu('messages'), '{:.0f}')} ({statistics.median(pu('ratio')):.2f}x)",
                    cell(pu("ignored"), "{:.0f}"),
                    cell([b / 1000 for b in pu("bytes")], "{:.1f}"),
                    cell([r["wall_ms"] / 1000 for r in rs], "{:.1f}"),
                ]) + " |", flush=True)


if __name__ == "__main__":
    main()
