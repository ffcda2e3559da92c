"""A second, naive implementation of presenced-server's visits and metrics,
written apart from the Rust one (server/src/analytics/visits.rs, metrics.rs)
from the definitions in README's "Analytics" section, for the tests to
compare with. Slow on purpose: every bucket looks at every visit, occupancy
is counted at every instant where it can change.

stdin: {"rows": [{mac, node_mac, first_seen, last_seen, max_signal,
associated, estimated_device (optional)}], "params": {timeout, min_dwell, min_signal, since, until,
bucket ("hour"|"day"), offset, now, node (optional)}}
stdout: the metrics as JSON, in the Rust structure's shape.
"""
import json
import sys

DAY = 86400


def randomized(mac):
    return int(mac[0:2], 16) & 0x02 != 0


def make_visits(rows, p):
    by_client = {}
    for r in rows:
        by_client.setdefault(r["mac"].lower(), []).append(r)
    out = []
    for mac, rs in by_client.items():
        rs.sort(key=lambda r: (min(r["first_seen"], r["last_seen"]), max(r["first_seen"], r["last_seen"])))
        groups = []
        for r in rs:
            lo, hi = min(r["first_seen"], r["last_seen"]), max(r["first_seen"], r["last_seen"])
            if groups and lo - max(x[1] for x in groups[-1]) < p["timeout"]:
                groups[-1].append((lo, hi, r))
            else:
                groups.append([(lo, hi, r)])
        for g in groups:
            start = min(x[0] for x in g)
            end = max(x[1] for x in g)
            best = max(x[2]["max_signal"] for x in g)
            out.append({
                "mac": mac,
                "start": start,
                "end": end,
                "connected": any(x[2]["associated"] for x in g),
                "class": "estimated_devices" if any(x[2].get("estimated_device") for x in g)
                         else "randomized" if randomized(mac) else "universal",
                "visitor": end - start >= p["min_dwell"] and best >= p["min_signal"],
            })
    return out


def local_day(t, offset):
    return (t + offset) // DAY


def is_repeat(v, visits, offset):
    if not v["visitor"]:
        return False
    d = local_day(v["start"], offset)
    for w in visits:
        if w is v or w["mac"] != v["mac"]:
            continue
        days_seen = range(local_day(w["start"], offset), local_day(w["end"], offset) + 1)
        if any(x in days_seen for x in range(d - 30, d)):
            return True
    return False


def dwell_bin(seconds):
    if seconds < 20 * 60:
        return 0
    if seconds < 60 * 60:
        return 1
    if seconds < 6 * 60 * 60:
        return 2
    return 3


def counts(visits, repeat, lo, hi, want_class):
    members = [v for v in visits if v["start"] < hi and v["end"] >= lo and v["class"] == want_class]
    visitors = [v for v in members if v["visitor"]]
    passersby = [v for v in members if not v["visitor"]]
    dwell = [0, 0, 0, 0]
    for v in visitors:
        dwell[dwell_bin(v["end"] - v["start"])] += 1
    instants = {lo} | {v["start"] for v in visitors if lo <= v["start"] < hi}
    peak = max([sum(1 for v in visitors if v["start"] <= t <= v["end"]) for t in instants] + [0])
    seen = len(visitors) + len(passersby)
    return {
        "unique_clients": len({v["mac"] for v in members}),
        "passersby": len(passersby),
        "visitors": len(visitors),
        "connected": sum(1 for v in members if v["connected"]),
        "capture_rate": len(visitors) / seen if seen else None,
        "dwell": dwell,
        "new_visitors": sum(1 for v in visitors if not repeat[id(v)]),
        "repeat_visitors": sum(1 for v in visitors if repeat[id(v)]),
        "peak_occupancy": peak,
    }


CLASSES = ["universal", "randomized", "estimated_devices"]


def split(visits, repeat, lo, hi):
    return {c: counts(visits, repeat, lo, hi, c) for c in CLASSES}


def main():
    data = json.load(sys.stdin)
    p = data["params"]
    rows = data["rows"]
    if p.get("node"):
        rows = [r for r in rows if r["node_mac"].upper() == p["node"].upper()]
    visits = make_visits(rows, p)
    repeat = {id(v): is_repeat(v, visits, p["offset"]) for v in visits}
    size = 3600 if p["bucket"] == "hour" else DAY
    start = (p["since"] + p["offset"]) // size * size - p["offset"]
    buckets = []
    while start < p["until"]:
        buckets.append({"start": start, "end": start + size, "counts": split(visits, repeat, start, start + size)})
        start += size
    now = p["now"]
    open_now = [v for v in visits if v["visitor"] and v["start"] <= now and now - v["end"] < p["timeout"]]
    print(json.dumps({
        "buckets": buckets,
        "total": split(visits, repeat, p["since"], p["until"]),
        "occupancy_now": {c: sum(1 for v in open_now if v["class"] == c) for c in CLASSES},
    }))


main()
