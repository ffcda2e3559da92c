#!/usr/bin/env bash
# The big-endian proof, and the 32-bit musl time_t trap.
#
# For each of CROSS_TEST_TARGETS (default: big-endian MIPS and little-endian
# MIPS, both 32-bit musl 1.2):
#   - the library's unit tests and tests/libpcap_records.rs, cross-built, run
#     under qemu-user (libpcap_records compares libpcap's record headers with a
#     plain reading of each capture file: it fails when the libc time64 cfg is
#     lost, as a 100-frame capture then reads as 100 frames of 0 bytes);
#   - the release build runs under qemu-user over every capture in
#     $PRESENCED_SHARED/data/captures with
#       -r FILE --stdout --node-mac 02:00:00:00:00:01 --rate 4294967295
#     (one report per file) and must print byte for byte what the native
#     build (cargo build --release) prints, with the same exit status.
# Also checks, without building, that the time64 cfg is set for every 32-bit
# musl target in .cargo/config.toml and in the OpenWrt package Makefile.
#
# Cross builds are slow on 2 cores (figures in README): two targets, caches
# in target/ and build/ reused between runs.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
# shellcheck source=cross/targets.sh
. cross/targets.sh
targets=${CROSS_TEST_TARGETS:-mips-unknown-linux-musl mipsel-unknown-linux-musl}
shared=${PRESENCED_SHARED:-$top/../shared}
captures=$shared/data/captures
node_mac=02:00:00:00:00:01
rate=4294967295
out=$top/build/cross-replay
mkdir -p "$out"

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
timed() { # LOG COMMAND...: run quietly into LOG, print the time it took
    local log=$1 start=$SECONDS status
    shift
    "$@" >"$log" 2>&1
    status=$?
    echo "     ($(( SECONDS - start )) s: $*)"
    return $status
}

# --- the cfg is where it must be -------------------------------------------
for target in mips-unknown-linux-musl mipsel-unknown-linux-musl armv7-unknown-linux-musleabihf; do
    if python3 - "$target" <<'EOF'
import sys, tomllib
flags = tomllib.load(open(".cargo/config.toml", "rb")).get("target", {}) \
    .get(sys.argv[1], {}).get("rustflags", [])
pairs = list(zip(flags, flags[1:]))
sys.exit(0 if ("--cfg", "libc_unstable_musl_v1_2") in pairs else 1)
EOF
    then pass ".cargo/config.toml: $target has --cfg libc_unstable_musl_v1_2"
    else fail ".cargo/config.toml: $target lacks --cfg libc_unstable_musl_v1_2"
    fi
done
if grep -Eq '^ *CARGO_RUSTFLAGS *\+= *--cfg libc_unstable_musl_v1_2' openwrt/presenced/Makefile; then
    pass "openwrt/presenced/Makefile passes --cfg libc_unstable_musl_v1_2"
else
    fail "openwrt/presenced/Makefile lacks --cfg libc_unstable_musl_v1_2"
fi

mapfile -t files < <(find "$captures" -maxdepth 1 -name '*.pcap' | sort)
if [ "${#files[@]}" -eq 0 ]; then
    fail "no captures in $captures (set PRESENCED_SHARED)"
    finish
fi

# --- native reference --------------------------------------------------------
native=$top/target/release/presenced
if timed "$out/native-build.log" cargo build --release --locked --bin presenced; then
    pass "native release build"
else
    tail -n 20 "$out/native-build.log"
    fail "native release build"
    finish
fi
extra=()
# hostapd is no part of a replay; the flag exists once the hostapd work lands.
if "$native" --help 2>&1 | grep -q -- --no-hostapd; then extra=(--no-hostapd); fi

replay() { # OUTDIR RUNNER...: one replay per capture into OUTDIR/NAME.{out,err,rc}
    local dir=$1 file name
    shift
    mkdir -p "$dir"
    for file in "${files[@]}"; do
        name=$(basename "$file" .pcap)
        timeout 300 "$@" -r "$file" --stdout --node-mac "$node_mac" --rate "$rate" "${extra[@]}" \
            >"$dir/$name.out" 2>"$dir/$name.err"
        echo $? >"$dir/$name.rc"
    done
}

replay "$out/native" "$native"
# The reference must hold reports, or the comparison proves nothing.
for file in "${files[@]}"; do
    name=$(basename "$file" .pcap)
    if python3 - "$out/native/$name.out" <<'EOF'
import json, sys
lines = open(sys.argv[1], "rb").read().splitlines()
ok = len(lines) >= 1 and all("probe_requests" in json.loads(l) for l in lines)
sys.exit(0 if ok else 1)
EOF
    then pass "native: $name gives $(wc -l <"$out/native/$name.out") report(s)"
    else
        fail "native: $name gives no report on stdout (exit $(cat "$out/native/$name.rc")): $(head -c 300 "$out/native/$name.err")"
    fi
done

# The privacy options (README, "Privacy") on one capture that crosses a UTC midnight:
# pseudonyms (daily key), randomized and weak-signal drops, the same on every
# CPU.
privacy_file=$captures/esp32-sc6-61-2024-03-31.pcap
printf 'cross pseudonym key\n' >"$out/pseudonym.key"
chmod 600 "$out/pseudonym.key"
privacy_args=(-r "$privacy_file" --stdout --node-mac "$node_mac" --rate 600 "${extra[@]}"
    --pseudonymize-key-file "$out/pseudonym.key" --pseudonymize-rotate daily --randomized-macs drop --min-signal -90)
privacy_replay() { # OUT RUNNER...
    local dest=$1
    shift
    timeout 300 "$@" "${privacy_args[@]}" >"$dest" 2>/dev/null
}
if privacy_replay "$out/native-privacy.out" "$native" && [ "$(wc -l <"$out/native-privacy.out")" -gt 100 ]; then
    pass "native: privacy options give $(wc -l <"$out/native-privacy.out") reports"
else
    fail "native: privacy options replay"
fi

# --- each cross target ---------------------------------------------------------
for target in $targets; do
    cross_target_info "$target" || { fail "unknown target $target"; continue; }

    if timed "$out/$target-test.log" cross/build.sh "$target" test --lib --test libpcap_records; then
        pass "$target: unit tests and libpcap records under $QEMU ($(grep -ho '[0-9]* passed' "$out/$target-test.log" | awk '{ n += $1 } END { print n }') tests)"
    else
        grep -E 'panicked|left:|right:|error' "$out/$target-test.log" | head -n 12
        fail "$target: unit tests or libpcap records under $QEMU (log: $out/$target-test.log)"
    fi

    if timed "$out/$target-release.log" cross/build.sh "$target" release; then
        pass "$target: release build"
    else
        tail -n 20 "$out/$target-release.log"
        fail "$target: release build"
        continue
    fi
    binary=build/$target/bin/presenced
    header=$(readelf -h "$binary" 2>/dev/null)
    if grep -q "Machine: *$ELF_MACHINE" <<<"$header" && grep -q "$ELF_ENDIAN endian" <<<"$header" &&
        grep -q "Class: *ELF$BITS" <<<"$header"; then
        pass "$target: ELF$BITS $ELF_ENDIAN-endian $ELF_MACHINE"
    else
        fail "$target: ELF header is not ELF$BITS $ELF_ENDIAN-endian $ELF_MACHINE"
    fi

    replay "$out/$target" "$QEMU" "$binary"
    for file in "${files[@]}"; do
        name=$(basename "$file" .pcap)
        if cmp -s "$out/native/$name.out" "$out/$target/$name.out" &&
            cmp -s "$out/native/$name.rc" "$out/$target/$name.rc"; then
            pass "$target: $name: same report bytes and exit status as native"
        else
            fail "$target: $name differs from native (exit $(cat "$out/native/$name.rc") vs $(cat "$out/$target/$name.rc"))"
            diff <(head -c 2000 "$out/native/$name.out") <(head -c 2000 "$out/$target/$name.out") | head -n 6
            head -c 300 "$out/$target/$name.err"
        fi
    done
    if privacy_replay "$out/$target-privacy.out" "$QEMU" "$binary" &&
        cmp -s "$out/native-privacy.out" "$out/$target-privacy.out"; then
        pass "$target: privacy options: same report bytes as native"
    else
        fail "$target: privacy options: reports differ from native"
    fi
done

finish
