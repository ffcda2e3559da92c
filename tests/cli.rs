//! The binary's answers to a bad command line: one line naming the option,
//! exit status 2, and never the key.

use std::process::{Command, Output};

mod support;

fn presenced(args: &[&str], key_env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_presenced"));
    cmd.args(args).env_remove("PRESENCED_KEY");
    if let Some(k) = key_env {
        cmd.env("PRESENCED_KEY", k);
    }
    cmd.output().unwrap()
}

fn usage_error(args: &[&str], key_env: Option<&str>, expected_line: &str) {
    let out = presenced(args, key_env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line expected: {stderr}");
    assert_eq!(stderr.trim_end(), expected_line, "{args:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_errors_are_one_line_naming_the_option() {
    usage_error(&[], None, "presenced: --interface/--read: give one: -i IFACE to capture live, or -r FILE to replay a capture");
    usage_error(&["-i", "mon0"], None, "presenced: --url/--stdout: give at least one: --url URL to send reports, --stdout to print them");
    usage_error(&["-i", "mon0", "-r", "f.pcap", "--stdout"], None, "presenced: --interface/--read: give one of them, not both");
    usage_error(&["-i", "mon0", "--url", "http://127.0.0.1:1/"], None,
        "presenced: --key-file: --url needs the HMAC key: give --key-file FILE or set PRESENCED_KEY");
    usage_error(&["-i", "mon0", "--stdout", "--rate", "0"], None, "presenced: --rate: must be at least 1 second");
    usage_error(&["-i", "mon0", "--stdout", "--node-mac", "AC:86:74:82:9A"], None,
        "presenced: --node-mac: 'AC:86:74:82:9A' is not a MAC address (expected six hex pairs like ac:86:74:82:9a:30)");
    usage_error(&["-i", "mon0", "--url", "gopher://x/"], Some("k"), "presenced: --url: 'gopher://x/' must start with http:// or https://");
    usage_error(&["-i", "mon0", "--stdout", "--frobnicate"], None, "presenced: --frobnicate: unknown option (see --help)");
    usage_error(&["-i", "mon0", "--stdout", "--min-signal", "70"], None,
        "presenced: --min-signal: '70' dBm is above 0 dBm, stronger than any phone is heard; signals are negative (-70?)");
    usage_error(&["-i", "mon0", "--stdout", "--randomized-macs", "hide"], None, "presenced: --randomized-macs: 'hide' is not keep, drop or merge");
    usage_error(&["-i", "mon0", "--stdout", "--spool-bytes", "262144"], None,
        "presenced: --spool-bytes: needs --url: the spool keeps reports a server did not take");
    usage_error(&["-i", "mon0", "--stdout", "--pseudonymize-rotate", "daily"], None,
        "presenced: --pseudonymize-rotate: needs --pseudonymize-key-file: there are no pseudonyms to rotate");
    usage_error(&["-i", "mon0", "--stdout", "--pseudonymize-key-file", "/nonexistent/pk"], None,
        "presenced: --pseudonymize-key-file: cannot open /nonexistent/pk: No such file or directory (os error 2)");
}

#[test]
fn a_key_on_the_command_line_is_refused_without_echoing_it() {
    let out = presenced(&["-i", "mon0", "--url", "http://h/", "--key", "hunter2"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("presenced: --key: the key is never given on the command line"), "{stderr}");
    assert!(!stderr.contains("hunter2"));
}

#[test]
fn help_lists_every_option_and_exits_0() {
    let out = presenced(&["--help"], None);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for opt in ["--interface", "--read", "--url", "--key-file", "PRESENCED_KEY", "--rate", "--network-id", "--node-mac",
                "--max-clients", "--stdout", "--hostapd-dir", "--no-hostapd", "--ca-file", "--verbose", "--quiet",
                "--pseudonymize-key-file", "--pseudonymize-rotate", "--randomized-macs", "--min-signal", "--spool-bytes"] {
        assert!(text.contains(opt), "--help does not mention {opt}");
    }
}

#[test]
#[ignore = "needs root (a live capture on lo): make test runs it"]
fn an_interface_that_is_not_in_monitor_mode_gets_advice() {
    assert_eq!(effective_uid(), 0, "this test opens a live capture on lo and needs root (make test runs as root on CI)");
    let out = presenced(&["-i", "lo", "--stdout"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interface lo is not in monitor mode (link type EN10MB)"), "{stderr}");
    assert!(stderr.contains("iw dev lo set type monitor"), "{stderr}");
}

#[test]
fn a_missing_interface_is_named() {
    let out = presenced(&["-i", "nosuchif0", "--stdout"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot capture on nosuchif0"), "{stderr}");
}

fn effective_uid() -> u32 {
    // /proc/self/status avoids a libc dependency for one number.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// A key file that is not a small regular file is refused at once with
/// exit 2: a FIFO would have blocked for ever, `/dev/zero` filled memory.
#[test]
fn a_key_file_must_be_a_small_regular_file() {
    let dir = std::env::temp_dir().join(format!("presenced-cli-key-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let big = dir.join("big");
    std::fs::write(&big, vec![b'k'; 100 * 1024 * 1024]).unwrap();
    for (path, problem) in [
        (fifo.to_str().unwrap(), "is not a regular file (the key must be in a plain file)".to_string()),
        ("/dev/zero", "is not a regular file (the key must be in a plain file)".to_string()),
        (big.to_str().unwrap(), "is 104857600 bytes; a key file holds at most 4096 bytes".to_string()),
    ] {
        let child = Command::new(env!("CARGO_BIN_EXE_presenced"))
            .args(["-i", "mon0", "--url", "http://127.0.0.1:1/", "--key-file", path])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = support::wait_with_timeout(child, std::time::Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(2), "{path}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end(), format!("presenced: --key-file: {path} {problem}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
