# Sourced by the cross scripts: one place that maps a Rust target to what the
# C side (zig cc, autoconf) and the packaging side (ELF header) need.
#
# zig's "musleabi" is the soft-float ABI: OpenWrt's MIPS targets are soft-float,
# and so is Rust's mips*-unknown-linux-musl (features +soft-float).
# shellcheck shell=bash

# Sets ZIG_TARGET, ZIG_CPU, AUTOCONF_HOST, BITS, ELF_MACHINE, ELF_ENDIAN,
# NEEDS_NIGHTLY, OPKG_ARCH (the usual OpenWrt arch for that CPU).
cross_target_info() {
    NEEDS_NIGHTLY=0
    case "$1" in
        mips-unknown-linux-musl)
            ZIG_TARGET=mips-linux-musleabi ZIG_CPU=mips32r2 AUTOCONF_HOST=mips-linux-musl
            BITS=32 ELF_MACHINE=MIPS ELF_ENDIAN=big NEEDS_NIGHTLY=1 OPKG_ARCH=mips_24kc ;;
        mipsel-unknown-linux-musl)
            ZIG_TARGET=mipsel-linux-musleabi ZIG_CPU=mips32r2 AUTOCONF_HOST=mipsel-linux-musl
            BITS=32 ELF_MACHINE=MIPS ELF_ENDIAN=little NEEDS_NIGHTLY=1 OPKG_ARCH=mipsel_24kc ;;
        aarch64-unknown-linux-musl)
            ZIG_TARGET=aarch64-linux-musl ZIG_CPU=generic AUTOCONF_HOST=aarch64-linux-musl
            BITS=64 ELF_MACHINE=AArch64 ELF_ENDIAN=little OPKG_ARCH=aarch64_cortex-a53 ;;
        armv7-unknown-linux-musleabihf)
            ZIG_TARGET=arm-linux-musleabihf ZIG_CPU=generic+v7a+vfp3d16+thumb2 AUTOCONF_HOST=arm-linux-musleabihf
            BITS=32 ELF_MACHINE=ARM ELF_ENDIAN=little OPKG_ARCH=arm_cortex-a7_neon-vfpv4 ;;
        x86_64-unknown-linux-musl)
            ZIG_TARGET=x86_64-linux-musl ZIG_CPU=x86_64 AUTOCONF_HOST=x86_64-linux-musl
            BITS=64 ELF_MACHINE="Advanced Micro Devices X86-64" ELF_ENDIAN=little OPKG_ARCH=x86_64 ;;
        *)
            echo "unsupported TARGET '$1' (mips-unknown-linux-musl, mipsel-unknown-linux-musl," \
                 "aarch64-unknown-linux-musl, armv7-unknown-linux-musleabihf, x86_64-unknown-linux-musl)" >&2
            return 2 ;;
    esac
}
