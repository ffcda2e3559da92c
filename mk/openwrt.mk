# make test-openwrt: the OpenWrt package under OpenWrt's real procd, ubusd,
# ujail, uci, logd and validate_data (tests/openwrt/rig.sh), built natively
# from $(SHARED)/openwrt-userland into build/openwrt-userland on first use:
# capture on a monitor interface (test_presenced.py), and `source hostapd`
# with a hostapd ubus stand-in built against the rig's libubus (test_ubus.py).
#
# cmake, pkg-config, gcc, make and libjson-c-dev build that userland;
# busybox-static is the rig's ash and applets; util-linux gives unshare,
# nsenter and flock; iproute2 the interfaces; libc-bin ldconfig; python3 runs
# the test and its hostapd and radio stand-ins.
APT_PACKAGES += cmake pkg-config gcc make libjson-c-dev busybox-static util-linux iproute2 libc-bin
TEST_TARGETS += test-openwrt

.PHONY: test-openwrt openwrt-userland

openwrt-userland: deps
	tests/openwrt/build-userland.sh

test-openwrt: deps
	$(CARGO) build --release --locked --bins
	python3 tests/openwrt/test_presenced.py
	python3 tests/openwrt/test_ubus.py
