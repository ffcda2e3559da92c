//! `associated` from hostapd over ubus: `get_clients` of every `hostapd.*`
//! object, all asked at once on one connection, within the report's
//! deadline (the same `LOOKUP_BUDGET` as the control-socket path).
//!
//! `Err` means ubus has nothing to say (no ubusd, no hostapd object on
//! it): the caller then asks hostapd's control sockets. Once hostapd objects
//! are found, what they answer by the deadline is the answer, with a
//! warning for each that did not.

use std::path::Path;
use std::time::Instant;

use super::connection::Connection;
use super::message::{self, kind, Message};
use super::subscriber::MAX_OBJECTS;
use super::{hostapd, HOSTAPD_PREFIX};
use crate::hostapd::Associated;

/// Objects named in the warning about those that did not answer.
const MAX_NAMED: usize = 8;

const LOOKUP_SEQ: u16 = 1;

pub fn associated(socket: &Path, deadline: Instant) -> Result<Associated, String> {
    let started = Instant::now();
    let mut conn = Connection::connect(socket).map_err(|e| format!("ubus {}: {e}", socket.display()))?;
    let fail = |e: super::connection::ConnError| format!("ubus {}: {e}", socket.display());
    let timeout = || format!("ubus {}: no answer by the report's deadline", socket.display());
    // ubusd greets first; requests before that would be answered anyway,
    // but a HELLO that never comes tells us ubusd is hung.
    loop {
        match conn.receive(deadline).map_err(fail)? {
            Some(m) if m.header.kind == kind::HELLO => break,
            Some(_) => {}
            None => return Err(timeout()),
        }
    }
    conn.send(&message::lookup(LOOKUP_SEQ, &format!("{HOSTAPD_PREFIX}*")), deadline).map_err(fail)?;
    let mut objects: Vec<(u32, String)> = Vec::new();
    loop {
        let Some(m) = conn.receive(deadline).map_err(fail)? else { return Err(timeout()) };
        if m.header.seq != LOOKUP_SEQ {
            continue;
        }
        let f = m.fields().map_err(|e| format!("ubus: unreadable answer to the lookup: {e}"))?;
        match m.header.kind {
            kind::DATA => {
                if let (Some(id), Some(path)) = (f.objid, f.objpath) {
                    if path.starts_with(HOSTAPD_PREFIX) && objects.len() < MAX_OBJECTS {
                        objects.push((id, path.to_string()));
                    }
                }
            }
            kind::STATUS => break,
            _ => {}
        }
    }
    if objects.is_empty() {
        return Err(format!("ubus {}: no {HOSTAPD_PREFIX}* objects", socket.display()));
    }
    let mut out = Associated::default();
    // (seq, object) of the answers still awaited, in the order asked.
    let mut waiting: Vec<(u16, &str)> = Vec::new();
    for (i, (id, path)) in objects.iter().enumerate() {
        let seq = LOOKUP_SEQ + 1 + i as u16;
        if let Err(e) = conn.send(&message::invoke(seq, *id, "get_clients", |_| {}), deadline) {
            out.warnings.push(format!("hostapd over ubus: cannot ask {path}: {e}"));
            break;
        }
        waiting.push((seq, path));
    }
    while !waiting.is_empty() {
        let m = match conn.receive(deadline) {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                out.warnings.push(format!("hostapd over ubus: {e}"));
                break;
            }
        };
        on_answer(&m, &mut waiting, &mut out);
    }
    if !waiting.is_empty() {
        let budget_ms = (deadline.saturating_duration_since(started).as_millis() + 50) / 100 * 100;
        let names: Vec<&str> = waiting.iter().take(MAX_NAMED).map(|(_, p)| *p).collect();
        let mut line = format!(
            "hostapd over ubus: no answer to get_clients within {budget_ms} ms from {} of {} objects: {}",
            waiting.len(),
            objects.len(),
            names.join(", ")
        );
        if waiting.len() > MAX_NAMED {
            line.push_str(&format!(" (and {} more)", waiting.len() - MAX_NAMED));
        }
        line.push_str("; their stations are reported as not associated");
        out.warnings.push(line);
    }
    Ok(out)
}

fn on_answer(m: &Message, waiting: &mut Vec<(u16, &str)>, out: &mut Associated) {
    let Some(at) = waiting.iter().position(|(seq, _)| *seq == m.header.seq) else { return };
    let path = waiting[at].1;
    let f = match m.fields() {
        Ok(f) => f,
        Err(e) => {
            out.warnings.push(format!("hostapd over ubus {path}: unreadable answer: {e}"));
            waiting.remove(at);
            return;
        }
    };
    match m.header.kind {
        kind::DATA => match hostapd::clients(f.data.unwrap_or_default()) {
            Ok(c) => {
                out.stations.extend(c.associated);
                out.warnings.extend(c.problems.into_iter().map(|p| format!("hostapd over ubus {path}: {p}")));
            }
            Err(e) => out.warnings.push(format!("hostapd over ubus {path}: get_clients answer: {}", e.0)),
        },
        kind::STATUS => {
            waiting.remove(at);
            match f.status {
                Some(0) => {}
                Some(s) => out.warnings.push(format!(
                    "hostapd over ubus {path}: get_clients: {} ({s}); its stations are reported as not associated",
                    message::status_name(s)
                )),
                None => out.warnings.push(format!("hostapd over ubus {path}: a status without its code")),
            }
        }
        _ => {}
    }
}
