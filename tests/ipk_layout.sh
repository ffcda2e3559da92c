#!/usr/bin/env bash
# The .ipk that `make ipk` packs for mips_24kc, unpacked with tar and read
# field by field against what OpenWrt's opkg expects (scripts/ipkg-build's
# layout), plus the OpenWrt feed Makefile and UCI file it is built from.
# The binary's ELF header is read by hand (ELF spec: e_ident[EI_CLASS] at 4,
# e_ident[EI_DATA] at 5, e_machine at 18) and by readelf.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
target=${IPK_TEST_TARGET:-mips-unknown-linux-musl}
arch=${IPK_TEST_ARCH:-mips_24kc}

log=$top/build/ipk-test.log
mkdir -p build
if ! cross/build.sh "$target" release >"$log" 2>&1; then
    tail -n 20 "$log"
    echo "FAIL cross build of $target"
    echo "0 passed, 1 failed"
    exit 1
fi
ipk=$(cross/ipk.sh "$target" "$arch" 2>>"$log" | tail -n1)
readelf_header=$(readelf -h "build/$target/bin/presenced" 2>&1)

python3 - "$ipk" "$arch" "$readelf_header" <<'EOF'
import io, re, struct, sys, tarfile, tomllib

ipk, arch, readelf_header = sys.argv[1], sys.argv[2], sys.argv[3]
passed = failed = 0
def check(ok, what):
    global passed, failed
    if ok: passed += 1; print("ok  ", what)
    else: failed += 1; print("FAIL", what)

version = tomllib.load(open("Cargo.toml", "rb"))["package"]["version"]
feed = open("openwrt/presenced/Makefile").read()
release = re.search(r"^PKG_RELEASE:=(.*)$", feed, re.M).group(1)
pkg_version = re.search(r"^PKG_VERSION:=(.*)$", feed, re.M).group(1)

# --- outer archive -----------------------------------------------------------
outer = tarfile.open(ipk, "r:gz")
members = outer.getmembers()
check([m.name for m in members] == ["./debian-binary", "./control.tar.gz", "./data.tar.gz"],
      f"outer archive is ./debian-binary, ./control.tar.gz, ./data.tar.gz in order: {[m.name for m in members]}")
check(all(m.uid == 0 and m.gid == 0 for m in members), "outer entries owned by 0:0")
check(outer.extractfile("./debian-binary").read() == b"2.0\n", 'debian-binary is "2.0"')
control_tar = tarfile.open(fileobj=io.BytesIO(outer.extractfile("./control.tar.gz").read()), mode="r:gz")
data_bytes = outer.extractfile("./data.tar.gz").read()
data_tar = tarfile.open(fileobj=io.BytesIO(data_bytes), mode="r:gz")

# --- control -----------------------------------------------------------------
control_text = control_tar.extractfile("./control").read().decode()
fields, last = {}, None
for line in control_text.splitlines():
    if line.startswith(" ") and last:
        fields[last] += "\n" + line
    else:
        last, _, value = line.partition(": ")
        fields[last] = value
for name in ["Package", "Version", "Depends", "Source", "License", "Section",
             "Architecture", "Installed-Size", "Description"]:
    check(bool(fields.get(name)), f"control has {name}")
check(fields.get("Package") == "presenced", "Package: presenced")
check(fields.get("Version") == f"{version}-r{release}", f"Version is Cargo.toml's {version} with -r{release}")
check(fields.get("Architecture") == arch, f"Architecture: {arch}")
check(fields.get("License") == "MIT", "License: MIT (as Cargo.toml)")
data_files = [m for m in data_tar.getmembers() if m.isfile()]
check(fields.get("Installed-Size") == str(sum(m.size for m in data_files)),
      f"Installed-Size {fields.get('Installed-Size')} is the sum of the data files' sizes")
check("\n " in fields.get("Description", ""), "Description has a summary and an indented body")
check(control_tar.extractfile("./conffiles").read().decode().split() == ["/etc/config/presenced"],
      "conffiles lists /etc/config/presenced only")
check(all(m.uid == 0 and m.gid == 0 for m in control_tar.getmembers()), "control entries owned by 0:0")
for script in ["./postinst", "./prerm"]:
    m = control_tar.getmember(script)
    check(m.mode == 0o755, f"{script} mode 0755")

# --- data --------------------------------------------------------------------
expected = {"./usr/sbin/presenced": 0o755, "./usr/libexec/presenced-monitor": 0o755,
            "./etc/init.d/presenced": 0o755,
            "./etc/config/presenced": 0o600, "./etc/capabilities/presenced.json": 0o644,
            "./usr/share/acl.d/presenced.json": 0o644, "./usr/share/acl.d/presenced-status.json": 0o644}
check(sorted(m.name for m in data_files) == sorted(expected),
      f"data holds exactly {sorted(expected)}")
for name, mode in expected.items():
    m = next((m for m in data_files if m.name == name), None)
    check(m is not None and m.mode == mode, f"{name} mode {mode:04o} (is {m and oct(m.mode)})")
check(all(m.uid == 0 and m.gid == 0 and m.uname in ("", "root") for m in data_tar.getmembers()),
      "data entries owned by root (0:0)")
check(all(m.mode == 0o755 for m in data_tar.getmembers() if m.isdir()), "data directories 0755")
check(all(m.name == "." or m.name.startswith("./") for m in data_tar.getmembers()), "data paths start with ./")
check(data_tar.extractfile("./etc/init.d/presenced").read() == open("openwrt/presenced/files/presenced.init", "rb").read(),
      "init script is openwrt/presenced/files/presenced.init")

# --- the binary --------------------------------------------------------------
elf = data_tar.extractfile("./usr/sbin/presenced").read()
check(elf[:4] == b"\x7fELF", "binary is ELF")
check(elf[4] == 1, "ELF class 32-bit (EI_CLASS 1)")
check(elf[5] == 2, "big-endian (EI_DATA 2, ELFDATA2MSB)")
check(struct.unpack(">H", elf[18:20])[0] == 8, "e_machine 8 (EM_MIPS), read big-endian")
check(re.search(r"Machine:\s+MIPS R3000", readelf_header) is not None and "big endian" in readelf_header,
      "readelf agrees: MIPS, big endian")
# ELF32 header: e_phoff at 28, e_phentsize at 42, e_phnum at 44; PT_INTERP is 3.
phoff, = struct.unpack(">I", elf[28:32])
phentsize, phnum = struct.unpack(">HH", elf[42:46])
types = [struct.unpack(">I", elf[phoff + i * phentsize:][:4])[0] for i in range(phnum)]
check(phnum > 0 and 3 not in types, "statically linked: no PT_INTERP program header")

# --- the feed Makefile and UCI file it packs -----------------------------------
check(pkg_version == version, f"openwrt Makefile PKG_VERSION {pkg_version} equals Cargo.toml {version}")
check(release.isdigit(), f"PKG_RELEASE {release} is numeric (apk refuses others)")
for needle in ["include $(INCLUDE_DIR)/package.mk", "lang/rust/rust-package.mk",
               "PKG_BUILD_DEPENDS:=rust/host", "$(eval $(call RustBinPackage,presenced))",
               "$(eval $(call BuildPackage,presenced))", "define Package/presenced/conffiles"]:
    check(needle in feed, f"feed Makefile has {needle}")
depends = re.search(r"^\s*DEPENDS:=(.*)$", feed, re.M).group(1).split()
check("$(RUST_ARCH_DEPENDS)" in depends and "+libpcap" in depends, f"DEPENDS {depends}")

uci = open("openwrt/presenced/files/presenced.config").read()
check(re.findall(r"^config (\S+) (\S+)", uci, re.M) == [("presenced", "'main'")],
      "UCI: one section, config presenced 'main'")
options = dict(re.findall(r"^\s*#?option (\S+) '([^']*)'", uci, re.M))
wanted = ["enabled", "source", "interface", "phy", "url", "key", "rate", "network_id", "node_mac",
          "max_clients", "hostapd_dir", "ca_file", "log_level", "pseudonymize_key", "pseudonymize_rotate",
          "randomized_macs", "min_signal", "spool_bytes"]
check(all(o in options for o in wanted), f"UCI has every option: missing {[o for o in wanted if o not in options]}")
check(all(re.fullmatch(r"[a-z][a-z0-9_]*", o) for o in options), "UCI option names are snake_case")
check(re.search(r"^\s*option enabled '0'", uci, re.M) is not None, "UCI: enabled '0' (shipped disabled)")
check(options.get("rate") == "30", "UCI: rate default 30")
# Every default the UCI file shows is the one the init script applies.
init = open("openwrt/presenced/files/presenced.init").read()
spec = dict((m.group(1), m.group(3) or "")
            for m in re.finditer(r"'([a-z_]+):(.*?)(?::([^:']*))?'", init))
wrong = {o: (v, spec.get(o)) for o, v in options.items() if spec.get(o, None) != v}
check(not wrong, f"UCI comments' defaults equal the init script's validation defaults {wrong}")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
