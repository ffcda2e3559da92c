//! `--spool-bytes` live (root: a TAP monitor interface): the receiver is
//! down (connections refused) for three windows, each holding one client,
//! then back on its port. Each of the three reports arrives exactly once,
//! oldest first, after the report that found the receiver back, with the
//! Signature it was first sent with, checked with Python's hmac.

mod support;

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use presenced::wire::mac::MacAddr;
use presenced_receiver::{Exchange, Receiver, ReceiverConfig, Sink};
use support::daemon_process::DaemonProcess;
use support::frames::probe_request;
use support::tap::Tap;

const KEY: &str = "live spool key";
const RATE_SECS: u64 = 2;
const WAIT: Duration = Duration::from_secs(4 * RATE_SECS);

fn receiver(listen: &str) -> (Receiver, mpsc::Receiver<Exchange>) {
    let (tx, rx) = mpsc::channel();
    let listener = TcpListener::bind(listen).expect("bind the receiver's port");
    (Receiver::start(listener, ReceiverConfig::new(KEY.as_bytes().to_vec()), Sink::Channel(tx)).unwrap(), rx)
}

fn accepted(rx: &mpsc::Receiver<Exchange>, timeout: Duration) -> Option<Exchange> {
    let until = Instant::now() + timeout;
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        match rx.recv_timeout(left) {
            Ok(e) if e.status == 200 => return Some(e),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

fn macs(e: &Exchange) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_slice(&e.body).unwrap();
    report["probe_requests"].as_array().unwrap().iter().map(|r| r["mac"].as_str().unwrap().to_string()).collect()
}

/// Waits for `n` log lines that hold every one of `texts`.
fn wait_for_count(daemon: &DaemonProcess, texts: &[&str], n: usize) {
    let until = Instant::now() + WAIT;
    while daemon.log.lines().iter().filter(|l| texts.iter().all(|t| l.contains(t))).count() < n {
        assert!(Instant::now() < until, "fewer than {n} lines with {texts:?}:\n{}", daemon.log.text());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[ignore = "needs root (a TAP interface, live capture): make test runs it"]
fn a_receiver_down_for_three_windows_gets_each_spooled_report_once_in_order() {
    support::require_root("the live spool test (TAP interface, live capture)");
    let tap = Tap::create().expect("create the virtual monitor interface");
    let (first, rx) = receiver("127.0.0.1:0");
    let addr = first.local_addr().to_string();
    let url = format!("http://{addr}/presence");
    let rate = RATE_SECS.to_string();
    let mut daemon = DaemonProcess::start(
        &["-i", tap.name(), "--url", &url, "--rate", &rate, "--node-mac", "02:00:00:00:00:01", "--no-hostapd", "--spool-bytes", "65536"],
        KEY,
    );
    accepted(&rx, WAIT).expect("a first report");
    first.stop();

    // Down: three windows, one client each. The next client is written once
    // the window holding this one has failed, not just any window: a test
    // held back past a window boundary would otherwise count an empty
    // window's failure and write two clients into one window.
    let clients: Vec<MacAddr> = (1..=3).map(|i| format!("00:11:22:00:00:0{i}").parse().unwrap()).collect();
    for (i, c) in clients.iter().enumerate() {
        tap.write_frame(&probe_request(*c, -50, i as u16)).unwrap();
        wait_for_count(&daemon, &["report spooled: POST failed", "; 1 clients ("], i + 1);
    }

    // Back on the same port.
    let (second, rx) = receiver(&addr);
    let back: MacAddr = "00:11:22:00:00:04".parse().unwrap();
    tap.write_frame(&probe_request(back, -40, 9)).unwrap();
    let mut got = Vec::new();
    let until = Instant::now() + 3 * WAIT;
    while Instant::now() < until && got.iter().filter(|e: &&Exchange| !macs(e).is_empty()).count() < 4 {
        if let Some(e) = accepted(&rx, WAIT) {
            got.push(e);
        }
    }
    let with_clients: Vec<(Vec<String>, &Exchange)> = got.iter().map(|e| (macs(e), e)).filter(|(m, _)| !m.is_empty()).collect();
    let order: Vec<Vec<String>> = with_clients.iter().map(|(m, _)| m.clone()).collect();
    // The first window after the return holds `back` (or is empty and the
    // next one does); the three spooled ones follow, oldest first, once each.
    let spooled: Vec<Vec<String>> = clients.iter().map(|c| vec![c.to_string()]).collect();
    let first_spooled = order.iter().position(|m| m == &spooled[0]).unwrap_or_else(|| panic!("{order:?}\n{}", daemon.log.text()));
    assert_eq!(&order[first_spooled..first_spooled + 3], &spooled[..], "{order:?}");
    assert!(order[..first_spooled].iter().any(|m| m == &vec![back.to_string()]) || order[first_spooled + 3..].iter().any(|m| m == &vec![back.to_string()]), "{order:?}");
    for s in &spooled {
        assert_eq!(order.iter().filter(|m| *m == s).count(), 1, "{s:?} in {order:?}");
    }
    for (_, e) in &with_clients {
        let expected = presenced_test_support::python_hmac_sha256(KEY.as_bytes(), &e.body);
        assert_eq!(e.signature_header.as_deref(), Some(expected.as_str()));
    }
    wait_for_count(&daemon, &["spooled report sent"], 3);

    let status = daemon.terminate(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{}", daemon.log.text());
    eprintln!("{}", daemon.log.text());
    second.stop();
    tap.close().expect("the TAP interface is removed");
}
