#!/usr/bin/env bash
# make demo: a virtual monitor interface, a real capture played into it,
# presenced capturing it and posting signed reports to presenced-server, which
# checks and stores them; its web page shows them (DEMO_KEEP=1 keeps the server
# up afterwards, to browse them).
set -euo pipefail
cd "$(dirname "$0")/.."

capture=${1:?usage: demo/run.sh CAPTURE.pcap}
seconds=${DEMO_SECONDS:-30}
rate=${DEMO_RATE:-5}
bin=target/release
server_bin=${DEMO_SERVER_BIN:-target/server/presenced-server}
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

"$server_bin" --listen "${DEMO_LISTEN:-127.0.0.1:0}" --database "$work/presence.sqlite" --key-file "$work/key" \
  2> "$work/server.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/server.log" && break; sleep 0.1; done
addr=$(sed -n 's|^presenced-server: listening on http://\([^ ]*\) .*|\1|p' "$work/server.log")
[ -n "$addr" ] || { cat "$work/server.log"; exit 1; }

python3 demo/tap_replay.py --name "$iface" --file "$capture" --duration "$seconds" --delay 2 --hold \
  > "$work/player.log" &
player=$!
pids+=($player)
for _ in $(seq 50); do grep -q "interface up" "$work/player.log" && break; sleep 0.1; done

echo "== $(basename "$capture") played into $iface over ${seconds} s; a report every ${rate} s to presenced-server at http://$addr/presence"
"$bin/presenced" -i "$iface" --url "http://$addr/presence" --key-file "$work/key" \
  --rate "$rate" --node-mac ac:86:74:82:9a:30 --network-id 221234 --no-hostapd \
  2> "$work/presenced.log" &
daemon=$!
pids+=($daemon)

for _ in $(seq $((seconds * 10 + 100))); do grep -q "played" "$work/player.log" && break; sleep 0.1; done
sleep "$rate"
kill -TERM "$daemon"
wait "$daemon" || true
sleep 0.5
echo "== presenced's log (one line per report):"
cat "$work/presenced.log"
echo "== what presenced-server stored (GET /export.csv, the page's CSV export):"
python3 - "$addr" <<'PY'
import csv, io, sys, urllib.request
base = "http://" + sys.argv[1]
rows = list(csv.DictReader(io.StringIO(urllib.request.urlopen(base + "/export.csv", timeout=10).read().decode())))
clients = sorted({r["mac"] for r in rows})
print(f"{len(rows)} rows from {len(clients)} clients, stored with their signatures checked")
for r in rows[:5]:
    print("  " + ", ".join(f"{k}={r[k]}" for k in ("node_mac", "mac", "count", "min_signal", "max_signal", "avg_signal", "last_seen_signal")))
page = urllib.request.urlopen(base + "/access-points", timeout=10).read().decode()
print("access points page:", "AC:86:74:82:9A:30" in page and "lists AC:86:74:82:9A:30" or "does not list the demo's access point")
PY
if [ "${DEMO_KEEP:-}" = 1 ]; then
  echo "== browse http://$addr/ (rows) and http://$addr/access-points; Ctrl-C ends the demo"
  while kill -0 "${pids[0]}" 2>/dev/null; do sleep 1; done
fi
