#!/usr/bin/env bash
# One cross build of presenced for a Rust target, linked by zig against musl
# and a static libpcap built for that target (cross/libpcap.sh).
#
# usage: cross/build.sh TARGET release [--no-tls]
#          release binaries presenced and presenced-receiver into
#          build/TARGET/bin/ (or build/TARGET/bin-notls/)
#        cross/build.sh TARGET test [CARGO_TEST_ARGS...]
#          builds the tests (dev profile) and runs them under qemu-user
#
# Rust flags per target (the time64 cfg, static linking) are in .cargo/config.toml.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
# shellcheck source=cross/targets.sh
. "$here/targets.sh"

target=${1:?usage: cross/build.sh TARGET release|test [args]}
mode=${2:?usage: cross/build.sh TARGET release|test [args]}
shift 2
cross_target_info "$target"
export BUILD=${BUILD:-$top/build}
STD_FEATURES=${STD_FEATURES-optimize_for_size}

"$here/toolchain.sh"
"$here/libpcap.sh" "$target"

cd "$top"
export PATH="$BUILD/venv/bin:$PATH"
export RUSTUP_TOOLCHAIN=nightly
export LIBPCAP_LIBDIR="$BUILD/$target/libpcap/lib"
LIBPCAP_VER=$(cat "$BUILD/$target/libpcap/VERSION")
export LIBPCAP_VER
# cargo-zigbuild's own wrappers compile C (ring) with zig for the target.
runner_var=CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_RUNNER

case "$mode" in
release)
    features=() out=bin
    if [ "${1:-}" = --no-tls ]; then features=(--no-default-features) out=bin-notls; fi
    # std is rebuilt with the release profile: panic_abort instead of unwinding
    # tables, and opt-level z applies to std too. Its features: size-optimized
    # algorithms, and no backtrace symbolizer (gimli, addr2line, demangler:
    # about 55 KiB on MIPS; a panic still prints its message).
    # -Z location-detail=none: no source file, line or column in panic
    # locations (the message stays). Each location names its file, so every
    # folder in a path was bytes in the binary, and std's are
    # /rustc/<hash>/library/...; with panic=abort a location only ever went
    # to the log above the abort. Release only: the qemu tests (test mode)
    # unwind, and their failures should say where.
    cargo-zigbuild zigbuild --release --locked --target "$target" \
        -Z build-std=std,panic_abort -Z build-std-features="$STD_FEATURES" \
        --config "target.$target.rustflags=['-Zlocation-detail=none']" \
        "${features[@]}" --bins
    mkdir -p "$BUILD/$target/$out"
    for bin in presenced presenced-receiver; do
        cp "${CARGO_TARGET_DIR:-target}/$target/release/$bin" "$BUILD/$target/$out/$bin"
    done
    echo "$BUILD/$target/$out/presenced"
    ;;
test)
    # Tests unwind (libtest needs it), so they get their own std, dev profile.
    [ -n "$QEMU" ] && export "$runner_var=$QEMU"
    cargo-zigbuild test --locked --target "$target" -Z build-std "$@"
    ;;
*)
    echo "cross/build.sh: mode is release or test, not '$mode'" >&2
    exit 2
    ;;
esac
