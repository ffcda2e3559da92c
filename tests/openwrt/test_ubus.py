#!/usr/bin/env python3
"""`presenced --source hostapd` under OpenWrt's real procd and ubusd (rig.sh).

hostapd itself cannot run here (no radio), so a stand-in written from
hostapd's ubus.c (hostapd-ubus-standin.c, built against the rig's real
libubus) registers hostapd.wlan0 and hostapd.wlan1 as user network (with
wpad's own ACL file) and sends the probe notifications this test scripts.
presenced runs from the package's init script with `option source
'hostapd'`. Expected rows are computed here from the script of
notifications; signatures are checked by presenced-receiver.

Needs root; fails (never skips) when anything is missing.
"""
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time

import test_presenced as t
import ubus_status

HERE = t.HERE
TOP = t.TOP
STAGE = os.path.join(TOP, "build", "openwrt-userland", "stage")
WPAD_ACL = os.path.join(TOP, "build", "openwrt-userland", "src", "openwrt-files", "package", "network",
                        "services", "hostapd", "files", "wpad_acl.json")
STANDIN_SRC = os.path.join(HERE, "hostapd-ubus-standin.c")
PRESENCED_UID = 391  # the feed Makefile's USERID presenced=391
NETWORK_UID = 101
NODE_MAC = "02:00:00:AA:BB:CD"
NETWORK_ID = 4242
KEY = "ubus rig s3cret-%d" % os.getpid()
BROADCAST = "ff:ff:ff:ff:ff:ff"

check = t.check


class Standin:
    """The hostapd stand-in inside the rig: commands on stdin, its lines
    collected (with the monotonic time each was read) by a thread."""

    def __init__(self, rig_dir, log_path):
        self.proc = t.start("hostapd ubus stand-in", [t.RIG, "run", rig_dir, "/usr/sbin/hostapd-ubus-standin", "-u",
                                                      f"{NETWORK_UID}:{NETWORK_UID}"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines = []
        self.lock = threading.Lock()
        self.log = open(log_path, "w", buffering=1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append((time.monotonic(), line.strip()))
            self.log.write(line)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def mark(self):
        with self.lock:
            return len(self.lines)

    def since(self, mark):
        with self.lock:
            return self.lines[mark:]

    def wait(self, what, pattern, mark=0, timeout=10):
        """The (time, line) of the first line from `mark` on matching `pattern`."""
        def found():
            return next(((at, l) for at, l in self.since(mark) if re.fullmatch(pattern, l)), None)
        return t.wait_for(what, found, timeout, step=0.05)

    def close(self):
        try:
            self.proc.stdin.close()  # EOF ends the stand-in
        except OSError:
            pass


def expected_rows(script):
    """Per client: the row the documents define, computed from the script
    (probe notifications that count: a unicast address and a signal)."""
    rows = {}
    for _bss, mac, signal in script:
        if signal is None or int(mac.split(":")[0], 16) & 1:
            continue
        r = rows.setdefault(mac, {"count": 0, "signals": []})
        r["count"] += 1
        r["signals"].append(signal)
    out = {}
    for mac, r in rows.items():
        s = r["signals"]
        total, n = sum(s), len(s)
        # mean rounded half away from zero, by hand
        avg = -((-total * 2 + n) // (2 * n)) if total < 0 else (total * 2 + n) // (2 * n)
        out[mac] = {"count": n, "min_signal": min(s), "max_signal": max(s), "avg_signal": avg,
                    "last_seen_signal": s[-1]}
    return out


def send_script(standin, script, duplicates=()):
    """Sends each notification; waits (bounded) until the stand-in says it
    went out. `duplicates`: the same frame notified again by another BSS,
    right after (what hostapd does for every BSS of a radio)."""
    mark = standin.mark()
    expected = 0
    for bss, mac, signal in script:
        for target in [bss] + [d for d in duplicates if d != bss]:
            standin.send(f"probe {target} {mac} {'none' if signal is None else signal}")
            expected += 1

    def outcomes():
        done = [l for _, l in standin.since(mark) if l.split()[0] in ("sent", "notified", "unsent")]
        return done if len(done) >= expected else None
    done = t.wait_for("the notifications to go out", outcomes, 10, step=0.05) or []
    check(len(done) == expected and not any(l.startswith("unsent") for l in done),
          f"the stand-in sent all {expected} notifications to a subscriber")
    return done


def merged(reports, mac):
    rows = [row for r in reports for row in r["probe_requests"] if row["mac"] == mac]
    return rows


def main():
    signal_handler = lambda *_: (_ for _ in ()).throw(KeyboardInterrupt())  # noqa: E731
    import signal
    signal.signal(signal.SIGTERM, signal_handler)
    if os.geteuid() != 0:
        check(False, "runs as root (namespaces, mounts)")
        return
    for path in (t.PRESENCED, t.RECEIVER):
        if not check(os.access(path, os.X_OK), f"{os.path.relpath(path, TOP)} is built"):
            return
    standins = []

    def body(work, rig_dir):
        standins.append(run_test(work, rig_dir))

    t.run_in_rig("presenced-ubus-rig-", body, before_down=[lambda: [s.close() for s in standins if s]])


def install_package(rig_dir, root, work):
    t.install_package(rig_dir, root)
    # hostapd's own ACL, as the wpad package installs it.
    shutil.copyfile(WPAD_ACL, os.path.join(root, "usr/share/acl.d/wpad_acl.json"))
    # What the package's USERID makes at install (default_postinst).
    with open(os.path.join(root, "etc/passwd"), "a") as f:
        f.write(f"presenced:*:{PRESENCED_UID}:{PRESENCED_UID}:presenced:/var:/bin/false\n")
    with open(os.path.join(root, "etc/group"), "a") as f:
        f.write(f"presenced:x:{PRESENCED_UID}:\n")
    binary = os.path.join(work, "hostapd-ubus-standin")
    build = subprocess.run(["gcc", "-O2", "-Wall", "-Werror", f"-I{STAGE}/usr/include", f"-L{STAGE}/usr/lib",
                            f"-Wl,-rpath-link,{STAGE}/usr/lib", "-o", binary, STANDIN_SRC, "-lubus", "-lubox"],
                           capture_output=True, text=True)
    if not check(build.returncode == 0, f"the hostapd stand-in builds against the rig's libubus {build.stderr[-2000:]}"):
        raise RuntimeError("no stand-in")
    t.rig("add-elf", rig_dir, binary, "/usr/sbin/hostapd-ubus-standin")


def wait_report(received, predicate, timeout, what):
    return t.wait_for(what, lambda: predicate(t.reports_in(received)), timeout, step=0.1)


def run_test(work, rig_dir):
    t.rig("prepare", rig_dir, timeout=900)
    root = os.path.join(rig_dir, "root")
    install_package(rig_dir, root, work)
    t.rig("boot", rig_dir)
    procd_pid = int(open(os.path.join(rig_dir, "procd.pid")).read())

    # --- receiver -----------------------------------------------------------------------
    key_file = os.path.join(work, "key")
    with open(key_file, "w") as f:
        f.write(KEY)
    received = os.path.join(work, "received.jsonl")
    receiver_log = open(os.path.join(work, "receiver.log"), "w")
    t.start("receiver", [t.RIG, "netns", rig_dir, t.RECEIVER, "--listen", "127.0.0.1:0", "--key-file", key_file,
                         "--out", received], stderr=receiver_log)
    port = t.wait_for("the receiver's port", lambda: re.findall(
        r"listening on 127\.0\.0\.1:(\d+)", open(receiver_log.name).read()), 10)
    if not check(port, "presenced-receiver listens in the rig's network namespace"):
        return None
    url = f"http://127.0.0.1:{port[0]}/presence"

    # --- hostapd stand-in, as user network -----------------------------------------------
    standin = Standin(rig_dir, os.path.join(work, "standin.log"))
    check(standin.wait("the stand-in's connection", "connected"), "the hostapd stand-in connected to ubusd")
    ASSOCIATED, NOT_ASSOCIATED, AUTHORIZED_ONLY = "00:1b:63:d4:e5:f6", "00:1b:63:d4:e5:f7", "00:1b:63:d4:e5:f8"
    for line in ["add wlan0", "add wlan1", f"client wlan1 {ASSOCIATED} 1 1", f"client wlan1 {NOT_ASSOCIATED} 0 0",
                 f"client wlan0 {AUTHORIZED_ONLY} 0 1"]:
        standin.send(line)
    check(standin.wait("hostapd.wlan1", r"added hostapd\.wlan1") and standin.wait("wlan0", r"added hostapd\.wlan0"),
          "the stand-in registered hostapd.wlan0 and hostapd.wlan1 as user network (wpad's ACL)")

    # --- configure and start ------------------------------------------------------------------
    t.inside(rig_dir, f"""set -e
uci set presenced.main.enabled=1
uci set presenced.main.source=hostapd
uci set presenced.main.url='{url}'
uci set presenced.main.key='{KEY}'
uci set presenced.main.rate=2
uci set presenced.main.network_id={NETWORK_ID}
uci set presenced.main.node_mac={NODE_MAC}
uci commit presenced
/etc/init.d/presenced enable
/etc/init.d/presenced start""")
    check_instance(rig_dir, procd_pid, url)
    for bss in ("wlan0", "wlan1"):
        check(standin.wait(f"presenced's subscription to hostapd.{bss}", rf"subscribers hostapd\.{bss} 1", timeout=15),
              f"presenced subscribed to hostapd.{bss} (ubusd told the stand-in it has a subscriber)")
    check_source_state(rig_dir, "as user presenced, jailed")

    # --- a script of notifications -> exactly the expected rows ------------------------------------
    first = wait_report(received, lambda r: r, 15, "a first report")
    check(first, "a report (empty or not) reached the receiver")
    A, B, C = "00:1b:63:a1:b2:c3", "00:1b:63:a1:b2:c4", "00:1b:63:a1:b2:c5"
    script = [("wlan0", A, -40), ("wlan0", A, -55), ("wlan1", A, -62), ("wlan1", B, -71), ("wlan0", A, -48),
              ("wlan0", "01:00:5e:00:00:fb", -30),  # group source: dropped
              ("wlan1", C, None),  # no signal: dropped
              ("wlan1", ASSOCIATED, -44), ("wlan0", NOT_ASSOCIATED, -66), ("wlan1", AUTHORIZED_ONLY, -50)]
    want = expected_rows(script)
    before = len(t.reports_in(received))
    # Right after a report: the burst (a few ms) falls in one window.
    wait_report(received, lambda r: len(r) > before, 10, "the next report's start")
    sent_from = time.time()
    send_script(standin, script)
    sent_to = time.time()
    reports = wait_report(received, lambda r: r if all(merged(r, m) for m in want) else None, 15,
                          "reports with every scripted client")
    reports = reports or t.reports_in(received)
    with_rows = [r for r in reports if any(row["mac"] in want for row in r["probe_requests"])]
    check(len(with_rows) == 1, f"the burst fell in one report ({len(with_rows)})")
    got = {row["mac"]: row for r in with_rows for row in r["probe_requests"]}
    for mac, row in want.items():
        have = got.get(mac, {})
        check(all(have.get(k) == v for k, v in row.items()), f"{mac}: row {row} (got {have})")
        check(sent_from - 1 <= have.get("first_seen", 0) <= have.get("last_seen", 0) <= sent_to + 1,
              f"{mac}: first_seen/last_seen are the receive times ({have.get('first_seen')}, {have.get('last_seen')})")
    check(set(got) == set(want), f"exactly the expected clients, group source and no-signal dropped: {sorted(got)}")
    assoc = {mac: got.get(mac, {}).get("associated") for mac in (ASSOCIATED, NOT_ASSOCIATED, AUTHORIZED_ONLY, A)}
    check(assoc == {ASSOCIATED: True, NOT_ASSOCIATED: False, AUTHORIZED_ONLY: True, A: False},
          f"associated from get_clients over ubus (assoc or authorized): {assoc}")
    check(any(l == "get_clients wlan1" for _, l in standin.since(0)), "presenced called get_clients on hostapd.wlan1")
    check(all(r["network_id"] == NETWORK_ID and r["node_mac"] == NODE_MAC for r in reports),
          f"reports carry network_id {NETWORK_ID} and node_mac {NODE_MAC}")
    print("     expected rows:", json.dumps(want, sort_keys=True), flush=True)
    print("     report:       ", json.dumps(with_rows[0] if with_rows else None, sort_keys=True), flush=True)

    # --- every BSS of a radio notifies a frame: counted once ------------------------------------------
    D = "00:1b:63:a1:b2:d0"
    dup_script = [("wlan0", D, -52), ("wlan0", D, -52), ("wlan0", D, -57)]
    before = len(t.reports_in(received))
    wait_report(received, lambda r: len(r) > before, 10, "the next report's start")
    send_script(standin, dup_script, duplicates=("wlan0", "wlan1"))
    wait_report(received, lambda r: merged(r, D) or None, 15, f"a report with {D}")
    time.sleep(2.5)  # a report's length: copies in the next window would show there
    rows = merged(t.reports_in(received), D)
    check(rows and sum(r["count"] for r in rows) == 3 and min(r["min_signal"] for r in rows) == -57,
          f"3 frames notified by both BSSes count 3, not 6: {rows}")

    # --- notify_response: presenced answers, and never rejects ----------------------------------------
    standin.send("respond wlan0 1")
    standin.wait("notify_response on", r"respond wlan0 1")
    E = "00:1b:63:a1:b2:e0"
    mark = standin.mark()
    send_script(standin, [("wlan0", E, -45), ("wlan0", E, -46), ("wlan0", E, -47)])
    lines = [l for _, l in standin.since(mark)]
    answers = [l for l in lines if l.startswith("answer ")]
    notified = [l for l in lines if l.startswith("notified ")]
    check(len(answers) == 3 and all(l.split()[-1] == "0" for l in answers),
          f"with notify_response every notification got presenced's answer, status 0 (never a rejection): {answers}")
    check(len(notified) == 3 and all(l.split()[-1] == "0" for l in notified),
          f"... and hostapd's wait ended with success, not a timeout: {notified}")
    check(wait_report(received, lambda r: merged(r, E) and sum(x["count"] for x in merged(r, E)) == 3, 15,
                      f"{E} counted"), "notifications sent with notify_response are counted too")
    standin.send("respond wlan0 0")

    # --- wifi reload: hostapd.wlan0 removed and added again --------------------------------------------
    mark = standin.mark()
    standin.send("remove wlan0")
    standin.wait("removed", r"removed hostapd\.wlan0", mark)
    gone = t.wait_for("presenced's log line", lambda: "hostapd.wlan0 is gone" in t.inside(
        rig_dir, "/sbin/logread", check_rc=False).stdout, 10)
    check(gone, "presenced noticed hostapd.wlan0 go (logread)")
    mark = standin.mark()
    added_at = time.monotonic()
    standin.send("add wlan0")
    again = standin.wait("the new subscription", r"subscribers hostapd\.wlan0 1", mark, timeout=10)
    resubscribe = again[0] - added_at if again else None
    check(again and resubscribe <= 5, f"hostapd.wlan0 re-added: presenced subscribed again within 5 s "
                                      f"({resubscribe and round(resubscribe, 3)} s)")
    F = "00:1b:63:a1:b2:f0"
    send_script(standin, [("wlan0", F, -58)])
    flowed = wait_report(received, lambda r: merged(r, F), 10, f"a report with {F}")
    check(flowed, "notifications from the re-added hostapd.wlan0 reach the reports")
    print(f"     wlan0 removed and re-added: subscribed again {resubscribe and round(resubscribe, 3)} s after it "
          "was added", flush=True)

    # --- ubusd restarted: presenced reconnects -------------------------------------------------------------
    ubusd = t.inside(rig_dir, "pidof ubusd", check_rc=False).stdout.split()
    pids_before = t.presenced_processes(procd_pid)
    if check(len(ubusd) == 1, f"one ubusd runs ({ubusd})"):
        mark = standin.mark()
        killed_at = time.monotonic()
        t.inside(rig_dir, f"kill -9 {ubusd[0]}")
        back = [standin.wait(f"hostapd.{b} subscribed again", rf"subscribers hostapd\.{b} 1", mark, timeout=20)
                for b in ("wlan0", "wlan1")]
        reconnect = max(b[0] for b in back) - killed_at if all(back) else None
        check(all(back), f"ubusd killed and respawned by procd: presenced reconnected and subscribed to both BSSes "
                         f"again ({reconnect and round(reconnect, 2)} s after the kill)")
        check(t.presenced_processes(procd_pid) == pids_before,
              f"... the same presenced process, not a respawn ({pids_before})")
        G = "00:1b:63:a1:b2:a0"
        send_script(standin, [("wlan1", G, -49), ("wlan0", G, -49)])
        check(wait_report(received, lambda r: merged(r, G), 10, f"a report with {G}"),
              "notifications after the ubusd restart reach the reports (through the jail's ubus directory)")
        check_source_state(rig_dir, "after ubusd's restart: registered again")
        restarted = t.inside(rig_dir, "pidof ubusd", check_rc=False).stdout.split()
        print(f"     ubusd {ubusd} -> {restarted}: presenced subscribed again {reconnect and round(reconnect, 2)} s "
              "after the kill (procd respawns ubusd after 1 s)", flush=True)

    receiver_text = open(receiver_log.name).read()
    check("403" not in receiver_text, "the receiver refused no request (every Signature good)")
    log = t.inside(rig_dir, "/sbin/logread", check_rc=False).stdout
    check("refused" not in log, "presenced logged no refusal by ubusd (its ACL suffices)")
    return standin


def check_instance(rig_dir, procd_pid, url):
    text, instances = t.service(rig_dir)
    print("     ubus call service list:", re.sub(r"\s+", " ", text)[:1200], flush=True)
    main = instances.get("instance1", {})
    command = main.get("command", [])
    check(main.get("running") is True, "procd runs the presenced instance")
    check(command[:3] == ["/usr/sbin/presenced", "--source", "hostapd"] and "--interface" not in command
          and t.command_has(rig_dir, ["--url", url], ["--node-mac", NODE_MAC], ["--key-file", "/var/run/presenced/key"]),
          f"command line --source hostapd, no --interface: {command}")
    check(KEY not in text, "the key is nowhere in ubus call service list")
    check(main.get("user") == "presenced" and main.get("group") == "presenced", "user and group presenced")
    check("capabilities" not in main, f"no capabilities file ({main.get('capabilities')})")
    check("monitor" not in instances, "no monitor keeper instance")
    check(not os.path.exists(f"/proc/{procd_pid}/root/sys/class/net/mon0"), "no monitor interface was made")
    jail = main.get("jail", {})
    mounts = main.get("mount", {})
    check(jail.get("name") == "presenced" and not jail.get("ubus"), f"jailed, without the `ubus` flag: {jail}")
    check(str(mounts.get("/var/run/ubus")) == "0", f"ubusd's directory is mounted read-only: {mounts}")
    pids = t.wait_for("the presenced process", lambda: t.presenced_processes(procd_pid), 10)
    if not check(pids and len(pids) == 1, f"one presenced process ({pids})"):
        return
    status = t.read_proc(pids[0], "status").decode()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    check(set(uids) == {str(PRESENCED_UID)}, f"presenced runs as uid {PRESENCED_UID} (presenced): Uid {uids}")
    caps = {name: int(re.search(rf"^{name}:\s+(\w+)", status, re.M).group(1), 16)
            for name in ("CapEff", "CapPrm", "CapAmb")}
    check(not any(caps.values()), f"no capabilities at all, CAP_NET_RAW included: {caps}")
    check(os.readlink(f"/proc/{pids[0]}/ns/mnt") != os.readlink(f"/proc/{procd_pid}/ns/mnt"),
          "presenced has its own mount namespace (ujail)")


def check_source_state(rig_dir, when):
    """`ubus call presenced status` names the hostapd objects the stand-in
    was told of (its `subscribers hostapd.X 1` lines)."""
    def both():
        status = ubus_status.call(t.RIG, rig_dir)
        source = (status or {}).get("source", {})
        return source if source.get("connected") and sorted(source.get("objects", [])) == [
            "hostapd.wlan0", "hostapd.wlan1"] else None
    source = t.wait_for("the status object's source state", both, 10)
    check(source and source.get("type") == "hostapd",
          f"ubus call presenced status ({when}): source hostapd, connected, both BSSes subscribed: {source}")


if __name__ == "__main__":
    main()
    print(f"{t.passed} passed, {t.failed} failed")
    sys.exit(1 if t.failed or not t.passed else 0)
