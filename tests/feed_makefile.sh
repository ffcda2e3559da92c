#!/usr/bin/env bash
# openwrt/presenced/Makefile evaluated by GNU make against a stand-in SDK: a
# rules.mk, include/package.mk and feeds/packages/lang/rust/rust-package.mk
# that define the variables and functions the feed Makefile uses (as the real
# ones document them) and record what the package asks for. No SDK is here; this
# catches make syntax errors, a lost time64 cfg on 32-bit targets, the TLS
# switch, and an install step whose files or modes are wrong.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

sdk=$work/sdk
mkdir -p "$sdk/include" "$sdk/feeds/packages/lang/rust"
cat >"$sdk/rules.mk" <<'EOF'
INCLUDE_DIR:=$(TOPDIR)/include
STAGING_DIR:=$(TOPDIR)/staging_dir/target
BUILD_DIR:=$(TOPDIR)/build_dir
toupper=$(shell echo '$(1)' | tr a-z A-Z)
EOF
cat >"$sdk/include/package.mk" <<'EOF'
PKG_BUILD_DIR:=$(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
PKG_INSTALL_DIR:=$(PKG_BUILD_DIR)/ipkg-install
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
# BuildPackage: `make dump` prints what the package declared; `make install
# DEST=dir` runs its install step.
# The package's `define Package/NAME` holds DEPENDS, USERID, ...: read them.
define BuildPackage
$$(eval $$(Package/$(1)))
dump:
	@echo 'DEPENDS=$$(strip $$(DEPENDS))'
	@echo 'USERID=$$(strip $$(USERID))'
	@echo 'CONFFILES=$$(strip $$(Package/$(1)/conffiles))'
	@echo 'PKG_BUILD_DEPENDS=$$(PKG_BUILD_DEPENDS)'
	@echo 'PKG_FILE_DEPENDS=$$(strip $$(PKG_FILE_DEPENDS))'
	@echo 'PKG_RELEASE=$$(PKG_RELEASE)'
	@echo 'CARGO_RUSTFLAGS=$$(strip $$(CARGO_RUSTFLAGS))'
	@echo 'CARGO_PKG_VARS=$$(strip $$(CARGO_PKG_VARS))'
	@echo 'COMPILE=$$(strip $$(call Build/Compile))'
	@echo 'PRESENCED_SRC_DIR=$$(PRESENCED_SRC_DIR)'
install:
	$$(call Package/$(1)/install,$$(DEST))
prepare:
	$$(call Build/Prepare)
endef
EOF
cat >"$sdk/feeds/packages/lang/rust/rust-package.mk" <<'EOF'
RUST_ARCH_DEPENDS:=@(aarch64||arm||mips||mipsel)
CARGO_RUSTFLAGS+=-Ctarget-feature=-crt-static
CARGO_PKG_VARS=CARGO_BUILD_TARGET=mips-unknown-linux-musl RUSTFLAGS="$(CARGO_RUSTFLAGS)"
define Build/Compile/Cargo
	cargo install --path "$(PKG_BUILD_DIR)/$(strip $(1))" $(if $(strip $(RUST_PKG_FEATURES)),--features "$(strip $(RUST_PKG_FEATURES))") $(2)
endef
define RustBinPackage
  ifndef Package/$(1)/install
    define Package/$(1)/install
	echo default install
    endef
  endif
endef
EOF

# What the libpcap package's InstallDev stages (libpcap.{a,so*}).
mkdir -p "$sdk/staging_dir/target/usr/lib"
touch "$sdk/staging_dir/target/usr/lib/libpcap.a" "$sdk/staging_dir/target/usr/lib/libpcap.so.1.10.5"
ln -s libpcap.so.1.10.5 "$sdk/staging_dir/target/usr/lib/libpcap.so.1"
ln -s libpcap.so.1 "$sdk/staging_dir/target/usr/lib/libpcap.so"

feed=$top/openwrt/presenced
pkgmake() { make -s -C "$feed" TOPDIR="$sdk" "$@" 2>&1; }

expect() { # DESCRIPTION GREP-ARGS...: passes when grep finds it in $out
    local what=$1
    shift
    if grep -q "$@" <<<"$out"; then pass "$what"; else fail "$what"; fi
}

out=$(pkgmake dump CONFIG_USE_MUSL=y CONFIG_ARCH_64BIT= CONFIG_PRESENCED_TLS=y)
status=$?
printf '     %s\n' "${out//$'\n'/$'\n'     }"
if [ $status -eq 0 ]; then pass "make evaluates the feed Makefile (32-bit, TLS)"; else fail "make evaluates the feed Makefile"; fi
expect "32-bit musl: --cfg libc_unstable_musl_v1_2 in CARGO_RUSTFLAGS" -- '^CARGO_RUSTFLAGS=.*--cfg libc_unstable_musl_v1_2'
expect "the cfg reaches cargo's RUSTFLAGS" -- 'RUSTFLAGS=".*--cfg libc_unstable_musl_v1_2'
expect "TLS on: --features tls --no-default-features --bin presenced" -- '^COMPILE=.*--features "tls" --no-default-features --bin presenced'
expect "pcap crate pointed at the staging libpcap" -- "^CARGO_PKG_VARS=.*LIBPCAP_LIBDIR=$sdk/staging_dir/target/usr/lib"
# Without it the pcap crate's build script, unable to load a target library,
# assumes the newest libpcap.
expect "LIBPCAP_VER next to LIBPCAP_LIBDIR: the staged library's version" -- '^CARGO_PKG_VARS=.*LIBPCAP_VER=1\.10\.5\( \|$\)'
# package.mk rebuilds when a file under PKG_FILE_DEPENDS is newer than the
# prepared stamp: the sources Build/Prepare copies must all be there.
file_depends=$(sed -n 's/^PKG_FILE_DEPENDS=//p' <<<"$out")
for source in Cargo.toml Cargo.lock src; do
    if grep -qw -- "$top/$source" <<<"$file_depends"; then pass "PKG_FILE_DEPENDS has $source (edits rebuild)"
    else fail "PKG_FILE_DEPENDS has $source (edits rebuild): '$file_depends'"; fi
done
missing=""
for path in $file_depends; do [ -e "$path" ] || missing="$missing $path"; done
if [ -n "$file_depends" ] && [ -z "$missing" ]; then pass "every PKG_FILE_DEPENDS path exists"
else fail "every PKG_FILE_DEPENDS path exists (missing:$missing)"; fi
expect "DEPENDS is \$(RUST_ARCH_DEPENDS) +libpcap" -x -- 'DEPENDS=@(aarch64||arm||mips||mipsel) +libpcap'
expect "USERID network (hostapd's user) and presenced (source hostapd)" -x -- 'USERID=network=101:network=101 presenced=391:presenced=391'
expect "conffiles /etc/config/presenced" -x -- 'CONFFILES=/etc/config/presenced'
expect "PKG_BUILD_DEPENDS=rust/host" -x -- 'PKG_BUILD_DEPENDS=rust/host'
expect "sources: the checkout around the feed" -x -- "PRESENCED_SRC_DIR=$top"

out=$(pkgmake dump CONFIG_USE_MUSL=y CONFIG_ARCH_64BIT=y CONFIG_PRESENCED_TLS=)
if grep -q libc_unstable_musl_v1_2 <<<"$out"; then fail "64-bit: no time64 cfg"; else pass "64-bit: no time64 cfg"; fi
expect "TLS off: --no-default-features, no features" -- '^COMPILE=cargo install --path "[^"]*/" --no-default-features --bin presenced$'

# The install step, run: files, modes.
dest=$work/root
mkdir -p "$sdk/build_dir/presenced-0.1.0/ipkg-install/bin"
printf 'ELF' >"$sdk/build_dir/presenced-0.1.0/ipkg-install/bin/presenced"
if pkgmake install DEST="$dest" >/dev/null; then pass "install step runs"; else fail "install step runs"; fi
for entry in usr/sbin/presenced:755 usr/libexec/presenced-monitor:755 etc/init.d/presenced:755 \
    etc/config/presenced:600 etc/capabilities/presenced.json:644 usr/share/acl.d/presenced.json:644 \
    usr/share/acl.d/presenced-status.json:644; do
    path=${entry%:*} mode=${entry#*:}
    if [ "$(stat -c %a "$dest/$path" 2>/dev/null)" = "$mode" ]; then pass "installs /$path mode $mode"
    else fail "installs /$path mode $mode"; fi
done
prepared=$sdk/build_dir/presenced-0.1.0
if pkgmake prepare >/dev/null && [ -f "$prepared/Cargo.lock" ] && [ -f "$prepared/src/main.rs" ]; then
    pass "Build/Prepare copies Cargo.toml, Cargo.lock and src/"
else
    fail "Build/Prepare copies Cargo.toml, Cargo.lock and src/"
fi
# cargo parses the whole manifest (every target it names) before it fetches;
# offline from the crates a native build already downloaded, else from crates.io.
if (cd "$prepared" && { cargo fetch --offline --locked || cargo fetch --locked; }) >"$work/fetch.log" 2>&1; then
    pass "the prepared copy is a cargo package on its own (cargo fetch --locked accepts it)"
else
    sed 's/^/     /' "$work/fetch.log" | head -n 8
    fail "the prepared copy is a cargo package on its own (cargo fetch --locked accepts it)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
