#!/usr/bin/env bash
# make demo: a virtual monitor interface, a real capture played into it,
# presenced capturing it, and presenced-receiver checking each signed report.
set -euo pipefail
cd "$(dirname "$0")/.."

capture=${1:?usage: demo/run.sh CAPTURE.pcap}
seconds=${DEMO_SECONDS:-30}
rate=${DEMO_RATE:-5}
bin=target/release
if [ "$(id -u)" != 0 ]; then
  echo "make demo needs root: it creates a network interface" >&2
  exit 1
fi

iface="pddemo$$"
work=$(mktemp -d /tmp/presenced-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip link del "$iface" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The key travels in a 0600 file, never on a command line.
umask 077
printf 'demo key\n' > "$work/key"

"$bin/presenced-receiver" --listen 127.0.0.1:0 --key-file "$work/key" \
  > "$work/reports.jsonl" 2> "$work/receiver.log" &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" "$work/receiver.log" && break; sleep 0.1; done
addr=$(sed -n 's/^presenced-receiver: listening on //p' "$work/receiver.log")
[ -n "$addr" ] || { cat "$work/receiver.log"; exit 1; }

python3 demo/tap_replay.py --name "$iface" --file "$capture" --duration "$seconds" --delay 2 --hold \
  > "$work/player.log" &
player=$!
pids+=($player)
for _ in $(seq 50); do grep -q "interface up" "$work/player.log" && break; sleep 0.1; done

echo "== $(basename "$capture") played into $iface over ${seconds} s; a report every ${rate} s to http://$addr/presence"
"$bin/presenced" -i "$iface" --url "http://$addr/presence" --key-file "$work/key" \
  --rate "$rate" --node-mac ac:86:74:82:9a:30 --network-id 221234 --no-hostapd \
  2> "$work/presenced.log" &
daemon=$!
pids+=($daemon)

# Show each report as the receiver accepts it (signature checked).
tail -n +1 -f "$work/reports.jsonl" | python3 demo/show_reports.py &
pids+=($!)

for _ in $(seq $((seconds * 10 + 100))); do grep -q "played" "$work/player.log" && break; sleep 0.1; done
sleep "$rate"
kill -TERM "$daemon"
wait "$daemon" || true
sleep 0.5
echo "== presenced's log (one line per report):"
cat "$work/presenced.log"
echo "== receiver log (each POST and its signature check):"
cat "$work/receiver.log"
echo "== $(wc -l < "$work/reports.jsonl") signed reports received; the last one as sent:"
tail -n 1 "$work/reports.jsonl"
