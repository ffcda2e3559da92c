# presenced: build, test, demo, cross builds and packages.
#
# Every target installs what it needs (apt-get, pip, rustup) and does nothing
# when it is already there, so `make test` works on a fresh machine with only
# Rust, gcc and python3. Areas add their own targets in mk/*.mk and append
# their test targets to TEST_TARGETS.

SHELL := /bin/bash
CARGO ?= cargo
SHARED ?= $(abspath $(CURDIR)/../shared)
export PRESENCED_SHARED := $(SHARED)

# Debian packages the tests use: libpcap to build, tshark as the independent
# reference decoder (editcap converts to pcapng), openssl makes test certificates,
# iproute2 manages interfaces, php-cli runs a receiver as the vendors' PHP users
# write one (tests/request_head.rs).
APT_PACKAGES := libpcap-dev tshark openssl iproute2 procps php-cli
TEST_TARGETS := test-rust

.PHONY: all build deps test test-rust bench demo

all: build

build: deps
	$(CARGO) build --release --locked

# apt-get only for packages not yet installed: idempotent and quick the second time.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

test-rust: deps
	$(CARGO) test --locked

include $(sort $(wildcard mk/*.mk))

test: $(TEST_TARGETS)
	@echo "make test: all of $(TEST_TARGETS) passed"
