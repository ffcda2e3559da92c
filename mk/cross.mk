# Cross builds for access-point CPUs, OpenWrt packages without the SDK, sizes.
#
#   make cross TARGET=mips-unknown-linux-musl      build/TARGET/bin/presenced (+ receiver)
#   make cross TARGET=... NO_TLS=1                 build/TARGET/bin-notls/ (http:// only)
#   make cross-all                                 the four targets below
#   make ipk TARGET=... [ARCH=mips_24kc] [NO_TLS=1]  build/TARGET/ipk/presenced_*.ipk
#   make size [SIZE_TARGETS="..."] [BLOAT=1]       stripped binary and ipk sizes, TLS on/off
#
# Everything a cross build needs is installed on first use (cross/toolchain.sh:
# nightly + rust-src, cargo-zigbuild + zig from PyPI in build/venv; libpcap
# from Debian's source package, cross/libpcap.sh). Scripts are in cross/.

CROSS_TARGETS := mips-unknown-linux-musl mipsel-unknown-linux-musl \
                 aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf
TARGET ?= mips-unknown-linux-musl
ARCH ?=
NO_TLS ?=
SIZE_TARGETS ?= $(CROSS_TARGETS)

# qemu-user runs the cross builds in tests; flex and bison build libpcap's
# filter compiler; dpkg-dev unpacks its source package; shellcheck and
# binutils (readelf) check the package; busybox (the static build, which
# conflicts with the dynamic one and is what the OpenWrt rig needs) runs the init script in
# the shell OpenWrt has (ash).
APT_PACKAGES += qemu-user flex bison dpkg-dev shellcheck binutils busybox-static
TEST_TARGETS += test-cross test-ipk test-init test-feed

.PHONY: cross cross-all ipk size test-cross test-ipk test-init test-feed

cross: deps
	cross/build.sh $(TARGET) release $(if $(NO_TLS),--no-tls)

cross-all: deps
	@set -e; for t in $(CROSS_TARGETS); do cross/build.sh $$t release; done

ipk: cross
	cross/ipk.sh $(TARGET) $(ARCH) $(if $(NO_TLS),--no-tls)

size: deps
	cross/size.sh $(SIZE_TARGETS)

# The big-endian proof: the MIPS build (and one little-endian 32-bit build)
# under qemu-user, unit tests and replay of every shared capture compared
# byte for byte with the native build.
test-cross: deps
	tests/cross_replay.sh

test-ipk: deps
	tests/ipk_layout.sh

test-init: deps
	tests/init_script.sh

# The feed Makefile under GNU make with a stand-in SDK (no SDK here).
test-feed: deps
	tests/feed_makefile.sh
