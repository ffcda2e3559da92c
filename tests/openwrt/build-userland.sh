#!/usr/bin/env bash
# Builds OpenWrt's own userland (procd with ujail, ubusd, uci, logd,
# validate_data, jsonfilter; uhttpd, rpcd, ucode, lucihttp and luci-base's
# core.so for LuCI) natively from the sources in
# $PRESENCED_SHARED/openwrt-userland, into build/openwrt-userland/stage (prefix
# /usr, as OpenWrt lays them out). Nothing here is copied into the project: the
# archives are test infrastructure (see their README).
#
# Cached: a stamp holds the checksums of the archives and of this script; a
# second run with the same inputs does nothing.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
shared=${PRESENCED_SHARED:-$top/../shared}
sources=$shared/openwrt-userland
out=$top/build/openwrt-userland
stage=$out/stage
stamp=$out/stamp

die() { echo "build-userland: $*" >&2; exit 1; }
[ -d "$sources" ] || die "no $sources (PRESENCED_SHARED points at the shared test data)"
for tool in cmake pkg-config gcc make; do
    command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
done
[ -e /usr/include/json-c/json.h ] || die "libjson-c-dev is missing (make deps installs it)"

want=$( (sha256sum "$sources"/*.tar.gz | sed 's# .*/# #'; sha256sum "$0" | cut -d' ' -f1) | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

rm -rf "$out"
mkdir -p "$out/src" "$stage"
src=$out/src
for archive in "$sources"/*.tar.gz; do tar -xzf "$archive" -C "$src"; done

# glibc 2.36 has no strlcpy (procd and ubox use it); force-included where needed.
cat >"$out/strlcpy-compat.h" <<'H'
#ifndef PRESENCED_RIG_STRLCPY
#define PRESENCED_RIG_STRLCPY
/* Included before the source's own first line: keep the features it asks for. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>
#include <features.h>
#if !defined(__GLIBC_PREREQ) || !__GLIBC_PREREQ(2, 38)
static inline size_t rig_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);
	if (size) {
		size_t n = len >= size ? size - 1 : len;
		memcpy(dst, src, n);
		dst[n] = 0;
	}
	return len;
}
#define strlcpy rig_strlcpy
#endif
#endif
H

# Newer gcc warns where these projects' gcc did not; -Werror would stop the build.
find "$src" -name CMakeLists.txt -exec sed -i -E 's/ -Werror( |\))/\1/g; s/-Werror=[a-z-]+//g' {} +

log=$out/build.log
: >"$log"
cmake_build() { # DIR [CMAKE ARGS...]: in-source (procd and jsonpath need it)
    local dir=$1
    shift
    echo "build-userland: $(basename "$dir")"
    (cd "$dir" &&
        cmake . -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_PREFIX_PATH="$stage/usr" \
            -DCMAKE_C_FLAGS="-include $out/strlcpy-compat.h -I$stage/usr/include" \
            -DCMAKE_EXE_LINKER_FLAGS="-L$stage/usr/lib -Wl,-rpath-link,$stage/usr/lib" \
            -DCMAKE_SHARED_LINKER_FLAGS="-L$stage/usr/lib -Wl,-rpath-link,$stage/usr/lib" \
            -DCMAKE_MODULE_LINKER_FLAGS="-L$stage/usr/lib -Wl,-rpath-link,$stage/usr/lib" \
            -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF -DUNIT_TESTING=OFF "$@" &&
        make -j2 &&
        make install DESTDIR="$stage") >>"$log" 2>&1 || { tail -n 30 "$log"; die "$(basename "$dir") failed (log: $log)"; }
}

cmake_build "$src/libubox"
cmake_build "$src/ubus"
cmake_build "$src/uci"
# udebug: the library only (procd and logd link it); its ucode module is not needed.
echo "build-userland: udebug (library)"
(cd "$src/udebug" &&
    cmake . -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_PREFIX_PATH="$stage/usr" -Ducode_include_dir="$stage/usr/include" \
        -DCMAKE_C_FLAGS="-I$stage/usr/include" -DCMAKE_SHARED_LINKER_FLAGS="-L$stage/usr/lib" &&
    make -j2 udebug &&
    install -D -m0755 libudebug.so "$stage/usr/lib/libudebug.so" &&
    install -m0644 udebug.h udebug-pcap.h "$stage/usr/include/") >>"$log" 2>&1 ||
    { tail -n 30 "$log"; die "udebug failed (log: $log)"; }
cmake_build "$src/procd" -DJAIL_SUPPORT=ON
cmake_build "$src/ubox"
cmake_build "$src/jsonpath"

# LuCI's run time (tests/openwrt/test_luci.py): ucode with its fs, uci, ubus
# and math modules (the rest off: they need libraries the rig has no use
# for), lucihttp's ucode binding, rpcd with its file and ucode plugins (no
# iwinfo: no radio), uhttpd with its ubus and ucode handlers (no TLS, no
# Lua), and luci-base's own C module (core.so: translations, hashing).
one() { # NAME: the unpacked directory of that archive (NAME-<commit>)
    local dirs=("$src/$1"-*)
    [ -d "${dirs[0]}" ] || die "no $1 archive in $sources"
    echo "${dirs[0]}"
}
cmake_build "$(one ucode)" -DNL80211_SUPPORT=OFF -DRTNL_SUPPORT=OFF -DZLIB_SUPPORT=OFF -DDIGEST_SUPPORT=OFF \
    -DDIGEST_SUPPORT_EXTENDED=OFF -DSOCKET_SUPPORT=OFF -DLOG_SUPPORT=OFF -DDEBUG_SUPPORT=OFF -DRESOLV_SUPPORT=OFF \
    -DUBUS_SUPPORT=ON -DUCI_SUPPORT=ON -DULOOP_SUPPORT=ON
cmake_build "$(one lucihttp)" -DBUILD_TESTS=OFF
cmake_build "$(one rpcd)" -DIWINFO_SUPPORT=OFF
cmake_build "$(one uhttpd)" -DTLS_SUPPORT=OFF -DLUA_SUPPORT=OFF
luci_src=$(one luci)/modules/luci-base/src
echo "build-userland: luci-base (core.so)"
(cd "$luci_src" &&
    make FPIC=-fPIC CFLAGS="-O2 -I$stage/usr/include" LDFLAGS="-L$stage/usr/lib" \
        LUCI_VERSION="$(basename "$(one luci)" | sed 's/^luci-//')" LUCI_GITBRANCH=rig compile &&
    make install DESTDIR="$stage") >>"$log" 2>&1 || { tail -n 30 "$log"; die "luci-base failed (log: $log)"; }

echo "$want" >"$stamp"
