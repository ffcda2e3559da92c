//! Every BSS's walk at once, from one thread, within one deadline.
//!
//! A router may have a dozen BSSes and a hostapd that hangs on some of them;
//! asking them one after the other makes the waits add up. Here each BSS's
//! walk is a `WalkState`, its socket non-blocking, and one poll(2) waits on
//! every socket in flight until the next reply or the deadline. At most
//! `max_open` sockets are open at once, the rest start as slots free up, so
//! a directory of a thousand sockets cannot exhaust our descriptors; no
//! thread is spawned.

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::socket::{CtrlSocket, SocketError, RECEIVE_BUFFER};
use super::stations::{Walk, WalkLimits, WalkState};

/// Sockets open at once by default: far below the usual RLIMIT_NOFILE of
/// 1024, far above the BSS count of any access point.
pub const DEFAULT_MAX_OPEN: usize = 64;

/// What became of one BSS socket.
#[derive(Debug)]
pub enum BssOutcome {
    /// The walk ended or was cut by the deadline (`WalkError::Unanswered`);
    /// its stations are the ones hostapd described either way.
    Walked(Walk),
    /// Our socket for it could not be bound or connected.
    CannotOpen(SocketError),
    /// The deadline came before a slot for it was free.
    NotAsked,
}

/// One BSS being read.
struct InFlight {
    /// Its place in the caller's list of sockets.
    index: usize,
    socket: CtrlSocket,
    walk: WalkState,
    /// The walk's current request is with hostapd and its reply awaited;
    /// false while hostapd's queue is full and the request waits to be sent.
    sent: bool,
}

impl InFlight {
    /// Sends the walk's next request if one is due and not yet sent.
    fn send_due_request(&mut self) {
        if self.sent {
            return;
        }
        let Some(command) = self.walk.request() else {
            return;
        };
        match self.socket.try_send(&command.to_string()) {
            Ok(sent) => self.sent = sent,
            Err(e) => self.walk.on_error(e),
        }
    }

    /// What poll(2) said about this socket, at `now`.
    fn on_ready(&mut self, revents: libc::c_short, buf: &mut [u8], now: Instant) {
        let failed = revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0;
        if self.sent {
            match self.socket.try_recv(buf) {
                Ok(Some(reply)) => {
                    self.sent = false;
                    self.walk.on_reply(reply, now);
                }
                Ok(None) if failed => self.walk.on_error(SocketError::Receive(condition(revents))),
                Ok(None) => {}
                Err(e) => self.walk.on_error(e),
            }
        } else if failed && revents & libc::POLLOUT == 0 {
            self.walk.on_error(SocketError::Send(condition(revents)));
        }
        self.send_due_request();
    }

    fn events(&self) -> libc::c_short {
        if self.sent {
            libc::POLLIN
        } else {
            libc::POLLOUT
        }
    }
}

/// poll(2) flagged the socket without data to read: the error itself comes
/// out of recv or send, or, when neither says anything, this.
fn condition(revents: libc::c_short) -> io::Error {
    io::Error::other(format!(
        "poll(2) reported an error condition (revents {revents:#x})"
    ))
}

/// Bind failures that mean "too many descriptors", which a free slot cures.
fn is_descriptor_exhaustion(e: &SocketError) -> bool {
    match e {
        SocketError::Bind { source, .. } => {
            matches!(
                source.raw_os_error(),
                Some(libc::EMFILE) | Some(libc::ENFILE)
            )
        }
        _ => false,
    }
}

/// Pure: poll(2)'s timeout for a wait until `deadline`, rounded up to the
/// millisecond so that the loop does not wake just before it and spin.
pub fn poll_timeout_ms(now: Instant, deadline: Instant) -> libc::c_int {
    let micros = deadline.saturating_duration_since(now).as_micros();
    micros.div_ceil(1000).min(libc::c_int::MAX as u128) as libc::c_int
}

/// Reads every socket in `sockets` until their walks end or `deadline`
/// comes, whichever is first; returns one outcome per socket, in order.
/// Returns by the deadline plus the time to handle the last replies and to
/// close the sockets in flight. `client_dir` must exist.
pub fn ask_all(
    sockets: &[PathBuf],
    client_dir: &Path,
    limits: WalkLimits,
    deadline: Instant,
    max_open: usize,
) -> Vec<BssOutcome> {
    let max_open = max_open.max(1);
    let mut outcomes: Vec<Option<BssOutcome>> = sockets.iter().map(|_| None).collect();
    let mut next = 0;
    let mut in_flight: Vec<InFlight> = Vec::with_capacity(max_open.min(sockets.len()));
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(in_flight.capacity());
    let mut buf = vec![0u8; RECEIVE_BUFFER];
    loop {
        // Fill the free slots, while there is time.
        while in_flight.len() < max_open && next < sockets.len() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match CtrlSocket::open_nonblocking(&sockets[next], client_dir) {
                Ok(socket) => {
                    let mut bss = InFlight {
                        index: next,
                        socket,
                        walk: WalkState::start(limits, now),
                        sent: false,
                    };
                    bss.send_due_request();
                    if bss.walk.is_ended() {
                        // A send refused at once: hostapd stopped.
                        outcomes[next] = Some(BssOutcome::Walked(bss.walk.into_walk()));
                    } else {
                        in_flight.push(bss);
                    }
                }
                // Someone else holds descriptors too: wait for one of ours.
                Err(e) if is_descriptor_exhaustion(&e) && !in_flight.is_empty() => break,
                Err(e) => outcomes[next] = Some(BssOutcome::CannotOpen(e)),
            }
            next += 1;
        }
        let now = Instant::now();
        if in_flight.is_empty() || now >= deadline {
            break;
        }
        fds.clear();
        fds.extend(in_flight.iter().map(|bss| libc::pollfd {
            fd: bss.socket.as_raw_fd(),
            events: bss.events(),
            revents: 0,
        }));
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the
        // duration of the call, and every fd in it is open (owned by
        // `in_flight`, which is not touched meanwhile).
        let ready = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                poll_timeout_ms(now, deadline),
            )
        };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // Nothing to wait with: end every walk in flight with the cause.
            for bss in &mut in_flight {
                bss.walk.on_error(SocketError::Receive(io::Error::new(
                    e.kind(),
                    format!("poll(2) failed: {e}"),
                )));
            }
        }
        let now = Instant::now();
        for (bss, fd) in in_flight.iter_mut().zip(&fds) {
            if fd.revents != 0 {
                bss.on_ready(fd.revents, &mut buf, now);
            }
        }
        let mut i = 0;
        while i < in_flight.len() {
            if in_flight[i].walk.is_ended() {
                let done = in_flight.swap_remove(i);
                outcomes[done.index] = Some(BssOutcome::Walked(done.walk.into_walk()));
            } else {
                i += 1;
            }
        }
    }
    // The deadline: what is still in flight is cut short, and closing the
    // sockets unlinks their names.
    for bss in in_flight {
        outcomes[bss.index] = Some(BssOutcome::Walked(bss.walk.into_walk()));
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(BssOutcome::NotAsked))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn poll_timeout_rounds_up_and_never_goes_negative() {
        let now = Instant::now();
        assert_eq!(poll_timeout_ms(now, now), 0);
        assert_eq!(poll_timeout_ms(now + Duration::from_secs(1), now), 0);
        assert_eq!(poll_timeout_ms(now, now + Duration::from_micros(1)), 1);
        assert_eq!(poll_timeout_ms(now, now + Duration::from_micros(1001)), 2);
        assert_eq!(
            poll_timeout_ms(now, now + Duration::from_millis(1000)),
            1000
        );
        assert_eq!(
            poll_timeout_ms(now, now + Duration::from_secs(100 * 86400)),
            libc::c_int::MAX
        );
    }
}
