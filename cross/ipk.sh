#!/usr/bin/env bash
# Packs an OpenWrt .ipk without the SDK, in the layout of OpenWrt's
# scripts/ipkg-build: a gzip'd tar of ./debian-binary ("2.0"), ./control.tar.gz
# and ./data.tar.gz, every entry owned by root (0:0).
#
# usage: cross/ipk.sh TARGET [ARCH] [--no-tls]
#   TARGET  Rust target whose release build is in build/TARGET/bin (or bin-notls)
#   ARCH    opkg architecture (default: the usual one for TARGET, e.g. mips_24kc)
# prints the path of the .ipk (build/TARGET/ipk[-notls]/presenced_<ver>_<arch>.ipk)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
# shellcheck source=cross/targets.sh
. "$here/targets.sh"

target=${1:?usage: cross/ipk.sh TARGET [ARCH] [--no-tls]}
shift
cross_target_info "$target"
arch=$OPKG_ARCH
if [ $# -gt 0 ] && [ "$1" != --no-tls ]; then arch=$1; shift; fi
variant=""
if [ "${1:-}" = --no-tls ]; then variant=-notls; fi
BUILD=${BUILD:-$top/build}
files=$top/openwrt/presenced/files
binary=$BUILD/$target/bin$variant/presenced
[ -x "$binary" ] || { echo "ipk.sh: no $binary: run make cross TARGET=$target first" >&2; exit 1; }

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$top/Cargo.toml" | head -n1)
release=$(sed -n 's/^PKG_RELEASE:=\([0-9]*\)$/\1/p' "$top/openwrt/presenced/Makefile")
if [ -z "$version" ] || [ -z "$release" ]; then
    echo "ipk.sh: cannot read the version from Cargo.toml or PKG_RELEASE" >&2
    exit 1
fi
full_version=$version-r$release
# Reproducible archives: every timestamp is the last commit's.
mtime=$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 0)

out=$BUILD/$target/ipk$variant
work=$out/work
rm -rf "$work"
mkdir -p "$work/data/usr/sbin" "$work/data/usr/libexec" "$work/data/etc/init.d" "$work/data/etc/config" \
         "$work/data/etc/capabilities" "$work/data/usr/share/acl.d" "$work/control"
install -m 0755 "$binary" "$work/data/usr/sbin/presenced"
install -m 0755 "$files/presenced.monitor" "$work/data/usr/libexec/presenced-monitor"
install -m 0755 "$files/presenced.init" "$work/data/etc/init.d/presenced"
install -m 0600 "$files/presenced.config" "$work/data/etc/config/presenced" # holds the key
install -m 0644 "$files/presenced.capabilities.json" "$work/data/etc/capabilities/presenced.json"
install -m 0644 "$files/presenced.acl.json" "$work/data/usr/share/acl.d/presenced.json"
install -m 0644 "$files/presenced-status.acl.json" "$work/data/usr/share/acl.d/presenced-status.json"
find "$work/data" -type d -exec chmod 0755 {} +

installed_size=$(find "$work/data" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')
depends=libc
cat >"$work/control/control" <<EOF
Package: presenced
Version: $full_version
Depends: $depends
Source: openwrt/presenced
SourceName: presenced
License: MIT
Section: net
Require-User: network=101:network=101 presenced=391:presenced=391
Architecture: $arch
Installed-Size: $installed_size
Description: Probe requests to signed Presence Reporting API reports
 presenced captures the 802.11 probe requests of nearby devices on a monitor
 interface and every rate seconds POSTs per-client statistics as a
 Presence Reporting API document signed with HMAC-SHA256.
EOF
echo /etc/config/presenced >"$work/control/conffiles"
# As OpenWrt's generated scripts: enable the service, create Require-User's
# user; nothing when installing into an image root without the helpers.
cat >"$work/control/postinst" <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
EOF
cat >"$work/control/prerm" <<'EOF'
#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
EOF
chmod 0755 "$work/control/postinst" "$work/control/prerm"
chmod 0644 "$work/control/control" "$work/control/conffiles"

pack() { # DIR OUTPUT.tar.gz: ./-relative, root-owned, sorted, dated
    tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name \
        --mtime="@$mtime" -C "$1" -cf - . | gzip -9n >"$2"
}
pack "$work/data" "$work/data.tar.gz"
pack "$work/control" "$work/control.tar.gz"
echo 2.0 >"$work/debian-binary"
touch -d "@$mtime" "$work/debian-binary" "$work/data.tar.gz" "$work/control.tar.gz"

ipk=$out/presenced_${full_version}_${arch}.ipk
rm -f "$out"/presenced_*.ipk
tar --format=gnu --numeric-owner --owner=0 --group=0 -C "$work" \
    -cf - ./debian-binary ./control.tar.gz ./data.tar.gz | gzip -9n >"$ipk"
echo "$ipk"
