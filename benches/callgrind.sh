#!/usr/bin/env bash
# Instructions per frame, counted by callgrind (repeatable, unlike time):
# presenced replaying a capture beside a bare C loop of libpcap with the
# same filter on the same file (benches/bare_pcap_loop.c). Printed, never
# asserted. Usage: benches/callgrind.sh PRESENCED CAPTURE WORKDIR
set -euo pipefail
presenced=$1 capture=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
gcc -O2 -o "$work/bare_pcap_loop" "$here/bare_pcap_loop.c" -lpcap
python3 "$here/make_captures.py" repeat "$capture" "$work/x100.pcap" 100
len=$(python3 "$here/make_captures.py" three-words "$work/three-words.pcap" 420000)

instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# With pseudonyms on (daily rotation, the costlier derivation): they are
# computed once per client and window at report time, never per frame, so the
# figure per frame should not move.
printf 'bench pseudonym key\n' >"$work/pseudonym.key"

for file in "$work/x100.pcap" "$work/three-words.pcap"; do
    frames=$("$work/bare_pcap_loop" "$file" | cut -d' ' -f1)
    bare=$(instructions "$work/bare_pcap_loop" "$file")
    ours=$(instructions "$presenced" -r "$file" --stdout --no-hostapd --node-mac 02:00:00:00:00:01 --rate 4294967295 -q)
    pseudo=$(instructions "$presenced" -r "$file" --stdout --no-hostapd --node-mac 02:00:00:00:00:01 --rate 4294967295 -q \
        --pseudonymize-key-file "$work/pseudonym.key" --pseudonymize-rotate daily)
    name=$(basename "$file")
    [ "$name" = three-words.pcap ] && name="$name (radiotap header of three present words, $len bytes)"
    python3 - "$name" "$frames" "$bare" "$ours" "$pseudo" <<'PY'
import sys
name, frames, bare, ours, pseudo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
b, o, p = bare / frames, ours / frames, pseudo / frames
print(f"{name}: {frames} frames; libpcap+BPF loop {b:.0f} instructions/frame, "
      f"presenced {o:.0f}; presenced's own work {o - b:.0f}/frame = {100 * (o - b) / b:.1f}% of the loop's (goal <= 25%)")
print(f"  with --pseudonymize-key-file and --pseudonymize-rotate daily: {p:.0f}/frame "
      f"({p - o:+.1f}/frame; {pseudo - ours:+d} instructions in all)")
PY
done

# --randomized-macs merge: universal addresses must cost what they cost with
# keep (the elements are parsed only for randomized sources); randomized
# ones pay for the parse and the estimate. The universal file is the shared
# capture's 4165 probe requests from universal addresses (of 4203) x20; the
# randomized one the wiproject Huawei tablet session (1284 of its 1310 are
# randomized) x20. 30 s windows, as an access point reports.
randomized_src=$(dirname "$capture")/../randomized/wiproject-01_HuaweiTablet_01.pcap
python3 "$here/make_captures.py" universal "$capture" "$work/universal-x20.pcap" 20
python3 "$here/make_captures.py" repeat "$randomized_src" "$work/randomized-x20.pcap" 20
for file in "$work/universal-x20.pcap" "$work/randomized-x20.pcap"; do
    frames=$("$work/bare_pcap_loop" "$file" | cut -d' ' -f1)
    keep=$(instructions "$presenced" -r "$file" --stdout --no-hostapd --node-mac 02:00:00:00:00:01 --rate 30 -q)
    merge=$(instructions "$presenced" -r "$file" --stdout --no-hostapd --node-mac 02:00:00:00:00:01 --rate 30 -q \
        --randomized-macs merge)
    python3 - "$(basename "$file")" "$frames" "$keep" "$merge" <<'PY'
import sys
name, frames, keep, merge = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"{name}: {frames} frames, 30 s windows; --randomized-macs keep {keep / frames:.0f} instructions/frame, "
      f"merge {merge / frames:.0f} ({(merge - keep) / frames:+.1f}/frame, x{merge / keep:.2f})")
PY
done
