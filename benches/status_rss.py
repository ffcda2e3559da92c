#!/usr/bin/env python3
"""What the `presenced` ubus status object costs in memory: presenced live
on a monitor interface in the procd rig (tests/openwrt/rig.sh), twice in one
run: once with no ubusd to reach (--ubus-socket names nothing: the status
thread only retries), once registered on ubusd and answering CALLS calls of
`ubus call presenced status`. Prints VmRSS and VmHWM of each, and the
difference. Figures only, nothing asserted. Needs root.

usage: status_rss.py PRESENCED [CALLS]
"""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "openwrt"))
import test_presenced as t  # noqa: E402


def vm(pid):
    status = open(f"/proc/{pid}/status").read()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) for k in ("VmRSS", "VmHWM")}


def run(rig_dir, procd_pid, work, socket, calls):
    argv = [t.RIG, "run", rig_dir, "/usr/sbin/presenced", "-i", "mon0", "--stdout", "--rate", "1", "-q",
            "--node-mac", t.NODE_MAC, "--no-hostapd"]
    if socket:
        argv += ["--ubus-socket", socket]
    p = t.start("presenced", argv, stdout=subprocess.DEVNULL)
    # Started by nsenter, not by procd: found below the Popen.
    pids = t.wait_for("presenced", lambda: [q for q in t.host_descendants(p.pid)
                                            if t.read_proc(q, "cmdline").startswith(b"/usr/sbin/presenced")], 10)
    writer = t.start_writer(rig_dir, work, "writer", [t.CLIENT, t.STATION])
    time.sleep(3)
    if calls:
        t.inside(rig_dir, f"i=0; while [ $i -lt {calls} ]; do ubus call presenced status >/dev/null; i=$((i+1)); done")
    time.sleep(1)
    figures = vm(pids[0])
    t.stop(writer)
    # nsenter does not pass SIGTERM on: presenced gets it by its PID.
    os.kill(pids[0], 15)
    t.stop(p)
    t.wait_for("presenced to stop", lambda: not os.path.exists(f"/proc/{pids[0]}"), 10)
    return figures


def main():
    binary = sys.argv[1]
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    t.PRESENCED = os.path.abspath(binary)
    work = tempfile.mkdtemp(prefix="presenced-status-rss-")
    rig_dir = os.path.join(work, "rig")
    try:
        t.rig("prepare", rig_dir, timeout=900)
        t.rig("add-elf", rig_dir, t.PRESENCED, "/usr/sbin/presenced")
        t.rig("boot", rig_dir)
        procd_pid = int(open(os.path.join(rig_dir, "procd.pid")).read())
        t.inside(rig_dir, "iw phy phy0 interface add mon0 type monitor && ip link set mon0 up")
        off = run(rig_dir, procd_pid, work, "/var/run/no-ubusd-here.sock", 0)
        on = run(rig_dir, procd_pid, work, None, calls)
        print(f"status object off (no ubusd): VmRSS {off['VmRSS']} kB, VmHWM {off['VmHWM']} kB")
        print(f"registered, {calls} calls answered: VmRSS {on['VmRSS']} kB, VmHWM {on['VmHWM']} kB")
        print(f"difference: VmRSS {on['VmRSS'] - off['VmRSS']:+d} kB, VmHWM {on['VmHWM'] - off['VmHWM']:+d} kB")
    finally:
        t.stop_all()
        t.rig("down", rig_dir, check_rc=False)
        os.rmdir(work) if os.path.isdir(work) and not os.listdir(work) else None


if __name__ == "__main__":
    main()
