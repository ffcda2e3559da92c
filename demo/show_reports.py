#!/usr/bin/env python3
"""Prints a summary of each report line presenced-receiver accepted."""
import json
import sys

for n, line in enumerate(sys.stdin, 1):
    report = json.loads(line)
    rows = report["probe_requests"]
    frames = sum(r["count"] for r in rows)
    print(f"report {n}: signature ok, {len(rows)} clients, {frames} probe requests", flush=True)
    for r in rows:
        print(f"    {r['mac']}  count {r['count']:4}  signal {r['min_signal']}..{r['max_signal']}"
              f"  avg {r['avg_signal']}  last {r['last_seen_signal']} dBm", flush=True)
