//! presenced's own ubus object, `presenced` with one method, `status`, as a
//! state machine: messages from ubusd in, messages to send out. Pure: no
//! I/O, no clock; the answer's data is handed in by the caller.
//!
//! On ubusd's HELLO it adds the object with its signature (what `ubus -v
//! list presenced` prints), as libubus's ubus_add_object does; ubusd answers
//! with the object's id (DATA), then STATUS. From then on ubusd forwards
//! every `ubus call presenced status` as an INVOKE (ubusd has checked the
//! caller against its ACLs already), which is answered as libubus answers:
//! a DATA message with the reply, then STATUS 0, both to the caller's seq
//! and peer. An unknown method gets UBUS_STATUS_METHOD_NOT_FOUND, an
//! invocation without data UBUS_STATUS_INVALID_ARGUMENT, as from libubus.

use super::message::{self, kind, Message};

pub const OBJECT_PATH: &str = "presenced";
pub const METHOD_STATUS: &str = "status";

/// UBUS_STATUS_* that this object answers with.
const STATUS_OK: u32 = 0;
const STATUS_INVALID_ARGUMENT: u32 = 2;
const STATUS_METHOD_NOT_FOUND: u32 = 3;

/// A message that breaks the protocol or a refusal of the object: the
/// connection is made again (after a pause).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken(pub String);

/// What a message meant, for the caller to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happening {
    /// ubusd took the object: `ubus call presenced status` works from now.
    Registered(u32),
    /// A `status` call was answered.
    Answered,
}

#[derive(Debug, Default)]
pub struct PublishedObject {
    hello: bool,
    add_seq: Option<u16>,
    id: Option<u32>,
    registered: bool,
    outbox: Vec<Vec<u8>>,
}

impl PublishedObject {
    pub fn new() -> Self {
        PublishedObject::default()
    }

    pub fn take_outgoing(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.outbox)
    }

    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// `status` gives the blobmsg fields of the answer; it is called only
    /// for a `status` invocation.
    pub fn on_message(
        &mut self,
        m: &Message,
        status: &mut dyn FnMut(&mut super::blob::Writer),
    ) -> Result<Option<Happening>, Broken> {
        let f = m.fields().map_err(|e| Broken(format!("unreadable ubus message (type {}): {e}", m.header.kind)))?;
        match m.header.kind {
            kind::HELLO if !self.hello => {
                self.hello = true;
                // The only request on this connection: seq 1.
                self.add_seq = Some(1);
                self.outbox.push(message::add_named_object(1, OBJECT_PATH, &[METHOD_STATUS]));
            }
            kind::DATA if Some(m.header.seq) == self.add_seq && self.id.is_none() => self.id = f.objid,
            kind::STATUS if Some(m.header.seq) == self.add_seq => {
                self.add_seq = None;
                return match (f.status.unwrap_or(u32::MAX), self.id) {
                    (0, Some(id)) => {
                        self.registered = true;
                        Ok(Some(Happening::Registered(id)))
                    }
                    (0, None) => Err(Broken("ubusd added the presenced object without giving its id".into())),
                    (s, _) => Err(Broken(format!(
                        "ubusd refused to add the object {OBJECT_PATH}: {} ({s}); another presenced running, or an ACL without \"publish\"?",
                        message::status_name(s)
                    ))),
                };
            }
            kind::INVOKE if self.registered && f.objid == self.id => {
                let id = self.id.unwrap_or_default();
                let wants_reply = f.no_reply.unwrap_or(0) == 0;
                let result = match (f.method, f.data) {
                    (Some(METHOD_STATUS), Some(_)) => {
                        if wants_reply {
                            self.outbox.push(message::data_reply(&m.header, id, |w| status(w)));
                        }
                        STATUS_OK
                    }
                    (Some(METHOD_STATUS), None) => STATUS_INVALID_ARGUMENT,
                    (Some(_), _) => STATUS_METHOD_NOT_FOUND,
                    (None, _) => STATUS_INVALID_ARGUMENT,
                };
                if wants_reply {
                    self.outbox.push(message::status_reply(&m.header, id, result));
                }
                if result == STATUS_OK {
                    return Ok(Some(Happening::Answered));
                }
            }
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ubus::message::Header;

    fn msg(kind: u8, seq: u16, peer: u32, body: &[u8]) -> Message {
        Message { header: Header { kind, seq, peer }, body: body.to_vec() }
    }

    /// libubus's ubus_add_object for an object "presenced" of one method
    /// "status" without policy, as ubus_push_object_type writes it.
    const ADD_OBJECT: [u8; 48] = [
        0x00, 0x06, 0x00, 0x01, // v0, UBUS_MSG_ADD_OBJECT, seq 1
        0x00, 0x00, 0x00, 0x00, // peer 0 (ubusd)
        0x00, 0x00, 0x00, 0x28, // body: id 0, length 40
        0x02, 0x00, 0x00, 0x0e, // UBUS_ATTR_OBJPATH, length 14
        b'p', b'r', b'e', b's', b'e', b'n', b'c', b'e', b'd', 0x00, 0x00, 0x00, // "presenced" NUL, 2 pad
        0x06, 0x00, 0x00, 0x14, // UBUS_ATTR_SIGNATURE, length 20
        0x82, 0x00, 0x00, 0x10, // blobmsg TABLE (the method), length 16
        0x00, 0x06, b's', b't', b'a', b't', b'u', b's', 0x00, 0x00, 0x00, 0x00, // name "status", NUL, pad to 12
    ];

    /// ubusd's answer to it (ubusd_send_obj, then the status): DATA with
    /// OBJID 0x5a1b2c3d and OBJTYPE 0x77, STATUS 0.
    fn registered(o: &mut PublishedObject) {
        let hello = msg(kind::HELLO, 0, 0x0100_0001, &[]);
        assert_eq!(o.on_message(&hello, &mut |_| unreachable!()), Ok(None));
        assert_eq!(o.take_outgoing(), [ADD_OBJECT.to_vec()]);
        let data = [
            0x03, 0x00, 0x00, 0x08, 0x5a, 0x1b, 0x2c, 0x3d, // OBJID
            0x05, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x77, // OBJTYPE
        ];
        assert_eq!(o.on_message(&msg(kind::DATA, 1, 0, &data), &mut |_| unreachable!()), Ok(None));
        let status = [0x01, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(
            o.on_message(&msg(kind::STATUS, 1, 0, &status), &mut |_| unreachable!()),
            Ok(Some(Happening::Registered(0x5a1b_2c3d)))
        );
        assert!(o.is_registered());
    }

    /// An INVOKE as ubusd_forward_invoke writes it for `ubus call presenced
    /// <method>` from client 0x0c0c0c0c (seq 0x0203): OBJID, METHOD, USER
    /// "root", GROUP "root", DATA (here an empty table: `{}`).
    fn invoke(method: &str, with_data: bool) -> Message {
        let mut body = vec![0x03, 0x00, 0x00, 0x08, 0x5a, 0x1b, 0x2c, 0x3d];
        let len = 4 + method.len() + 1;
        body.extend_from_slice(&[0x04, 0x00, 0x00, len as u8]);
        body.extend_from_slice(method.as_bytes());
        body.push(0);
        body.resize((body.len() + 3) & !3, 0);
        body.extend_from_slice(&[0x0c, 0x00, 0x00, 0x09, b'r', b'o', b'o', b't', 0x00, 0x00, 0x00, 0x00]); // USER
        body.extend_from_slice(&[0x0d, 0x00, 0x00, 0x09, b'r', b'o', b'o', b't', 0x00, 0x00, 0x00, 0x00]); // GROUP
        if with_data {
            body.extend_from_slice(&[0x07, 0x00, 0x00, 0x04]); // DATA, empty
        }
        msg(kind::INVOKE, 0x0203, 0x0c0c_0c0c, &body)
    }

    #[test]
    fn a_status_call_is_answered_with_data_then_status_zero() {
        let mut o = PublishedObject::new();
        registered(&mut o);
        let answer = o.on_message(&invoke("status", true), &mut |w| w.field_u32("n", 7)).unwrap();
        assert_eq!(answer, Some(Happening::Answered));
        assert_eq!(
            o.take_outgoing(),
            [
                vec![
                    0x00, 0x02, 0x02, 0x03, 0x0c, 0x0c, 0x0c, 0x0c, // DATA to the caller's seq and peer
                    0x00, 0x00, 0x00, 0x1c, // body length 28
                    0x03, 0x00, 0x00, 0x08, 0x5a, 0x1b, 0x2c, 0x3d, // OBJID: ours (ubus_send_reply)
                    0x07, 0x00, 0x00, 0x10, // DATA, length 16
                    0x85, 0x00, 0x00, 0x0c, 0x00, 0x01, b'n', 0x00, 0x00, 0x00, 0x00, 0x07, // INT32 "n" = 7
                ],
                vec![
                    0x00, 0x01, 0x02, 0x03, 0x0c, 0x0c, 0x0c, 0x0c, // STATUS to the caller
                    0x00, 0x00, 0x00, 0x14, // body length 20
                    0x01, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, // STATUS 0
                    0x03, 0x00, 0x00, 0x08, 0x5a, 0x1b, 0x2c, 0x3d, // OBJID
                ],
            ]
        );
    }

    #[test]
    fn other_methods_and_missing_data_are_refused_as_libubus_refuses_them() {
        let mut o = PublishedObject::new();
        registered(&mut o);
        let status_of = |out: &[Vec<u8>]| -> Vec<u8> { out.iter().map(|m| m[19]).collect() };
        o.on_message(&invoke("reload", true), &mut |_| unreachable!()).unwrap();
        let out = o.take_outgoing();
        assert_eq!((out.len(), out[0][1], status_of(&out)), (1, kind::STATUS, vec![3]), "METHOD_NOT_FOUND");
        o.on_message(&invoke("status", false), &mut |_| unreachable!()).unwrap();
        let out = o.take_outgoing();
        assert_eq!((out.len(), out[0][1], status_of(&out)), (1, kind::STATUS, vec![2]), "INVALID_ARGUMENT");
        // Another object's id: not ours to answer.
        let mut other = invoke("status", true);
        other.body[7] = 0x3e;
        assert_eq!(o.on_message(&other, &mut |_| unreachable!()), Ok(None));
        assert!(o.take_outgoing().is_empty());
    }

    #[test]
    fn invocations_before_registration_are_not_answered_and_a_refusal_breaks() {
        let mut o = PublishedObject::new();
        assert_eq!(o.on_message(&invoke("status", true), &mut |_| unreachable!()), Ok(None));
        assert!(o.take_outgoing().is_empty());
        o.on_message(&msg(kind::HELLO, 0, 1, &[]), &mut |_| unreachable!()).unwrap();
        o.take_outgoing();
        // ubusd_handle_add_object with an ACL that does not allow "publish".
        let denied = [0x01, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x06];
        let e = o.on_message(&msg(kind::STATUS, 1, 0, &denied), &mut |_| unreachable!()).unwrap_err();
        assert!(e.0.contains("permission denied") && e.0.contains("publish"), "{e:?}");
    }
}
