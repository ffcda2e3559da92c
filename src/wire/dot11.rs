//! A zero-copy view over the 24-byte header of an 802.11 management frame.
//!
//! Contract: [`Frame::new_checked`] checks once that the buffer holds the
//! whole header; every accessor after it reads a fixed range inside those 24
//! bytes and cannot panic. [`FrameControl`] needs only the first two bytes, so
//! that a frame too short for the management header (an ACK, a CTS) can still
//! be told apart from a truncated probe request.
//!
//! We do not use the `ieee80211` crate: for three fixed fields it brings in
//! about twenty crates (scroll, num, proc macros) and asks for a newer Rust
//! than ours, and its FCS-stripping constructors panic on inputs shorter than
//! 4 bytes and recompute the CRC, which presenced must not do.

use crate::wire::mac::MacAddr;

mod field {
    use std::ops::Range;

    pub const FRAME_CONTROL: Range<usize> = 0..2;
    // Duration/ID at 2..4 is not read.
    pub const ADDR1: Range<usize> = 4..10;
    pub const ADDR2: Range<usize> = 10..16;
    pub const ADDR3: Range<usize> = 16..22;
    // Sequence control at 22..24 is not read.
    pub const HEADER_LEN: usize = 24;
}

/// Length of the management frame header (without the optional HT control).
pub const MANAGEMENT_HEADER_LEN: usize = field::HEADER_LEN;

pub const TYPE_MANAGEMENT: u8 = 0;
pub const SUBTYPE_PROBE_REQUEST: u8 = 4;

/// The frame control field, decoded from its two little-endian bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameControl(u16);

impl FrameControl {
    /// Reads the first two bytes of a frame; `None` if there are not two.
    #[inline(always)]
    pub fn of(frame: &[u8]) -> Option<FrameControl> {
        match frame.get(field::FRAME_CONTROL) {
            Some(&[b0, b1]) => Some(FrameControl(u16::from_le_bytes([b0, b1]))),
            _ => None,
        }
    }

    /// 0 for every frame defined by 802.11-2020; 1 is the PV1 format of
    /// 802.11ah, whose layout differs from the one read here.
    #[inline(always)]
    pub fn protocol_version(self) -> u8 {
        (self.0 & 0b11) as u8
    }

    /// 0 management, 1 control, 2 data, 3 extension.
    #[inline(always)]
    pub fn frame_type(self) -> u8 {
        ((self.0 >> 2) & 0b11) as u8
    }

    #[inline(always)]
    pub fn subtype(self) -> u8 {
        ((self.0 >> 4) & 0b1111) as u8
    }

    #[inline(always)]
    pub fn is_probe_request(self) -> bool {
        self.protocol_version() == 0
            && self.frame_type() == TYPE_MANAGEMENT
            && self.subtype() == SUBTYPE_PROBE_REQUEST
    }
}

/// The buffer is shorter than the 24-byte management header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooShort {
    pub len: usize,
}

/// A management frame whose 24-byte header is known to be present.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    buffer: &'a [u8],
    /// The first HEADER_LEN bytes of `buffer`, as an array: the accessors
    /// index it with constants, so they need no check of their own.
    header: &'a [u8; field::HEADER_LEN],
}

impl<'a> Frame<'a> {
    #[inline(always)]
    pub fn new_checked(buffer: &'a [u8]) -> Result<Frame<'a>, TooShort> {
        match buffer.first_chunk() {
            Some(header) => Ok(Frame { buffer, header }),
            None => Err(TooShort { len: buffer.len() }),
        }
    }

    pub fn frame_control(&self) -> FrameControl {
        let [b0, b1] = self.bytes::<2>(field::FRAME_CONTROL.start);
        FrameControl(u16::from_le_bytes([b0, b1]))
    }

    /// Receiver address (the DA of a management frame).
    pub fn addr1(&self) -> MacAddr {
        MacAddr(self.bytes(field::ADDR1.start))
    }

    /// Transmitter address (the SA of a management frame): the client of a
    /// probe request.
    #[inline(always)]
    pub fn addr2(&self) -> MacAddr {
        MacAddr(self.bytes(field::ADDR2.start))
    }

    /// BSSID of a management frame.
    pub fn addr3(&self) -> MacAddr {
        MacAddr(self.bytes(field::ADDR3.start))
    }

    /// The whole buffer, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buffer
    }

    /// `N` bytes at `at`. The constant ranges of `field` all end within
    /// HEADER_LEN, the array's length: with `at` a constant the check folds
    /// away, and the zero fallback only keeps this free of a panicking path.
    #[inline(always)]
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        self.header
            .get(at..at + N)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; N])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe request header as a phone sends it.
    #[rustfmt::skip]
    const PROBE_REQUEST: [u8; 24] = [
        0x40, 0x00, // frame control: version 0, type 0 (management), subtype 4; no flags
        0x00, 0x00, // duration
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // addr1: broadcast DA
        0x02, 0x9a, 0xcd, 0xe3, 0x15, 0x49, // addr2: SA, locally administered, individual
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // addr3: wildcard BSSID
        0x10, 0x00, // sequence control: sequence number 1, fragment 0
    ];

    #[test]
    fn reads_the_fields_of_a_probe_request() {
        let frame = Frame::new_checked(&PROBE_REQUEST).unwrap();
        let fc = frame.frame_control();
        assert_eq!(
            (fc.protocol_version(), fc.frame_type(), fc.subtype()),
            (0, 0, 4)
        );
        assert!(fc.is_probe_request());
        assert_eq!(frame.addr1().to_string(), "ff:ff:ff:ff:ff:ff");
        assert_eq!(frame.addr2().to_string(), "02:9a:cd:e3:15:49");
        assert_eq!(frame.addr3().to_string(), "ff:ff:ff:ff:ff:ff");
    }

    #[test]
    fn frame_control_bits_are_little_endian_and_split_as_the_standard_says() {
        // 0x88 0x41: QoS data (type 2, subtype 8), flags To DS + Protected.
        let fc = FrameControl::of(&[0x88, 0x41]).unwrap();
        assert_eq!(
            (fc.protocol_version(), fc.frame_type(), fc.subtype()),
            (0, 2, 8)
        );
        // 0xd4: ACK (type 1, subtype 13).
        let fc = FrameControl::of(&[0xd4, 0x00]).unwrap();
        assert_eq!((fc.frame_type(), fc.subtype()), (1, 13));
        // 0x41: a probe request's bits but protocol version 1.
        let fc = FrameControl::of(&[0x41, 0x00]).unwrap();
        assert_eq!(fc.protocol_version(), 1);
        assert!(!fc.is_probe_request());
        assert_eq!(FrameControl::of(&[0x40]), None);
    }

    #[test]
    fn every_prefix_shorter_than_the_header_is_rejected() {
        for len in 0..24 {
            assert_eq!(
                Frame::new_checked(&PROBE_REQUEST[..len]).unwrap_err(),
                TooShort { len }
            );
        }
    }
}
