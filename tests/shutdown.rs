//! Stopping: procd sends SIGTERM and, `term_timeout` (5 s) later, SIGKILL.
//! After a stop signal the window in progress and any POST in flight share
//! one budget of 3 s (README), so presenced is gone well before the kill,
//! with exit status 0, whatever the server does. SIGHUP stops it the same
//! way. The bounds below are procd's contract, not speed measurements.

mod support;

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use presenced::wire::mac::MacAddr;
use support::daemon_process::DaemonProcess;
use support::frames::probe_request;
use support::receiver::InProcessReceiver;
use support::tap::Tap;

const KEY: &str = "shutdown test key";
/// procd's default `term_timeout`, and the init script's.
const PROCD_KILLS_AFTER: Duration = Duration::from_secs(5);

/// A server that accepts connections, reads what comes, and never answers.
struct SilentServer {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentServer {
    fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (Arc::clone(&accepted), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut held: Vec<TcpStream> = Vec::new();
                // Bounded: the test ends it, and it ends itself after a minute.
                let until = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    if let Ok((s, _)) = listener.accept() {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        held.push(s);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        SilentServer { port, accepted, stop, thread: Some(thread) }
    }

    fn wait_for_connection(&self, timeout: Duration) {
        let until = Instant::now() + timeout;
        while self.accepted.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < until, "presenced never connected to the silent server");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A replay at rate 30 of a capture of several windows against a server
/// that never answers: a POST hangs in flight (10 s timeout) and more
/// windows wait behind it. Before, SIGTERM then took the in-flight POST's
/// timeout plus one per waiting window (tens of seconds).
#[test]
fn sigterm_with_a_hanging_server_exits_0_within_the_budget() {
    let server = SilentServer::start();
    let url = format!("http://127.0.0.1:{}/presence", server.port);
    let file = support::data::shared_data().join("captures/esp32-sc6-61-2024-03-31.pcap");
    let mut daemon = DaemonProcess::start(
        &["-r", file.to_str().unwrap(), "--url", &url, "--rate", "30", "--node-mac", "02:00:00:00:00:01", "--no-hostapd"],
        KEY,
    );
    server.wait_for_connection(Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    let status = daemon.terminate(PROCD_KILLS_AFTER);
    let took = signalled.elapsed();
    let log = daemon.log.text();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("SIGTERM: stopping; the window in progress is reported within 3 s"), "{log}");
    assert!(
        log.contains("stopping: the shutdown budget (3 s) is spent") || log.contains("stopped: the shutdown budget ran out"),
        "{log}"
    );
    eprintln!("exit {took:?} after SIGTERM\n{log}");
}

/// Live on a virtual monitor interface (root): SIGHUP sends the window in
/// progress, which holds the frames written just before, then exits 0.
/// Before, SIGHUP's default action ended presenced with nothing sent.
#[test]
fn sighup_sends_the_window_in_progress_and_exits_0() {
    support::require_root("the SIGHUP test (TAP interface, live capture)");
    let tap = Tap::create().expect("create the virtual monitor interface");
    let receiver = InProcessReceiver::start(KEY);
    let url = format!("http://{}/presence", receiver.addr);
    let mut daemon = DaemonProcess::start(
        &["-i", tap.name(), "--url", &url, "--rate", "300", "--node-mac", "02:00:00:00:00:01", "--no-hostapd"],
        KEY,
    );
    daemon.wait_for_log("capturing probe requests", Duration::from_secs(20));
    let client: MacAddr = "02:00:00:00:0d:01".parse().unwrap();
    for (seq, dbm) in [(1, -41), (2, -43)] {
        tap.write_frame(&probe_request(client, dbm, seq)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = daemon.signal(libc::SIGHUP, PROCD_KILLS_AFTER);
    let log = daemon.log.text();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("SIGHUP: stopping"), "{log}");
    let line = receiver.next_line(Duration::from_secs(5)).expect("the last window arrives");
    let report: serde_json::Value = serde_json::from_str(&line).unwrap();
    let rows = report["probe_requests"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{line}");
    // -41, -43: count 2, mean -42, last -43.
    assert_eq!(
        (rows[0]["mac"].as_str(), rows[0]["count"].as_i64(), rows[0]["avg_signal"].as_i64(), rows[0]["last_seen_signal"].as_i64()),
        (Some("02:00:00:00:0d:01"), Some(2), Some(-42), Some(-43))
    );
    drop(receiver);
    tap.close().expect("the TAP interface is removed");
}
