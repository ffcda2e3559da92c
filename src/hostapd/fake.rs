//! A fake hostapd for tests: a thread answering on its own datagram socket,
//! and unique temporary directories that clean up after themselves.
//!
//! `FakeHostapd::serving` models hostapd's station list from the protocol as
//! the issue describes it (hostapd/ctrl_iface.c, src/ap/ctrl_iface_ap.c), not
//! from presenced's client code, so a misunderstanding on one side shows.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

/// `/tmp/presenced-<tag>-<pid>-<n>`, removed with everything in it on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        // Short: UNIX socket paths inside must stay under 108 bytes.
        let path = std::env::temp_dir().join(format!("presenced-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub enum Act {
    Reply(Vec<u8>),
    /// Read the request and never answer, like a hung hostapd or one that
    /// cannot write to our socket.
    Silent,
    /// Close and unlink the socket, like a hostapd that stops or removes the
    /// BSS in the middle of a walk.
    Vanish,
}

pub struct FakeHostapd {
    pub path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<String>>>,
}

impl FakeHostapd {
    /// Answers each request with what `script` says; the socket is bound
    /// before this returns, so clients can connect at once.
    pub fn start(
        path: PathBuf,
        mut script: impl FnMut(&str) -> Act + Send + 'static,
    ) -> FakeHostapd {
        let socket = UnixDatagram::bind(&path).unwrap();
        // Lets the thread notice `stop` while no request comes.
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let path = path.clone();
            std::thread::spawn(move || {
                let mut received = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let stopping = stop.load(Ordering::Relaxed);
                    if stopping {
                        // What was sent before `stop` is queued here: take it
                        // too, so that the commands returned do not depend on
                        // whether this thread got the CPU in time.
                        socket.set_nonblocking(true).unwrap();
                    }
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        if stopping {
                            break;
                        }
                        continue;
                    };
                    let command = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let act = script(&command);
                    received.push(command);
                    match act {
                        Act::Reply(reply) => {
                            if let Some(client) = from.as_pathname() {
                                let _ = socket.send_to(&reply, client);
                            }
                        }
                        Act::Silent => {}
                        Act::Vanish => {
                            drop(socket);
                            let _ = fs::remove_file(&path);
                            return received;
                        }
                    }
                }
                received
            })
        };
        FakeHostapd {
            path,
            stop,
            thread: Some(thread),
        }
    }

    /// A well-behaved hostapd with these `(mac, flags)` stations, in order.
    pub fn serving(path: PathBuf, stations: &[(&str, &str)]) -> FakeHostapd {
        FakeHostapd::serving_after(path, stations, Duration::ZERO)
    }

    /// As `serving`, taking `delay` over each answer, like a busy hostapd.
    pub fn serving_after(path: PathBuf, stations: &[(&str, &str)], delay: Duration) -> FakeHostapd {
        let stations: Vec<(String, String)> = stations
            .iter()
            .map(|(m, f)| (m.to_string(), f.to_string()))
            .collect();
        let describe = |i: usize, list: &[(String, String)]| -> Vec<u8> {
            match list.get(i) {
                Some((mac, flags)) => format!(
                    "{mac}\nflags={flags}\naid={}\ncapability=0x431\ntimeout_next=NULLFUNC POLL\n",
                    i + 1
                )
                .into_bytes(),
                // hostapd's end of the list: a zero-length datagram.
                None => Vec::new(),
            }
        };
        FakeHostapd::start(path, move |command| {
            std::thread::sleep(delay);
            if command == "PING" {
                Act::Reply(b"PONG\n".to_vec())
            } else if command == "STA-FIRST" {
                Act::Reply(describe(0, &stations))
            } else if let Some(mac) = command.strip_prefix("STA-NEXT ") {
                match stations
                    .iter()
                    .position(|(m, _)| m.eq_ignore_ascii_case(mac))
                {
                    Some(i) => Act::Reply(describe(i + 1, &stations)),
                    None => Act::Reply(b"FAIL\n".to_vec()),
                }
            } else {
                Act::Reply(b"UNKNOWN COMMAND\n".to_vec())
            }
        })
    }

    /// Stops the thread and returns the commands it received, in order.
    pub fn stop(mut self) -> Vec<String> {
        self.finish()
    }

    fn finish(&mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        let received = self
            .thread
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        let _ = fs::remove_file(&self.path);
        received
    }
}

impl Drop for FakeHostapd {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A hung hostapd's socket: bound, and never read. Requests queue up in it
/// unanswered until its queue is full; then sends to it would block. No
/// thread, so that a test can hold a thousand of them.
pub struct SilentSocket {
    pub path: PathBuf,
    socket: UnixDatagram,
}

impl SilentSocket {
    pub fn bind(path: PathBuf) -> SilentSocket {
        let socket =
            UnixDatagram::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        SilentSocket { path, socket }
    }

    /// Whether a request reached it (they stay queued, since it never reads
    /// them); takes one, so ask once.
    pub fn was_asked(&self) -> bool {
        self.socket.set_nonblocking(true).expect("non-blocking");
        self.socket.recv(&mut [0u8; 64]).is_ok()
    }
}

impl Drop for SilentSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
