#!/usr/bin/env bash
# Size figures for flash budgets: per target, the stripped presenced binary and
# its .ipk, with TLS (default features) and without (--no-default-features,
# http:// only). With BLOAT=1 also the largest crates and functions of the
# first target's TLS build (cargo-bloat from crates.io, installed on demand:
# never used by `make test`).
#
# usage: cross/size.sh TARGET...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
# shellcheck source=cross/targets.sh
. "$here/targets.sh"
BUILD=${BUILD:-$top/build}
[ $# -gt 0 ] || set -- mips-unknown-linux-musl

kib() { awk -v b="$1" 'BEGIN { printf "%7.1f KiB", b / 1024 }'; }
rows=()
for target in "$@"; do
    cross_target_info "$target"
    for variant in tls notls; do
        flag=() suffix=""
        if [ $variant = notls ]; then flag=(--no-tls) suffix=-notls; fi
        start=$SECONDS
        "$here/build.sh" "$target" release "${flag[@]}" >"$BUILD/size-$target-$variant.log" 2>&1 ||
            { tail -n 20 "$BUILD/size-$target-$variant.log"; exit 1; }
        took=$((SECONDS - start))
        ipk=$("$here/ipk.sh" "$target" "${flag[@]}" | tail -n1)
        bin=$BUILD/$target/bin$suffix/presenced
        rows+=("$(printf '%-32s %-26s %-5s %s  %s  (build %ss)' "$target" "$OPKG_ARCH" "$variant" \
            "$(kib "$(stat -c %s "$bin")")" "$(kib "$(stat -c %s "$ipk")")" "$took")")
    done
done
printf '\n%-32s %-26s %-5s %11s  %11s\n' target opkg-arch tls binary ipk
printf '%s\n' "${rows[@]}"

if [ "${BLOAT:-}" = 1 ]; then
    target=$1
    command -v cargo-bloat >/dev/null || cargo install --locked cargo-bloat
    # The linker and C compiler wrappers cargo-zigbuild made for this target.
    wrapper=$(find "$HOME/.cache/cargo-zigbuild" -name "zigcc-$target-*.sh" | head -n1)
    var=$(echo "$target" | tr 'a-z-' 'A-Z_')
    cd "$top"
    # Symbols are needed: an unstripped build in a target dir of its own.
    env PATH="$BUILD/venv/bin:$PATH" RUSTUP_TOOLCHAIN=nightly \
        "CARGO_TARGET_${var}_LINKER=$wrapper" "CC_${target//-/_}=$wrapper" \
        LIBPCAP_LIBDIR="$BUILD/$target/libpcap/lib" LIBPCAP_VER="$(cat "$BUILD/$target/libpcap/VERSION")" \
        CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR="$BUILD/bloat" \
        cargo bloat --release --target "$target" -Z build-std=std,panic_abort \
        -Z build-std-features="${STD_FEATURES-optimize_for_size}" \
        --config "target.$target.rustflags=['-Zlocation-detail=none']" --bin presenced --crates -n 20
fi
