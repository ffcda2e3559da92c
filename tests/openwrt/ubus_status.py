"""`ubus call presenced status` in the rig, against what a receiver got.

Shared by test_presenced.py (the ubus object under procd and ujail) and
test_luci.py (the same object behind LuCI's status section). The expected
values are the receiver's records (the JSON lines presenced-receiver or
report_server.py wrote for each POST it took) and the test's own UCI values.
"""
import json
import subprocess
import time


def call(rig, rig_dir):
    """The parsed answer of `ubus call presenced status` inside the rig, or None."""
    p = subprocess.run([rig, "run", rig_dir, "ubus", "-t", "5", "call", "presenced", "status"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0 or not p.stdout.strip():
        return None
    return json.loads(p.stdout)


def signature(rig, rig_dir):
    """`ubus -v list presenced` as printed."""
    p = subprocess.run([rig, "run", rig_dir, "ubus", "-v", "list", "presenced"],
                       capture_output=True, text=True, timeout=30)
    return p.stdout


def settled(rig, rig_dir, received, timeout=20):
    """(status, records) read while no report arrived in between: the
    receiver's record count before and after the call is the same, and the
    status counts every one of them. None when that never happens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = received()
        status = call(rig, rig_dir)
        after = received()
        if status and len(before) == len(after) and before and \
                status["totals"]["accepted"] == len(after):
            return status, after
        time.sleep(0.3)
    return None


def compare(check, status, records, url, rate, key, interface):
    """Checks the answer against the receiver's records (each a report body)."""
    totals = status.get("totals", {})
    check(totals.get("accepted") == len(records),
          f"status: totals.accepted {totals.get('accepted')} = the {len(records)} report(s) the receiver took")
    reports = status.get("reports", [])
    # The status keeps the last 16; the receiver's last ones are those.
    tail = records[-len(reports):] if reports else []
    got = [(r.get("result"), r.get("http_status"), r.get("clients")) for r in reports]
    want = [("accepted", 200, len(body["probe_requests"])) for body in tail]
    check(got == want, f"status: the last reports, clients and HTTP status, are the receiver's: {got} vs {want}")
    check(all(r.get("bytes", 0) > 0 for r in reports), "status: every report has its size in bytes")
    config = status.get("config", {})
    check(config.get("url") == url and config.get("rate") == rate and config.get("source") == "monitor"
          and config.get("interface") == interface,
          f"status: config url, rate, source, interface as set with uci: {config}")
    text = json.dumps(status)
    check(key not in text and '"key"' not in text, "status: the key is nowhere in the answer")
    source = status.get("source", {})
    check(source == {"type": "monitor", "interface": interface}, f"status: source {source}")
    window = status.get("window", {})
    drops = window.get("drops", {})
    check(set(drops) == {"bad_radiotap", "bad_fcs", "too_short", "not_probe_request", "group_source",
                         "no_signal", "randomized", "weak_signal", "table_full"},
          f"status: drops by every reason: {sorted(drops)}")
    check(window.get("start", 0) >= status.get("started", 1 << 62), "status: the window started after presenced")
