#!/usr/bin/env bash
# openwrt/presenced/files/presenced.init: syntax (sh -n, busybox ash -n),
# ShellCheck, and runs against stand-ins for OpenWrt's /etc/rc.common,
# /lib/functions.sh and /lib/functions/procd.sh that record every procd call
# (one line per call, arguments separated by \037) instead of talking to ubus.
# The stand-ins apply UCI values and validation defaults the way
# uci_load_validate does, for the types the script uses.
#
# Asserted: the key never appears in the command line nor in procd's env; it
# reaches presenced as a 0600 file named by --key-file; respawn, stdout,
# stderr, netdev and the reload trigger are set; the monitor interface is
# created with iw when phy is set and it is missing; disabled, keyless and
# invalid configurations start nothing; the jail (user network with
# capabilities) is used only where ujail exists.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
init=$top/openwrt/presenced/files/presenced.init
work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# --- static checks ---------------------------------------------------------------
if sh -n "$init"; then pass "sh -n"; else fail "sh -n"; fi
if busybox sh -n "$init"; then pass "busybox ash -n"; else fail "busybox ash -n"; fi
if shellcheck "$init"; then pass "shellcheck"; else fail "shellcheck"; fi
keeper=$top/openwrt/presenced/files/presenced.monitor
if busybox sh -n "$keeper" && shellcheck "$keeper"; then pass "presenced.monitor: busybox ash -n, shellcheck"
else fail "presenced.monitor: busybox ash -n, shellcheck"; fi
if grep -q '^USE_PROCD=1$' "$init" && grep -Eq '^START=[0-9]+$' "$init" &&
    [ "$(sed -n 's/^START=//p' "$init")" -gt 20 ]; then
    pass "USE_PROCD=1, START after network (20)"
else
    fail "USE_PROCD=1 and a START after network (20)"
fi
# shellcheck disable=SC2016 # a literal $RUN_DIR
if grep -Eq '^KEY_FILE=(/var/run|\$RUN_DIR)' "$init" && grep -q '^RUN_DIR=/var/run/' "$init"; then
    pass "key file lives under /var/run"
else
    fail "key file lives under /var/run"
fi

# --- stand-ins -------------------------------------------------------------------
standin=$work/standin
mkdir -p "$standin/lib/functions" "$standin/bin"
cat >"$standin/etc-rc.common" <<'EOF'
#!/bin/sh
# Stand-in for /etc/rc.common with USE_PROCD: start = open service,
# start_service, close service (which asks for service_triggers), as procd.sh does.
initscript=$1
action=$2
. "$STANDIN/lib/functions.sh"
. "$STANDIN/lib/functions/procd.sh"
. "$initscript"
# The test points the script's absolute paths into its sandbox.
eval "${TEST_OVERRIDES:-}"
case "$action" in
start)
	procd_open_service presenced "$initscript"
	start_service
	procd_close_service
	;;
stop) stop_service ;;
esac
EOF
cat >"$standin/lib/functions.sh" <<'EOF'
# Stand-in for OpenWrt's /lib/functions.sh: config_load, user_exists and
# uci_load_validate over one "config presenced 'main'" section of $TEST_UCI.
record() {
	printf '%s\037' "$@" >>"$PROCD_LOG"
	printf '\n' >>"$PROCD_LOG"
}
config_load() { record config_load "$@"; }
# As functions too: Debian's static busybox ash runs its own applets (ip,
# logger, chown, ...) before anything in PATH.
for tool in ip logger chown chgrp; do
	eval "$tool() { record $tool \"\$@\"; }"
done
# A phy named phydown refuses new interfaces, as a radio that is not up.
iw() {
	record iw "$@"
	[ "$2" != phydown ]
}
user_exists() { case " $TEST_USERS " in *" $1 "*) return 0 ;; esac; return 1; }
group_exists() { user_exists "$@"; }

uci_value() { # NAME: the option's value from $TEST_UCI, or nothing (status 1)
	sed -n "s/^[[:space:]]*option $1 '\\(.*\\)'\$/\\1/p" "$TEST_UCI" | grep . || return 1
}
validate_value() { # TYPE VALUE
	case "$1" in
	bool) case "$2" in 0|1|on|off|true|false|yes|no) return 0 ;; esac; return 1 ;;
	uinteger) case "$2" in ''|*[!0-9]*) return 1 ;; esac ;;
	'and(uinteger,min(1))') case "$2" in ''|*[!0-9]*) return 1 ;; esac; [ "$2" -ge 1 ] ;;
	range\(*,*\)) # as validate_data: strtol(value, 0), so 0x10 passes
		local bounds=${1#range(} n
		bounds=${bounds%)}
		n=$(printf '%d' "$2" 2>/dev/null) || return 1
		[ "$n" -ge "${bounds%,*}" ] && [ "$n" -le "${bounds#*,}" ] ;;
	macaddr) echo "$2" | grep -Eq '^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$' ;;
	file) [ -f "$2" ] ;;
	string) return 0 ;;
	or\(*) echo "$1" | grep -q "\"$2\"" ;;
	*) echo "stand-in: unknown type $1" >&2; return 1 ;;
	esac
}
uci_load_validate() { # PACKAGE TYPE SECTION CALLBACK SPEC...
	local section="$3" callback="$4" spec name type default value result=0
	shift 4
	for spec in "$@"; do
		name=${spec%%:*}
		type=${spec#*:}
		default=""
		case "$type" in
		*\)) ;;
		*\):*) default=${type##*):}; type=${type%:"$default"} ;;
		*:*) default=${type#*:}; type=${type%%:*} ;;
		esac
		value=$(uci_value "$name") || value=$default
		if [ -n "$value" ] && ! validate_value "$type" "$value"; then
			echo "stand-in: $name='$value' is not $type" >&2
			result=1
		fi
		eval "$name=\$value"
	done
	"$callback" "$section" "$result"
}
EOF
cat >"$standin/lib/functions/procd.sh" <<'EOF'
# Stand-in for /lib/functions/procd.sh: every call recorded, nothing sent.
procd_open_service() { record procd_open_service "$@"; }
procd_close_service() { service_triggers; record procd_close_service; }
procd_open_instance() { record procd_open_instance "$@"; }
procd_close_instance() { record procd_close_instance "$@"; }
procd_set_param() { record procd_set_param "$@"; }
procd_append_param() { record procd_append_param "$@"; }
procd_add_jail() { record procd_add_jail "$@"; }
procd_add_jail_mount() { record procd_add_jail_mount "$@"; }
procd_add_jail_mount_rw() { record procd_add_jail_mount_rw "$@"; }
procd_add_reload_trigger() { record procd_add_reload_trigger "$@"; }
procd_add_validation() { record procd_add_validation "$@"; }
EOF
for tool in iw ip logger chown chgrp; do
    cat >"$standin/bin/$tool" <<EOF
#!/bin/sh
printf '%s\037' "$tool" "\$@" >>"\$PROCD_LOG"
printf '\n' >>"\$PROCD_LOG"
EOF
    chmod +x "$standin/bin/$tool"
done
touch "$work/ujail"
chmod +x "$work/ujail"
mkdir -p "$work/net/lo" "$work/etc" "$work/ieee80211/phy3"
echo '02:11:22:33:44:55' >"$work/ieee80211/phy3/macaddress"
echo '{}' >"$work/capabilities.json"
echo "-----BEGIN CERTIFICATE-----" >"$work/ca.pem"

# run_case NAME SHELL USERS UJAIL_PATH UCI_BODY: runs `start`, leaves
# $work/NAME/{log,run,stderr}. A key file from an earlier start is there
# before, as it would be on a reload.
run_case() {
    local name=$1 shell=$2 users=$3 ujail=$4 body=$5 dir=$work/$1
    mkdir -p "$dir/run"
    printf 'an earlier key' >"$dir/run/key"
    printf 'an earlier pseudonym key' >"$dir/run/pseudonymize_key"
    printf "config presenced 'main'\n%s\n" "$body" >"$dir/uci"
    : >"$dir/log"
    PATH="$standin/bin:$PATH" STANDIN=$standin PROCD_LOG=$dir/log TEST_UCI=$dir/uci \
        TEST_USERS=$users \
        TEST_OVERRIDES="RUN_DIR='$dir/run'; KEY_FILE='$dir/run/key'; PSEUDONYM_KEY_FILE='$dir/run/pseudonymize_key'; UJAIL='$ujail'; NET_DEVICES='$work/net'; CAPABILITIES='$work/capabilities.json'; IEEE80211='$work/ieee80211'" \
        $shell "$standin/etc-rc.common" "$init" start 2>"$dir/stderr"
    echo $? >"$dir/status"
}

# check NAME: python assertions over the recorded calls of case NAME
check() {
    local name=$1 key=$2
    shift 2
    python3 - "$work/$name" "$key" "$@" <<'EOF'
import os, stat, sys
directory, key, *wants = sys.argv[1:]
calls = [line.split("\x1f")[:-1] for line in open(f"{directory}/log").read().splitlines()]
command, env = [], []
# The first instance is presenced; a second one (monitor) is the keeper.
instance = -1
for c in calls:
    if c[0] == "procd_open_instance": instance += 1
    if instance > 0: continue
    if c[:2] == ["procd_set_param", "command"]: command = c[2:]
    if c[:2] == ["procd_append_param", "command"]: command += c[2:]
    if c[:2] in (["procd_set_param", "env"], ["procd_append_param", "env"]): env += c[2:]
def has(*call): return list(call) in calls
def flag(name):
    return command[command.index(name) + 1] if name in command else None
results = []
def want(ok, what): results.append((ok, what))
def secret_file(option, name, what, secret_name, secret):
    """The file a secret is handed over in: in the run directory, 0600, the secret exactly."""
    path = flag(option)
    want(path == f"{directory}/run/{name}", f"{option} names the run directory's {what} ({path})")
    if path and os.path.exists(path):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        want(mode == 0o600, f"{what} mode 0600 (is {oct(mode)})")
        want(open(path).read() == secret, f"{what} holds exactly the {secret_name}")
    else:
        want(False, f"{what} exists")
for w in wants:
    if w == "instance":
        want(has("procd_open_instance") and has("procd_close_instance"), "an instance is started")
    elif w == "no-instance":
        want(not any(c[0] == "procd_open_instance" for c in calls), "no instance is started")
    elif w == "key-safe":
        want(command[:1] == ["/usr/sbin/presenced"], f"command is /usr/sbin/presenced ... ({command[:1]})")
        want(not any(key in a for a in command), "the key is nowhere in the command line")
        want(not any(key in a for a in env), "the key is not in procd's env")
        want(not any(key in "".join(c) for c in calls), "the key is in no procd call at all")
        secret_file("--key-file", "key", "key file", "key", key)
    elif w == "no-key-file":
        want(not os.path.exists(f"{directory}/run/key"), "no key file is left behind")
        want(not os.path.exists(f"{directory}/run/pseudonymize_key"), "no pseudonym key file is left behind")
    elif w.startswith("pseudonym-key:"):
        pkey = w[len("pseudonym-key:"):]
        want(not any(pkey in a for a in command), "the pseudonym key is nowhere in the command line")
        want(not any(pkey in "".join(c) for c in calls), "the pseudonym key is in no procd call at all")
        secret_file("--pseudonymize-key-file", "pseudonymize_key", "pseudonym key file", "pseudonym key", pkey)
    elif w == "procd-basics":
        want(any(c[:2] == ["procd_set_param", "respawn"] for c in calls), "respawn set")
        want(has("procd_set_param", "stdout", "1"), "stdout 1 (logread)")
        want(has("procd_set_param", "stderr", "1"), "stderr 1 (logread)")
        want(has("procd_set_param", "netdev", flag("--interface") or "?"), "netdev is the capture interface")
        want(has("procd_add_reload_trigger", "presenced"), "procd_add_reload_trigger presenced")
        want(has("procd_set_param", "respawn", "3600", "5", "0"),
             "respawn 3600 5 0: no retry limit (a wifi reload makes presenced exit)")
        want(has("procd_set_param", "term_timeout", "5"), "term_timeout 5 (presenced's 3 s shutdown budget)")
        want(not any(c[0] == "procd_add_jail_mount" and "/etc/resolv.conf" in c[1:] for c in calls),
             "no jail mount of /etc/resolv.conf (ujail adds it)")
        want(any(c[0] == "procd_add_validation" for c in calls), "validation registered")
    elif "=" in w:  # FLAG=VALUE, FLAG= (absent), or FLAG (present without value)
        name, value = w.split("=", 1)
        if value == "":
            want(name not in command, f"{name} absent")
        else:
            want(flag(name) == value, f"{name} {value} (is {flag(name)})")
    elif w.startswith("!call:"):
        want(list(w[6:].split("|")) not in calls and not any(c[0] == w[6:] for c in calls), f"no call {w[6:]}")
    elif w.startswith("call:"):
        want(list(w[5:].split("|")) in calls, f"call {w[5:].replace('|', ' ')}")
    elif w.startswith("arg:"):
        want(w[4:] in command, f"command has {w[4:]}")
    elif w.startswith("count:"):
        a, n = w[6:].split("|")
        want(command.count(a) == int(n), f"command has {a} {n} times")
    else:
        raise SystemExit(f"unknown check {w}")
for ok, what in results:
    print(("ok  " if ok else "FAIL"), f"{os.path.basename(directory)}: {what}")
sys.exit(sum(not ok for ok, _ in results))
EOF
}

assert_case() { # NAME KEY CHECKS...: check's lines counted into passed/failed
    local line
    check "$@" >"$work/check.out" 2>&1
    while IFS= read -r line; do
        echo "$line"
        case "$line" in
        "ok  "*) passed=$((passed + 1)) ;;
        *) failed=$((failed + 1)) ;;
        esac
    done <"$work/check.out"
}

# shellcheck disable=SC2016 # a literal dollar, to catch unquoted expansion
key='s3cr3t key with spaces & $dollar'
for shell in "sh" "busybox sh"; do
    tag=${shell// /-}

    run_case "full-$tag" "$shell" "network" "$work/ujail" "
	option enabled '1'
	option interface 'mon7'
	option phy 'phy7'
	option url 'https://reports.example/api'
	option key '$key'
	option rate '60'
	option network_id '221234'
	option node_mac 'AC:86:74:82:9A:30'
	option ca_file '$work/ca.pem'
	option log_level 'debug'"
    assert_case "full-$tag" "$key" instance key-safe procd-basics \
        --interface=mon7 --url=https://reports.example/api --rate=60 --network-id=221234 \
        --node-mac=AC:86:74:82:9A:30 --ca-file="$work/ca.pem" --hostapd-dir=/var/run/hostapd \
        --max-clients=10000 --run-dir="$work/full-$tag/run" arg:-v count:-v\|1 --no-hostapd= \
        "call:iw|phy|phy7|interface|add|mon7|type|monitor" "call:ip|link|set|dev|mon7|up" \
        "call:procd_set_param|user|network" "call:procd_set_param|capabilities|$work/capabilities.json" \
        "call:procd_add_jail|presenced|log|sysfs" "call:procd_add_jail_mount_rw|$work/full-$tag/run" \
        "call:procd_add_jail_mount|$work/ca.pem" "call:chown|network|$work/full-$tag/run|$work/full-$tag/run/key" \
        "call:procd_open_instance|monitor" "call:procd_set_param|command|/usr/libexec/presenced-monitor|mon7|phy7"

    # An existing interface (no iw), hostapd off, no ujail: root, no jail.
    run_case "plain-$tag" "$shell" "network" "$work/no-ujail" "
	option enabled '1'
	option interface 'lo'
	option phy 'phy0'
	option url 'http://192.0.2.1/r'
	option key '$key'
	option hostapd '0'
	option log_level 'error'"
    assert_case "plain-$tag" "$key" instance key-safe procd-basics --interface=lo --rate=30 \
        "call:procd_set_param|command|/usr/libexec/presenced-monitor|lo|phy0" \
        --network-id=0 --node-mac= --ca-file= --hostapd-dir= arg:--no-hostapd count:-q\|1 \
        --pseudonymize-key-file= --pseudonymize-rotate= --randomized-macs= --min-signal= --spool-bytes= \
        '!call:iw' '!call:procd_add_jail' '!call:chown' '!call:chgrp' '!call:procd_set_param|group|network'

    # hostapd on but no ujail: still root (a plain `user` would lose
    # CAP_NET_RAW), in hostapd's group so that hostapd may answer.
    run_case "nojail-$tag" "$shell" "network" "$work/no-ujail" "
	option enabled '1'
	option interface 'lo'
	option url 'http://192.0.2.1/r'
	option key '$key'
	option log_level 'trace'"
    assert_case "nojail-$tag" "$key" instance key-safe --hostapd-dir=/var/run/hostapd count:-v\|2 \
        '!call:procd_add_jail' '!call:procd_set_param|user|network' \
        "call:chgrp|network|$work/nojail-$tag/run" "call:procd_set_param|group|network"

    run_case "disabled-$tag" "$shell" "network" "$work/ujail" "
	option enabled '0'
	option url 'http://192.0.2.1/r'
	option key '$key'"
    assert_case "disabled-$tag" "$key" no-instance no-key-file "call:procd_add_reload_trigger|presenced"

    run_case "nokey-$tag" "$shell" "network" "$work/ujail" "
	option enabled '1'
	option interface 'lo'
	option url 'http://192.0.2.1/r'"
    assert_case "nokey-$tag" "$key" no-instance
    if grep -q 'key is not set' "$work/nokey-$tag/stderr"; then pass "nokey-$tag: says the key is not set"
    else fail "nokey-$tag: says the key is not set ($(cat "$work/nokey-$tag/stderr"))"; fi

    run_case "badrate-$tag" "$shell" "network" "$work/ujail" "
	option enabled '1'
	option interface 'lo'
	option url 'http://192.0.2.1/r'
	option key '$key'
	option rate '0'"
    assert_case "badrate-$tag" "$key" no-instance no-key-file

    # network_id is at most 2^31 - 1, max_clients 1..20000, and numbers are
    # decimal (validate_data's strtol also takes 0x10).
    for bad in "network_id '2147483648'" "max_clients '20001'" "max_clients '0'" "network_id '0x10'"; do
        bad_tag=$(echo "$bad" | tr -c 'a-z0-9\n' '_')
        run_case "bad-$bad_tag-$tag" "$shell" "network" "$work/ujail" "
	option enabled '1'
	option interface 'lo'
	option url 'http://192.0.2.1/r'
	option key '$key'
	option $bad"
        assert_case "bad-$bad_tag-$tag" "$key" no-instance no-key-file
    done

    # The privacy options, all set: a pseudonym key in a 0600 file of its own.
    # shellcheck disable=SC2016 # a literal dollar
    pkey='pseudonym key & $other'
    run_case "privacy-$tag" "$shell" "network" "$work/ujail" "
	option enabled '1'
	option interface 'lo'
	option url 'http://192.0.2.1/r'
	option key '$key'
	option pseudonymize_key '$pkey'
	option pseudonymize_rotate 'daily'
	option randomized_macs 'drop'
	option min_signal '-80'
	option spool_bytes '262144'"
    assert_case "privacy-$tag" "$key" instance key-safe "pseudonym-key:$pkey" \
        --pseudonymize-rotate=daily --randomized-macs=drop --min-signal=-80 --spool-bytes=262144 \
        "call:chown|network|$work/privacy-$tag/run|$work/privacy-$tag/run/pseudonymize_key"

    # merge is passed on as it is.
    run_case "merge-$tag" "$shell" "network" "$work/ujail" "
	option enabled '1'
	option interface 'lo'
	option url 'http://192.0.2.1/r'
	option key '$key'
	option randomized_macs 'merge'"
    assert_case "merge-$tag" "$key" instance key-safe --randomized-macs=merge

    # The explicit off values pass nothing.
    run_case "privacy-off-$tag" "$shell" "network" "$work/ujail" "
	option enabled '1'
	option interface 'lo'
	option url 'http://192.0.2.1/r'
	option key '$key'
	option pseudonymize_rotate 'never'
	option randomized_macs 'keep'"
    assert_case "privacy-off-$tag" "$key" instance key-safe --pseudonymize-key-file= \
        --pseudonymize-rotate= --randomized-macs= --min-signal= --spool-bytes=
    if [ ! -e "$work/privacy-off-$tag/run/pseudonymize_key" ]; then pass "privacy-off-$tag: no pseudonym key file"
    else fail "privacy-off-$tag: a pseudonym key file was left"; fi

    for bad in "min_signal '10'" "min_signal '-129'" "min_signal '-0x10'" "spool_bytes '1023'" \
        "spool_bytes '0x10000'" "randomized_macs 'maybe'" "randomized_macs 'Merge'" "pseudonymize_rotate 'hourly'" \
        "pseudonymize_rotate 'daily'"; do
        bad_tag=$(echo "$bad" | tr -c 'a-z0-9\n' '_')
        run_case "bad-$bad_tag-$tag" "$shell" "network" "$work/ujail" "
	option enabled '1'
	option interface 'lo'
	option url 'http://192.0.2.1/r'
	option key '$key'
	option $bad"
        assert_case "bad-$bad_tag-$tag" "$key" no-instance no-key-file
    done

    # The phy does not take the interface yet: presenced and the keeper start
    # anyway (presenced is respawned until the keeper has created it).
    run_case "phydown-$tag" "$shell" "network" "$work/ujail" "
	option enabled '1'
	option interface 'mon8'
	option phy 'phydown'
	option url 'http://192.0.2.1/r'
	option key '$key'"
    assert_case "phydown-$tag" "$key" instance key-safe --interface=mon8 \
        "call:iw|phy|phydown|interface|add|mon8|type|monitor" "!call:ip|link|set|dev|mon8|up" \
        "call:procd_set_param|command|/usr/libexec/presenced-monitor|mon8|phydown"

    # source 'hostapd': ubus only. Its own user, jailed with ubusd's directory
    # (not the socket file, which a restarted ubusd replaces), no
    # capabilities, no netdev, no monitor interface nor keeper, even with a phy.
    run_case "ubus-$tag" "$shell" "network presenced" "$work/ujail" "
	option enabled '1'
	option source 'hostapd'
	option interface 'mon5'
	option phy 'phy3'
	option url 'http://192.0.2.1/r'
	option key '$key'"
    assert_case "ubus-$tag" "$key" instance key-safe arg:--source --source=hostapd --interface= \
        --node-mac=02:11:22:33:44:55 --hostapd-dir=/var/run/hostapd \
        "call:procd_set_param|user|presenced" "call:procd_set_param|group|presenced" \
        "call:procd_add_jail|presenced|log" "call:procd_add_jail_mount|/var/run/ubus" \
        "call:procd_add_jail_mount_rw|$work/ubus-$tag/run" "call:procd_set_param|no_new_privs|1" \
        "call:chown|presenced|$work/ubus-$tag/run|$work/ubus-$tag/run/key" \
        "call:procd_set_param|respawn|3600|5|0" "call:procd_add_reload_trigger|presenced" \
        '!call:procd_set_param|capabilities' '!call:procd_set_param|netdev' '!call:iw' \
        '!call:procd_open_instance|monitor' '!call:procd_set_param|user|network'
    # No node_mac and no radio to take one from: nothing started. An explicit
    # node_mac wins over the radio's.
    run_case "ubus-nomac-$tag" "$shell" "network presenced" "$work/ujail" "
	option enabled '1'
	option source 'hostapd'
	option phy 'phy9'
	option url 'http://192.0.2.1/r'
	option key '$key'"
    assert_case "ubus-nomac-$tag" "$key" no-instance no-key-file
    run_case "ubus-mac-$tag" "$shell" "network presenced" "$work/no-ujail" "
	option enabled '1'
	option source 'hostapd'
	option node_mac 'AC:86:74:82:9A:30'
	option url 'http://192.0.2.1/r'
	option key '$key'"
    assert_case "ubus-mac-$tag" "$key" instance key-safe --node-mac=AC:86:74:82:9A:30 \
        "call:procd_set_param|user|presenced" '!call:procd_add_jail'
    run_case "ubus-bad-$tag" "$shell" "network presenced" "$work/ujail" "
	option enabled '1'
	option source 'radio'
	option node_mac 'AC:86:74:82:9A:30'
	option url 'http://192.0.2.1/r'
	option key '$key'"
    assert_case "ubus-bad-$tag" "$key" no-instance no-key-file

    # Missing interface and no phy: nothing to capture on, nothing started.
    run_case "noiface-$tag" "$shell" "network" "$work/ujail" "
	option enabled '1'
	option interface 'mon9'
	option url 'http://192.0.2.1/r'
	option key '$key'"
    assert_case "noiface-$tag" "$key" no-instance '!call:iw'
done

# Every flag the script gave presenced in any case is one presenced knows
# (values such as --min-signal's -80 are not flags).
if (cd "$top" && cargo build --release --locked --bin presenced) >"$work/build.log" 2>&1; then
    help=$("$top/target/release/presenced" --help 2>&1)
    used=$(grep -hE $'^procd_(set|append)_param\037command\037' "$work"/*/log |
        tr '\037' '\n' | grep -E '^-[-a-zA-Z]' | sort -u)
    for flag in $used; do
        if grep -Eq -- "(^|[ ,])$flag( |,|$)" <<<"$help"; then pass "presenced --help lists $flag"
        else fail "presenced --help does not list $flag, which the init script passes"; fi
    done
else
    tail -n 20 "$work/build.log"
    fail "native build for presenced --help"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
