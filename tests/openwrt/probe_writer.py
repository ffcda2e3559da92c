#!/usr/bin/env python3
"""Writes radiotap probe requests into a monitor-link-type TAP (run in the
rig's network namespace), as frames the radio received, until SIGTERM.

Attaches to the existing persistent TAP INTERFACE (created by the rig's iw
stand-in) and, when it disappears (a wifi reload), waits for it to come back
with link type 803 and attaches again. One frame per MAC every --interval s, --count times if given.
Prints one line per attach on stdout, and "wrote N" when --count is done.

Frame layout from the radiotap and IEEE 802.11 specifications: radiotap
header version 0, length 9, present = bit 5 (dBm antenna signal, s8); probe
request: frame control 0x0040, duration 0, addr1 and addr3 broadcast, addr2
the client, sequence control, then SSID (wildcard) and supported rates.
"""
import argparse
import fcntl
import os
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
SIOCGIFHWADDR = 0x8927
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ARPHRD_IEEE80211_RADIOTAP = 803


def probe_request(mac, signal_dbm, seq):
    radiotap = struct.pack("<BBHIb", 0, 0, 9, 1 << 5, signal_dbm)
    addr2 = bytes(int(b, 16) for b in mac.split(":"))
    header = struct.pack("<HH", 0x0040, 0) + b"\xff" * 6 + addr2 + b"\xff" * 6 + struct.pack("<H", (seq & 0xFFF) << 4)
    body = bytes([0, 0]) + bytes([1, 4, 0x02, 0x04, 0x0B, 0x16])
    return radiotap + header + body


def link_type(interface):
    """The interface's ARPHRD type in this network namespace (SIOCGIFHWADDR's
    sa_family; /sys would show the namespace that mounted it), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            reply = fcntl.ioctl(s, SIOCGIFHWADDR, struct.pack("16s24x", interface.encode()))
        except OSError:
            return None
    return struct.unpack_from("H", reply, 16)[0]


def attach(interface):
    # TUNSETIFF on a name that does not exist would create a TAP: attach only
    # to the stand-in radio's interface.
    if link_type(interface) != ARPHRD_IEEE80211_RADIOTAP:
        return None
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", interface.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        return None
    return fd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--interface", required=True)
    ap.add_argument("--mac", action="append", required=True)
    ap.add_argument("--signal", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--count", type=int, default=0, help="stop after this many frames per MAC (0: never)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fd, seq, rounds = None, 0, 0
    while not args.count or rounds < args.count:
        if fd is None:
            fd = attach(args.interface)
            if fd is None:
                time.sleep(0.1)
                continue
            print(f"attached {time.time():.3f}", flush=True)
        try:
            for mac in args.mac:
                os.write(fd, probe_request(mac, args.signal, seq))
                seq += 1
        except OSError:
            os.close(fd)
            fd = None
            continue
        rounds += 1
        time.sleep(args.interval)
    print(f"wrote {rounds}", flush=True)


if __name__ == "__main__":
    main()
