//! A hung or slow hostapd, as presenced sees it through the control socket.
//!
//! The real hostapd (`hostapd_rig`) cannot be made to hang on a thousand
//! BSSes or to take most of a second over each reply, so these stand in for
//! it. A hung BSS is a bound datagram socket that nobody reads: requests
//! queue up unanswered, exactly what a hostapd stuck in its event loop
//! shows a client. The slow BSS answers with hostapd's reply format
//! (hostapd/ctrl_iface.c: the MAC, then `flags=`, for `STA-FIRST` and
//! `STA-NEXT`; an empty datagram after the last station), each reply late.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Sockets that never answer, `s0000`, `s0001`, ... in one directory.
pub struct SilentSockets {
    pub paths: Vec<PathBuf>,
    _sockets: Vec<UnixDatagram>,
}

impl SilentSockets {
    pub fn bind(dir: &Path, count: usize) -> SilentSockets {
        // Each is a descriptor of the test process.
        ensure_descriptors(count as libc::rlim_t + 256);
        let paths: Vec<PathBuf> = (0..count).map(|i| dir.join(format!("s{i:04}"))).collect();
        let sockets = paths
            .iter()
            .map(|p| UnixDatagram::bind(p).unwrap_or_else(|e| panic!("bind {}: {e}", p.display())))
            .collect();
        SilentSockets { paths, _sockets: sockets }
    }
}

impl Drop for SilentSockets {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = fs::remove_file(p);
        }
    }
}

/// One BSS that lists `stations` (all `[AUTH][ASSOC]`) and takes `delay`
/// over every reply, one request after the other as hostapd's event loop
/// does.
pub struct SlowBss {
    pub path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SlowBss {
    pub fn start(path: PathBuf, stations: Vec<String>, delay: Duration) -> SlowBss {
        let socket = UnixDatagram::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        // Lets the thread notice `stop` while no request comes.
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 256];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
                    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let index = if request == "STA-FIRST" {
                        Some(0)
                    } else {
                        request
                            .strip_prefix("STA-NEXT ")
                            .and_then(|mac| stations.iter().position(|s| s.eq_ignore_ascii_case(mac)))
                            .map(|i| i + 1)
                    };
                    let reply = match index {
                        Some(i) => match stations.get(i) {
                            Some(mac) => format!("{mac}\nflags=[AUTH][ASSOC]\naid={}\n", i + 1).into_bytes(),
                            None => Vec::new(),
                        },
                        None => b"FAIL\n".to_vec(),
                    };
                    std::thread::sleep(delay);
                    if let Some(client) = from.as_pathname() {
                        // The client may have given up and gone: nothing to do.
                        let _ = socket.send_to(&reply, client);
                    }
                }
            })
        };
        SlowBss { path, stop, thread: Some(thread) }
    }
}

impl Drop for SlowBss {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// Raises this process's RLIMIT_NOFILE soft limit (and as root the hard
/// one) to `needed` if it is lower; fails with the reason if it cannot.
pub fn ensure_descriptors(needed: libc::rlim_t) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit, which `limit` is.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    if limit.rlim_cur >= needed {
        return;
    }
    // The limit is the process's, and the tests of one file run at once in
    // it, each holding its own sockets: ask for what the hard limit allows
    // (a user's is often 1024 soft, far more hard), at least `needed`.
    let wanted = needed.max(limit.rlim_max.min(1 << 16));
    let raised = libc::rlimit { rlim_cur: wanted, rlim_max: limit.rlim_max.max(needed) };
    // SAFETY: setrlimit reads one rlimit, which `raised` is.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    assert_eq!(
        r,
        0,
        "the test needs {needed} descriptors, RLIMIT_NOFILE is {} (hard {}) and cannot be raised: {}; run it as root",
        limit.rlim_cur,
        limit.rlim_max,
        std::io::Error::last_os_error()
    );
}

/// The child started from `command` may open at most `limit` descriptors.
pub fn limit_descriptors(command: &mut Command, limit: libc::rlim_t) {
    // SAFETY: the closure runs between fork and exec and only calls
    // setrlimit, which is async-signal-safe, on a local value.
    unsafe {
        command.pre_exec(move || {
            let l = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}
