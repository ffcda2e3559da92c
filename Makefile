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

# Debian packages, per target, so that each target installs only what it
# needs: `make build` only libpcap (the agent links it; the receiver and the
# report crate need nothing). The tests use tshark as the independent
# reference decoder (editcap converts to pcapng), openssl makes test
# certificates, iproute2 manages interfaces, php-cli runs a receiver as the
# vendors' PHP users write one (tests/request_head.rs). Areas add their own
# lists in mk/*.mk, and add them to APT_PACKAGES, which `make deps` (and so
# every test target) installs whole.
BUILD_PACKAGES := libpcap-dev
APT_PACKAGES := $(BUILD_PACKAGES) tshark openssl iproute2 procps php-cli
TEST_TARGETS := test-rust

.PHONY: all build deps deps-build test test-rust bench demo

all: build

build: deps-build
	$(CARGO) build --release --locked

# apt-get only for packages not yet installed: idempotent and quick the
# second time. usage: $(call apt_install,PACKAGES)
define apt_install
@missing=""; for p in $(1); do \
  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
  echo "installing:$$missing"; \
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
fi
endef

deps:
	$(call apt_install,$(sort $(APT_PACKAGES)))

deps-build:
	$(call apt_install,$(BUILD_PACKAGES))

# The root-only tests (TAP interfaces, network namespaces) are #[ignore]d, so
# that `cargo test` passes for a user; here they run with the others, and
# fail, never skip, without root.
# presenced-test-support is no default member (nothing builds it but the
# tests): its own tests run here.
test-rust: deps
	$(CARGO) test --locked -- --include-ignored
	$(CARGO) test --locked -p presenced-test-support

include $(sort $(wildcard mk/*.mk))

test: $(TEST_TARGETS)
	@echo "make test: all of $(TEST_TARGETS) passed"
