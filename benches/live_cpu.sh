#!/usr/bin/env bash
# Live capture CPU, side by side: presenced and `tcpdump -w /dev/null` with
# the same filter capture the same probe requests from one virtual monitor
# interface (benches/tap_inject.c writes them at a fixed rate), and the CPU
# time each used (user + system, from /proc) is printed with the kernel's
# drop counts; then presenced's peak resident memory over windows of 10,000
# clients. Printed, never asserted. Needs root.
# Usage: benches/live_cpu.sh PRESENCED WORKDIR [RATE...]
set -euo pipefail
presenced=$1 work=$2
shift 2
rates=("${@:-100000 200000}")
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
gcc -O2 -o "$work/tap_inject" "$here/tap_inject.c"
ticks=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for rate in ${rates[*]}; do
    iface=pdbench$$
    coproc INJECT { "$work/tap_inject" "$iface" "$rate" 10; }
    read -r iface <&"${INJECT[0]}"
    "$presenced" -i "$iface" --stdout --no-hostapd --node-mac 02:00:00:00:00:01 --rate 5 \
        >/dev/null 2>"$work/presenced-$rate.log" &
    ours=$!
    tcpdump -i "$iface" -w /dev/null 'type mgt subtype probe-req' 2>"$work/tcpdump-$rate.log" &
    theirs=$!
    sleep 2
    ours_before=$(cpu_ticks $ours) theirs_before=$(cpu_ticks $theirs)
    echo go >&"${INJECT[1]}"
    read -r injected <&"${INJECT[0]}"
    sleep 0.5
    ours_after=$(cpu_ticks $ours) theirs_after=$(cpu_ticks $theirs)
    kill -INT $theirs; wait $theirs || true
    kill -TERM $ours; wait $ours || true
    echo done >&"${INJECT[1]}"
    wait "$INJECT_PID" 2>/dev/null || true
    ours_drops=$(grep -o 'kernel_dropped=[0-9]*' "$work/presenced-$rate.log" | cut -d= -f2 | paste -sd+ | bc)
    ours_frames=$(grep -o ' [0-9]* frames,' "$work/presenced-$rate.log" | tr -dc '0-9\n' | paste -sd+ | bc)
    theirs_drops=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$work/tcpdump-$rate.log")
    theirs_frames=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$work/tcpdump-$rate.log")
    python3 - "$rate" "$injected" "$ticks" "$ours_before" "$ours_after" "$theirs_before" "$theirs_after" \
        "$ours_frames" "$ours_drops" "$theirs_frames" "$theirs_drops" <<'PY'
import sys
rate, injected, hz = sys.argv[1], sys.argv[2], int(sys.argv[3])
ob, oa, tb, ta = (int(x) for x in sys.argv[4:8])
of, od, tf, td = sys.argv[8:12]
ours, theirs = (oa - ob) / hz, (ta - tb) / hz
ratio = ours / theirs if theirs > 0 else float("inf")
print(f"{rate}/s asked, injected {injected}: presenced {ours:.2f} s CPU ({of} frames, {od} dropped by the kernel), "
      f"tcpdump {theirs:.2f} s ({tf} frames, {td} dropped); presenced/tcpdump = {ratio:.2f} (goal <= 1.5)")
PY
done

# Peak memory: windows of 10,000 clients (the default --max-clients).
iface=pdbench$$
coproc INJECT { "$work/tap_inject" "$iface" 20000 12 10000; }
read -r iface <&"${INJECT[0]}"
"$presenced" -i "$iface" --stdout --no-hostapd --node-mac 02:00:00:00:00:01 --rate 2 \
    >/dev/null 2>"$work/presenced-memory.log" &
ours=$!
sleep 1
echo go >&"${INJECT[1]}"
read -r injected <&"${INJECT[0]}"
hwm=$(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$ours/status")
clients=$(grep -o 'report: [0-9]* clients' "$work/presenced-memory.log" | awk '{print $2}' | sort -n | tail -1)
kill -TERM $ours; wait $ours || true
echo done >&"${INJECT[1]}"
wait "$INJECT_PID" 2>/dev/null || true
echo "live, windows of up to $clients clients ($injected): presenced peak RSS (VmHWM) $hwm (goal < 8 MB on x86)"
