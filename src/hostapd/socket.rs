//! The datagram transport of hostapd's control interface.
//!
//! hostapd answers a request with one datagram sent back to the address the
//! request came from, so the client needs a name in the filesystem: an unnamed
//! socket could send requests but would never receive an answer. The name is
//! `presenced_<pid>-<counter>` in a directory of ours, so that a name left by
//! a killed process can be unlinked without touching anybody else's.

use std::fmt;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// hostapd's control interface never sends a longer reply.
pub const MAX_REPLY: usize = 8192;

/// One byte more than the protocol allows, because a datagram socket
/// truncates silently: a full buffer means an over-long reply.
pub const RECEIVE_BUFFER: usize = MAX_REPLY + 1;

fn check_reply_length(n: usize) -> Result<usize, SocketError> {
    if n > MAX_REPLY {
        Err(SocketError::TooLong)
    } else {
        Ok(n)
    }
}

/// `sun_path` is 108 bytes on Linux, including the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// The longest name `client_socket_name` can produce: pid up to 2^22 and a
/// full u32 counter.
pub const MAX_CLIENT_NAME: usize = "presenced_4194304-4294967295".len();

/// Group members (hostapd running as another user in our group) must be able
/// to reach the directory and write to the socket; others need nothing.
const CLIENT_MODE: u32 = 0o770;

static NEXT_CLIENT: AtomicU32 = AtomicU32::new(0);

#[derive(Debug)]
pub enum SocketError {
    ClientDir { dir: PathBuf, source: io::Error },
    Bind { path: PathBuf, source: io::Error },
    Connect(io::Error),
    Send(io::Error),
    NotReading(Duration),
    NoReply(Duration),
    Receive(io::Error),
    TooLong,
}

/// Plain words for the errors a control socket actually produces.
fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => {
            "the socket does not exist (hostapd stopped or the BSS was removed)".into()
        }
        io::ErrorKind::ConnectionRefused => {
            "nobody is listening on it (hostapd stopped, or this is a stale socket)".into()
        }
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::ClientDir { dir, source } => write!(
                f,
                "cannot use {} for our own control socket: {}",
                dir.display(),
                describe(source)
            ),
            SocketError::Bind { path, source } => {
                write!(f, "cannot bind our control socket {}: {}", path.display(), describe(source))
            }
            SocketError::Connect(e) => write!(f, "cannot connect: {}", describe(e)),
            SocketError::Send(e) => write!(f, "cannot send: {}", describe(e)),
            SocketError::NotReading(t) => write!(
                f,
                "hostapd did not take our request within {} ms (its queue is full: hostapd hung?)",
                t.as_millis()
            ),
            SocketError::NoReply(t) => write!(
                f,
                "no reply within {} ms (hostapd hung, or it cannot write to our socket: see README, troubleshooting)",
                t.as_millis()
            ),
            SocketError::Receive(e) => write!(f, "cannot receive: {}", describe(e)),
            SocketError::TooLong => write!(f, "reply longer than {MAX_REPLY} bytes"),
        }
    }
}

impl std::error::Error for SocketError {}

/// Creates our socket directory if it is missing. An existing directory is
/// left as it is: an init script may have given it to hostapd's group.
pub fn ensure_client_dir(dir: &Path) -> Result<(), SocketError> {
    let err = |source| SocketError::ClientDir {
        dir: dir.to_path_buf(),
        source,
    };
    match fs::DirBuilder::new().mode(CLIENT_MODE).create(dir) {
        // The umask has masked the mode given to mkdir.
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(CLIENT_MODE)).map_err(err),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if fs::metadata(dir).map_err(err)?.is_dir() {
                Ok(())
            } else {
                Err(err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "exists and is not a directory",
                )))
            }
        }
        Err(e) => Err(err(e)),
    }
}

/// Unique within this process through the counter, and across processes
/// through the pid.
pub fn client_socket_name(pid: u32, counter: u32) -> String {
    format!("presenced_{pid}-{counter}")
}

fn next_client_path(dir: &Path) -> PathBuf {
    let counter = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
    dir.join(client_socket_name(std::process::id(), counter))
}

/// One client socket connected to one BSS's control socket.
#[derive(Debug)]
pub struct CtrlSocket {
    socket: UnixDatagram,
    local: PathBuf,
    remote: PathBuf,
    /// `None` for a non-blocking socket, which the caller polls.
    timeout: Option<Duration>,
}

impl CtrlSocket {
    /// Binds a fresh name in `client_dir` (created if missing) and connects
    /// to `remote`. Every send and receive gives up after `timeout`.
    pub fn open(
        remote: &Path,
        client_dir: &Path,
        timeout: Duration,
    ) -> Result<CtrlSocket, SocketError> {
        ensure_client_dir(client_dir)?;
        CtrlSocket::open_at(remote, &next_client_path(client_dir), timeout)
    }

    /// As `open`, at an exact local path. A leftover socket at that path (a
    /// process with our pid killed before it could unlink) is replaced.
    pub fn open_at(
        remote: &Path,
        local: &Path,
        timeout: Duration,
    ) -> Result<CtrlSocket, SocketError> {
        CtrlSocket::bind_and_connect(remote, local, Some(timeout))
    }

    /// A non-blocking socket for `try_send` and `try_recv`, bound in
    /// `client_dir`, which must exist already (`ensure_client_dir`): the
    /// lookup opens one per BSS and checks the directory once.
    pub fn open_nonblocking(remote: &Path, client_dir: &Path) -> Result<CtrlSocket, SocketError> {
        CtrlSocket::bind_and_connect(remote, &next_client_path(client_dir), None)
    }

    fn bind_and_connect(
        remote: &Path,
        local: &Path,
        timeout: Option<Duration>,
    ) -> Result<CtrlSocket, SocketError> {
        let bind_err = |source| SocketError::Bind {
            path: local.to_path_buf(),
            source,
        };
        let socket = match UnixDatagram::bind(local) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                // Only once: if the name is taken again right away, someone
                // else is using it and must not lose it to us in a loop.
                let _ = fs::remove_file(local);
                UnixDatagram::bind(local).map_err(bind_err)?
            }
            Err(e) => return Err(bind_err(e)),
        };
        // From here on Drop unlinks the name, whatever fails next.
        let ctrl = CtrlSocket {
            socket,
            local: local.to_path_buf(),
            remote: remote.to_path_buf(),
            timeout,
        };
        // bind() applied the umask, which usually takes away group write, and
        // a hostapd running as another user of our group needs it to reply.
        fs::set_permissions(local, fs::Permissions::from_mode(CLIENT_MODE)).map_err(bind_err)?;
        match timeout {
            Some(timeout) => {
                ctrl.socket
                    .set_read_timeout(Some(timeout))
                    .map_err(bind_err)?;
                // A stopped (SIGSTOP) hostapd stops draining its queue, and a
                // send to a full datagram queue blocks forever without this.
                ctrl.socket
                    .set_write_timeout(Some(timeout))
                    .map_err(bind_err)?;
            }
            None => ctrl.socket.set_nonblocking(true).map_err(bind_err)?,
        }
        ctrl.socket.connect(remote).map_err(SocketError::Connect)?;
        Ok(ctrl)
    }

    /// Sends one command and returns hostapd's reply datagram, which may be
    /// empty (hostapd's "nothing to say", e.g. the end of the station list).
    /// For a socket from `open`; a non-blocking one fails unless the reply
    /// is already there.
    pub fn request(&self, command: &str) -> Result<Vec<u8>, SocketError> {
        let timeout = self.timeout.unwrap_or(Duration::ZERO);
        self.socket
            .send(command.as_bytes())
            .map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    SocketError::NotReading(timeout)
                }
                _ => SocketError::Send(e),
            })?;
        let mut buf = vec![0u8; RECEIVE_BUFFER];
        let n = self.socket.recv(&mut buf).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => SocketError::NoReply(timeout),
            _ => SocketError::Receive(e),
        })?;
        let len = check_reply_length(n)?;
        buf.truncate(len);
        Ok(buf)
    }

    /// Non-blocking send: `Ok(false)` when hostapd's queue is full, and the
    /// command must be sent again once the socket polls writable.
    pub fn try_send(&self, command: &str) -> Result<bool, SocketError> {
        match self.socket.send(command.as_bytes()) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(SocketError::Send(e)),
        }
    }

    /// Non-blocking receive into `buf` (`RECEIVE_BUFFER` bytes): `Ok(None)`
    /// when no reply is waiting.
    pub fn try_recv<'b>(&self, buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, SocketError> {
        debug_assert!(buf.len() >= RECEIVE_BUFFER);
        match self.socket.recv(buf) {
            Ok(n) => Ok(Some(&buf[..check_reply_length(n)?])),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(SocketError::Receive(e)),
        }
    }

    pub fn local_path(&self) -> &Path {
        &self.local
    }

    pub fn remote_path(&self) -> &Path {
        &self.remote
    }
}

impl AsRawFd for CtrlSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl Drop for CtrlSocket {
    fn drop(&mut self) {
        // Nothing useful to do on failure: the next process with this pid
        // replaces a leftover name anyway.
        let _ = fs::remove_file(&self.local);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_follow_the_documented_pattern_and_fit_the_bound() {
        assert_eq!(client_socket_name(1234, 0), "presenced_1234-0");
        assert_eq!(client_socket_name(4194304, u32::MAX).len(), MAX_CLIENT_NAME);
        assert_eq!(MAX_CLIENT_NAME, 28);
    }
}
