//! ubus messages (ubus's ubusmsg.h): framing on the stream socket, the
//! top-level attributes, and the few requests presenced sends.
//!
//! On the socket each message is an 8-byte header
//!
//! ```text
//! byte 0     version (0)
//! byte 1     type (UBUS_MSG_*)
//! bytes 2-3  sequence number, big-endian
//! bytes 4-7  peer (an object or client id), big-endian
//! ```
//!
//! then one blob attribute (id 0) whose payload holds the message's
//! attributes (UBUS_ATTR_*): its length word gives the message's length, so
//! a message is complete once that many bytes are in. `Framer` only ever
//! holds one message's worth: the header is checked (version 0, length
//! at least 4, padded length at most ubusd's UBUS_MAX_MSGLEN) before the body
//! is waited for, so a hostile length cannot make it buffer more.

use std::fmt;

use super::blob::{Attrs, BlobError, Writer};

pub const HEADER_LEN: usize = 8;
/// ubus's default UBUS_MAX_MSGLEN (its CMakeLists.txt): ubusd and libubus
/// refuse longer messages too.
pub const MAX_MSGLEN: usize = 1_048_576;
/// ubusd's event object (UBUS_SYSTEM_OBJECT_EVENT): `register` listens for
/// events such as `ubus.object.add`.
pub const EVENT_OBJECT: u32 = 1;

/// UBUS_MSG_*.
pub mod kind {
    pub const HELLO: u8 = 0;
    pub const STATUS: u8 = 1;
    pub const DATA: u8 = 2;
    pub const PING: u8 = 3;
    pub const LOOKUP: u8 = 4;
    pub const INVOKE: u8 = 5;
    pub const ADD_OBJECT: u8 = 6;
    pub const REMOVE_OBJECT: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const UNSUBSCRIBE: u8 = 9;
    pub const NOTIFY: u8 = 10;
}

/// UBUS_ATTR_*.
pub mod attr {
    pub const STATUS: u8 = 1;
    pub const OBJPATH: u8 = 2;
    pub const OBJID: u8 = 3;
    pub const METHOD: u8 = 4;
    pub const OBJTYPE: u8 = 5;
    pub const SIGNATURE: u8 = 6;
    pub const DATA: u8 = 7;
    pub const TARGET: u8 = 8;
    pub const ACTIVE: u8 = 9;
    pub const NO_REPLY: u8 = 10;
    pub const SUBSCRIBERS: u8 = 11;
    pub const USER: u8 = 12;
    pub const GROUP: u8 = 13;
    pub const MAX: usize = 14;
}

/// UBUS_STATUS_* as ubus's cli prints them, for messages.
pub fn status_name(status: u32) -> &'static str {
    match status {
        0 => "success",
        1 => "invalid command",
        2 => "invalid argument",
        3 => "method not found",
        4 => "not found",
        5 => "no response",
        6 => "permission denied",
        7 => "request timed out",
        8 => "operation not supported",
        9 => "unknown error",
        10 => "connection failed",
        11 => "out of memory",
        12 => "parsing message data failed",
        13 => "system error",
        _ => "unknown status",
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub seq: u16,
    pub peer: u32,
}

/// A whole message as received: its header and the body's attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    /// The payload of the body attribute: the message's attributes.
    pub body: Vec<u8>,
}

/// The message's attributes by UBUS_ATTR_* id, each checked for the size
/// of its type as libubus's policy does (an attribute of the wrong size is
/// left out, as blob_parse_untrusted leaves it out). The first of an id wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    pub status: Option<u32>,
    pub objpath: Option<&'a str>,
    pub objid: Option<u32>,
    pub method: Option<&'a str>,
    /// The payload of UBUS_ATTR_DATA: blobmsg fields.
    pub data: Option<&'a [u8]>,
    pub target: Option<u32>,
    pub active: Option<u8>,
    pub no_reply: Option<u8>,
}

impl Message {
    pub fn fields(&self) -> Result<Fields<'_>, BlobError> {
        let mut f = Fields::default();
        for a in Attrs::new(&self.body) {
            let a = a?;
            match a.id {
                attr::STATUS => f.status = f.status.or(a.u32()),
                attr::OBJPATH => f.objpath = f.objpath.or(a.str()),
                attr::OBJID => f.objid = f.objid.or(a.u32()),
                attr::METHOD => f.method = f.method.or(a.str()),
                attr::DATA => f.data = f.data.or(Some(a.payload)),
                attr::TARGET => f.target = f.target.or(a.u32()),
                attr::ACTIVE => f.active = f.active.or(a.u8()),
                attr::NO_REPLY => f.no_reply = f.no_reply.or(a.u8()),
                _ => {}
            }
        }
        Ok(f)
    }
}

/// Why the byte stream from ubusd cannot be read on: the connection is
/// dropped and made again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    Version(u8),
    /// The body's length word is below 4 (its own size).
    ShortBody(usize),
    TooLong(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Version(v) => write!(f, "ubus message of version {v} (only version 0 exists)"),
            FrameError::ShortBody(n) => write!(f, "ubus message body of {n} bytes (at least 4)"),
            FrameError::TooLong(n) => write!(f, "ubus message of {n} bytes, over ubus's limit of {MAX_MSGLEN}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Cuts the stream into messages. Pure: bytes in, messages out.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

impl Framer {
    pub fn new() -> Self {
        Framer::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that do not yet make a message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message once all its bytes are in; an error as soon
    /// as its header is seen to be bad.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        let Some(head) = self.buf.get(..HEADER_LEN + 4) else {
            return Ok(None);
        };
        if head[0] != 0 {
            return Err(FrameError::Version(head[0]));
        }
        let header = Header {
            kind: head[1],
            seq: u16::from_be_bytes([head[2], head[3]]),
            peer: u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
        };
        let body_len = (u32::from_be_bytes([head[8], head[9], head[10], head[11]]) & 0x00ff_ffff) as usize;
        if body_len < 4 {
            return Err(FrameError::ShortBody(body_len));
        }
        if pad4(body_len) > MAX_MSGLEN {
            return Err(FrameError::TooLong(body_len));
        }
        let total = HEADER_LEN + body_len;
        if self.buf.len() < total {
            return Ok(None);
        }
        let body = self.buf.get(HEADER_LEN + 4..total).unwrap_or_default().to_vec();
        self.buf.drain(..total);
        Ok(Some(Message { header, body }))
    }
}

/// One message's bytes, as libubus's ubus_send_msg writes them.
pub fn encode(kind: u8, seq: u16, peer: u32, attrs: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    w.nest(0, attrs);
    let body = w.into_bytes();
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(0);
    out.push(kind);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&peer.to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// An anonymous object: a subscriber, which ubusd invokes with the
/// notifications of the objects it subscribes to.
pub fn add_object(seq: u16) -> Vec<u8> {
    encode(kind::ADD_OBJECT, seq, 0, |_| {})
}

/// A named object with methods that take no arguments: its path and its
/// signature (a blobmsg table per method, of its policy: empty here), as
/// libubus's ubus_add_object writes them.
pub fn add_named_object(seq: u16, path: &str, methods: &[&str]) -> Vec<u8> {
    encode(kind::ADD_OBJECT, seq, 0, |w| {
        w.put_str(attr::OBJPATH, path);
        w.nest(attr::SIGNATURE, |w| {
            for m in methods {
                w.field_table(m, |_| {});
            }
        });
    })
}

/// The answer to an invocation of our object, before its STATUS: what
/// libubus's ubus_send_reply sends.
pub fn data_reply(invocation: &Header, object: u32, data: impl FnOnce(&mut Writer)) -> Vec<u8> {
    encode(kind::DATA, invocation.seq, invocation.peer, |w| {
        w.put_u32(attr::OBJID, object);
        w.nest(attr::DATA, data);
    })
}

pub fn lookup(seq: u16, pattern: &str) -> Vec<u8> {
    encode(kind::LOOKUP, seq, 0, |w| w.put_str(attr::OBJPATH, pattern))
}

pub fn subscribe(seq: u16, subscriber: u32, target: u32) -> Vec<u8> {
    encode(kind::SUBSCRIBE, seq, 0, |w| {
        w.put_u32(attr::OBJID, subscriber);
        w.put_u32(attr::TARGET, target);
    })
}

/// ubusd's event object: send `object`'s invocations for events matching
/// `pattern`.
pub fn register_event(seq: u16, object: u32, pattern: &str) -> Vec<u8> {
    invoke(seq, EVENT_OBJECT, "register", |w| {
        w.field_str("pattern", pattern);
        w.field_u32("object", object);
    })
}

pub fn invoke(seq: u16, object: u32, method: &str, data: impl FnOnce(&mut Writer)) -> Vec<u8> {
    encode(kind::INVOKE, seq, object, |w| {
        w.put_u32(attr::OBJID, object);
        w.put_str(attr::METHOD, method);
        w.nest(attr::DATA, data);
    })
}

/// The answer to an invocation of our object `object` (a notification):
/// `status` goes back to whoever notified, as libubus's
/// ubus_complete_deferred_request sends it.
pub fn status_reply(invocation: &Header, object: u32, status: u32) -> Vec<u8> {
    encode(kind::STATUS, invocation.seq, invocation.peer, |w| {
        w.put_u32(attr::STATUS, status);
        w.put_u32(attr::OBJID, object);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ubusd's HELLO as ubusd_send_hello writes it to a new client (id
    /// 0x2b3c4d5e): an empty body.
    const HELLO: [u8; 12] = [
        0x00, // version 0
        0x00, // UBUS_MSG_HELLO
        0x00, 0x00, // seq 0
        0x2b, 0x3c, 0x4d, 0x5e, // peer: the client's id
        0x00, 0x00, 0x00, 0x04, // body: id 0, length 4 (nothing in it)
    ];

    /// A notification as ubusd forwards it to a subscriber (object 0x11)
    /// from hostapd's client (peer 0x99): INVOKE with OBJID, METHOD "probe",
    /// DATA holding one blobmsg string "address".
    const INVOKE: [u8; 68] = [
        0x00, 0x05, 0x01, 0x02, // version 0, UBUS_MSG_INVOKE, seq 0x0102
        0x00, 0x00, 0x00, 0x99, // peer 0x99
        0x00, 0x00, 0x00, 0x3c, // body: id 0, length 60
        0x03, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x11, // OBJID 0x11
        0x04, 0x00, 0x00, 0x0a, b'p', b'r', b'o', b'b', b'e', 0x00, 0x00, 0x00, // METHOD "probe" + pad
        0x07, 0x00, 0x00, 0x24, // DATA, length 36
        0x83, 0x00, 0x00, 0x20, // blobmsg STRING, length 32
        0x00, 0x07, b'a', b'd', b'd', b'r', b'e', b's', b's', 0x00, // name "address" NUL (10 bytes) ...
        0x00, 0x00, // ... padded to 12
        b'0', b'2', b':', b'0', b'0', b':', b'0', b'0', b':', b'0', b'0', b':', b'0', b'0', b':', b'0', // MAC ...
        // (the fixture stops the MAC at 16 of its 17 characters: the string
        // attribute's length covers exactly these bytes, and its NUL is
        // missing, which the typed accessor must notice)
    ];

    #[test]
    fn hello_is_a_whole_message_and_nothing_more() {
        let mut f = Framer::new();
        f.push(&HELLO[..11]);
        assert_eq!(f.next_message(), Ok(None));
        f.push(&HELLO[11..]);
        let m = f.next_message().unwrap().unwrap();
        assert_eq!(m.header, Header { kind: kind::HELLO, seq: 0, peer: 0x2b3c_4d5e });
        assert!(m.body.is_empty());
        assert_eq!(f.pending(), 0);
        assert_eq!(f.next_message(), Ok(None));
    }

    #[test]
    fn an_invocation_yields_its_object_method_and_data() {
        let mut f = Framer::new();
        // Two messages back to back, fed a byte at a time.
        for b in INVOKE.iter().chain(HELLO.iter()) {
            f.push(&[*b]);
        }
        let m = f.next_message().unwrap().unwrap();
        assert_eq!(m.header, Header { kind: kind::INVOKE, seq: 0x0102, peer: 0x99 });
        let fields = m.fields().unwrap();
        assert_eq!(fields.objid, Some(0x11));
        assert_eq!(fields.method, Some("probe"));
        assert_eq!(fields.no_reply, None);
        let data = super::super::blob::Fields::new(fields.data.unwrap());
        let address = data.get("address").unwrap();
        assert_eq!(address.str(), None, "the fixture's string has no NUL");
        assert_eq!(f.next_message().unwrap().unwrap().header.kind, kind::HELLO);
    }

    #[test]
    fn bad_headers_end_the_stream_before_any_body_is_buffered() {
        let mut f = Framer::new();
        f.push(&[0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(f.next_message(), Err(FrameError::Version(1)));
        let mut f = Framer::new();
        f.push(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(f.next_message(), Err(FrameError::ShortBody(3)));
        // 0x00fffffc: 16 MiB claimed, refused at once.
        let mut f = Framer::new();
        f.push(&[0, 2, 0, 0, 0, 0, 0, 0, 0x00, 0xff, 0xff, 0xfc]);
        assert_eq!(f.next_message(), Err(FrameError::TooLong(0x00ff_fffc)));
        // Exactly the limit is allowed (and waited for).
        let mut f = Framer::new();
        f.push(&[0, 2, 0, 0, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x00]);
        assert_eq!(f.next_message(), Ok(None));
    }

    /// The bytes libubus sends for the same requests, written out from
    /// ubus's libubus-sub.c and libubus-req.c (ubus_subscribe,
    /// ubus_complete_deferred_request).
    #[test]
    fn requests_are_laid_out_as_libubus_lays_them_out() {
        assert_eq!(
            subscribe(7, 0x11, 0x22),
            [
                0x00, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, // v0, SUBSCRIBE, seq 7, peer 0
                0x00, 0x00, 0x00, 0x14, // body length 20
                0x03, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x11, // OBJID: our subscriber
                0x08, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x22, // TARGET: the object
            ]
        );
        let invocation = Header { kind: kind::INVOKE, seq: 0x0102, peer: 0x99 };
        assert_eq!(
            status_reply(&invocation, 0x11, 0),
            [
                0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x99, // v0, STATUS, their seq and peer
                0x00, 0x00, 0x00, 0x14, // body length 20
                0x01, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, // STATUS 0: the frame is not rejected
                0x03, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x11, // OBJID: our subscriber
            ]
        );
        assert_eq!(add_object(1), [0, 6, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4]);
    }

    #[test]
    fn random_streams_never_panic_and_never_buffer_past_the_limit() {
        let mut state = 0x9e37_79b9_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..5_000 {
            let mut f = Framer::new();
            let mut bytes = INVOKE.to_vec();
            for _ in 0..1 + next() % 3 {
                let i = next() as usize % bytes.len();
                bytes[i] = next() as u8;
            }
            f.push(&bytes);
            while let Ok(Some(m)) = f.next_message() {
                let _ = m.fields();
            }
            assert!(f.pending() <= bytes.len());
        }
    }
}
