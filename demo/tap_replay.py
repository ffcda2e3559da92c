#!/usr/bin/env python3
"""Plays a radiotap capture into a virtual monitor interface.

Creates a TAP interface whose link type is ARPHRD_IEEE80211_RADIOTAP (803):
every frame written to it is received on the interface as if a Wi-Fi card in
monitor mode had heard it, so libpcap (and presenced) capture it with link
type 127. Frames are written with the capture's own spacing, sped up by
--speed; the interface disappears when the script ends.
"""
import argparse
import fcntl
import os
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
TUNSETLINK = 0x400454CD
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ARPHRD_IEEE80211_RADIOTAP = 803


def read_pcap(path):
    """(timestamp, frame) pairs of a classic pcap file with link type 127."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        sys.exit(f"{path}: not a classic pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    if linktype != 127:
        sys.exit(f"{path}: link type {linktype}, not 127 (radiotap)")
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        if off + incl > len(data):
            break  # cut short: play what is complete
        yield sec + frac / (1e9 if nano else 1e6), data[off:off + incl]
        off += incl


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--name", required=True, help="interface name (at most 15 characters)")
    ap.add_argument("--file", required=True)
    ap.add_argument("--speed", type=float, default=1.0, help="play this many times faster")
    ap.add_argument("--duration", type=float, help="instead of --speed: play the whole capture in this many seconds")
    ap.add_argument("--delay", type=float, default=2.0, help="seconds to wait before the first frame")
    ap.add_argument("--hold", action="store_true", help="keep the interface until SIGTERM after the last frame")
    args = ap.parse_args()

    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", args.name.encode(), IFF_TAP | IFF_NO_PI))
    # The link type can only change while the interface is down.
    fcntl.ioctl(fd, TUNSETLINK, ARPHRD_IEEE80211_RADIOTAP)
    subprocess.run(["ip", "link", "set", args.name, "up"], check=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{args.name}: virtual monitor interface up", flush=True)
    time.sleep(args.delay)

    frames = list(read_pcap(args.file))
    first_ts = frames[0][0] if frames else 0.0
    if args.duration and len(frames) > 1 and frames[-1][0] > first_ts:
        args.speed = (frames[-1][0] - first_ts) / args.duration
    start_wall = time.monotonic()
    for n, (ts, frame) in enumerate(frames, 1):
        due = start_wall + (ts - first_ts) / args.speed
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        os.write(fd, frame)
    print(f"{args.name}: played {len(frames)} frames in {time.monotonic() - start_wall:.1f} s", flush=True)
    if args.hold:
        signal.pause()  # SIGTERM ends the script through its handler
    os.close(fd)  # a non-persistent TAP is deleted with its last descriptor


if __name__ == "__main__":
    main()
