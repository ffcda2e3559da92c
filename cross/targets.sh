# Sourced by the cross scripts: one place that maps a Rust target to what the
# C side (zig cc, autoconf) and the packaging side (ELF header) need.
#
# zig's "musleabi" is the soft-float ABI: OpenWrt's MIPS targets are soft-float,
# and so is Rust's mips*-unknown-linux-musl (features +soft-float).
# shellcheck shell=bash disable=SC2034 # the variables are for the caller

# Sets ZIG_TARGET, ZIG_CPU, AUTOCONF_HOST, BITS, ELF_MACHINE, ELF_ENDIAN,
# QEMU (the qemu-user binary that runs it), OPKG_ARCH (the usual OpenWrt
# package arch for that CPU).
cross_target_info() {
    case "$1" in
        mips-unknown-linux-musl)
            ZIG_TARGET=mips-linux-musleabi ZIG_CPU=mips32r2 AUTOCONF_HOST=mips-linux-musl
            BITS=32 ELF_MACHINE=MIPS ELF_ENDIAN=big QEMU=qemu-mips OPKG_ARCH=mips_24kc ;;
        mipsel-unknown-linux-musl)
            ZIG_TARGET=mipsel-linux-musleabi ZIG_CPU=mips32r2 AUTOCONF_HOST=mipsel-linux-musl
            BITS=32 ELF_MACHINE=MIPS ELF_ENDIAN=little QEMU=qemu-mipsel OPKG_ARCH=mipsel_24kc ;;
        aarch64-unknown-linux-musl)
            ZIG_TARGET=aarch64-linux-musl ZIG_CPU=generic AUTOCONF_HOST=aarch64-linux-musl
            BITS=64 ELF_MACHINE=AArch64 ELF_ENDIAN=little QEMU=qemu-aarch64 OPKG_ARCH=aarch64_cortex-a53 ;;
        armv7-unknown-linux-musleabihf)
            ZIG_TARGET=arm-linux-musleabihf ZIG_CPU=generic+v7a+vfp3d16+thumb2 AUTOCONF_HOST=arm-linux-musleabihf
            BITS=32 ELF_MACHINE=ARM ELF_ENDIAN=little QEMU=qemu-arm OPKG_ARCH=arm_cortex-a7_neon-vfpv4 ;;
        *)
            echo "unsupported TARGET '$1' (mips-unknown-linux-musl, mipsel-unknown-linux-musl," \
                 "aarch64-unknown-linux-musl, armv7-unknown-linux-musleabihf)" >&2
            return 2 ;;
    esac
}
