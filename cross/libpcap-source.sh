#!/usr/bin/env bash
# Fetches Debian's libpcap source package into DIR (apt-get source), enabling
# deb-src entries first if this machine has none. Idempotent.
#
# usage: cross/libpcap-source.sh DIR
set -euo pipefail
dir=${1:?usage: cross/libpcap-source.sh DIR}

have_deb_src() {
    grep -rqsE '^(deb-src |Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

if ! have_deb_src; then
    # Mirror the binary entries this machine already trusts, as deb-src, in a
    # file of our own (the system files stay untouched).
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
            >/etc/apt/sources.list.d/presenced-deb-src.sources
    elif grep -qs '^deb ' /etc/apt/sources.list; then
        sed -nE 's/^deb (.*)/deb-src \1/p' /etc/apt/sources.list \
            >/etc/apt/sources.list.d/presenced-deb-src.list
    else
        echo "libpcap-source.sh: no Debian sources found to mirror as deb-src;" \
             "pass LIBPCAP_SRC=/path/to/libpcap instead" >&2
        exit 1
    fi
    apt-get update -qq
fi
command -v dpkg-source >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null

mkdir -p "$dir"
cd "$dir"
# apt runs the download as root when _apt cannot write here: harmless warning.
apt-get source -qq libpcap 2>&1 | grep -v -e 'unsandboxed as root' -e '^dpkg-source: info' || true
ls -d "$dir"/libpcap-[0-9]* >/dev/null
