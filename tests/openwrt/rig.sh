#!/usr/bin/env bash
# An OpenWrt userland rig: OpenWrt's real procd as PID 1 (with ubusd, logd,
# validate_data, ujail, uci, jsonfilter, busybox as ash and applets) in new
# PID, mount, network, UTS and IPC namespaces, on a root file system laid out
# as an OpenWrt image lays it out. Built natively from the sources in
# $PRESENCED_SHARED/openwrt-userland (tests/openwrt/build-userland.sh, cached in
# build/openwrt-userland). glibc, x86_64, no radio: it checks what procd, ujail,
# uci, ubus and init scripts do, not the cross build nor a driver.
#
#   rig.sh prepare DIR                   root file system in DIR/root
#   rig.sh add-elf DIR HOST_PATH PATH    a host program at PATH in the root, with its libraries
#   rig.sh add-luci DIR PASSWORD         uhttpd (port 80), rpcd, ucode and luci-base with the
#                                        bootstrap theme; root's password for LuCI's login
#   rig.sh boot DIR                      procd as PID 1; returns once ubus answers
#   rig.sh run DIR CMD...                CMD inside (all namespaces, the rig's root), as root
#   rig.sh netns DIR CMD...              a host program in the rig's network namespace only
#   rig.sh root DIR                      prints a host path to the running rig's root
#   rig.sh console DIR                   procd's console output so far
#   rig.sh down DIR                      kills procd (so everything in the rig), removes DIR
#
# Between prepare and boot, files may be added under DIR/root (packages).
# DIR/console is procd's console (everything procd and its services print).
# Every step fails with a message; none waits without a bound.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
stage=$top/build/openwrt-userland/stage
files=$top/build/openwrt-userland/src/openwrt-files/package

die() { echo "rig: $*" >&2; exit 1; }

require_root() {
    [ "$(id -u)" = 0 ] || die "needs root (namespaces, mounts, TAPs)"
    local tool
    for tool in unshare nsenter flock ip ldd ldconfig gcc; do
        command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
    done
    [ -x /bin/busybox ] || die "/bin/busybox is missing (Debian's busybox-static; make deps installs it)"
    [ -e /dev/net/tun ] || die "/dev/net/tun is missing (tun module)"
}

# Copies the libraries a program loads (as ldd resolves them) to the same paths
# in the root: glibc's loader finds them there as on the host.
copy_libraries() { # ROOT ELF
    local root=$1 elf=$2 lib
    for lib in $(ldd "$elf" 2>/dev/null | grep -oE '/[^ ]+' || true); do
        [ -e "$lib" ] || continue
        [ -e "$root$lib" ] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

cmd_add_elf() { # DIR HOST_PATH PATH [MODE]
    local root=$1/root host=$2 path=$3 mode=${4:-0755}
    [ -f "$host" ] || die "add-elf: no $host"
    install -D -m "$mode" "$host" "$root$path"
    copy_libraries "$root" "$host"
    ldconfig -r "$root"
}

cmd_prepare() { # DIR
    local dir=$1 root=$1/root applet bin
    require_root
    "$here/build-userland.sh"
    [ -d "$files" ] || die "no $files: the userland build did not unpack openwrt-files"
    rm -rf "$root"
    mkdir -p "$dir"
    : >"$dir/console"
    mkdir -p "$root"/{bin,sbin,lib,usr/bin,usr/sbin,usr/lib,usr/libexec,etc/init.d,etc/rc.d,etc/config}
    mkdir -p "$root"/{proc,sys,dev,tmp,root,overlay,lib/config,lib/functions,usr/share/libubox}
    # OpenWrt: /var is /tmp (a tmpfs), /var/run is /tmp/run.
    ln -s tmp "$root/var"

    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list-full); do
        [ -e "$root/$applet" ] || { mkdir -p "$root/$(dirname "$applet")"; ln -s /bin/busybox "$root/$applet"; }
    done
    ln -sf busybox "$root/bin/ash"

    # OpenWrt's programs at OpenWrt's paths, replacing busybox applets of the same name.
    for bin in procd ubusd ujail logd logread validate_data; do
        install -m0755 "$stage/usr/sbin/$bin" "$root/sbin/$bin"
    done
    install -m0755 "$stage/usr/bin/uci" "$root/sbin/uci"
    install -m0755 "$stage/usr/bin/ubus" "$root/bin/ubus"
    install -m0755 "$stage/usr/bin/jshn" "$root/usr/bin/jshn"
    install -m0755 "$stage/usr/bin/jsonpath" "$root/usr/bin/jsonfilter"
    # procd.sh serializes procd calls with flock, an applet OpenWrt's busybox
    # has and Debian's does not: util-linux's.
    install -m0755 "$(command -v flock)" "$root/usr/bin/flock"
    install -m0644 "$stage/usr/share/libubox/jshn.sh" "$root/usr/share/libubox/jshn.sh"
    cp -a "$stage"/usr/lib/*.so "$root/lib/"
    # procd's coldplug mounts a fresh tmpfs on /dev and leaves the nodes to
    # udevtrigger and hotplug. This stand-in makes the few the rig uses instead
    # (udevtrigger would write to the host's /sys: the rig shares the kernel's
    # devices), and a file as console (/tmp/console: `rig.sh console` prints it).
    cat >"$root/sbin/udevtrigger" <<'UDEVTRIGGER'
#!/bin/sh
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
	name=${node%%:*} numbers=${node#*:}
	[ -e "/dev/$name" ] || mknod -m 0666 "/dev/$name" c "${numbers%:*}" "${numbers#*:}"
done
mkdir -p /dev/net
[ -e /dev/net/tun ] || mknod -m 0600 /dev/net/tun c 10 200
touch /tmp/console
ln -sf /tmp/console /dev/console
exit 0
UDEVTRIGGER
    chmod 0755 "$root/sbin/udevtrigger"
    printf '#!/bin/sh\nexit 0\n' >"$root/sbin/kmodloader"
    chmod 0755 "$root/sbin/kmodloader"

    # base-files, procd, uci and ubox files, as their packages install them.
    local base=$files/base-files/files
    cp "$base/etc/rc.common" "$root/etc/rc.common"
    cp "$base/lib/functions.sh" "$root/lib/functions.sh"
    cp "$base"/lib/functions/*.sh "$root/lib/functions/"
    cp "$base/etc/openwrt_release" "$base/etc/hosts" "$base/etc/shells" "$root/etc/"
    cp "$files/system/procd/files/procd.sh" "$root/lib/functions/procd.sh"
    install -m0755 "$files/system/procd/files/reload_config" "$root/sbin/reload_config"
    install -m0755 "$files/system/procd/files/service" "$root/sbin/service"
    cp "$files/system/uci/files/lib/config/uci.sh" "$root/lib/config/uci.sh"
    install -m0755 "$files/system/ubox/files/log.init" "$root/etc/init.d/log"
    ln -s ../init.d/log "$root/etc/rc.d/S12log"
    # base-files' users plus those the ubus and logd packages add.
    { cat "$base/etc/passwd"; echo 'ubus:*:81:81:ubus:/var/run/ubus:/bin/false'
      echo 'logd:*:514:514:logd:/var:/bin/false'; } >"$root/etc/passwd"
    { cat "$base/etc/group"; echo 'ubus:x:81:'; echo 'logd:x:514:'; } >"$root/etc/group"
    # glibc, unlike musl, reads this to look users up.
    printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
    : >"$root/etc/resolv.conf"
    echo OpenWrt >"$root/etc/hostname"
    printf "config system\n\toption hostname 'OpenWrt'\n" >"$root/etc/config/system"
    printf '::sysinit:/etc/init.d/rcS S boot\n::shutdown:/etc/init.d/rcS K shutdown\n' >"$root/etc/inittab"
    echo '[ ]' >"$root/etc/hotplug.json"
    # Stand-in for base-files' /etc/init.d/boot, which mounts and probes
    # hardware: the runtime directories it makes, and, as it does last, the
    # first reload_config (which records the configs' checksums; without it
    # the first reload_config after a change does nothing).
    cat >"$root/etc/init.d/boot" <<'EOF'
#!/bin/sh /etc/rc.common
START=10
boot() {
	mkdir -p /var/lock /var/log /var/run /var/state /var/tmp /tmp/.uci /tmp/resolv.conf.d
	chmod 1777 /var/lock
	chmod 0700 /tmp/.uci
	touch /tmp/resolv.conf.d/resolv.conf.auto
	ln -sf /tmp/resolv.conf.d/resolv.conf.auto /tmp/resolv.conf
	# base-files' uci_apply_defaults: each package's first-boot script, once.
	for file in /etc/uci-defaults/*; do
		[ -f "$file" ] && ( cd /etc/uci-defaults && . "./${file##*/}" ) && rm -f "$file"
	done
	/sbin/reload_config
}
EOF
    chmod 0755 "$root/etc/init.d/boot"
    ln -s ../init.d/boot "$root/etc/rc.d/S10boot"

    # The radio stand-in: `iw phy PHY interface add NAME type monitor` only.
    gcc -O2 -Wall -Werror -o "$dir/iw" "$here/iw-standin.c" || die "cannot build the iw stand-in"
    install -m0755 "$dir/iw" "$root/usr/sbin/iw"
    rm -f "$dir/iw"

    # ujail finds libraries through ld.so.conf.
    printf '/lib\n/usr/lib\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n' >"$root/etc/ld.so.conf"
    for bin in "$root"/sbin/* "$root"/bin/ubus "$root"/usr/bin/jshn "$root"/usr/bin/jsonfilter "$root"/usr/bin/flock "$root"/usr/sbin/iw; do
        [ -L "$bin" ] || copy_libraries "$root" "$bin"
    done
    for bin in "$root"/lib/*.so; do copy_libraries "$root" "$bin"; done
    ldconfig -r "$root"
}

# LuCI as luci-base's package lays it out: htdocs under /www, root/ at /,
# ucode/ under /usr/share/ucode/luci; uhttpd serving /www, LuCI's ucode
# dispatcher at /cgi-bin/luci and ubus JSON-RPC at /ubus; rpcd (sessions,
# ACLs, uci, file and ucode plugins). Both as procd services, from init
# scripts written for the rig (their packages' own are not in the sources
# here) with the flags OpenWrt's uhttpd and rpcd packages start them with.
cmd_add_luci() { # DIR PASSWORD
    local dir=$1 password=$2 root=$1/root src luci pkg bin
    src=$top/build/openwrt-userland/src
    luci=$(ls -d "$src"/luci-*/ 2>/dev/null | head -n1)
    [ -d "$luci/modules/luci-base" ] || die "add-luci: no luci-base in $src (build-userland.sh unpacks it)"
    [ -x "$stage/usr/bin/uhttpd" ] || die "add-luci: no uhttpd in $stage (build-userland.sh builds it)"
    install -D -m0755 "$stage/usr/bin/uhttpd" "$root/usr/sbin/uhttpd"
    install -D -m0755 "$stage/usr/sbin/rpcd" "$root/sbin/rpcd"
    install -D -m0755 "$stage/usr/bin/ucode" "$root/usr/bin/ucode"
    mkdir -p "$root/usr/lib/rpcd" "$root/usr/lib/ucode" "$root/usr/share/ucode/luci" "$root/www"
    cp -a "$stage"/usr/lib/uhttpd_*.so "$stage"/usr/lib/libucode.so* "$stage"/usr/lib/liblucihttp.so* "$root/usr/lib/"
    cp -a "$stage"/usr/lib/rpcd/*.so "$root/usr/lib/rpcd/"
    # The rpcd package's own ACL: `session access` and `login` for everyone.
    install -D -m0644 "$(ls -d "$src"/rpcd-*/ | head -n1)/unauthenticated.json" \
        "$root/usr/share/rpcd/acl.d/unauthenticated.json"
    cp -a "$stage"/usr/lib/ucode/. "$root/usr/lib/ucode/"
    cp -a "$stage"/usr/share/ucode/luci/. "$root/usr/share/ucode/luci/"
    for pkg in modules/luci-base themes/luci-theme-bootstrap; do
        [ -d "$luci/$pkg/htdocs" ] && cp -a "$luci/$pkg/htdocs/." "$root/www/"
        [ -d "$luci/$pkg/root" ] && cp -a "$luci/$pkg/root/." "$root/"
        [ -d "$luci/$pkg/ucode" ] && cp -a "$luci/$pkg/ucode/." "$root/usr/share/ucode/luci/"
    done
    # luci-base imports ucode-mod-html, which lives in LuCI's own tree, not in
    # the archive: a stand-in for the two functions the dispatcher uses,
    # written from their documented behaviour.
    cat >"$root/usr/share/ucode/html.uc" <<'HTML'
// Rig stand-in for ucode-mod-html (striptags, entityencode).
export function striptags(s) {
	return replace(`${s}`, /<[^>]*>/g, '');
};
export function entityencode(s) {
	return replace(`${s}`, /[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c]);
};
HTML
    # rpcd checks LuCI's login against root's shadow entry ($p$root).
    printf "config rpcd\n\toption socket /var/run/ubus/ubus.sock\n\toption timeout 30\n\n" >"$root/etc/config/rpcd"
    printf "config login\n\toption username 'root'\n\toption password '\$p\$root'\n\tlist read '*'\n\tlist write '*'\n" \
        >>"$root/etc/config/rpcd"
    local hash
    hash=$(openssl passwd -6 -salt "rig$$" "$password") || die "add-luci: openssl passwd failed"
    sed "s#^root:[^:]*:#root:$hash:#" "$files/base-files/files/etc/shadow" >"$root/etc/shadow"
    chmod 0600 "$root/etc/shadow"
    cat >"$root/etc/init.d/rpcd" <<'RPCD'
#!/bin/sh /etc/rc.common
START=12
USE_PROCD=1
start_service() {
	procd_open_instance
	procd_set_param command /sbin/rpcd -s /var/run/ubus/ubus.sock -t 30
	procd_set_param respawn
	procd_close_instance
}
RPCD
    cat >"$root/etc/init.d/uhttpd" <<'UHTTPD'
#!/bin/sh /etc/rc.common
START=50
USE_PROCD=1
start_service() {
	procd_open_instance
	procd_set_param command /usr/sbin/uhttpd -f -h /www -r OpenWrt -x /cgi-bin -u /ubus -t 60 -T 30 -k 20 \
		-n 3 -N 100 -p 0.0.0.0:80 -o /cgi-bin/luci -O /usr/share/ucode/luci/uhttpd.uc
	procd_set_param respawn
	procd_set_param stderr 1
	procd_close_instance
}
UHTTPD
    chmod 0755 "$root/etc/init.d/rpcd" "$root/etc/init.d/uhttpd"
    ln -sf ../init.d/rpcd "$root/etc/rc.d/S12rpcd"
    ln -sf ../init.d/uhttpd "$root/etc/rc.d/S50uhttpd"
    for bin in "$root/usr/sbin/uhttpd" "$root/sbin/rpcd" "$root/usr/bin/ucode" "$root"/usr/lib/*.so \
        "$root"/usr/lib/rpcd/*.so "$root"/usr/lib/ucode/*.so "$root"/usr/lib/ucode/luci/*.so; do
        [ -L "$bin" ] || copy_libraries "$root" "$bin"
    done
    ldconfig -r "$root"
}

# Runs as PID 1 of the new PID namespace, in the new mount namespace, with the
# host's root still visible: mounts what /sbin/init and the kernel would, enters
# the rig's root with pivot_root (ujail calls pivot_root itself, which a chroot
# would not allow), then becomes procd.
cmd_stage1() { # DIR
    local dir=$1 root=$1/root node
    mount --make-rprivate /
    mount --bind "$root" "$root"
    mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
    mount -t tmpfs -o nosuid,nodev,noatime,mode=1777 tmpfs "$root/tmp"
    mount -t tmpfs -o nosuid,noexec,mode=0755,size=512k tmpfs "$root/dev"
    for node in null:1:3 zero:1:5 random:1:8 urandom:1:9 tty:5:0; do
        IFS=: read -r name major minor <<<"$node"
        mknod -m 0666 "$root/dev/$name" c "$major" "$minor"
    done
    mkdir -p "$root/dev/net"
    mknod -m 0600 "$root/dev/net/tun" c 10 200
    touch "$root/dev/console"
    mount --bind "$dir/console" "$root/dev/console"
    mkdir -p "$root"/tmp/{run,lock,state,shm}
    # ujail masks paths with this file (what procd's init would create).
    install -m0000 /dev/null "$root/tmp/.ujailnoafile"
    hostname OpenWrt
    # What netifd's loopback interface would do (no netifd here).
    ip link set lo up
    cd "$root"
    mkdir -p .old-root
    pivot_root . .old-root
    cd /
    /bin/busybox umount -l /.old-root
    /bin/busybox rmdir /.old-root
    exec /bin/busybox env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /sbin/procd -S </dev/null >>/dev/console 2>&1
}

procd_pid() { # DIR: procd's PID as the host sees it
    local pid
    pid=$(cat "$1/procd.pid" 2>/dev/null) || die "no rig booted in $1"
    [ -d "/proc/$pid" ] || die "procd ($pid) of $1 is not running"
    echo "$pid"
}

cmd_boot() { # DIR
    local dir=$1 unshare_pid pid="" i
    require_root
    [ -d "$dir/root/sbin" ] || die "boot: run 'rig.sh prepare $dir' first"
    setsid unshare --pid --fork --mount --net --uts --ipc --propagation private \
        "$here/rig.sh" stage1 "$dir" </dev/null >>"$dir/console" 2>&1 &
    unshare_pid=$!
    echo "$unshare_pid" >"$dir/unshare.pid"
    for i in $(seq 100); do
        pid=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null | awk '{print $1}')
        [ -n "$pid" ] && break
        sleep 0.05
    done
    [ -n "$pid" ] || { cmd_console "$dir" >&2; die "boot: unshare started nothing"; }
    echo "$pid" >"$dir/procd.pid"
    # procd is up once ubusd runs and procd's own objects answer (30 s: a
    # bound that detects a hang; a boot takes about a second).
    for i in $(seq 300); do
        if (cmd_run "$dir" ubus -t 1 call system board) >/dev/null 2>&1 &&
            (cmd_run "$dir" ubus -t 1 call service list) >/dev/null 2>&1; then
            # rc.d's boot scripts have run once the boot stand-in's directories exist.
            if (cmd_run "$dir" test -d /tmp/.uci); then return 0; fi
        fi
        [ -d "/proc/$pid" ] || { cmd_console "$dir" >&2; die "boot: procd exited"; }
        sleep 0.1
    done
    cmd_console "$dir" >&2
    die "boot: ubus did not answer within 30 s"
}

cmd_run() { # DIR CMD...
    local dir=$1 pid
    shift
    pid=$(procd_pid "$dir")
    exec nsenter -t "$pid" -m -p -n -u -i -r -w -- /bin/busybox env -i \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"
}

cmd_netns() { # DIR CMD...
    local dir=$1 pid
    shift
    pid=$(procd_pid "$dir")
    exec nsenter -t "$pid" -n -- "$@"
}

cmd_root() { echo "/proc/$(procd_pid "$1")/root"; }

cmd_console() { # DIR: what procd printed before and after it took /dev/console
    cat "$1/console" 2>/dev/null || true
    if [ -f "$1/procd.pid" ] && [ -d "/proc/$(cat "$1/procd.pid")" ]; then
        cat "/proc/$(cat "$1/procd.pid")/root/tmp/console" 2>/dev/null || true
    fi
}

cmd_down() { # DIR
    local dir=$1 pid unshare_pid i
    pid=$(cat "$dir/procd.pid" 2>/dev/null || true)
    unshare_pid=$(cat "$dir/unshare.pid" 2>/dev/null || true)
    # PID 1 of the namespace: when it dies the kernel kills everything else in
    # it; the mount and network namespaces (and the TAPs in them) go with the
    # last process.
    if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    for i in $(seq 100); do
        { [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; } &&
            { [ -z "$unshare_pid" ] || [ ! -d "/proc/$unshare_pid" ]; } && break
        sleep 0.05
    done
    if [ -n "$unshare_pid" ] && [ -d "/proc/$unshare_pid" ]; then
        kill -KILL "$unshare_pid" 2>/dev/null || true
        sleep 0.1
    fi
    { [ -n "$pid" ] && [ -d "/proc/$pid" ]; } && die "down: procd ($pid) does not die"
    rm -rf "$dir"
}

[ $# -ge 2 ] || die "usage: rig.sh prepare|add-elf|boot|run|netns|root|down DIR [...]"
command=$1
shift
case "$command" in
prepare) cmd_prepare "$@" ;;
add-elf) cmd_add_elf "$@" ;;
add-luci) cmd_add_luci "$@" ;;
stage1) cmd_stage1 "$@" ;;
boot) cmd_boot "$@" ;;
run) cmd_run "$@" ;;
netns) cmd_netns "$@" ;;
root) cmd_root "$@" ;;
console) cmd_console "$@" ;;
down) cmd_down "$@" ;;
*) die "unknown command $command" ;;
esac
