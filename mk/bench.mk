# make bench: speed and memory figures, printed (never asserted).
BENCH_CAPTURE ?= $(SHARED)/data/captures/esp32-sc6-61-2024-03-31.pcap

.PHONY: bench bench-deps
bench-deps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(APT_PACKAGES) hyperfine time valgrind gcc tcpdump bc"

bench: bench-deps
	$(CARGO) bench --locked --bench pipeline
	$(CARGO) build --release --locked
	@echo "--- replay of $(notdir $(BENCH_CAPTURE)), one report, release build"
	hyperfine --warmup 2 --runs 20 -N \
	  "target/release/presenced -r $(BENCH_CAPTURE) --stdout --no-hostapd --node-mac 02:00:00:00:00:01 --rate 4294967295 -q"
	@echo "--- peak memory (maximum resident set) of that replay"
	@/usr/bin/time -f "%M KiB" target/release/presenced -r $(BENCH_CAPTURE) --stdout --no-hostapd \
	  --node-mac 02:00:00:00:00:01 --rate 4294967295 -q >/dev/null
	@echo "--- release binary (x86_64): $$(stat -c %s target/release/presenced) bytes"
	@echo "--- instructions per frame (callgrind): presenced beside a bare libpcap+BPF loop on the same file"
	benches/callgrind.sh target/release/presenced $(BENCH_CAPTURE) build/bench
	@echo "--- live capture CPU beside tcpdump -w /dev/null, same filter, same TAP (root)"
	benches/live_cpu.sh target/release/presenced build/bench 100000 200000
	@echo "--- memory of the ubus status object: live in the procd rig, unregistered vs. 2000 calls answered (root)"
	python3 benches/status_rss.py target/release/presenced 2000

# make bench-devices: --randomized-macs merge on scenes of real phones that
# randomize their MAC (tests/devices.rs): per 30 s window and over each scene,
# the estimate against the truth of the files and the naive count of addresses.
.PHONY: bench-devices
bench-devices: deps
	$(CARGO) test --release --locked --test devices -- --ignored --nocapture --test-threads 1 figures_of
