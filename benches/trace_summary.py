#!/usr/bin/env python3
"""Where a build's time went, from a `kiln build --trace FILE` profile: each lane (worker),
each step longer than 50 ms, the phases make went through inside each step, and the share of
all step time that compiling, make's own start-up (kconfig, dry runs, prepare) and links took.

    python3 benches/trace_summary.py TRACE.json
"""
import json
import sys

doc = json.load(open(sys.argv[1]))
events = [e for e in doc["traceEvents"] if e["ph"] == "X"]
lanes = [e for e in doc["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"]
steps = [e for e in events if "step" not in e["args"]]
spans = [e for e in events if "step" in e["args"]]
wall = max(e["ts"] + e["dur"] for e in events) / 1e6
print(f"wall {wall:.2f} s on {len(lanes)} lanes: {', '.join(l['args']['name'] for l in lanes)}")
print(f"{'lane':>4}  {'step':<24} {'start':>7} {'end':>7} {'took':>7}  cache")
for e in sorted(steps, key=lambda e: e["ts"]):
    if e["dur"] > 50_000:
        s, d = e["ts"] / 1e6, e["dur"] / 1e6
        print(f"{e['tid']:>4}  {e['name']:<24} {s:7.2f} {s + d:7.2f} {d:7.2f}  {e['args'].get('cache')}")
by_step = {}
for e in spans:
    by_step.setdefault(e["args"]["step"], []).append(f"{e['name']} {e['dur'] / 1e6:.2f} s")
for step, parts in sorted(by_step.items()):
    print(f"  {step}: {', '.join(parts)}")
total = sum(e["dur"] for e in steps) / 1e6
kinds = {}
for e in spans:
    kinds[e["name"]] = kinds.get(e["name"], 0) + e["dur"] / 1e6
fetch = sum(e["dur"] for e in steps if e["cat"] == "fetch") / 1e6
print(f"all step time {total:.1f} s ({total / wall:.2f} lanes busy on average)")
for name, t in sorted(kinds.items(), key=lambda kv: -kv[1]):
    print(f"  make phase {name:<8} {t:6.1f} s  {100 * t / total:4.0f} %")
print(f"  fetch dry runs   {fetch:6.1f} s  {100 * fetch / total:4.0f} %")
