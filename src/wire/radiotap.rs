//! Radiotap headers: a table-driven iterator in the manner of the Linux
//! kernel's, and the summary that `frame` needs (header length, Flags, signal).
//!
//! Contract: [`Header::new_checked`] checks the fixed part (8 bytes, version 0,
//! `it_len` between 8 and the frame length) and that every present word lies
//! inside `it_len`; after it, [`Fields`] walks the fields and never reads past
//! `it_len`. Every read is a checked slice and every number is decoded
//! little-endian with `from_le_bytes`, so no byte sequence makes this module
//! panic or depend on the CPU's byte order, and nothing is copied or allocated.
//!
//! The walk follows radiotap.org: a field's alignment is counted from the start
//! of the header (not from the start of the fields); bit 31 of a present word
//! announces another word; bit 29 starts a new radiotap namespace (drivers put
//! per-chain copies of fields there, so only the first antenna signal is the
//! combined one); bit 30 starts a vendor namespace whose 6-byte header (OUI,
//! sub-namespace, little-endian skip length, 2-aligned) tells how many bytes of
//! data to skip. A radiotap field whose size we do not know ends the walk
//! without an error: every field after it, in any namespace, sits at an offset
//! that depends on it, so nothing after it can be located.
//!
//! Why not the `radiotap` crate (1.3): `tests/radiotap_crate_check.rs` shows,
//! on the shared test vectors, that its `Radiotap` keeps the *last* antenna
//! signal of a multi-namespace header (a per-chain value) instead of the first,
//! that it drops a field it does not know and goes on reading the following
//! fields at wrong offsets, and that a vendor skip length running past the
//! header makes it panic; it also allocates a `Vec` per header.

use std::fmt;

/// Flags (field 1): the frame ends with a 4-byte FCS that is not frame body.
pub const FLAG_FCS_AT_END: u8 = 0x10;
/// Flags (field 1): the frame failed its FCS check.
pub const FLAG_BAD_FCS: u8 = 0x40;

/// Field numbers of the radiotap namespace that the rest of the crate reads.
pub mod index {
    pub const TSFT: u8 = 0;
    pub const FLAGS: u8 = 1;
    pub const RATE: u8 = 2;
    pub const CHANNEL: u8 = 3;
    pub const DBM_ANTENNA_SIGNAL: u8 = 5;
    pub const ANTENNA: u8 = 11;
    pub const RX_FLAGS: u8 = 14;
}

const FIXED_LEN: usize = 8;
const PRESENT_WORD_LEN: usize = 4;
const BIT_RADIOTAP_NAMESPACE: u32 = 29;
const BIT_VENDOR_NAMESPACE: u32 = 30;
const BIT_EXTENDED: u32 = 31;
const VENDOR_HEADER_LEN: usize = 6;
const VENDOR_HEADER_ALIGN: usize = 2;

#[derive(Clone, Copy)]
struct AlignSize {
    align: u8,
    size: u8,
}

const fn known(align: u8, size: u8) -> Option<AlignSize> {
    Some(AlignSize { align, size })
}

/// {alignment, size} of each field of the radiotap namespace, by bit number,
/// from radiotap.org's list of defined fields. `None` is a field whose size we
/// do not know: 28 (TLVs, variable by design) and anything past it.
const RADIOTAP_FIELDS: [Option<AlignSize>; 29] = [
    known(8, 8), // 0 TSFT
    known(1, 1), // 1 Flags
    known(1, 1), // 2 Rate
    known(2, 4), // 3 Channel: frequency, flags
    known(2, 2), // 4 FHSS
    known(1, 1), // 5 dBm antenna signal
    known(1, 1), // 6 dBm antenna noise
    known(2, 2), // 7 Lock quality
    known(2, 2), // 8 TX attenuation
    known(2, 2), // 9 dB TX attenuation
    known(1, 1), // 10 dBm TX power
    known(1, 1), // 11 Antenna
    known(1, 1), // 12 dB antenna signal
    known(1, 1), // 13 dB antenna noise
    known(2, 2), // 14 RX flags
    known(2, 2), // 15 TX flags
    known(1, 1), // 16 RTS retries
    known(1, 1), // 17 data retries
    // XChannel is only "suggested" on radiotap.org and absent from the
    // kernel's table, but some drivers emit it and Wireshark decodes it: the
    // canon and chromecast-v1 captures have it before MCS and A-MPDU status.
    known(4, 8),  // 18 XChannel
    known(1, 3),  // 19 MCS
    known(4, 8),  // 20 A-MPDU status
    known(2, 12), // 21 VHT
    known(8, 12), // 22 timestamp
    known(2, 12), // 23 HE
    known(2, 12), // 24 HE-MU
    known(2, 6),  // 25 HE-MU-other-user
    known(1, 1),  // 26 0-length PSDU
    known(2, 4),  // 27 L-SIG
    None,         // 28 TLVs
];

/// Why a radiotap header was rejected. Fields returned before the error are
/// still correct: they lie before the point where the header went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer than the 8 bytes of the fixed header.
    Truncated { len: usize },
    /// Only version 0 exists; another version may lay fields out differently.
    BadVersion(u8),
    /// `it_len` is below the fixed header or beyond the captured bytes.
    BadLength { it_len: u16, frame_len: usize },
    /// Bit 31 announces a present word that does not fit inside `it_len`.
    PresentWordsPastHeader { it_len: u16 },
    /// Bits 29 and 30 both set: the next word cannot belong to both namespaces.
    AmbiguousNamespace,
    /// A radiotap field ends past `it_len`.
    FieldPastHeader { index: u8 },
    /// A vendor namespace's 6-byte header ends past `it_len`.
    VendorHeaderPastHeader,
    /// The data that a vendor namespace's skip length covers ends past `it_len`.
    VendorDataPastHeader {
        oui: [u8; 3],
        sub_namespace: u8,
        skip_length: u16,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { len } => {
                write!(f, "radiotap header truncated: {len} bytes, at least 8 needed")
            }
            Error::BadVersion(v) => write!(f, "radiotap version {v}, only 0 is defined"),
            Error::BadLength { it_len, frame_len } => write!(
                f,
                "radiotap length {it_len} is outside 8..={frame_len} (the captured length)"
            ),
            Error::PresentWordsPastHeader { it_len } => {
                write!(f, "radiotap present words run past the header length {it_len}")
            }
            Error::AmbiguousNamespace => {
                write!(f, "radiotap present word selects both the radiotap and a vendor namespace")
            }
            Error::FieldPastHeader { index } => {
                write!(f, "radiotap field {index} runs past the header length")
            }
            Error::VendorHeaderPastHeader => {
                write!(f, "radiotap vendor namespace header runs past the header length")
            }
            Error::VendorDataPastHeader {
                oui,
                sub_namespace,
                skip_length,
            } => write!(
                f,
                "radiotap vendor namespace {:02x}:{:02x}:{:02x}/{sub_namespace} skips {skip_length} bytes, past the header length",
                oui[0], oui[1], oui[2]
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A checked radiotap header: the first `it_len` bytes of a frame.
#[derive(Clone, Copy, Debug)]
pub struct Header<'a> {
    bytes: &'a [u8],
    fields_start: usize,
}

impl<'a> Header<'a> {
    /// Checks the fixed part and the chain of present words; see the module doc.
    pub fn new_checked(frame: &'a [u8]) -> Result<Header<'a>, Error> {
        let Some(&[version, _pad, len0, len1, ..]) = frame.get(..FIXED_LEN) else {
            return Err(Error::Truncated { len: frame.len() });
        };
        if version != 0 {
            return Err(Error::BadVersion(version));
        }
        let it_len = u16::from_le_bytes([len0, len1]);
        let bytes = frame
            .get(..usize::from(it_len))
            .filter(|b| b.len() >= FIXED_LEN)
            .ok_or(Error::BadLength {
                it_len,
                frame_len: frame.len(),
            })?;

        let mut word_at = 4;
        loop {
            let word = read_u32(bytes, word_at).ok_or(Error::PresentWordsPastHeader { it_len })?;
            word_at += PRESENT_WORD_LEN;
            if word & (1 << BIT_EXTENDED) == 0 {
                break;
            }
        }
        Ok(Header {
            bytes,
            fields_start: word_at,
        })
    }

    /// `it_len`: where the 802.11 frame starts.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: a checked header has at least its 8 fixed bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The fields in header order.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            bytes: self.bytes,
            word_at: 4,
            word: read_u32(self.bytes, 4).unwrap_or(0),
            bit: 0,
            namespace: Namespace::Radiotap,
            word_in_namespace: 0,
            next_namespace: None,
            radiotap_namespaces_opened: 0,
            next_field_at: self.fields_start,
            finished: false,
        }
    }
}

/// One item of the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    /// A field of the radiotap namespace. `index` is its bit number (see
    /// [`index`]); `namespace` counts radiotap namespaces from 0, the first,
    /// which carries the combined values; later ones carry per-chain values.
    Radiotap {
        namespace: u8,
        index: u8,
        data: &'a [u8],
    },
    /// The data of a vendor namespace, whole: its layout is the vendor's own,
    /// so it is skipped by its skip length rather than walked field by field.
    Vendor {
        oui: [u8; 3],
        sub_namespace: u8,
        data: &'a [u8],
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Namespace {
    Radiotap,
    Vendor,
}

/// Iterator over a header's fields. After an error, or after a radiotap field
/// of unknown size, it yields nothing more.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    bytes: &'a [u8],
    word_at: usize,
    word: u32,
    /// The next bit of `word` to look at; 32 when the word is used up.
    bit: u32,
    namespace: Namespace,
    /// Counts the words of the current namespace, so that bit n of its second
    /// word is field 32 + n.
    word_in_namespace: u32,
    /// Set by bit 29 or 30: the namespace that the next present word opens.
    next_namespace: Option<Namespace>,
    radiotap_namespaces_opened: u8,
    next_field_at: usize,
    finished: bool,
}

impl<'a> Fields<'a> {
    fn fail(&mut self, error: Error) -> Option<Result<Field<'a>, Error>> {
        self.finished = true;
        Some(Err(error))
    }

    /// Moves to the next present word, if bit 31 of this one says there is one.
    fn next_word(&mut self) -> bool {
        if self.word & (1 << BIT_EXTENDED) == 0 {
            return false;
        }
        self.word_at += PRESENT_WORD_LEN;
        // new_checked walked the same chain, so the word is there; were it not,
        // the walk would only end early.
        let Some(word) = read_u32(self.bytes, self.word_at) else {
            return false;
        };
        self.word = word;
        self.bit = 0;
        match self.next_namespace.take() {
            Some(namespace) => {
                self.namespace = namespace;
                self.word_in_namespace = 0;
                if namespace == Namespace::Radiotap {
                    self.radiotap_namespaces_opened =
                        self.radiotap_namespaces_opened.saturating_add(1);
                }
            }
            None => self.word_in_namespace = self.word_in_namespace.saturating_add(1),
        }
        true
    }

    fn radiotap_field(&mut self, bit_in_namespace: u32) -> Option<Result<Field<'a>, Error>> {
        let known = usize::try_from(bit_in_namespace)
            .ok()
            .and_then(|i| RADIOTAP_FIELDS.get(i).copied().flatten());
        let (Some(AlignSize { align, size }), Ok(index)) = (known, u8::try_from(bit_in_namespace))
        else {
            self.finished = true;
            return None;
        };
        let start = align_up(self.next_field_at, usize::from(align));
        let data = start
            .checked_add(usize::from(size))
            .and_then(|end| self.bytes.get(start..end));
        match data {
            Some(data) => {
                self.next_field_at = start + data.len();
                Some(Ok(Field::Radiotap {
                    namespace: self.radiotap_namespaces_opened,
                    index,
                    data,
                }))
            }
            None => self.fail(Error::FieldPastHeader { index }),
        }
    }

    fn vendor_namespace(&mut self) -> Option<Result<Field<'a>, Error>> {
        let start = align_up(self.next_field_at, VENDOR_HEADER_ALIGN);
        let header = start
            .checked_add(VENDOR_HEADER_LEN)
            .and_then(|end| self.bytes.get(start..end));
        let Some(&[o0, o1, o2, sub_namespace, s0, s1]) = header else {
            return self.fail(Error::VendorHeaderPastHeader);
        };
        let oui = [o0, o1, o2];
        let skip_length = u16::from_le_bytes([s0, s1]);
        let data_start = start + VENDOR_HEADER_LEN;
        let data = data_start
            .checked_add(usize::from(skip_length))
            .and_then(|end| self.bytes.get(data_start..end));
        match data {
            Some(data) => {
                self.next_field_at = data_start + data.len();
                Some(Ok(Field::Vendor {
                    oui,
                    sub_namespace,
                    data,
                }))
            }
            None => self.fail(Error::VendorDataPastHeader {
                oui,
                sub_namespace,
                skip_length,
            }),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            if self.bit >= 32 {
                if !self.next_word() {
                    self.finished = true;
                }
                continue;
            }
            // Straight to the next set bit: most of a present word is zeros,
            // and testing them one by one was half the cost of a frame.
            let unvisited = self.word & (u32::MAX << self.bit);
            if unvisited == 0 {
                self.bit = 32;
                continue;
            }
            let bit = unvisited.trailing_zeros();
            self.bit = bit + 1;
            match bit {
                // Followed when the word is used up, in next_word.
                BIT_EXTENDED => {}
                BIT_RADIOTAP_NAMESPACE => {
                    if self.word & (1 << BIT_VENDOR_NAMESPACE) != 0 {
                        return self.fail(Error::AmbiguousNamespace);
                    }
                    self.next_namespace = Some(Namespace::Radiotap);
                }
                BIT_VENDOR_NAMESPACE => {
                    self.next_namespace = Some(Namespace::Vendor);
                    // Its header and data follow this namespace's fields.
                    return self.vendor_namespace();
                }
                _ if self.namespace == Namespace::Radiotap => {
                    let bit_in_namespace = self
                        .word_in_namespace
                        .saturating_mul(32)
                        .saturating_add(bit);
                    return self.radiotap_field(bit_in_namespace);
                }
                // A vendor namespace's own fields were skipped with its data.
                _ => {}
            }
        }
        None
    }
}

impl std::iter::FusedIterator for Fields<'_> {}

/// What `frame` needs from a radiotap header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// `it_len`: where the 802.11 frame starts.
    pub header_len: usize,
    /// Field 1 of the first radiotap namespace that has one.
    pub flags: Option<u8>,
    /// The first dBm antenna signal (field 5) of the header: the combined
    /// value, not one of the per-chain copies in later namespaces.
    pub antenna_signal_dbm: Option<i8>,
}

/// Walks the whole header; any malformation is an error, even one after the
/// fields we want, since a header that lies about one field may lie about all.
pub fn summarize(frame: &[u8]) -> Result<Summary, Error> {
    Ok(layout(frame)?.read(frame))
}

/// Where the fields `Summary` reads sit in a header, and what decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub header_len: usize,
    /// Offsets of Flags and of the first dBm antenna signal; ABSENT (which
    /// no `get` finds) when the header has no such field.
    flags_at: usize,
    antenna_signal_at: usize,
    /// The header bytes that fix this layout: the version, `it_len` and
    /// every present word. `None` when the layout also depends on field data
    /// (a vendor namespace's skip length) or has more words than are kept.
    key: Option<LayoutKey>,
}

/// The bytes that fix a layout, as three little-endian `u64`s over the
/// header's first KEY_LEN bytes, each with a mask: version, `it_len` and
/// every present word are kept, the pad byte (which nothing reads) and the
/// bytes after the last present word are masked out. Three masked compares
/// cover one to four present words, however many the header has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LayoutKey {
    words: [u64; 3],
    masks: [u64; 3],
}

/// Up to four present words (bytes 4..20), read as three `u64`s.
const KEY_LEN: usize = 24;
const MAX_PRESENT_WORDS: usize = 4;
const ABSENT: usize = usize::MAX;
const PAD_MASK: u64 = !0xff00;

#[inline(always)]
fn key_words(bytes: &[u8; KEY_LEN]) -> [u64; 3] {
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(bytes.get(8 * i..8 * i + 8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(w)
    };
    [word(0), word(1), word(2)]
}

impl Layout {
    /// The summary of a frame with this layout. Offsets lie inside
    /// `header_len`, which the caller has checked against the frame.
    #[inline(always)]
    fn read(&self, frame: &[u8]) -> Summary {
        Summary {
            header_len: self.header_len,
            flags: frame.get(self.flags_at).copied(),
            antenna_signal_dbm: frame.get(self.antenna_signal_at).map(|&v| v as i8),
        }
    }

}

impl LayoutKey {
    /// The key of a header whose present words end at `fields_start`, or
    /// `None` if it has more than MAX_PRESENT_WORDS.
    fn of(frame: &[u8], fields_start: usize) -> Option<LayoutKey> {
        if fields_start > FIXED_LEN + PRESENT_WORD_LEN * (MAX_PRESENT_WORDS - 1) {
            return None;
        }
        // A frame shorter than KEY_LEN is keyed zero-padded; `fits` never
        // matches such a frame (it walks them all), so the padding is inert.
        let mut bytes = [0u8; KEY_LEN];
        let kept = frame.get(..fields_start)?;
        bytes.get_mut(..fields_start)?.copy_from_slice(kept);
        let mut mask_bytes = [0u8; KEY_LEN];
        mask_bytes.get_mut(..fields_start)?.fill(0xff);
        let mut masks = key_words(&mask_bytes);
        masks[0] &= PAD_MASK;
        let words = key_words(&bytes);
        Some(LayoutKey { words: [words[0] & masks[0], words[1] & masks[1], words[2] & masks[2]], masks })
    }

    /// Whether `frame`'s header has this key's version, length and present
    /// words, and the frame is as long as `header_len` (its `it_len`) and
    /// KEY_LEN.
    #[inline(always)]
    fn fits(&self, frame: &[u8], header_len: usize) -> bool {
        let Some(bytes) = frame.first_chunk::<KEY_LEN>() else { return false };
        let w = key_words(bytes);
        frame.len() >= header_len
            && ((w[0] & self.masks[0]) ^ self.words[0]
                | (w[1] & self.masks[1]) ^ self.words[1]
                | (w[2] & self.masks[2]) ^ self.words[2])
                == 0
    }
}

/// The full walk, recording offsets rather than values.
pub fn layout(frame: &[u8]) -> Result<Layout, Error> {
    let header = Header::new_checked(frame)?;
    let mut layout = Layout { header_len: header.len(), flags_at: ABSENT, antenna_signal_at: ABSENT, key: None };
    let mut depends_on_data = false;
    for field in header.fields() {
        match field? {
            Field::Radiotap { index, data: data @ &[_], .. } => {
                // A subslice of `frame`: its distance from the start is its offset.
                let offset = data.as_ptr() as usize - frame.as_ptr() as usize;
                match index {
                    index::FLAGS if layout.flags_at == ABSENT => layout.flags_at = offset,
                    index::DBM_ANTENNA_SIGNAL if layout.antenna_signal_at == ABSENT => {
                        layout.antenna_signal_at = offset;
                    }
                    _ => {}
                }
            }
            Field::Vendor { .. } => depends_on_data = true,
            Field::Radiotap { .. } => {}
        }
    }
    if !depends_on_data {
        layout.key = LayoutKey::of(frame, header.fields_start);
    }
    Ok(layout)
}

/// `summarize` for a stream of frames from one driver, which writes the same
/// radiotap layout into every frame: the walk is done once per layout, and
/// a frame whose length field and present words match the last walked
/// header's (byte for byte) is read at the offsets found then. The answer is
/// `summarize`'s in every case (the layout is a function of those bytes
/// alone when no vendor namespace is present; with one, every frame is
/// walked); `tests/classify_fuzz.rs` checks that on every shared frame and
/// on random ones.
#[derive(Clone, Debug)]
pub struct LayoutCache {
    /// The last walked layout that has a key, flat: a hit reads no
    /// `Option`. Before the first walk, a key that no header has.
    key: LayoutKey,
    layout: Layout,
}

impl Default for LayoutCache {
    fn default() -> Self {
        LayoutCache {
            // The pad byte's bits are masked out of every frame's word 0, so
            // no frame matches a key word with them set.
            key: LayoutKey { words: [!PAD_MASK, 0, 0], masks: [PAD_MASK, 0, 0] },
            layout: Layout { header_len: 0, flags_at: ABSENT, antenna_signal_at: ABSENT, key: None },
        }
    }
}

impl LayoutCache {
    /// Inlined: the hit is a few compares, cheaper than a call at opt-level
    /// "z"; the walk on a miss stays out of line.
    #[inline(always)]
    pub fn summarize(&mut self, frame: &[u8]) -> Result<Summary, Error> {
        match self.remembered(frame) {
            Some(summary) => Ok(summary),
            None => self.walk(frame),
        }
    }

    /// The summary if `frame` has the remembered layout; `None` means
    /// `walk` must decide.
    #[inline(always)]
    pub fn remembered(&self, frame: &[u8]) -> Option<Summary> {
        if self.key.fits(frame, self.layout.header_len) {
            return Some(self.layout.read(frame));
        }
        None
    }

    /// `summarize` by the full walk, remembering the layout if it has a key.
    #[inline(never)]
    pub fn walk(&mut self, frame: &[u8]) -> Result<Summary, Error> {
        let layout = layout(frame)?;
        if let Some(key) = layout.key {
            self.key = key;
            self.layout = layout;
        }
        Ok(layout.read(frame))
    }
}

#[inline(always)]
fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

/// Rounds up to a multiple of `align` (a power of two from the table).
fn align_up(offset: usize, align: usize) -> usize {
    let mask = align.saturating_sub(1);
    offset.saturating_add(mask) & !mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(header: &[u8]) -> Vec<Result<Field<'_>, Error>> {
        Header::new_checked(header).unwrap().fields().collect()
    }

    /// Three present words: radiotap namespace, a vendor namespace, then the
    /// radiotap namespace again with a per-chain antenna signal.
    #[rustfmt::skip]
    const VENDOR_THEN_PER_CHAIN: [u8; 31] = [
        0x00, 0x00, // version 0, pad
        0x1f, 0x00, // it_len 31
        0x22, 0x08, 0x00, 0xc0, // word 0, radiotap: Flags(1), dBm signal(5), antenna(11), vendor next(30), ext(31)
        0x01, 0x00, 0x00, 0xa0, // word 1, vendor: its bit 0, radiotap next(29), ext(31)
        0x20, 0x08, 0x00, 0x00, // word 2, radiotap again: dBm signal(5), antenna(11)
        0x10, // 16 Flags: FCS at end
        0xc4, // 17 dBm antenna signal: -60, the combined value
        0x03, // 18 antenna 3
        0x00, // 19 pad: the vendor header is 2-aligned
        0x00, 0x11, 0x22, // 20 OUI 00:11:22
        0x07, // 23 sub-namespace 7
        0x03, 0x00, // 24 skip length 3 (little-endian)
        0xaa, 0xbb, 0xcc, // 26 vendor data, skipped whole
        0xba, // 29 dBm antenna signal: -70, chain 0
        0x00, // 30 antenna 0
    ];

    #[test]
    fn a_per_chain_signal_after_a_vendor_namespace_does_not_replace_the_first() {
        let summary = summarize(&VENDOR_THEN_PER_CHAIN).unwrap();
        assert_eq!(
            summary,
            Summary {
                header_len: 31,
                flags: Some(0x10),
                antenna_signal_dbm: Some(-60)
            }
        );
        let fields = walk(&VENDOR_THEN_PER_CHAIN);
        assert_eq!(
            fields,
            vec![
                Ok(Field::Radiotap {
                    namespace: 0,
                    index: 1,
                    data: &[0x10][..]
                }),
                Ok(Field::Radiotap {
                    namespace: 0,
                    index: 5,
                    data: &[0xc4][..]
                }),
                Ok(Field::Radiotap {
                    namespace: 0,
                    index: 11,
                    data: &[0x03][..]
                }),
                Ok(Field::Vendor {
                    oui: [0x00, 0x11, 0x22],
                    sub_namespace: 7,
                    data: &[0xaa, 0xbb, 0xcc][..]
                }),
                Ok(Field::Radiotap {
                    namespace: 1,
                    index: 5,
                    data: &[0xba][..]
                }),
                Ok(Field::Radiotap {
                    namespace: 1,
                    index: 11,
                    data: &[0x00][..]
                }),
            ]
        );
    }

    /// A TSFT in a second radiotap namespace, after 1-byte fields ending at
    /// offset 17: counted from the header start, 8-alignment puts it at 24;
    /// counted from the fields (at 12) it would be at 20, and 4-alignment too.
    #[rustfmt::skip]
    const TSFT_AFTER_ONE_BYTE: [u8; 32] = [
        0x00, 0x00, // version 0, pad
        0x20, 0x00, // it_len 32
        0x66, 0x08, 0x00, 0xa0, // word 0: Flags(1), Rate(2), dBm signal(5), dBm noise(6), antenna(11), radiotap next(29), ext(31)
        0x01, 0x00, 0x00, 0x00, // word 1: TSFT(0)
        0x00, // 12 Flags: none
        0x0c, // 13 Rate: 6 Mb/s
        0xc4, // 14 dBm signal -60
        0xa1, // 15 dBm noise -95
        0x01, // 16 antenna 1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 17 pad up to 24
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // 24 TSFT, little-endian
    ];

    #[test]
    fn a_u64_aligns_to_eight_from_the_start_of_the_header() {
        let fields = walk(&TSFT_AFTER_ONE_BYTE);
        assert_eq!(fields.len(), 6);
        let Some(Ok(Field::Radiotap {
            namespace: 1,
            index: index::TSFT,
            data,
        })) = fields.last()
        else {
            panic!("no TSFT in {fields:?}");
        };
        assert_eq!(
            u64::from_le_bytes((*data).try_into().unwrap()),
            0x8877_6655_4433_2211
        );
    }

    #[test]
    fn an_unknown_field_ends_the_walk_without_error() {
        #[rustfmt::skip]
        let header = [
            0x00, 0x00, 0x11, 0x00, // version 0, pad, it_len 17
            0x20, 0x00, 0x00, 0xb0, // word 0: dBm signal(5), TLV(28, size unknown), radiotap next(29), ext(31)
            0x20, 0x00, 0x00, 0x00, // word 1: dBm signal(5): not locatable behind the TLVs
            0xc4, // 12 dBm signal -60
            0x01, 0x02, 0x03, 0x04, // 13 TLV bytes of unknown extent
        ];
        assert_eq!(
            walk(&header),
            vec![Ok(Field::Radiotap {
                namespace: 0,
                index: 5,
                data: &[0xc4][..]
            })]
        );
        assert_eq!(summarize(&header).unwrap().antenna_signal_dbm, Some(-60));

        // Bit 0 of a second word of the same namespace is field 32: unknown.
        #[rustfmt::skip]
        let header = [
            0x00, 0x00, 0x0e, 0x00, // version 0, pad, it_len 14
            0x02, 0x00, 0x00, 0x80, // word 0: Flags(1), ext(31)
            0x21, 0x00, 0x00, 0x00, // word 1: field 32 (unknown), field 37
            0x10, 0xc4, // 12 Flags, then bytes that cannot be placed
        ];
        assert_eq!(
            walk(&header),
            vec![Ok(Field::Radiotap {
                namespace: 0,
                index: 1,
                data: &[0x10][..]
            })]
        );
    }

    #[test]
    fn the_fixed_header_and_present_words_are_checked() {
        assert_eq!(
            Header::new_checked(&[0, 0, 8, 0, 0, 0, 0]).unwrap_err(),
            Error::Truncated { len: 7 }
        );
        assert_eq!(
            Header::new_checked(&[1, 0, 8, 0, 0, 0, 0, 0]).unwrap_err(),
            Error::BadVersion(1)
        );
        // it_len 7: shorter than the fixed header itself.
        assert_eq!(
            Header::new_checked(&[0, 0, 7, 0, 0, 0, 0, 0]).unwrap_err(),
            Error::BadLength {
                it_len: 7,
                frame_len: 8
            }
        );
        // it_len 9 with 8 bytes captured.
        assert_eq!(
            Header::new_checked(&[0, 0, 9, 0, 0, 0, 0, 0]).unwrap_err(),
            Error::BadLength {
                it_len: 9,
                frame_len: 8
            }
        );
        // Bit 31 announces a word, but it_len ends at 8 even though bytes follow.
        assert_eq!(
            Header::new_checked(&[0, 0, 8, 0, 0, 0, 0, 0x80, 0, 0, 0, 0]).unwrap_err(),
            Error::PresentWordsPastHeader { it_len: 8 }
        );
        // The smallest valid header: no fields; the frame starts at 8.
        let empty = summarize(&[0, 0, 8, 0, 0, 0, 0, 0, 0x40, 0x00]).unwrap();
        assert_eq!(
            empty,
            Summary {
                header_len: 8,
                flags: None,
                antenna_signal_dbm: None
            }
        );
    }

    #[test]
    fn a_field_past_it_len_is_an_error_after_the_good_fields() {
        #[rustfmt::skip]
        let header = [
            0x00, 0x00, 0x0e, 0x00, // version 0, pad, it_len 14
            0x06, 0x00, 0x00, 0x00, // word 0: Flags(1), Rate(2)
            0x10, 0x02, // 8 Flags, 9 Rate 1 Mb/s
            0x00, 0x00, 0x00, 0x00, // 10 trailing bytes inside it_len: allowed
        ];
        assert_eq!(walk(&header).len(), 2);
        #[rustfmt::skip]
        let header = [
            0x00, 0x00, 0x0c, 0x00, // version 0, pad, it_len 12
            0x0a, 0x00, 0x00, 0x00, // word 0: Flags(1), Channel(3, 4 bytes 2-aligned)
            0x10, // 8 Flags
            0x00, // 9 pad
            0x6c, 0x09, // 10 frequency 2412; the channel flags would be at 12, past it_len
            0x00, 0x00, // 12 beyond it_len: frame body
        ];
        assert_eq!(
            walk(&header),
            vec![
                Ok(Field::Radiotap {
                    namespace: 0,
                    index: 1,
                    data: &[0x10][..]
                }),
                Err(Error::FieldPastHeader { index: 3 })
            ]
        );
        assert_eq!(summarize(&header), Err(Error::FieldPastHeader { index: 3 }));
    }

    #[test]
    fn a_vendor_skip_length_past_it_len_is_an_error_after_the_good_fields() {
        #[rustfmt::skip]
        let header = [
            0x00, 0x00, 0x14, 0x00, // version 0, pad, it_len 20
            0x22, 0x00, 0x00, 0xc0, // word 0: Flags(1), dBm signal(5), vendor next(30), ext(31)
            0x00, 0x00, 0x00, 0x00, // word 1, vendor: no bits
            0x10, 0xc4, // 12 Flags, dBm signal -60
            0x00, 0x11, 0x22, 0x00, // 14 OUI 00:11:22, sub-namespace 0
            0x64, 0x00, // 18 skip length 100: past it_len
        ];
        let fields = walk(&header);
        assert_eq!(fields.len(), 3);
        assert_eq!(
            fields[1],
            Ok(Field::Radiotap {
                namespace: 0,
                index: 5,
                data: &[0xc4][..]
            })
        );
        assert_eq!(
            fields[2],
            Err(Error::VendorDataPastHeader {
                oui: [0x00, 0x11, 0x22],
                sub_namespace: 0,
                skip_length: 100
            })
        );
    }

    #[test]
    fn both_namespace_bits_in_one_word_are_rejected() {
        #[rustfmt::skip]
        let header = [
            0x00, 0x00, 0x0c, 0x00, // version 0, pad, it_len 12
            0x00, 0x00, 0x00, 0xe0, // word 0: radiotap next(29) and vendor next(30), ext(31)
            0x00, 0x00, 0x00, 0x00, // word 1
        ];
        assert_eq!(walk(&header), vec![Err(Error::AmbiguousNamespace)]);
    }

    #[test]
    fn every_prefix_of_every_fixture_is_handled_without_panic() {
        let fixtures: [&[u8]; 2] = [&VENDOR_THEN_PER_CHAIN, &TSFT_AFTER_ONE_BYTE];
        for fixture in fixtures {
            for len in 0..fixture.len() {
                let prefix = &fixture[..len];
                // it_len covers the whole fixture, so every strict prefix is short.
                assert!(summarize(prefix).is_err(), "prefix of {len} bytes accepted");
                // With it_len rewritten to the prefix, the walk must end cleanly.
                let mut shortened = prefix.to_vec();
                if let Some(len_bytes) = shortened.get_mut(2..4) {
                    len_bytes.copy_from_slice(&(len as u16).to_le_bytes());
                }
                if let Ok(header) = Header::new_checked(&shortened) {
                    let fields: Vec<_> = header.fields().collect();
                    assert!(fields.iter().filter(|f| f.is_err()).count() <= 1);
                    assert!(fields
                        .iter()
                        .take(fields.len().saturating_sub(1))
                        .all(|f| f.is_ok()));
                }
            }
        }
    }
}
