//! The socket to ubusd: whole messages in and out, every wait bounded by a
//! deadline the caller gives.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::message::{FrameError, Framer, Message};

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

#[derive(Debug)]
pub enum ConnError {
    Connect(io::Error),
    Io(io::Error),
    /// ubusd closed the connection (it stopped, or restarts).
    Closed,
    Frame(FrameError),
    /// A write could not finish by its deadline: the stream is cut
    /// mid-message and cannot be used on.
    WriteTimeout,
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Connect(e) => write!(f, "cannot connect: {e}"),
            ConnError::Io(e) => write!(f, "{e}"),
            ConnError::Closed => f.write_str("ubusd closed the connection"),
            ConnError::Frame(e) => write!(f, "{e}"),
            ConnError::WriteTimeout => f.write_str("ubusd took no data within the deadline"),
        }
    }
}

impl std::error::Error for ConnError {}

pub struct Connection {
    stream: UnixStream,
    framer: Framer,
    chunk: Vec<u8>,
}

/// A socket timeout for the time left; zero means "none" to the socket
/// API, so the shortest wait is a millisecond.
fn left(deadline: Instant) -> Option<Duration> {
    let d = deadline.saturating_duration_since(Instant::now());
    (!d.is_zero()).then(|| d.max(Duration::from_millis(1)))
}

impl Connection {
    /// A UNIX stream connect does not wait: it succeeds or fails at once.
    pub fn connect(path: &Path) -> Result<Connection, ConnError> {
        let stream = UnixStream::connect(path).map_err(ConnError::Connect)?;
        Ok(Connection { stream, framer: Framer::new(), chunk: vec![0; READ_CHUNK] })
    }

    pub fn send(&mut self, bytes: &[u8], deadline: Instant) -> Result<(), ConnError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some(wait) = left(deadline) else { return Err(ConnError::WriteTimeout) };
            self.stream.set_write_timeout(Some(wait)).map_err(ConnError::Io)?;
            match self.stream.write(rest) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(ConnError::WriteTimeout)
                }
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
        Ok(())
    }

    /// The next message, or `None` once `deadline` has come without one.
    pub fn receive(&mut self, deadline: Instant) -> Result<Option<Message>, ConnError> {
        loop {
            if let Some(m) = self.framer.next_message().map_err(ConnError::Frame)? {
                return Ok(Some(m));
            }
            let Some(wait) = left(deadline) else { return Ok(None) };
            self.stream.set_read_timeout(Some(wait)).map_err(ConnError::Io)?;
            match self.stream.read(&mut self.chunk) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(n) => self.framer.push(&self.chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
    }
}
