//! The thread behind `ubus call presenced status`: its own connection to
//! ubusd with a `PublishedObject` on it, answering each call from a copy of
//! the status `Board`.
//!
//! Apart from capture and the reporter: it only reads the board (a copy
//! taken in a clone's time), so a caller that calls without end, or a ubusd
//! that reads slowly, holds up nothing but this thread. Each write has
//! `WRITE_BUDGET`; a ubusd that does not take an answer in that time is
//! hung and is connected to again. When ubusd goes away (restart, none at
//! all off OpenWrt) the connection is made again after the same doubling
//! pause as the hostapd source's.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connection::{ConnError, Connection};
use super::object::{Happening, PublishedObject, OBJECT_PATH};
use super::source::retry_after;
use crate::status::Board;

const WRITE_BUDGET: Duration = Duration::from_secs(1);
/// From connect to the object's registration.
const HANDSHAKE_BUDGET: Duration = Duration::from_secs(5);
/// How long one read waits before the loop looks at the handshake bound.
const READ_SLICE: Duration = Duration::from_secs(1);

/// Starts the thread; it runs until presenced exits.
pub fn spawn(socket: PathBuf, board: Arc<Board>) -> std::io::Result<()> {
    std::thread::Builder::new().name("ubus-status".into()).spawn(move || run(&socket, &board)).map(|_| ())
}

fn wall_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn run(socket: &std::path::Path, board: &Board) {
    let mut failures = 0u32;
    let mut last_complaint: Option<String> = None;
    loop {
        let Err((why, was_registered)) = session(socket, board);
        if was_registered {
            failures = 0;
            log::warn!("ubus: the {OBJECT_PATH} object's connection was lost ({why}); registering it again");
            last_complaint = None;
            std::thread::sleep(retry_after(1));
            continue;
        }
        failures = failures.saturating_add(1);
        if last_complaint.as_deref() != Some(why.as_str()) {
            // Off OpenWrt there is no ubusd at all: not worth a warning.
            if why.starts_with("cannot connect") {
                log::debug!("ubus {}: {why}; `ubus call {OBJECT_PATH} status` unavailable, trying again", socket.display());
            } else {
                log::warn!("ubus {}: {why}; `ubus call {OBJECT_PATH} status` unavailable, trying again", socket.display());
            }
            last_complaint = Some(why);
        }
        std::thread::sleep(retry_after(failures));
    }
}

/// One connection, until it fails: the error and whether the object had
/// been registered on it.
fn session(socket: &std::path::Path, board: &Board) -> Result<Infallible, (String, bool)> {
    let mut conn = Connection::connect(socket).map_err(|e| (e.to_string(), false))?;
    let mut object = PublishedObject::new();
    let connected = Instant::now();
    let fail = |e: ConnError, o: &PublishedObject| (e.to_string(), o.is_registered());
    loop {
        if !object.is_registered() && connected.elapsed() >= HANDSHAKE_BUDGET {
            return Err((format!("no answer to adding the object within {} s", HANDSHAKE_BUDGET.as_secs()), false));
        }
        let Some(message) = conn.receive(Instant::now() + READ_SLICE).map_err(|e| fail(e, &object))? else {
            continue;
        };
        let now = wall_secs();
        let happened = object
            .on_message(&message, &mut |w| super::status_reply::write_status(&board.snapshot(), now, w))
            .map_err(|b| (b.0, object.is_registered()))?;
        let deadline = Instant::now() + WRITE_BUDGET;
        for out in object.take_outgoing() {
            conn.send(&out, deadline).map_err(|e| fail(e, &object))?;
        }
        match happened {
            Some(Happening::Registered(id)) => {
                log::info!("ubus: registered the {OBJECT_PATH} object (id {id:#x}): `ubus call {OBJECT_PATH} status`")
            }
            Some(Happening::Answered) => log::trace!("ubus: answered a status call"),
            None => {}
        }
    }
}
