//! One connection's subscriber, as a state machine: messages from ubusd in,
//! requests to send and what happened out. Pure: no I/O, no clock.
//!
//! On ubusd's HELLO it adds an anonymous object (the subscriber: ubusd
//! invokes it with the notifications of the objects it watches); once that
//! has an id it listens for `ubus.object.add` events, then looks up
//! `hostapd.*`, in that order so that an object added in between is not
//! missed (it may be seen twice; it is subscribed once). Every `hostapd.*`
//! object found or added is subscribed to. ubusd tells a subscriber when an
//! object it watches is removed (UNSUBSCRIBE), so no removal events are
//! needed; a re-added object comes with a new id and its add event.
//!
//! Every notification is answered with status 0 unless ubusd says no reply
//! is wanted: hostapd, with `notify_response` set, waits up to 100 ms for
//! its subscribers and rejects the frame on a non-zero answer; presenced
//! only listens, so it answers at once and always 0.

use super::hostapd;
use super::message::{self, kind, Header, Message};
use super::HOSTAPD_PREFIX;

/// No more hostapd objects are followed at once than this (a router has a
/// few dozen BSSes at most): a ubusd announcing objects without end cannot
/// make presenced's memory grow without end.
pub const MAX_OBJECTS: usize = 1024;

const OBJECT_ADD_EVENT: &str = "ubus.object.add";
/// ubusd's UBUS_STATUS_NOT_FOUND: a lookup that matched nothing.
const STATUS_NOT_FOUND: u32 = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pending {
    AddObject,
    Register,
    Lookup,
    Subscribe { id: u32, path: String },
}

/// What a message meant, for the caller to act on and log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happening {
    /// A `probe` notification, with the captured frame's outcome.
    Probe(hostapd::Notification),
    /// A `probe` notification that could not be read.
    Malformed(String),
    Subscribed(String),
    /// ubusd says a watched object is gone (hostapd stopped the BSS).
    Gone(String),
    /// ubusd refused a request (usually the ACL): what, and its status.
    Refused { what: String, status: u32 },
    /// The lookup has been answered: every object there was is asked for.
    Ready,
}

/// A message that breaks the protocol: the connection is made again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken(pub String);

#[derive(Debug, Default)]
pub struct Subscriber {
    hello: bool,
    next_seq: u16,
    our_id: Option<u32>,
    // Vecs, not maps: a few entries (at most MAX_OBJECTS), and on MIPS every
    // map type instantiated costs kilobytes of code.
    /// Requests awaiting their STATUS, by seq.
    pending: Vec<(u16, Pending)>,
    /// Objects subscribed to: id and path.
    subscribed: Vec<(u32, String)>,
    outbox: Vec<Vec<u8>>,
}

impl Subscriber {
    pub fn new() -> Self {
        Subscriber::default()
    }

    /// Requests to write to ubusd, in order.
    pub fn take_outgoing(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.outbox)
    }

    /// The objects subscribed to, by path.
    pub fn subscribed(&self) -> impl Iterator<Item = &str> {
        self.subscribed.iter().map(|(_, s)| s.as_str())
    }

    fn seq(&mut self) -> u16 {
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_seq
    }

    fn request(&mut self, what: Pending, build: impl FnOnce(u16) -> Vec<u8>) {
        let seq = self.seq();
        self.outbox.push(build(seq));
        self.pending.push((seq, what));
    }

    fn is_followed(&self, id: u32) -> bool {
        self.subscribed.iter().any(|(i, _)| *i == id)
            || self.pending.iter().any(|(_, p)| matches!(p, Pending::Subscribe { id: i, .. } if *i == id))
    }

    fn follow(&mut self, id: u32, path: &str) {
        if !path.starts_with(HOSTAPD_PREFIX) || self.is_followed(id) {
            return;
        }
        let (Some(ours), true) = (self.our_id, self.subscribed.len() + self.pending.len() < MAX_OBJECTS) else {
            return;
        };
        self.request(Pending::Subscribe { id, path: path.to_string() }, |seq| message::subscribe(seq, ours, id));
    }

    pub fn on_message(&mut self, m: &Message, out: &mut Vec<Happening>) -> Result<(), Broken> {
        let f = m.fields().map_err(|e| Broken(format!("unreadable ubus message (type {}): {e}", m.header.kind)))?;
        match m.header.kind {
            kind::HELLO if !self.hello => {
                self.hello = true;
                self.request(Pending::AddObject, message::add_object);
            }
            kind::DATA => match self.pending.iter().find(|(seq, _)| *seq == m.header.seq).map(|(_, p)| p) {
                Some(Pending::AddObject) => self.our_id = f.objid,
                Some(Pending::Lookup) => {
                    if let (Some(id), Some(path)) = (f.objid, f.objpath) {
                        let path = path.to_string();
                        self.follow(id, &path);
                    }
                }
                _ => {}
            },
            kind::STATUS => {
                let Some(at) = self.pending.iter().position(|(seq, _)| *seq == m.header.seq) else {
                    return Ok(());
                };
                let (_, what) = self.pending.swap_remove(at);
                let status = f.status.unwrap_or(u32::MAX);
                match what {
                    Pending::AddObject => match (status, self.our_id) {
                        (0, Some(ours)) => {
                            self.request(Pending::Register, |seq| message::register_event(seq, ours, OBJECT_ADD_EVENT));
                            self.request(Pending::Lookup, |seq| message::lookup(seq, &format!("{HOSTAPD_PREFIX}*")));
                        }
                        (0, None) => return Err(Broken("ubusd added our subscriber object without giving its id".into())),
                        (s, _) => {
                            return Err(Broken(format!(
                                "ubusd refused our subscriber object: {} ({s})",
                                message::status_name(s)
                            )))
                        }
                    },
                    Pending::Register if status != 0 => out.push(Happening::Refused {
                        what: format!("listening for {OBJECT_ADD_EVENT} (hostapd objects that appear later are missed)"),
                        status,
                    }),
                    Pending::Register => {}
                    Pending::Lookup => {
                        if status != 0 && status != STATUS_NOT_FOUND {
                            out.push(Happening::Refused { what: format!("looking up {HOSTAPD_PREFIX}*"), status });
                        }
                        out.push(Happening::Ready);
                    }
                    Pending::Subscribe { id, path } => {
                        if status == 0 {
                            self.subscribed.push((id, path.clone()));
                            out.push(Happening::Subscribed(path));
                        } else {
                            // ubusd answers NOT_FOUND both for an object
                            // removed just now and for one the ACL hides.
                            out.push(Happening::Refused { what: format!("subscribing to {path}"), status });
                        }
                    }
                }
            }
            kind::INVOKE => self.on_invoke(&m.header, &f, out),
            kind::UNSUBSCRIBE => {
                if let Some(at) = f.target.and_then(|t| self.subscribed.iter().position(|(i, _)| *i == t)) {
                    out.push(Happening::Gone(self.subscribed.swap_remove(at).1));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_invoke(&mut self, header: &Header, f: &message::Fields, out: &mut Vec<Happening>) {
        let Some(ours) = self.our_id else { return };
        if f.objid != Some(ours) {
            return;
        }
        let data = f.data.unwrap_or_default();
        match f.method {
            Some(OBJECT_ADD_EVENT) => {
                let fields = super::blob::Fields::new(data);
                if let (Some(id), Some(path)) =
                    (fields.get("id").and_then(|i| i.u32()), fields.get("path").and_then(|p| p.str()))
                {
                    let path = path.to_string();
                    self.follow(id, &path);
                }
            }
            Some("probe") => out.push(match hostapd::notification(data) {
                Ok(n) => Happening::Probe(n),
                Err(e) => Happening::Malformed(e.0),
            }),
            // auth, assoc and the rest: not counted, answered all the same.
            _ => {}
        }
        // Peer 0 is ubusd itself (an event), which takes no answer; a
        // notification wants one unless ubusd says otherwise.
        if header.peer != 0 && f.no_reply.unwrap_or(0) == 0 {
            self.outbox.push(message::status_reply(header, ours, 0));
        }
    }
}

/// For tests of the state machine and of the lookup: a STATUS as ubusd
/// sends it.
#[cfg(test)]
pub(crate) fn status_message(seq: u16, peer: u32, status: u32) -> Message {
    Message {
        header: Header { kind: kind::STATUS, seq, peer },
        body: {
            let mut w = super::blob::Writer::new();
            w.put_u32(message::attr::STATUS, status);
            w.into_bytes()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::Probe;
    use crate::wire::mac::MacAddr;
    use crate::ubus::message::attr;

    /// Messages as ubusd writes them, attributes in ubusd's order, built
    /// byte by byte (not with presenced's writer).
    fn msg(kind: u8, seq: u16, peer: u32, body: &[u8]) -> Message {
        Message { header: Header { kind, seq, peer }, body: body.to_vec() }
    }

    fn u32_attr(id: u8, v: u32) -> Vec<u8> {
        let mut b = vec![id, 0, 0, 8];
        b.extend_from_slice(&v.to_be_bytes());
        b
    }

    fn str_attr(id: u8, s: &str) -> Vec<u8> {
        let len = 4 + s.len() + 1;
        let mut b = vec![id, 0, 0, len as u8];
        b.extend_from_slice(s.as_bytes());
        b.push(0);
        b.resize((b.len() + 3) & !3, 0);
        b
    }

    fn blobmsg_str(name: &str, v: &str) -> Vec<u8> {
        let name_part = (2 + name.len() + 1 + 3) & !3;
        let len = 4 + name_part + v.len() + 1;
        let mut b = (0x8300_0000u32 | len as u32).to_be_bytes().to_vec();
        b.extend_from_slice(&(name.len() as u16).to_be_bytes());
        b.extend_from_slice(name.as_bytes());
        b.resize(4 + name_part, 0);
        b.extend_from_slice(v.as_bytes());
        b.push(0);
        b.resize((b.len() + 3) & !3, 0);
        b
    }

    fn blobmsg_i32(name: &str, v: i32) -> Vec<u8> {
        let name_part = (2 + name.len() + 1 + 3) & !3;
        let mut b = (0x8500_0000u32 | (4 + name_part + 4) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(&(name.len() as u16).to_be_bytes());
        b.extend_from_slice(name.as_bytes());
        b.resize(4 + name_part, 0);
        b.extend_from_slice(&v.to_be_bytes());
        b
    }

    fn data_attr(fields: &[Vec<u8>]) -> Vec<u8> {
        let inner: Vec<u8> = fields.concat();
        let mut b = vec![attr::DATA, 0, 0, 0];
        let len = (4 + inner.len()) as u32;
        b[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
        b.extend(inner);
        b
    }

    /// Type and seq of each request written.
    fn kinds(out: &[Vec<u8>]) -> Vec<(u8, u16)> {
        out.iter().map(|m| (m[1], u16::from_be_bytes([m[2], m[3]]))).collect()
    }

    const OURS: u32 = 0x0a0b_0c0d;

    /// Through the handshake: returns the seqs of the register and lookup.
    fn ready(s: &mut Subscriber, out: &mut Vec<Happening>) {
        s.on_message(&msg(kind::HELLO, 0, 0x77, &[]), out).unwrap();
        assert_eq!(kinds(&s.take_outgoing()), [(kind::ADD_OBJECT, 1)]);
        s.on_message(&msg(kind::DATA, 1, 0, &u32_attr(attr::OBJID, OURS)), out).unwrap();
        s.on_message(&status_message(1, 0, 0), out).unwrap();
        assert_eq!(kinds(&s.take_outgoing()), [(kind::INVOKE, 2), (kind::LOOKUP, 3)]);
    }

    #[test]
    fn every_hostapd_object_found_or_added_is_subscribed_once() {
        let mut s = Subscriber::new();
        let mut out = Vec::new();
        ready(&mut s, &mut out);
        // The lookup's answers: two BSSes and an object of another name.
        for (id, path) in [(0x21, "hostapd.wlan0"), (0x22, "hostapd.wlan1"), (0x23, "hostapd")] {
            let body = [str_attr(attr::OBJPATH, path), u32_attr(attr::OBJID, id)].concat();
            s.on_message(&msg(kind::DATA, 3, 0, &body), &mut out).unwrap();
        }
        s.on_message(&status_message(3, 0, 0), &mut out).unwrap();
        let sent = s.take_outgoing();
        assert_eq!(kinds(&sent), [(kind::SUBSCRIBE, 4), (kind::SUBSCRIBE, 5)]);
        assert_eq!(sent[0], message::subscribe(4, OURS, 0x21));
        assert_eq!(sent[1], message::subscribe(5, OURS, 0x22));
        // The add event of wlan1 arrives too (it raced the lookup): no second subscription.
        let event = [
            u32_attr(attr::OBJID, OURS),
            str_attr(attr::METHOD, "ubus.object.add"),
            data_attr(&[blobmsg_i32("id", 0x22), blobmsg_str("path", "hostapd.wlan1")]),
        ]
        .concat();
        s.on_message(&msg(kind::INVOKE, 9, 0, &event), &mut out).unwrap();
        assert!(s.take_outgoing().is_empty(), "no subscription again, no answer to ubusd's event");
        s.on_message(&status_message(4, 0, 0), &mut out).unwrap();
        s.on_message(&status_message(5, 0, 6), &mut out).unwrap();
        assert_eq!(
            out,
            [
                Happening::Ready,
                Happening::Subscribed("hostapd.wlan0".into()),
                Happening::Refused { what: "subscribing to hostapd.wlan1".into(), status: 6 },
            ]
        );
        // wlan0 removed, then added again with a new id.
        out.clear();
        let gone = [u32_attr(attr::OBJID, OURS), u32_attr(attr::TARGET, 0x21)].concat();
        s.on_message(&msg(kind::UNSUBSCRIBE, 2, 0, &gone), &mut out).unwrap();
        assert_eq!(out, [Happening::Gone("hostapd.wlan0".into())]);
        let event = [
            u32_attr(attr::OBJID, OURS),
            str_attr(attr::METHOD, "ubus.object.add"),
            data_attr(&[blobmsg_i32("id", 0x31), blobmsg_str("path", "hostapd.wlan0")]),
        ]
        .concat();
        s.on_message(&msg(kind::INVOKE, 10, 0, &event), &mut out).unwrap();
        assert_eq!(s.take_outgoing(), [message::subscribe(6, OURS, 0x31)]);
    }

    #[test]
    fn notifications_become_probes_and_are_answered_with_status_zero() {
        let mut s = Subscriber::new();
        let mut out = Vec::new();
        ready(&mut s, &mut out);
        out.clear();
        let probe = |address: &str, no_reply: bool| {
            let mut body = [
                u32_attr(attr::OBJID, OURS),
                str_attr(attr::METHOD, "probe"),
                data_attr(&[
                    blobmsg_str("address", address),
                    blobmsg_str("ifname", "wlan0"),
                    blobmsg_i32("signal", -61),
                ]),
            ]
            .concat();
            if no_reply {
                body.extend_from_slice(&[attr::NO_REPLY, 0, 0, 5, 1, 0, 0, 0]);
            }
            body
        };
        // notify_response set: ubusd forwards hostapd's notification wanting an answer.
        s.on_message(&msg(kind::INVOKE, 0x0102, 0x99, &probe("00:1b:63:a1:b2:c3", false)), &mut out).unwrap();
        let answer = s.take_outgoing();
        assert_eq!(
            answer,
            [vec![
                0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x99, // STATUS to the notifier's seq and peer
                0x00, 0x00, 0x00, 0x14, // body
                0x01, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, // STATUS 0: never a rejection
                0x03, 0x00, 0x00, 0x08, 0x0a, 0x0b, 0x0c, 0x0d, // OBJID: our subscriber
            ]]
        );
        // Without notify_response: no answer.
        s.on_message(&msg(kind::INVOKE, 0x0103, 0x99, &probe("00:1b:63:a1:b2:c4", true)), &mut out).unwrap();
        assert!(s.take_outgoing().is_empty());
        // A malformed probe is answered too, and said so.
        s.on_message(&msg(kind::INVOKE, 0x0104, 0x99, &probe("nonsense", false)), &mut out).unwrap();
        assert_eq!(s.take_outgoing().len(), 1);
        // An auth notification: answered 0, not counted.
        let auth = [u32_attr(attr::OBJID, OURS), str_attr(attr::METHOD, "auth"), data_attr(&[])].concat();
        s.on_message(&msg(kind::INVOKE, 0x0105, 0x99, &auth), &mut out).unwrap();
        assert_eq!(s.take_outgoing(), [message::status_reply(&Header { kind: kind::INVOKE, seq: 0x0105, peer: 0x99 }, OURS, 0)]);
        let mac = |m: &str| m.parse::<MacAddr>().unwrap();
        let outcome = |h: &Happening| match h {
            Happening::Probe(n) => Some((n.outcome, n.bss.clone())),
            _ => None,
        };
        assert_eq!(out.len(), 3);
        let probe = |m: &str| Ok(Probe { client: mac(m), signal_dbm: -61 });
        assert_eq!(outcome(&out[0]), Some((probe("00:1b:63:a1:b2:c3"), "wlan0".to_string())));
        assert_eq!(outcome(&out[1]), Some((probe("00:1b:63:a1:b2:c4"), "wlan0".to_string())));
        assert!(matches!(&out[2], Happening::Malformed(e) if e.contains("nonsense")));
    }

    #[test]
    fn a_refused_subscriber_object_or_garbage_breaks_the_connection() {
        let mut s = Subscriber::new();
        let mut out = Vec::new();
        s.on_message(&msg(kind::HELLO, 0, 1, &[]), &mut out).unwrap();
        let e = s.on_message(&status_message(1, 0, 6), &mut out).unwrap_err();
        assert!(e.0.contains("permission denied"), "{e:?}");
        let mut s = Subscriber::new();
        let e = s.on_message(&msg(kind::DATA, 1, 0, &[0, 0, 0, 2]), &mut out).unwrap_err();
        assert!(e.0.contains("unreadable"), "{e:?}");
    }

    #[test]
    fn invocations_before_the_handshake_or_for_other_objects_are_ignored() {
        let mut s = Subscriber::new();
        let mut out = Vec::new();
        let body = [u32_attr(attr::OBJID, 5), str_attr(attr::METHOD, "probe")].concat();
        s.on_message(&msg(kind::INVOKE, 1, 2, &body), &mut out).unwrap();
        ready(&mut s, &mut out);
        s.on_message(&msg(kind::INVOKE, 1, 2, &body), &mut out).unwrap();
        assert!(out.is_empty() && s.take_outgoing().is_empty());
    }
}
