#!/usr/bin/env python3
"""The OpenWrt package under OpenWrt's real procd (tests/openwrt/rig.sh).

The package files are installed at the paths the ipk installs them at, with a
native (glibc) presenced, and driven the way an administrator does: uci,
/etc/init.d/presenced enable/start, reload_config. Expected values come from
the test's own inputs (the frames it writes, the UCI values it sets), procd's
and the kernel's view of the processes (/proc), and Python's hmac.

Needs root; fails (never skips) when anything is missing.
"""
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import ubus_status

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
RIG = os.path.join(HERE, "rig.sh")
# Another package's files (e.g. an older checkout's) can be tried in the rig.
FILES = os.environ.get("PRESENCED_OPENWRT_FILES", os.path.join(TOP, "openwrt", "presenced", "files"))
PRESENCED = os.path.join(TOP, "target", "release", "presenced")
RECEIVER = os.path.join(TOP, "target", "release", "presenced-receiver")
REPORT_SERVER = os.path.join(TOP, "tests", "support", "report_server.py")

KEY = "rig s3cret-%d" % os.getpid()
NETWORK_UID = 101  # base-files' passwd: network
NETWORK_ID = 221234
CLIENT = "00:1b:63:a1:b2:c3"      # probes, not associated
STATION = "00:1b:63:d4:e5:f6"     # probes, associated (in the hostapd stand-in's list)
AFTER_KILL = "00:1b:63:00:00:01"  # probes after kill -9
AFTER_RELOAD = "00:1b:63:00:00:02"  # probes after the wifi reload
PSEUDONYMIZED = "00:1b:63:00:00:03"  # probes while pseudonyms are on
PSEUDONYM_KEY = "rig pseudonym key %d" % os.getpid()
SIGNAL = -47
# A TAP with link type 803 has no hardware address (addr_len 0), where a real
# monitor interface has its phy's: the node MAC is set.
NODE_MAC = "02:00:00:AA:BB:CC"
CAP_NET_ADMIN, CAP_NET_RAW = 12, 13

passed = failed = 0
started = []  # (name, Popen) of everything the test starts on the host


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print("ok  ", what, flush=True)
    else:
        failed += 1
        print("FAIL", what, flush=True)
    return ok


def rig(*args, check_rc=True, timeout=120):
    p = subprocess.run([RIG, *args], capture_output=True, text=True, timeout=timeout)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"rig.sh {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def inside(rig_dir, script, check_rc=True):
    """A shell command line run by the rig's busybox ash, as root, inside."""
    return rig("run", rig_dir, "/bin/sh", "-c", script, check_rc=check_rc)


def wait_for(what, predicate, timeout, step=0.2):
    """predicate's first truthy value, or None after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            print(f"     (waited {timeout} s for {what})", flush=True)
            return None
        time.sleep(step)


def service(rig_dir, name="presenced"):
    p = rig("run", rig_dir, "ubus", "call", "service", "list",
            json.dumps({"name": name, "verbose": True}), check_rc=False)
    if p.returncode != 0 or not p.stdout.strip():
        return p.stdout, {}
    return p.stdout, json.loads(p.stdout).get(name, {}).get("instances", {})


def host_descendants(root_pid):
    """Host PIDs of every process below root_pid (procd's whole tree)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = open(f"/proc/{entry}/status").read()
        except OSError:
            continue
        ppid = int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            found.append(child)
            todo.append(child)
    return found


def read_proc(pid, name):
    try:
        return open(f"/proc/{pid}/{name}", "rb").read()
    except OSError:
        return b""


def presenced_processes(procd_pid):
    """Host PIDs of the presenced daemons in the rig (argv[0] is the binary)."""
    return [pid for pid in host_descendants(procd_pid)
            if read_proc(pid, "cmdline").split(b"\0")[0] == b"/usr/sbin/presenced"]


def reports_in(path):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def reports_at_server(path):
    """report_server.py's records, each with its body parsed."""
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return []
    return [dict(json.loads(json.loads(line)["body"]), record=json.loads(line)) for line in lines if line.strip()]


def rows_for(reports, mac):
    return [(r, row) for r in reports for row in r["probe_requests"] if row["mac"].lower() == mac]


def start(name, argv, **kw):
    p = subprocess.Popen(argv, **kw)
    started.append((name, p))
    return p


def stop_all():
    """Stops what the test started; the names of those that would not stop."""
    stuck = []
    for name, p in reversed(started):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    stuck.append(f"{name} ({p.pid})")
    started.clear()
    return stuck


def main():
    # make's or timeout's SIGTERM still tears the rig down.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if os.geteuid() != 0:
        check(False, "runs as root (namespaces, mounts, TAPs)")
        return
    for path in (PRESENCED, RECEIVER):
        if not check(os.access(path, os.X_OK), f"{os.path.relpath(path, TOP)} is built"):
            return

    run_in_rig("presenced-rig-", run_test)


# What the ipk installs (cross/ipk.sh, the feed Makefile's install step):
# the file in openwrt/presenced/files, its path, its mode.
PACKAGE_FILES = [
    ("presenced.init", "etc/init.d/presenced", 0o755),
    ("presenced.config", "etc/config/presenced", 0o600),
    ("presenced.capabilities.json", "etc/capabilities/presenced.json", 0o644),
    ("presenced.monitor", "usr/libexec/presenced-monitor", 0o755),
    ("presenced.acl.json", "usr/share/acl.d/presenced.json", 0o644),
    ("presenced-status.acl.json", "usr/share/acl.d/presenced-status.json", 0o644),
]


def install_package(rig_dir, root, files=PACKAGE_FILES):
    """The native presenced and the package's files into the rig's root."""
    rig("add-elf", rig_dir, PRESENCED, "/usr/sbin/presenced")
    for source, target, mode in files:
        if not check(os.path.exists(os.path.join(FILES, source)), f"the package has {source}"):
            continue
        path = os.path.join(root, target)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(os.path.join(FILES, source), path)
        os.chmod(path, mode)


def run_in_rig(prefix, body, before_down=()):
    """body(work, rig_dir) in a fresh work directory; a raised step is a
    failure (never a skip); on failure the rig's console and log are
    printed; then everything started is stopped, before_down's callables
    run, the rig is taken down and the teardown checked."""
    work = tempfile.mkdtemp(prefix=prefix)
    rig_dir = os.path.join(work, "rig")
    try:
        body(work, rig_dir)
    except (Exception, KeyboardInterrupt) as e:
        import traceback
        traceback.print_exc()
        check(False, f"test step raised {type(e).__name__}: {e}")
    finally:
        if failed:
            print("--- rig console and log", flush=True)
            print(rig("console", rig_dir, check_rc=False).stdout[-4000:])
            print(inside(rig_dir, "/sbin/logread | tail -n 80", check_rc=False).stdout[-10000:])
        pid_file = os.path.join(rig_dir, "procd.pid")
        procd_pid = open(pid_file).read().strip() if os.path.exists(pid_file) else None
        for step in before_down:
            step()
        stuck = stop_all()
        check(not stuck, f"teardown: every helper process the test started has exited {stuck}")
        rig("down", rig_dir, check_rc=False)
        check_nothing_left(procd_pid, rig_dir)
        shutil.rmtree(work, ignore_errors=True)


def check_nothing_left(procd_pid, rig_dir):
    if procd_pid:
        check(not os.path.exists(f"/proc/{procd_pid}"), "teardown: procd (and so everything in the rig) is gone")
    mounts = open("/proc/self/mounts").read()
    check(rig_dir not in mounts, "teardown: no mount of the rig left in the host's namespace")
    check(not os.path.exists(rig_dir), "teardown: the rig's directory is removed")


def run_test(work, rig_dir):
    t0 = time.monotonic()
    rig("prepare", rig_dir, timeout=900)
    prepared = time.monotonic()
    root = os.path.join(rig_dir, "root")
    install_package(rig_dir, root)
    rig("boot", rig_dir)
    booted = time.monotonic()
    print(f"     rig prepared in {prepared - t0:.1f} s, booted in {booted - prepared:.1f} s", flush=True)
    procd_pid = int(open(os.path.join(rig_dir, "procd.pid")).read())
    rig_root = rig("root", rig_dir).stdout.strip()

    # --- the report receiver, in the rig's network namespace ---------------------
    key_file = os.path.join(work, "key")
    with open(key_file, "w") as f:
        f.write(KEY)
    received = os.path.join(work, "received.jsonl")
    receiver_log = open(os.path.join(work, "receiver.log"), "w")
    start("receiver", [RIG, "netns", rig_dir, RECEIVER, "--listen", "127.0.0.1:0", "--key-file", key_file,
                       "--out", received], stderr=receiver_log)
    port = wait_for("the receiver's port", lambda: re.findall(
        r"listening on 127\.0\.0\.1:(\d+)", open(receiver_log.name).read()), 10)
    if not check(port, "presenced-receiver listens on the rig's own 127.0.0.1"):
        return
    url = f"http://127.0.0.1:{port[0]}/presence"

    # --- hostapd stand-in as user network ------------------------------------------
    hostapd_log = os.path.join(work, "hostapd.log")
    standin = start("hostapd stand-in", [sys.executable, os.path.join(HERE, "hostapd_standin.py"),
                                         "--root", rig_root, "--uid", str(NETWORK_UID), "--gid",
                                         str(NETWORK_UID), "--log", hostapd_log, "--station", STATION],
                    stdout=subprocess.PIPE, text=True)
    check(standin.stdout.readline().strip() == "ready", "hostapd stand-in bound /var/run/hostapd/wlan0 as network")

    # --- configure, enable, start ------------------------------------------------------
    inside(rig_dir, f"""set -e
uci set presenced.main.enabled=1
uci set presenced.main.url='{url}'
uci set presenced.main.key='{KEY}'
uci set presenced.main.phy=phy0
uci set presenced.main.rate=2
uci set presenced.main.network_id={NETWORK_ID}
uci set presenced.main.node_mac={NODE_MAC}
uci commit presenced
/etc/init.d/presenced enable
/etc/init.d/presenced start""")
    check(os.path.islink(os.path.join(root, "etc/rc.d/S95presenced")), "enable: /etc/rc.d/S95presenced")
    check_service_list(rig_dir, procd_pid, url)

    mon0 = inside(rig_dir, "cat /sys/class/net/mon0/type /sys/class/net/mon0/flags", check_rc=False).stdout.split()
    check(len(mon0) == 2 and mon0[0] == "803", f"the init script created mon0 with iw (link type 803): {mon0}")
    check(len(mon0) == 2 and int(mon0[1], 16) & 1 == 1, "mon0 is up")
    node_mac = NODE_MAC

    # --- a real capture, signed reports ----------------------------------------------------
    writer = start_writer(rig_dir, work, "writer1", [CLIENT, STATION])
    both = wait_for("a report with both clients", lambda: (
        rows_for(reports_in(received), CLIENT) and rows_for(reports_in(received), STATION)), 20)
    check(both, "reports with the probing clients reached the receiver (Signature checked by it)")
    reports = reports_in(received)
    for mac, associated in [(CLIENT, False), (STATION, True)]:
        rows = rows_for(reports, mac)
        check(rows and all(row["associated"] is associated for _, row in rows),
              f"{mac}: associated {associated} in every report ({[row['associated'] for _, row in rows]})")
        check(rows and all(row["min_signal"] == row["max_signal"] == row["last_seen_signal"] == SIGNAL
                           for _, row in rows), f"{mac}: signal {SIGNAL} dBm as written")
    check(reports and all(r["network_id"] == NETWORK_ID and r["node_mac"] == node_mac for r in reports),
          f"reports carry network_id {NETWORK_ID} and mon0's MAC {node_mac}")
    receiver_text = open(receiver_log.name).read()
    check("403" not in receiver_text, "the receiver refused no request (no bad or missing Signature)")
    commands = open(hostapd_log).read().splitlines()
    check("STA-FIRST" in commands and f"sta-next {STATION}" in [c.lower() for c in commands],
          "presenced walked the hostapd stand-in's station list (STA-FIRST, STA-NEXT)")
    print("     report:", json.dumps(reports[-1]), flush=True)

    # --- ubus call presenced status, from inside the jail, as user network -----------------------
    listed = ubus_status.signature(RIG, rig_dir)
    check('"status":{}' in listed.replace(" ", ""), f"ubus -v list presenced: the status method ({listed.strip()})")
    got = ubus_status.settled(RIG, rig_dir, lambda: reports_in(received))
    if check(got, "ubus call presenced status answers, counting what the receiver took"):
        status, records = got
        ubus_status.compare(check, status, records, url, 2, KEY, "mon0")
        print("     ubus call presenced status:", json.dumps(status)[:1200], flush=True)

    # --- uci set; uci commit; reload_config ----------------------------------------------------
    second = os.path.join(work, "second.jsonl")
    server = start("report server", [RIG, "netns", rig_dir, sys.executable, REPORT_SERVER, "--log", second,
                                     "--key", KEY], stdout=subprocess.PIPE, text=True)
    second_port = server.stdout.readline().strip()
    second_url = f"http://127.0.0.1:{second_port}/second"
    before = presenced_processes(procd_pid)
    inside(rig_dir, f"uci set presenced.main.rate=3; uci set presenced.main.url='{second_url}'; "
                    "uci commit presenced; reload_config")
    changed = wait_for("the new command line", lambda: command_has(rig_dir, ["--rate", "3"], ["--url", second_url]), 15)
    check(changed, "reload_config: procd restarted presenced with --rate 3 and the new --url")
    after = wait_for("a new presenced", lambda: [p for p in presenced_processes(procd_pid) if p not in before], 10)
    check(after, f"a new presenced process ({before} -> {after})")
    record = wait_for("a report at the second server", lambda: reports_at_server(second), 15)
    if check(record, "a report reached the second URL"):
        body, signature = record[0]["record"]["body"].encode(), record[0]["record"]["signature"]
        expected = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
        check(signature == expected, f"Signature {signature} is Python's HMAC-SHA256 of the body")

    # --- kill -9: procd respawns it ------------------------------------------------------------
    victims = presenced_processes(procd_pid)
    if check(len(victims) == 1, f"one presenced process runs ({victims})"):
        killed_at = time.monotonic()
        os.kill(victims[0], 9)
        respawned = wait_for("the respawned presenced", lambda: [
            p for p in presenced_processes(procd_pid) if p != victims[0]], 20)
        check(respawned, f"kill -9 {victims[0]}: procd respawned presenced ({respawned}, "
                         f"{time.monotonic() - killed_at:.1f} s)")
        stop(writer)
        writer = start_writer(rig_dir, work, "writer2", [AFTER_KILL])
        check(wait_for("a report after the respawn", lambda: rows_for(reports_at_server(second), AFTER_KILL), 20),
              "the respawned presenced captures and reports")

    # --- wifi reload: the monitor interface deleted, the phy away for a while ---------------------
    stop(writer)
    inside(rig_dir, "mkdir -p /tmp/radio && touch /tmp/radio/phy0.down && ip link del mon0")
    gone = wait_for("presenced to notice", lambda: not presenced_processes(procd_pid), 10)
    check(gone, "with mon0 deleted presenced exits (capture failed)")
    time.sleep(4)
    check(inside(rig_dir, "test -e /sys/class/net/mon0", check_rc=False).returncode != 0,
          "while the phy is away nothing has mon0")
    writer = start_writer(rig_dir, work, "writer3", [AFTER_RELOAD])
    inside(rig_dir, "rm /tmp/radio/phy0.down")
    radio_back = time.monotonic()
    resumed = wait_for("capture after the wifi reload", lambda: rows_for(reports_at_server(second), AFTER_RELOAD), 15,
                       step=0.1)
    recovery = time.monotonic() - radio_back
    check(resumed, f"after the phy is back capture resumes within 15 s by itself ({recovery:.1f} s to the first "
                   "report with a frame captured on the new mon0)")
    print(f"     recovery after the simulated wifi reload: {recovery:.1f} s (radio back -> report with new frames)",
          flush=True)
    stop(writer)
    # One writer at a time: the TAP takes one attached fd.
    check_status_flood(rig_dir, work, lambda: reports_at_server(second))

    # --- out-of-range network_id: OpenWrt's validate_data refuses it ---------------------------------
    key_path = os.path.join(rig_root, "tmp/run/presenced/key")
    inside(rig_dir, "uci set presenced.main.network_id=2147483648; uci commit presenced; reload_config")
    refused = wait_for("presenced to stop", lambda: "instance1" not in service(rig_dir)[1]
                       and not presenced_processes(procd_pid), 15)
    check(refused, "network_id 2147483648 (over 2^31 - 1): validate_data refuses it, procd stops presenced")
    check(not os.path.exists(key_path), "... and the key file is removed")
    log = inside(rig_dir, "/sbin/logread", check_rc=False).stdout
    check("invalid settings in /etc/config/presenced" in log, "... and logread says why")
    inside(rig_dir, f"uci set presenced.main.network_id={NETWORK_ID}; uci commit presenced; reload_config")
    check(wait_for("presenced back", lambda: presenced_processes(procd_pid), 15),
          f"network_id {NETWORK_ID} again: presenced runs again")

    # --- issue 9's options through UCI, validate_data and procd ---------------------------------------
    pkey_path = os.path.join(rig_root, "tmp/run/presenced/pseudonymize_key")
    inside(rig_dir, "uci set presenced.main.min_signal=-129; uci commit presenced; reload_config")
    refused = wait_for("presenced to stop", lambda: "instance1" not in service(rig_dir)[1]
                       and not presenced_processes(procd_pid), 15)
    check(refused, "min_signal -129 (below -128 dBm): validate_data refuses it, procd stops presenced")
    inside(rig_dir, f"uci set presenced.main.min_signal=-90; uci set presenced.main.pseudonymize_key='{PSEUDONYM_KEY}'; "
                    "uci set presenced.main.pseudonymize_rotate=daily; uci set presenced.main.randomized_macs=keep; "
                    "uci set presenced.main.spool_bytes=262144; uci commit presenced; reload_config")
    flags = [["--pseudonymize-key-file", "/var/run/presenced/pseudonymize_key"], ["--pseudonymize-rotate", "daily"],
             ["--min-signal", "-90"], ["--spool-bytes", "262144"]]
    check(wait_for("the privacy flags", lambda: command_has(rig_dir, *flags) and presenced_processes(procd_pid), 15),
          f"UCI pseudonymize_key, pseudonymize_rotate, min_signal, spool_bytes become flags: {command_line(rig_dir)}")
    check("--randomized-macs" not in command_line(rig_dir), "randomized_macs keep (the default) passes no flag")
    text, _ = service(rig_dir)
    check(PSEUDONYM_KEY not in text, "the pseudonym key is nowhere in ubus call service list")
    leaked = [p for p in [procd_pid, *host_descendants(procd_pid)]
              if PSEUDONYM_KEY.encode() in read_proc(p, "cmdline") or PSEUDONYM_KEY.encode() in read_proc(p, "environ")]
    check(not leaked, f"the pseudonym key is in no argv nor environment in the rig {leaked}")
    if check(os.path.exists(pkey_path), "/var/run/presenced/pseudonymize_key exists"):
        st = os.stat(pkey_path)
        check(st.st_mode & 0o777 == 0o600 and st.st_uid == NETWORK_UID,
              f"pseudonym key file mode 0600 owned by network ({st.st_mode & 0o777:o}, uid {st.st_uid})")
    # The pseudonym of the day, by Python's hmac: either side of a UTC
    # midnight that may pass while the test runs.
    def pseudonym(day):
        k = hmac.new(PSEUDONYM_KEY.encode(), day.encode(), hashlib.sha256).digest()
        d = bytearray(hmac.new(k, bytes.fromhex(PSEUDONYMIZED.replace(":", "")), hashlib.sha256).digest()[:6])
        d[0] = (d[0] | 0x02) & 0xFE
        return ":".join("%02x" % b for b in d)
    now = time.time()
    expected = {pseudonym(time.strftime("%Y-%m-%d", time.gmtime(t))) for t in (now, now + 120)}
    writer = start_writer(rig_dir, work, "writer4", [PSEUDONYMIZED])
    got = wait_for("a pseudonymized row", lambda: [m for m in expected if rows_for(reports_at_server(second), m)], 20)
    check(got, f"the probes of {PSEUDONYMIZED} arrive under Python's HMAC pseudonym of the day {sorted(expected)}")
    check(not rows_for(reports_at_server(second), PSEUDONYMIZED), "... and never under the raw MAC")
    stop(writer)

    # --- enabled=0 -----------------------------------------------------------------------------------
    check(os.path.exists(key_path), "while running, /var/run/presenced/key exists")
    inside(rig_dir, "uci set presenced.main.enabled=0; uci commit presenced; reload_config")
    stopped = wait_for("presenced to stop", lambda: not service(rig_dir)[1] and not presenced_processes(procd_pid),
                       15)
    check(stopped, "enabled=0 + reload_config: procd has no presenced instance and no presenced runs")
    check(not os.path.exists(key_path), "enabled=0 + reload_config: /var/run/presenced/key is removed")
    check(not os.path.exists(pkey_path), "enabled=0 + reload_config: /var/run/presenced/pseudonymize_key is removed")
    print(f"     test ran {time.monotonic() - booted:.1f} s after boot", flush=True)


FLOODED = "00:1b:63:00:00:04"  # probes while status calls flood ubusd
FLOOD_FRAMES = 150


def check_status_flood(rig_dir, work, reports):
    """Four callers asking for the status without pause while frames are
    captured: every frame is still counted (capture never waits for a status
    call), and the calls are answered all along."""
    calls = os.path.join(work, "status-calls")
    flood = [start(f"status caller {i}", [RIG, "run", rig_dir, "/bin/sh", "-c",
                                          "while [ ! -e /tmp/flood.stop ]; do "
                                          "ubus -t 2 call presenced status >/dev/null && echo ok; done"],
                   stdout=open(f"{calls}.{i}", "w")) for i in range(4)]
    writer = start_writer(rig_dir, work, "flood-writer", [FLOODED], ["--count", str(FLOOD_FRAMES), "--interval", "0.02"])
    done = wait_for("the writer", lambda: writer.poll() is not None, 30)
    counted = wait_for("every flooded frame in the reports", lambda: sum(
        row["count"] for _, row in rows_for(reports(), FLOODED)) == FLOOD_FRAMES, 20)
    inside(rig_dir, "touch /tmp/flood.stop")
    for p in flood:
        stop(p)
    answered = sum(open(f"{calls}.{i}").read().count("ok") for i in range(4))
    got = sum(row["count"] for _, row in rows_for(reports(), FLOODED))
    check(done and counted, f"under a flood of status calls all {FLOOD_FRAMES} frames written are counted ({got})")
    check(answered > 0, f"... and the status calls were answered meanwhile ({answered})")


def start_writer(rig_dir, work, name, macs, extra=()):
    argv = [RIG, "netns", rig_dir, sys.executable, os.path.join(HERE, "probe_writer.py"), "--interface", "mon0",
            "--signal", str(SIGNAL)]
    for mac in macs:
        argv += ["--mac", mac]
    argv += list(extra)
    return start(name, argv, stdout=open(os.path.join(work, name + ".log"), "w"))


def stop(p):
    if p.poll() is None:
        p.terminate()
        p.wait(timeout=5)


def command_line(rig_dir):
    _, instances = service(rig_dir)
    return instances.get("instance1", {}).get("command", [])


def command_has(rig_dir, *pairs):
    command = command_line(rig_dir)
    return all(any(command[i:i + 2] == list(pair) for i in range(len(command))) for pair in pairs) and command


def check_service_list(rig_dir, procd_pid, url):
    text, instances = service(rig_dir)
    print("     ubus call service list:", re.sub(r"\s+", " ", text)[:1500], flush=True)
    main = instances.get("instance1", {})
    command = main.get("command", [])
    check(main.get("running") is True, "procd runs the presenced instance")
    check(command[:1] == ["/usr/sbin/presenced"] and command_has(rig_dir, ["--interface", "mon0"], ["--url", url],
                                                                 ["--rate", "2"], ["--network-id", str(NETWORK_ID)],
                                                                 ["--key-file", "/var/run/presenced/key"],
                                                                 ["--hostapd-dir", "/var/run/hostapd"]),
          f"command line from UCI with --key-file: {command}")
    check(KEY not in text, "the key is nowhere in ubus call service list")
    check(main.get("respawn") == {"threshold": 3600, "timeout": 5, "retry": 0},
          f"respawn 3600 5 0: {main.get('respawn')}")
    check(main.get("term_timeout") == 5, f"term_timeout 5 (presenced's 3 s shutdown budget): {main.get('term_timeout')}")
    check(main.get("user") == "network" and main.get("group") == "network", "user and group network")
    jail = main.get("jail", {})
    check(jail.get("name") == "presenced" and jail.get("sysfs") is True and jail.get("log") is True,
          f"jailed (ujail, name presenced, sysfs, log): {jail}")
    mounts = main.get("mount", {})
    check("/etc/resolv.conf" not in mounts, f"no jail mount of /etc/resolv.conf (ujail adds it): {sorted(mounts)}")
    check(mounts.get("/var/run/presenced") == "1" or mounts.get("/var/run/presenced") == 1,
          "the run directory is mounted read-write into the jail")
    check(main.get("capabilities") == "/etc/capabilities/presenced.json", "capabilities file set")
    monitor = instances.get("monitor", {})
    check(monitor.get("running") is True and monitor.get("command") == ["/usr/libexec/presenced-monitor", "mon0",
                                                                        "phy0"],
          f"the monitor keeper instance runs: {monitor.get('command')}")

    pids = wait_for("the presenced process", lambda: presenced_processes(procd_pid), 10)
    if not check(pids and len(pids) == 1, f"one presenced process in the rig ({pids})"):
        return
    pid = pids[0]
    status = read_proc(pid, "status").decode()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    check(set(uids) == {str(NETWORK_UID)}, f"presenced runs as uid {NETWORK_UID} (network): Uid {uids}")
    effective = int(re.search(r"^CapEff:\s+(\w+)", status, re.M).group(1), 16)
    check(effective == (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW),
          f"effective capabilities exactly CAP_NET_RAW and CAP_NET_ADMIN ({effective:#x})")
    check(os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink(f"/proc/{procd_pid}/ns/mnt"),
          "presenced has its own mount namespace (ujail)")
    leaked = [p for p in [procd_pid, *host_descendants(procd_pid)]
              if KEY.encode() in read_proc(p, "cmdline") or KEY.encode() in read_proc(p, "environ")]
    check(not leaked, f"the key is in no argv nor environment of any process in the rig {leaked}")
    key_stat = os.stat(f"/proc/{procd_pid}/root/tmp/run/presenced/key")
    check(key_stat.st_mode & 0o777 == 0o600 and key_stat.st_uid == NETWORK_UID,
          f"key file mode 0600 owned by network ({key_stat.st_mode & 0o777:o}, uid {key_stat.st_uid})")


if __name__ == "__main__":
    main()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)
