#!/usr/bin/env bash
# Installs what cross builds need, doing nothing for what is already there:
# the nightly toolchain with rust-src (MIPS is tier 3: std is built from source
# with -Z build-std, and so is every target here, for one std built with our
# profile: opt-level z, panic abort), and cargo-zigbuild with zig from PyPI in a
# venv under build/ (zig links musl 1.2 for every target and compiles C).
#
# usage: cross/toolchain.sh     env: BUILD (default build/ in the checkout)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
venv=$BUILD/venv
# Versions that were measured together (see README's cross section).
ZIGBUILD_VERSION=${ZIGBUILD_VERSION:-0.24.1}
ZIG_VERSION=${ZIG_VERSION:-0.17.1}

if ! rustup toolchain list | grep -q '^nightly-'; then
    rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain nightly
fi

if ! "$venv/bin/cargo-zigbuild" --version 2>/dev/null | grep -qF "$ZIGBUILD_VERSION" ||
   [ "$("$venv/bin/python" -m ziglang version 2>/dev/null)" != "$ZIG_VERSION" ]; then
    mkdir -p "$BUILD"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "cargo-zigbuild==$ZIGBUILD_VERSION" "ziglang==$ZIG_VERSION"
fi
