#!/usr/bin/env python3
"""Capture files for `make bench`, written with the standard library only.

  repeat IN OUT N     IN's records N times, each copy shifted 1000 s later
                      (one window per copy at rate 1000 s, same clients)
  universal IN OUT N  as repeat, with only the records whose source address is universal
                      (0x02 of its first octet clear)
  three-words OUT N   N probe requests from 24 clients whose radiotap header has three present
                      words (radiotap namespace, then two more radiotap
                      namespaces of per-chain fields), as multi-chain drivers
                      (ath9k, iwlwifi) write them
"""
import struct
import sys


def records(path):
    data = open(path, "rb").read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    header, at = data[:24], 24
    while at + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack(endian + "IIII", data[at:at + 16])
        yield endian, header, sec, usec, orig, data[at + 16:at + 16 + incl]
        at += 16 + incl


def repeat(src, dst, n, only=lambda body: True):
    recs = [r for r in records(src) if only(r[5])]
    endian, header = recs[0][0], recs[0][1]
    with open(dst, "wb") as out:
        out.write(header)
        for copy in range(n):
            for _, _, sec, usec, orig, body in recs:
                out.write(struct.pack(endian + "IIII", sec + copy * 1000, usec, len(body), orig))
                out.write(body)


def source_is_universal(body):
    radiotap = struct.unpack("<H", body[2:4])[0]
    sa = body[radiotap + 10:radiotap + 11]
    return len(sa) == 1 and sa[0] & 0x02 == 0


def three_words(dst, n):
    # Present words: 0xa018482f: TSFT, Flags, Rate, Channel, dBm signal,
    # Antenna, RX flags, MCS, A-MPDU status, radiotap namespace next,
    # extended; then 0xa0000820 (dBm signal, Antenna, next namespace,
    # extended) and 0x00000820 (dBm signal, Antenna).
    words = [0xA018482F, 0xA0000820, 0x00000820]
    fields = b""
    at = 8 + 4 * (len(words) - 1)
    fields += b"\x00" * ((8 - at % 8) % 8)          # TSFT is 8-aligned
    fields += struct.pack("<Q", 123456789)          # TSFT
    fields += bytes([0x00, 0x02])                   # Flags, Rate
    fields += struct.pack("<HH", 2437, 0x00A0)      # Channel (at an even offset)
    fields += struct.pack("<bB", -42, 0)            # dBm signal, Antenna
    fields += struct.pack("<H", 0)                  # RX flags
    fields += bytes([0x07, 0x00, 0x05])             # MCS: known, flags, index
    fields += b"\x00" * ((4 - (at + len(fields)) % 4) % 4)  # A-MPDU is 4-aligned
    fields += struct.pack("<IHBB", 42, 0, 0, 0)     # A-MPDU status
    fields += struct.pack("<bB", -44, 0)            # chain 0
    fields += struct.pack("<bB", -45, 1)            # chain 1
    length = 8 + 4 * (len(words) - 1) + len(fields)
    radiotap = struct.pack("<BBH", 0, 0, length) + b"".join(struct.pack("<I", w) for w in words) + fields
    with open(dst, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 127))
        for i in range(n):
            sa = bytes([0x02, 0, 0, 0, 0, i % 24])  # 24 clients, as in a real capture
            mpdu = bytes([0x40, 0x00, 0x00, 0x00]) + b"\xff" * 6 + sa + b"\xff" * 6 + struct.pack("<H", (i & 0xFFF) << 4)
            mpdu += b"\x00\x00"  # SSID element, wildcard
            frame = radiotap + mpdu
            out.write(struct.pack("<IIII", 1_700_000_000 + i // 1000, (i % 1000) * 1000, len(frame), len(frame)))
            out.write(frame)
    return length


if __name__ == "__main__":
    if sys.argv[1] == "repeat":
        repeat(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "universal":
        repeat(sys.argv[2], sys.argv[3], int(sys.argv[4]), only=source_is_universal)
    elif sys.argv[1] == "three-words":
        print(three_words(sys.argv[2], int(sys.argv[3])))
    else:
        sys.exit(__doc__)
