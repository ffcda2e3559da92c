#!/usr/bin/env bash
# Builds a static libpcap for a Rust target with zig cc, into build/<target>/libpcap.
#
# usage: cross/libpcap.sh TARGET
# env:   LIBPCAP_SRC  a libpcap source tree to use instead of Debian's (apt-get source)
#        BUILD        output root (default: build/ in the checkout)
#        ZIG          how to run zig (default: the venv's `python -m ziglang`)
#
# Only what a probe-request sniffer needs: Linux packet sockets. No libnl (monitor
# mode is set up with iw by the init script, not by libpcap), no D-Bus, RDMA,
# Bluetooth, USB, netmap, DAG, SNF or remote capture: each would be one more
# library on the router, or dead code in 8 MB of flash.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
# shellcheck source=cross/targets.sh
. "$here/targets.sh"

target=${1:?usage: cross/libpcap.sh TARGET}
cross_target_info "$target"
BUILD=${BUILD:-$top/build}
ZIG=${ZIG:-$BUILD/venv/bin/python -m ziglang}
prefix=$BUILD/$target/libpcap

if [ -f "$prefix/lib/libpcap.a" ] && [ -f "$prefix/VERSION" ]; then
    exit 0 # already built: make calls this every time
fi

src=${LIBPCAP_SRC:-}
if [ -z "$src" ]; then
    # (no build/src yet on a fresh checkout: find fails, and that is fine)
    src=$(find "$BUILD/src" -maxdepth 1 -type d -name 'libpcap-[0-9]*' 2>/dev/null | sort | tail -n1 || true)
    if [ -z "$src" ]; then
        "$here/libpcap-source.sh" "$BUILD/src"
        src=$(find "$BUILD/src" -maxdepth 1 -type d -name 'libpcap-[0-9]*' | sort | tail -n1)
    fi
fi
[ -f "$src/pcap.c" ] || { echo "libpcap.sh: no libpcap source in '$src'" >&2; exit 1; }
version=$(cat "$src/VERSION")
version=${version%%-*} # "1.10.3" from "1.10.3" or "1.10.3-PRE-GIT"

work=$BUILD/$target/libpcap-build
rm -rf "$work" "$prefix"
mkdir -p "$work"
cp -a "$src/." "$work/"
cd "$work"

echo "libpcap $version for $target (zig cc -target $ZIG_TARGET -mcpu=$ZIG_CPU)"
# --with-pcap=linux: configure cannot probe the capture type of a foreign host.
./configure -q --host="$AUTOCONF_HOST" --build="$(./config.guess)" --prefix="$prefix" \
    CC="$ZIG cc -target $ZIG_TARGET -mcpu=$ZIG_CPU" \
    AR="$ZIG ar" RANLIB="$ZIG ranlib" \
    CFLAGS="-Os -ffunction-sections -fdata-sections" \
    --with-pcap=linux --disable-shared --without-libnl --disable-dbus --disable-rdma \
    --disable-bluetooth --disable-usb --disable-netmap --disable-remote \
    --without-dag --without-septel --without-snf --without-turbocap --without-dpdk \
    >configure.log 2>&1 || { tail -n 30 configure.log config.log >&2; exit 1; }
make -s -j"$(nproc)" libpcap.a >make.log 2>&1 || { tail -n 30 make.log >&2; exit 1; }
mkdir -p "$prefix/lib" "$prefix/include"
cp libpcap.a "$prefix/lib/"
cp -r pcap.h pcap "$prefix/include/"
# The pcap crate's build script reads the version from here (LIBPCAP_VER) rather
# than by dlopen()ing a foreign-CPU library.
echo "$version" >"$prefix/VERSION"
echo "libpcap: $prefix/lib/libpcap.a"
