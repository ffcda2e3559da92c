//! libubox's `blob` and `blobmsg` wire formats: a zero-copy view and a small
//! writer.
//!
//! A blob attribute is a 32-bit big-endian word, then its payload:
//!
//! ```text
//! bit 31      extended (set: a blobmsg attribute, with a name header)
//! bits 30-24  id (blob: the attribute id; blobmsg: the BLOBMSG_TYPE_*)
//! bits 23-0   length in bytes, the 4-byte word included
//! ```
//!
//! Attributes follow each other padded to 4 bytes. A blobmsg attribute's
//! payload starts with a name header: a big-endian u16 name length, the
//! name, a NUL, zero bytes up to a multiple of 4 (counted from the start of
//! the header); its value follows. Integers are big-endian; strings end with
//! a NUL inside the value.
//!
//! The contract: `Attrs` checks each attribute's length against what is
//! left before it yields it, and `Field::parse` checks the name header once;
//! after that no accessor can panic, whatever the bytes. A value of the
//! wrong type or size is `None` from its accessor, never a guess.

use std::fmt;

mod field {
    /// The id/length word.
    pub const HEADER: usize = 4;
    pub const EXTENDED: u32 = 0x8000_0000;
    pub const ID_MASK: u32 = 0x7f00_0000;
    pub const ID_SHIFT: u32 = 24;
    pub const LEN_MASK: u32 = 0x00ff_ffff;
    pub const ALIGN: usize = 4;
    /// blobmsg's name length, before the name.
    pub const NAME_LEN: usize = 2;
}

/// BLOBMSG_TYPE_* (libubox blobmsg.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Unspec,
    Array,
    Table,
    String,
    Int64,
    Int32,
    Int16,
    /// Also BLOBMSG_TYPE_BOOL.
    Int8,
    Double,
    Other(u8),
}

impl Kind {
    fn from_id(id: u8) -> Kind {
        match id {
            0 => Kind::Unspec,
            1 => Kind::Array,
            2 => Kind::Table,
            3 => Kind::String,
            4 => Kind::Int64,
            5 => Kind::Int32,
            6 => Kind::Int16,
            7 => Kind::Int8,
            8 => Kind::Double,
            n => Kind::Other(n),
        }
    }

    fn id(self) -> u8 {
        match self {
            Kind::Unspec => 0,
            Kind::Array => 1,
            Kind::Table => 2,
            Kind::String => 3,
            Kind::Int64 => 4,
            Kind::Int32 => 5,
            Kind::Int16 => 6,
            Kind::Int8 => 7,
            Kind::Double => 8,
            Kind::Other(n) => n,
        }
    }
}

/// What is wrong with a blob, with the offset (in the buffer being walked)
/// where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobError {
    /// Fewer than 4 bytes left for an attribute's header.
    Truncated { at: usize, left: usize },
    /// The length word is below 4 or past the end of the buffer.
    BadLength { at: usize, len: usize, left: usize },
    /// A blobmsg attribute without the extended bit.
    NotBlobmsg { at: usize },
    /// A blobmsg name header that does not fit, or a name without its NUL.
    BadName { at: usize },
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::Truncated { at, left } => {
                write!(f, "blob attribute at byte {at} cut short: {left} byte(s) left, a header takes 4")
            }
            BlobError::BadLength { at, len, left } => {
                write!(f, "blob attribute at byte {at} claims {len} bytes, {left} left (at least 4 needed)")
            }
            BlobError::NotBlobmsg { at } => write!(f, "attribute at byte {at} is not a blobmsg (no extended bit)"),
            BlobError::BadName { at } => write!(f, "blobmsg attribute at byte {at} has a malformed name header"),
        }
    }
}

impl std::error::Error for BlobError {}

fn pad(len: usize) -> usize {
    (len + field::ALIGN - 1) & !(field::ALIGN - 1)
}

/// One blob attribute: its id, whether it is extended, its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    pub id: u8,
    pub extended: bool,
    pub payload: &'a [u8],
    /// Offset of the attribute in the buffer it was read from (for messages).
    pub at: usize,
}

impl<'a> Attr<'a> {
    pub fn u32(&self) -> Option<u32> {
        self.payload.try_into().ok().map(u32::from_be_bytes)
    }

    pub fn u8(&self) -> Option<u8> {
        match self.payload {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// A NUL-terminated string filling the payload (padding aside).
    pub fn str(&self) -> Option<&'a str> {
        c_string(self.payload)
    }

    /// The attributes nested in this one.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.payload)
    }
}

/// The text before the first NUL, which must be there, as UTF-8.
fn c_string(bytes: &[u8]) -> Option<&str> {
    let end = bytes.iter().position(|&b| b == 0)?;
    std::str::from_utf8(bytes.get(..end)?).ok()
}

/// The attributes of a buffer, in order. After an error it yields nothing
/// more: what follows a bad length cannot be located.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Attrs<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Attrs { buf, pos: 0, failed: false }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, BlobError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let at = self.pos;
        let rest = self.buf.get(at..).unwrap_or_default();
        let Some(word) = rest.get(..field::HEADER) else {
            self.failed = true;
            return Some(Err(BlobError::Truncated { at, left: rest.len() }));
        };
        let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        let len = (word & field::LEN_MASK) as usize;
        if len < field::HEADER || len > rest.len() {
            self.failed = true;
            return Some(Err(BlobError::BadLength { at, len, left: rest.len() }));
        }
        let payload = rest.get(field::HEADER..len).unwrap_or_default();
        // The last attribute's padding may be left out by the container.
        self.pos = at.saturating_add(pad(len)).min(self.buf.len());
        Some(Ok(Attr {
            id: ((word & field::ID_MASK) >> field::ID_SHIFT) as u8,
            extended: word & field::EXTENDED != 0,
            payload,
            at,
        }))
    }
}

/// One blobmsg attribute: a name, a type and a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub value: &'a [u8],
}

impl<'a> Field<'a> {
    /// Checks the name header (once: nothing after can fail but the typed
    /// accessors, which answer `None`).
    pub fn parse(attr: Attr<'a>) -> Result<Field<'a>, BlobError> {
        if !attr.extended {
            return Err(BlobError::NotBlobmsg { at: attr.at });
        }
        let bad = BlobError::BadName { at: attr.at };
        let p = attr.payload;
        let name_len = match p.get(..field::NAME_LEN) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]) as usize,
            _ => return Err(bad),
        };
        let header = pad(field::NAME_LEN + name_len + 1);
        if p.len() < header || p.get(field::NAME_LEN + name_len) != Some(&0) {
            return Err(bad);
        }
        let name = p
            .get(field::NAME_LEN..field::NAME_LEN + name_len)
            .and_then(|n| std::str::from_utf8(n).ok())
            .ok_or(bad)?;
        Ok(Field { name, kind: Kind::from_id(attr.id), value: p.get(header..).unwrap_or_default() })
    }

    fn fixed<const N: usize>(&self, kind: Kind) -> Option<[u8; N]> {
        if self.kind != kind {
            return None;
        }
        self.value.try_into().ok()
    }

    pub fn u8(&self) -> Option<u8> {
        self.fixed::<1>(Kind::Int8).map(|b| b[0])
    }

    pub fn u16(&self) -> Option<u16> {
        self.fixed::<2>(Kind::Int16).map(u16::from_be_bytes)
    }

    pub fn i32(&self) -> Option<i32> {
        self.fixed::<4>(Kind::Int32).map(i32::from_be_bytes)
    }

    pub fn u32(&self) -> Option<u32> {
        self.fixed::<4>(Kind::Int32).map(u32::from_be_bytes)
    }

    pub fn u64(&self) -> Option<u64> {
        self.fixed::<8>(Kind::Int64).map(u64::from_be_bytes)
    }

    /// blobmsg's bool is an INT8; hostapd writes 0 or 1, any non-zero is true
    /// (as libubox's blobmsg_get_bool reads it).
    pub fn bool(&self) -> Option<bool> {
        self.u8().map(|v| v != 0)
    }

    pub fn str(&self) -> Option<&'a str> {
        if self.kind != Kind::String {
            return None;
        }
        c_string(self.value)
    }

    /// The members of a table or an array; `None` for other types.
    pub fn members(&self) -> Option<Fields<'a>> {
        matches!(self.kind, Kind::Table | Kind::Array).then(|| Fields::new(self.value))
    }
}

/// The blobmsg attributes of a buffer (a table's or array's value, or a
/// message's data attribute).
#[derive(Clone, Debug)]
pub struct Fields<'a>(Attrs<'a>);

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields(Attrs::new(buf))
    }

    /// The first well-formed field of this name, if every field before it is
    /// well-formed (what follows a malformed one cannot be trusted).
    pub fn get(&self, name: &str) -> Option<Field<'a>> {
        for f in self.clone() {
            match f {
                Ok(f) if f.name == name => return Some(f),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, BlobError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.0.next()? {
            Ok(a) => match Field::parse(a) {
                Ok(f) => Some(Ok(f)),
                Err(e) => {
                    self.0.failed = true;
                    Some(Err(e))
                }
            },
            Err(e) => Some(Err(e)),
        }
    }
}

/// Builds a blob: attributes appended in order, nests closed by the closure
/// that fills them. Lengths are checked: a payload past 16 MiB - 4 (the
/// 24-bit length) cannot be written, and presenced never writes one.
#[derive(Clone, Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn start(&mut self, id: u8, extended: bool) -> usize {
        let at = self.buf.len();
        let word = ((id as u32) << field::ID_SHIFT) & field::ID_MASK | if extended { field::EXTENDED } else { 0 };
        self.buf.extend_from_slice(&word.to_be_bytes());
        at
    }

    /// Writes the length of the attribute started at `at`, then pads.
    fn end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u32 & field::LEN_MASK;
        let word = u32::from_be_bytes([self.buf[at], self.buf[at + 1], self.buf[at + 2], self.buf[at + 3]]);
        self.buf[at..at + 4].copy_from_slice(&(word & !field::LEN_MASK | len).to_be_bytes());
        self.buf.resize(pad(self.buf.len()), 0);
    }

    pub fn put_u32(&mut self, id: u8, v: u32) {
        let at = self.start(id, false);
        self.buf.extend_from_slice(&v.to_be_bytes());
        self.end(at);
    }

    pub fn put_u8(&mut self, id: u8, v: u8) {
        let at = self.start(id, false);
        self.buf.push(v);
        self.end(at);
    }

    pub fn put_str(&mut self, id: u8, s: &str) {
        let at = self.start(id, false);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.end(at);
    }

    pub fn nest(&mut self, id: u8, fill: impl FnOnce(&mut Writer)) {
        let at = self.start(id, false);
        fill(self);
        self.end(at);
    }

    fn field_start(&mut self, kind: Kind, name: &str) -> usize {
        let at = self.start(kind.id(), true);
        let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
        self.buf.extend_from_slice(&(name.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(name);
        self.buf.push(0);
        self.buf.resize(at + field::HEADER + pad(field::NAME_LEN + name.len() + 1), 0);
        at
    }

    pub fn field_u32(&mut self, name: &str, v: u32) {
        let at = self.field_start(Kind::Int32, name);
        self.buf.extend_from_slice(&v.to_be_bytes());
        self.end(at);
    }

    pub fn field_str(&mut self, name: &str, s: &str) {
        let at = self.field_start(Kind::String, name);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.end(at);
    }

    pub fn field_i32(&mut self, name: &str, v: i32) {
        self.field_u32(name, v as u32);
    }

    /// BLOBMSG_TYPE_INT64: `ubus call` prints it as a number as it does INT32.
    pub fn field_u64(&mut self, name: &str, v: u64) {
        let at = self.field_start(Kind::Int64, name);
        self.buf.extend_from_slice(&v.to_be_bytes());
        self.end(at);
    }

    /// BLOBMSG_TYPE_BOOL (an INT8 of 0 or 1), printed as true or false.
    pub fn field_bool(&mut self, name: &str, v: bool) {
        let at = self.field_start(Kind::Int8, name);
        self.buf.push(v as u8);
        self.end(at);
    }

    /// A table named `name`, its members written by `fill`.
    pub fn field_table(&mut self, name: &str, fill: impl FnOnce(&mut Writer)) {
        let at = self.field_start(Kind::Table, name);
        fill(self);
        self.end(at);
    }

    /// An array: its members are fields with empty names (blobmsg_open_array).
    pub fn field_array(&mut self, name: &str, fill: impl FnOnce(&mut Writer)) {
        let at = self.field_start(Kind::Array, name);
        fill(self);
        self.end(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// blobmsg INT32 "signal" = -47, as libubox's blobmsg_add_u32 lays it out.
    const SIGNAL: [u8; 20] = [
        0x85, 0x00, 0x00, 0x14, // extended, type 5 (INT32), length 20
        0x00, 0x06, // name length 6
        b's', b'i', b'g', b'n', b'a', b'l', 0x00, // "signal" NUL
        0x00, 0x00, 0x00, // pad: the name header is 2 + 6 + 1 = 9 -> 12 bytes
        0xff, 0xff, 0xff, 0xd1, // -47, big-endian
    ];

    #[test]
    fn a_blobmsg_int32_reads_as_its_value() {
        let attrs: Vec<_> = Attrs::new(&SIGNAL).collect();
        assert_eq!(attrs.len(), 1);
        let f = Field::parse(attrs[0].clone().unwrap()).unwrap();
        assert_eq!((f.name, f.kind), ("signal", Kind::Int32));
        assert_eq!(f.i32(), Some(-47));
        assert_eq!(f.u32(), Some(0xffff_ffd1));
        // A wrong-type accessor says so, it does not reinterpret.
        assert_eq!(f.u8(), None);
        assert_eq!(f.str(), None);
        assert_eq!(f.members().map(|m| m.count()), None);
    }

    /// A table "c" holding STRING "a" = "xy" and INT8 "b" = 1: nesting and
    /// the padding between members.
    const TABLE: [u8; 32] = [
        0x82, 0x00, 0x00, 0x20, // extended, type 2 (TABLE), length 32
        0x00, 0x01, b'c', 0x00, // name "c" (2 + 1 + 1 = 4, no pad)
        0x83, 0x00, 0x00, 0x0b, // STRING, length 11 (4 + 4 + 3)
        0x00, 0x01, b'a', 0x00, // name "a"
        b'x', b'y', 0x00, 0x00, // "xy" NUL, then one pad byte
        0x87, 0x00, 0x00, 0x09, // INT8, length 9 (4 + 4 + 1)
        0x00, 0x01, b'b', 0x00, // name "b"
        0x01, 0x00, 0x00, 0x00, // 1, then three pad bytes
    ];

    #[test]
    fn a_table_yields_its_members_across_padding() {
        let f = Field::parse(Attrs::new(&TABLE).next().unwrap().unwrap()).unwrap();
        assert_eq!((f.name, f.kind), ("c", Kind::Table));
        let members: Vec<_> = f.members().unwrap().map(|m| m.unwrap()).collect();
        assert_eq!(members.len(), 2);
        assert_eq!((members[0].name, members[0].str()), ("a", Some("xy")));
        assert_eq!((members[1].name, members[1].bool()), ("b", Some(true)));
        assert_eq!(f.members().unwrap().get("b").and_then(|b| b.u8()), Some(1));
        assert_eq!(f.members().unwrap().get("z"), None);
    }

    #[test]
    fn plain_blob_attributes_read_as_ubus_puts_them() {
        let bytes = [
            0x03, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2a, // id 3 (OBJID), length 8, 42
            0x04, 0x00, 0x00, 0x0a, b'p', b'r', b'o', b'b', b'e', 0x00, 0x00, 0x00, // id 4 (METHOD) "probe", padded
            0x0a, 0x00, 0x00, 0x05, 0x01, // id 10 (NO_REPLY), INT8 1, last padding left out
        ];
        let a: Vec<_> = Attrs::new(&bytes).map(|a| a.unwrap()).collect();
        assert_eq!(a.len(), 3);
        assert_eq!((a[0].id, a[0].extended, a[0].u32()), (3, false, Some(42)));
        assert_eq!((a[1].id, a[1].str()), (4, Some("probe")));
        assert_eq!((a[2].id, a[2].u8()), (10, Some(1)));
        assert_eq!(a[1].u32(), None);
    }

    #[test]
    fn every_truncation_and_bad_length_is_an_error_not_a_panic() {
        for cut in 0..SIGNAL.len() {
            let results: Vec<_> = Attrs::new(&SIGNAL[..cut]).collect();
            if cut == 0 {
                assert!(results.is_empty());
                continue;
            }
            assert_eq!(results.len(), 1, "cut at {cut}");
            assert!(results[0].is_err(), "cut at {cut}: {:?}", results[0]);
        }
        // Length word below its own 4 bytes.
        let short = [0x85, 0x00, 0x00, 0x03, 0, 0, 0, 0];
        assert_eq!(
            Attrs::new(&short).next(),
            Some(Err(BlobError::BadLength { at: 0, len: 3, left: 8 }))
        );
        // Name length past the payload, and a name without its NUL.
        let mut long_name = SIGNAL;
        long_name[5] = 0x40;
        assert!(matches!(
            Field::parse(Attrs::new(&long_name).next().unwrap().unwrap()),
            Err(BlobError::BadName { .. })
        ));
        let mut no_nul = SIGNAL;
        no_nul[12] = b'x'; // the name's NUL
        assert!(Field::parse(Attrs::new(&no_nul).next().unwrap().unwrap()).is_err());
        // A string value without a NUL is no string.
        let unterminated = [0x83, 0x00, 0x00, 0x0a, 0x00, 0x01, b'a', 0x00, b'x', b'y'];
        let f = Field::parse(Attrs::new(&unterminated).next().unwrap().unwrap()).unwrap();
        assert_eq!(f.str(), None);
    }

    /// Random mutations and truncations of the fixtures: the walk ends (no
    /// loop), never panics, and every attribute it yields lies inside the
    /// buffer.
    #[test]
    fn hostile_bytes_never_panic() {
        fn walk(buf: &[u8], depth: u32) {
            for f in Fields::new(buf).take(1000).flatten() {
                let _ = (f.u8(), f.u16(), f.i32(), f.u64(), f.str(), f.bool());
                if depth < 8 {
                    if let Some(m) = f.members() {
                        walk(f.value, depth + 1);
                        let _ = m.count();
                    }
                }
            }
            for a in Attrs::new(buf).take(1000).flatten() {
                let _ = (a.u32(), a.u8(), a.str());
                assert!(a.at + 4 + a.payload.len() <= buf.len());
            }
        }
        let mut state = 0x2545_f491_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for fixture in [&TABLE[..], &SIGNAL[..]] {
            for _ in 0..20_000 {
                let mut b = fixture.to_vec();
                let flips = 1 + next() % 4;
                for _ in 0..flips {
                    let i = next() as usize % b.len();
                    b[i] = next() as u8;
                }
                let cut = next() as usize % (b.len() + 1);
                walk(&b[..cut], 0);
            }
        }
    }

    #[test]
    fn the_writer_lays_out_what_the_fixtures_spell() {
        let mut w = Writer::new();
        w.field_u32("signal", -47i32 as u32);
        assert_eq!(w.into_bytes(), SIGNAL);
        let mut w = Writer::new();
        w.put_u32(3, 42);
        w.put_str(4, "probe");
        assert_eq!(
            w.into_bytes(),
            [0x03, 0, 0, 0x08, 0, 0, 0, 0x2a, 0x04, 0, 0, 0x0a, b'p', b'r', b'o', b'b', b'e', 0, 0, 0]
        );
        let mut w = Writer::new();
        w.nest(7, |w| w.field_str("a", "xy"));
        assert_eq!(
            w.into_bytes(),
            [0x07, 0, 0, 0x10, 0x83, 0, 0, 0x0b, 0, 0x01, b'a', 0, b'x', b'y', 0, 0]
        );
        let mut w = Writer::new();
        w.field_table("c", |w| {
            w.field_str("a", "xy");
            w.field_bool("b", true);
        });
        assert_eq!(w.into_bytes(), TABLE);
    }

    /// blobmsg_add_u64(b, "n", 0x0102030405060708) inside
    /// blobmsg_open_array(b, "l"): array members have empty names.
    #[test]
    fn an_array_of_int64_is_laid_out_as_libubox_lays_it_out() {
        let mut w = Writer::new();
        w.field_array("l", |w| w.field_u64("", 0x0102_0304_0506_0708));
        assert_eq!(
            w.into_bytes(),
            [
                0x81, 0x00, 0x00, 0x18, // extended, type 1 (ARRAY), length 24
                0x00, 0x01, b'l', 0x00, // name "l"
                0x84, 0x00, 0x00, 0x10, // extended, type 4 (INT64), length 16
                0x00, 0x00, 0x00, 0x00, // empty name: length 0, NUL, one pad byte
                0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // the value, big-endian
            ]
        );
        let mut w = Writer::new();
        w.field_i32("s", -2);
        assert_eq!(w.into_bytes(), [0x85, 0, 0, 0x0c, 0, 0x01, b's', 0, 0xff, 0xff, 0xff, 0xfe]);
    }
}
