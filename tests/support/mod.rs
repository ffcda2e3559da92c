//! Helpers shared by the integration tests (each test crate says `mod support;`).
//!
//! - `tap`: a virtual monitor interface (TAP with link type 803) to inject
//!   radiotap frames that libpcap captures as if from a Wi-Fi card.
//! - `receiver`: the receiver on a thread of the test, reports as lines.
//! - `report_server`: `report_server.py`, a server in Python that checks each
//!   Signature with Python's hmac, as a child process.
//! - `frames`: radiotap + 802.11 frames built byte by byte.
//! - `hostapd_rig`: real hostapd BSSes with authenticated wpa_supplicant
//!   stations, in network namespaces.
//! - `hostapd_stand_in`: hung and slow hostapd sockets, where the real one
//!   cannot be made to misbehave.
//! - `daemon_process`: `presenced` run as a child process, its log collected.
//!
//! What the receiver's and the server's tests need too is in the
//! `presenced-test-support` crate, re-exported here where every test uses
//! it: `data` (shared captures, a pcap reader, tshark) and `TempDir`; and
//! `python_hmac_sha256` and the scripted `http_stub`, used from there.

// Each test crate uses only part of this module.
#![allow(dead_code)]

pub mod daemon_process;
pub mod frames;
pub mod hostapd_rig;
pub mod hostapd_stand_in;
pub mod receiver;
pub mod report_server;
pub mod scenes;
pub mod tap;

// Not every test crate uses both.
#[allow(unused_imports)]
pub use presenced_test_support::{data, TempDir};

/// Root-only tests fail, never skip, when not root: `make test` must not pass
/// without having run them.
pub fn require_root(what: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "{what} needs root (it creates network interfaces); run `make test` as root, e.g. `sudo make test`"
    );
}

/// Waits for a child with a bound, reading its output meanwhile (a full
/// pipe must not stall it); on time-out it is killed and the test fails with
/// what it printed so far.
pub fn wait_with_timeout(mut child: std::process::Child, timeout: std::time::Duration) -> std::process::Output {
    use std::io::Read;
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let until = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if std::time::Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!("still running after {timeout:?}; stderr:\n{}", String::from_utf8_lossy(&err));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::process::Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}
