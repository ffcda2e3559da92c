# make test-luci: luci-app-presenced in Chromium (WebDriver: selenium's
# Python client, Debian's chromedriver) on OpenWrt's real uhttpd, rpcd,
# ucode, lucihttp and luci-base, booted in the procd rig beside ubusd and
# presenced (tests/openwrt/test_luci.py); and the app's translation template
# against its strings (luci_strings.py). The userland is built by
# tests/openwrt/build-userland.sh (cached in build/openwrt-userland).
# Screenshots in build/screenshots/.
#
# selenium comes from PyPI into build/luci-venv, once per version.
APT_PACKAGES += chromium chromium-driver python3-venv openssl
TEST_TARGETS += test-luci

LUCI_VENV := build/luci-venv
SELENIUM_VERSION := 4.38.0

.PHONY: test-luci

$(LUCI_VENV)/selenium-$(SELENIUM_VERSION).stamp:
	rm -rf $(LUCI_VENV)
	python3 -m venv $(LUCI_VENV)
	$(LUCI_VENV)/bin/pip install -q --disable-pip-version-check selenium==$(SELENIUM_VERSION)
	touch $@

test-luci: deps $(LUCI_VENV)/selenium-$(SELENIUM_VERSION).stamp
	$(CARGO) build --release --locked --bins
	python3 tests/openwrt/luci_strings.py
	$(LUCI_VENV)/bin/python tests/openwrt/test_luci.py
