# presenced-server: tests on SQLite and PostgreSQL and in a real browser,
# `make serve`, and the benchmark.
#
#   make test-server     the report crate's and the server's tests (both
#                        databases, the real agent end to end, chromium)
#   make serve           the server on http://127.0.0.1:8080 with the SQLite
#                        database build/presenced.sqlite and the key in
#                        build/serve.key (made on first use)
#   make bench-server    load generator against SQLite, PostgreSQL and a
#                        minimal Flask + SQLite receiver (figures printed)
#   make bench-analytics the views' latency and the server's RSS after 1 and
#                        30 days of a generated venue, beside the raw rows
#                        rebuilt per request (figures printed; BENCH_* sizes,
#                        see server/benches/analytics.rs)

# postgresql: the tests start a private cluster with its binaries (as user
# postgres); chromium and chromium-driver: the browser test; python3-venv:
# build/venv for Flask (bench-server only).
APT_PACKAGES += postgresql chromium chromium-driver python3-venv
TEST_TARGETS += test-server

SERVE_LISTEN ?= 127.0.0.1:8080
SERVE_DATABASE ?= build/presenced.sqlite
SERVE_KEY_FILE ?= build/serve.key

.PHONY: test-server serve bench-server bench-analytics

# The end-to-end test runs the agent's release binary. The PostgreSQL tests
# need root (their cluster runs as user postgres) and are #[ignore]d, so that
# `cargo test -p presenced-server` passes for a user; here they run with the
# others, and fail, never skip, without root.
test-server: deps
	$(CARGO) build --release --locked
	$(CARGO) test --locked -p presenced-server -- --include-ignored

serve: deps
	@mkdir -p build
	@test -s $(SERVE_KEY_FILE) || { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > $(SERVE_KEY_FILE); \
	  chmod 600 $(SERVE_KEY_FILE); echo "made a key in $(SERVE_KEY_FILE): give the same file to presenced (--key-file)"; }
	$(CARGO) run --profile server --locked -p presenced-server -- --listen $(SERVE_LISTEN) \
	  --database $(SERVE_DATABASE) --key-file $(SERVE_KEY_FILE)

BENCH_VENV := build/venv
bench-server: deps
	@[ -x $(BENCH_VENV)/bin/python ] || python3 -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/python -c 'import flask' 2>/dev/null || $(BENCH_VENV)/bin/pip install -q flask
	BENCH_FLASK_PYTHON=$(abspath $(BENCH_VENV))/bin/python $(CARGO) bench --locked --profile server -p presenced-server --bench load

bench-analytics: deps
	$(CARGO) bench --locked --profile server -p presenced-server --bench analytics
