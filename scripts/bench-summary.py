#!/usr/bin/env python3
"""Medians and ranges of the reports scripts/bench-round.sh wrote: bench-summary.py OUT_DIR."""
import glob
import json
import statistics as st
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "bench-out"


def reports(pattern):
    return [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{pattern}"))]


def rng(xs, fmt="{:.2f}"):
    xs = sorted(xs)
    return (fmt + " ({}-{})").format(st.median(xs), fmt.format(xs[0]), fmt.format(xs[-1])) if xs else "-"


for v in ["old", "new"]:
    for kind, mode in [("50", "persistent"), ("400", "persistent"), ("50", "per-command")]:
        pairs = [p for r in reports(f"{v}-{kind}-*.json") for p in r["load"] if p["mode"] == mode]
        if not pairs:
            continue
        print(f"{v} {mode} {kind} connections: ratio {rng([p['ratio'] for p in pairs])}")
        fl = [p["floods"] for p in pairs if p.get("floods")]
        if fl:
            print(f"   messages per IAMAT {rng([f['sent_per_iamat'] for f in fl])}, ignored share "
                  f"{rng([f['ignored'] / max(1, f['received']) for f in fl])}")
    for h in [1, 2]:
        p99 = [x["latency_us"]["p99"] for r in reports(f"{v}-50-*.json") if r.get("propagation")
               for x in r["propagation"]["by_hops"] if x["hops"] == h]
        print(f"{v} propagation {h} hop(s) at 5,000/s: p99 µs {sorted(p99)}")
for name in ["procs", "procs1"]:
    pairs = [p for r in reports(f"{name}-*.json") for p in r["load"] if p.get("cpu")]
    if pairs:
        print(f"{name}: CPU ratio {rng([p['cpu']['ratio'] for p in pairs])}, herd µs "
              f"{rng([p['cpu']['server_us'] for p in pairs], '{:.1f}')}, echo µs "
              f"{rng([p['cpu']['echo_us'] for p in pairs], '{:.1f}')}")
ul = reports("ul-*.json")
for h in [1, 2]:
    p = [x for r in ul for x in r["propagation"]["by_hops"] if x["hops"] == h]
    if p:
        print(f"under load, {h} hop(s): p99 from the reply {sorted(x['latency_us']['p99'] for x in p)}, "
              f"from the IAMAT sent {sorted(x['from_send_us']['p99'] for x in p)}")
