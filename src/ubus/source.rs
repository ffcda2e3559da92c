//! `--source hostapd`: probe requests from hostapd's ubus notifications.
//!
//! One connection to ubusd with a `Subscriber` on it. When ubusd goes away
//! (it restarts, or is not up yet at boot) the connection is made again
//! after a pause that doubles from `FIRST_RETRY` up to `MAX_RETRY`, and
//! starts over at `FIRST_RETRY` once a connection has been set up: so a
//! restarted ubusd is back in use within `MAX_RETRY` of answering, and a
//! missing one costs a connect attempt every `MAX_RETRY`. Every read and
//! write is bounded by the caller's `until` (or `WRITE_BUDGET`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::connection::{ConnError, Connection};
use super::subscriber::{Happening, Subscriber};
use crate::wire::frame::{DropReason, Probe};
use crate::window::devices::Details;

pub const FIRST_RETRY: Duration = Duration::from_millis(100);
pub const MAX_RETRY: Duration = Duration::from_secs(2);
/// A request to ubusd is a few dozen bytes into a local socket: if that
/// much time is not enough, ubusd is hung and the connection is made again.
const WRITE_BUDGET: Duration = Duration::from_secs(1);
/// From connect to the lookup's answer: ubusd answers a local client at
/// once, so one that has not by then is hung, and is connected to again.
const HANDSHAKE_BUDGET: Duration = Duration::from_secs(5);
/// Malformed notifications get a warning at most this often, with a count.
const MALFORMED_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Pure: the pause before the next connect attempt after `failures` in a row.
pub fn retry_after(failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.saturating_sub(1)).unwrap_or(u32::MAX);
    FIRST_RETRY.saturating_mul(factor).min(MAX_RETRY)
}

struct Live {
    conn: Connection,
    subscriber: Subscriber,
    ready: bool,
    connected: Instant,
}

pub struct ProbeSource {
    socket: PathBuf,
    live: Option<Live>,
    failures: u32,
    next_attempt: Instant,
    /// The last connect failure logged, so that a missing ubusd is one
    /// warning, not one every retry.
    last_complaint: Option<String>,
    malformed: u64,
    malformed_warned: Option<Instant>,
    dedup: super::dedup::Dedup,
    board: Option<std::sync::Arc<crate::status::Board>>,
}

impl ProbeSource {
    pub fn new(socket: PathBuf, now: Instant) -> Self {
        ProbeSource {
            socket,
            live: None,
            failures: 0,
            next_attempt: now,
            last_complaint: None,
            malformed: 0,
            malformed_warned: None,
            dedup: super::dedup::Dedup::new(),
            board: None,
        }
    }

    /// The connection's state and the objects subscribed go to `board`.
    pub fn reporting_to(mut self, board: std::sync::Arc<crate::status::Board>) -> Self {
        self.board = Some(board);
        self
    }

    fn publish_state(&self) {
        let Some(board) = &self.board else { return };
        let state = match &self.live {
            Some(l) => crate::status::HostapdState {
                connected: l.ready,
                objects: l.subscriber.subscribed().map(str::to_string).collect(),
            },
            None => crate::status::HostapdState::default(),
        };
        board.set_hostapd(state);
    }

    /// Reads notifications until `until`, handing each probe's outcome to
    /// `record` as it arrives; connects and reconnects as needed meanwhile.
    pub fn pump(&mut self, until: Instant, record: &mut dyn FnMut(Result<Probe, DropReason>, Details)) {
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            if self.live.is_none() {
                if now < self.next_attempt {
                    std::thread::sleep(self.next_attempt.min(until) - now);
                    continue;
                }
                self.connect(now);
                continue;
            }
            let handshake_over = self.live.as_ref().map_or(now, |l| l.connected + HANDSHAKE_BUDGET);
            let ready = self.live.as_ref().is_some_and(|l| l.ready);
            if !ready && now >= handshake_over {
                let e = std::io::Error::other(format!("no answer to the subscription within {} s", HANDSHAKE_BUDGET.as_secs()));
                self.lose(ConnError::Io(e), now);
                continue;
            }
            let bound = if ready { until } else { until.min(handshake_over) };
            if let Err(e) = self.step(bound, record) {
                self.lose(e, Instant::now());
            }
        }
    }

    fn connect(&mut self, now: Instant) {
        match Connection::connect(&self.socket) {
            Ok(conn) => self.live = Some(Live { conn, subscriber: Subscriber::new(), ready: false, connected: now }),
            Err(e) => self.fail(format!("ubus {}: {e}", self.socket.display()), now),
        }
    }

    fn fail(&mut self, why: String, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let pause = retry_after(self.failures);
        self.next_attempt = now + pause;
        if self.last_complaint.as_deref() == Some(why.as_str()) {
            log::debug!("{why} (again; next try in {} ms)", pause.as_millis());
        } else {
            log::warn!("{why}; trying again every {} s at most, no probe requests from hostapd meanwhile", MAX_RETRY.as_secs());
            self.last_complaint = Some(why);
        }
    }

    fn lose(&mut self, e: ConnError, now: Instant) {
        let was_ready = self.live.take().is_some_and(|l| l.ready);
        self.publish_state();
        if was_ready {
            // A working connection that ends (ubusd restarted): try again at once.
            self.failures = 0;
            self.next_attempt = now + FIRST_RETRY;
            log::warn!("ubus: connection lost ({e}); reconnecting");
            self.last_complaint = None;
        } else {
            self.fail(format!("ubus {}: {e}", self.socket.display()), now);
        }
    }

    fn step(&mut self, until: Instant, record: &mut dyn FnMut(Result<Probe, DropReason>, Details)) -> Result<(), ConnError> {
        let Some(live) = self.live.as_mut() else { return Ok(()) };
        let Some(message) = live.conn.receive(until)? else { return Ok(()) };
        let mut happenings = Vec::new();
        if let Err(broken) = live.subscriber.on_message(&message, &mut happenings) {
            return Err(ConnError::Io(std::io::Error::other(broken.0)));
        }
        let changes_state =
            happenings.iter().any(|h| matches!(h, Happening::Subscribed(_) | Happening::Gone(_) | Happening::Ready));
        // Answers first: hostapd waits for them (notify_response).
        let deadline = Instant::now() + WRITE_BUDGET;
        for request in live.subscriber.take_outgoing() {
            live.conn.send(&request, deadline)?;
        }
        for h in happenings {
            match h {
                Happening::Probe(n) => {
                    if self.dedup.is_new(n.frame, &n.bss, Instant::now()) {
                        record(n.outcome, n.details);
                    } else {
                        // No MAC in the log: with --pseudonymize-key-file none may appear.
                        log::trace!("ubus: {} notified a frame another BSS did; counted once", n.bss);
                    }
                }
                Happening::Malformed(why) => self.malformed(why),
                Happening::Subscribed(path) => log::info!("ubus: subscribed to {path}"),
                Happening::Gone(path) => {
                    log::info!("ubus: {path} is gone (hostapd stopped that BSS); it is followed again when it comes back")
                }
                Happening::Refused { what, status } => log::warn!(
                    "ubus: ubusd refused {what}: {} ({status}); does /usr/share/acl.d allow presenced's user?",
                    super::message::status_name(status)
                ),
                Happening::Ready => {
                    if let Some(live) = self.live.as_mut() {
                        live.ready = true;
                    }
                    self.failures = 0;
                    self.last_complaint = None;
                    log::info!("ubus: connected to {}; reading hostapd's probe notifications", self.socket.display());
                }
            }
        }
        if changes_state {
            self.publish_state();
        }
        Ok(())
    }

    fn malformed(&mut self, why: String) {
        // A well-formed MAC beside a bad field is a client's: never logged.
        let why = crate::window::privacy::redact_macs(&why);
        self.malformed += 1;
        let now = Instant::now();
        let due = self.malformed_warned.is_none_or(|t| now.duration_since(t) >= MALFORMED_WARNING_EVERY);
        if due {
            log::warn!(
                "ubus: a probe notification hostapd's ubus.c would not send ({why}); not counted ({} such in all)",
                self.malformed
            );
            self.malformed_warned = Some(now);
        } else {
            log::debug!("ubus: malformed probe notification: {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_pause_doubles_to_its_cap() {
        let pauses: Vec<u128> = (1..=7).map(|n| retry_after(n).as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(retry_after(u32::MAX), MAX_RETRY);
        assert_eq!(retry_after(0), FIRST_RETRY);
    }
}
