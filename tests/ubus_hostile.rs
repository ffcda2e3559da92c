//! `--source hostapd` against a ubus socket that misbehaves: no ubusd at
//! all, and a "ubusd" (a UNIX listener in this test, since the real one
//! cannot be made to misbehave) whose connections each get one kind of
//! bad bytes. presenced must say what is wrong, connect again with its
//! bounded backoff, keep sending (empty) reports, never panic, and stop on
//! SIGTERM with status 0. The reporting thread's `associated` lookup and
//! the `presenced` status object's thread connect to the same socket and
//! get the same bytes.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::daemon_process::DaemonProcess;
use support::TempDir;

const NODE: &str = "02:00:00:00:00:01";

/// Replies, one per connection in turn, each written out from ubusmsg.h.
fn hostile_replies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        // version 1: no such protocol
        ("version 1", vec![0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04]),
        // a HELLO whose body claims 16 MiB - 4: over ubus's 1 MiB limit
        ("over ubus's limit", vec![0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0xfc]),
        // a HELLO, then a DATA whose attribute claims more bytes than its body
        (
            "unreadable ubus message",
            vec![
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, // HELLO
                0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, // DATA seq 1, body 12
                0x03, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x07, // OBJID claiming 64 bytes
            ],
        ),
        // a body length below its own 4 bytes
        ("at least 4", vec![0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02]),
    ]
}

#[test]
fn no_ubusd_means_one_warning_retries_and_reports_all_the_same() {
    let dir = TempDir::new("ubus-none");
    let socket = dir.path().join("ubus.sock");
    let args = [
        "--source", "hostapd", "--node-mac", NODE, "--stdout", "--rate", "1", "--no-hostapd", "-v",
        "--ubus-socket", socket.to_str().unwrap(),
    ];
    let mut d = DaemonProcess::start(&args, "unused");
    d.wait_for_log("cannot connect", Duration::from_secs(10));
    // Rate 1 s: three reports (empty: nothing to read) while it retries.
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while d.log.lines().iter().filter(|l| l.contains("report: 0 clients")).count() < 3 {
        assert!(std::time::Instant::now() < until, "reports stopped:\n{}", d.log.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let warnings = d.log.lines().iter().filter(|l| l.contains("cannot connect") && l.contains("warning")).count();
    assert_eq!(warnings, 1, "one warning for a missing ubusd, not one per retry:\n{}", d.log.text());
    let retries = d.log.lines().iter().filter(|l| l.contains("(again; next try in")).count();
    assert!(retries >= 3, "it keeps trying ({retries} retries logged):\n{}", d.log.text());
    assert!(d.terminate(Duration::from_secs(5)).success(), "{}", d.log.text());
    let log = d.log.text();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn garbage_from_ubusd_is_named_and_survived() {
    let dir = TempDir::new("ubus-hostile");
    let socket = dir.path().join("ubus.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    let replies = hostile_replies();
    let served = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let server = {
        let (served, done, replies) = (Arc::clone(&served), Arc::clone(&done), replies.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let i = served.fetch_add(1, Ordering::Relaxed);
                        let _ = conn.write_all(&replies[i % replies.len()].1);
                        // Read what presenced sends for a moment, then hang up.
                        conn.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
                        let mut sink = [0u8; 512];
                        let _ = conn.read(&mut sink);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    };
    let hostapd_dir = dir.path().join("hostapd");
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&hostapd_dir).unwrap();
    let args = [
        "--source", "hostapd", "--node-mac", NODE, "--stdout", "--rate", "1", "-v",
        "--ubus-socket", socket.to_str().unwrap(),
        "--hostapd-dir", hostapd_dir.to_str().unwrap(),
        "--run-dir", run_dir.to_str().unwrap(),
    ];
    let mut d = DaemonProcess::start(&args, "unused");
    for (problem, _) in &replies {
        d.wait_for_log(problem, Duration::from_secs(20));
    }
    // Every reply was met by a new connection (the backoff is bounded by 2 s).
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while served.load(Ordering::Relaxed) < 2 * replies.len() {
        assert!(std::time::Instant::now() < until, "only {} connections:\n{}", served.load(Ordering::Relaxed), d.log.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The status object's thread connects too, so the connections may all
    // be made within the first window: the reports are waited for.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while d.log.lines().iter().filter(|l| l.contains("report: 0 clients")).count() < 2 {
        assert!(std::time::Instant::now() < until, "reports stopped:\n{}", d.log.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.terminate(Duration::from_secs(5)).success(), "{}", d.log.text());
    done.store(true, Ordering::Relaxed);
    server.join().unwrap();
    let log = d.log.text();
    assert!(!log.contains("panicked"), "{log}");
}
