#!/usr/bin/env python3
"""Stand-in for hostapd's control interface in the OpenWrt rig (no radio here).

Written from hostapd's documented ctrl_iface behaviour (hostapd/ctrl_iface.c,
src/ap/ctrl_iface_ap.c; wpa_ctrl.h): one UNIX datagram socket per BSS in the
ctrl_interface directory; a client binds its own socket and sends a command;
the reply goes to the client's address. PING answers "PONG\\n"; STA-FIRST
describes the first station ("MAC\\n" then key=value lines), STA-NEXT MAC the
one after MAC; past the last station the reply is empty; an unknown MAC after
STA-NEXT gets "FAIL\\n"; other commands "UNKNOWN COMMAND\\n".

Like hostapd on OpenWrt it runs as user `network` (uid/gid given), so its
replies reach only client sockets that user may write to. Paths: --root is a
host path to the rig's root (/proc/PID/root); the process works from
ROOT/DIR's parent so that the rig's absolute paths (/var/run/presenced/...)
resolve, under the rig's /var = /tmp, as relative ones.

Each command received is appended to --log as a line.
"""
import argparse
import os
import signal
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True, help="host path of the rig's root")
    ap.add_argument("--dir", default="/var/run/hostapd")
    ap.add_argument("--bss", default="wlan0")
    ap.add_argument("--uid", type=int, required=True)
    ap.add_argument("--gid", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--station", action="append", default=[], help="MAC of an associated station")
    args = ap.parse_args()

    # /var -> tmp in the rig: the stand-in resolves the rig's paths itself
    # (an absolute link would resolve against the host's root).
    def rig_relative(path):
        if path.startswith("/var/"):
            path = "/tmp/" + path[len("/var/"):]
        return path.lstrip("/")

    log = open(args.log, "a", buffering=1)
    os.chdir(args.root)
    control_dir = rig_relative(args.dir)
    os.makedirs(control_dir, exist_ok=True)
    os.chown(control_dir, args.uid, args.gid)
    os.chmod(control_dir, 0o770)
    os.setgroups([])
    os.setgid(args.gid)
    os.setuid(args.uid)

    path = os.path.join(control_dir, args.bss)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)

    stations = [m.lower() for m in args.station]

    def describe(i):
        if i >= len(stations):
            return b""
        return (f"{stations[i]}\nflags=[AUTH][ASSOC][AUTHORIZED]\naid={i + 1}\n"
                "capability=0x431\nlisten_interval=10\n").encode()

    try:
        while True:
            data, client = sock.recvfrom(4096)
            command = data.decode(errors="replace")
            log.write(command + "\n")
            if command == "PING":
                reply = b"PONG\n"
            elif command == "STA-FIRST":
                reply = describe(0)
            elif command.startswith("STA-NEXT "):
                mac = command[len("STA-NEXT "):].strip().lower()
                reply = describe(stations.index(mac) + 1) if mac in stations else b"FAIL\n"
            else:
                reply = b"UNKNOWN COMMAND\n"
            if client:
                try:
                    sock.sendto(reply, rig_relative(client))
                except OSError as e:
                    # hostapd too drops a reply it cannot send.
                    log.write(f"# cannot reply to {client}: {e}\n")
    finally:
        sock.close()
        try:
            os.unlink(path)
        except OSError:
            pass


if __name__ == "__main__":
    main()
