//! A probe request's fingerprint class: what of its information elements
//! stays the same across one device's address rotations.
//!
//! Kept: the order of the elements 802.11 devices send in probe requests,
//! the contents of the capability elements (supported and extended rates,
//! HT, VHT and HE capabilities, extended capabilities, RM enabled
//! capabilities, supported operating classes) and each vendor element's OUI
//! and type. Left out: the SSID (a directed probe names a network, a
//! wildcard one does not), the DS parameter set's channel (one scan walks
//! every channel), the contents of the other elements, and element IDs we
//! do not know: some captures carry bytes after the last element (an FCS
//! the radiotap Flags do not announce) that would parse as one.
//!
//! Pure; reads the frame as `frame::classify` does and never panics.

use crate::wire::dot11::MANAGEMENT_HEADER_LEN;
use crate::wire::radiotap::{self, FLAG_FCS_AT_END};

/// What the estimator reads of one probe request besides its address and
/// signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Details {
    /// A hash of the fingerprint; `NO_ELEMENTS` when there were none to read
    /// (hostapd's notification carries no frame).
    pub class: u64,
    /// The 802.11 sequence number (12 bits), when the frame was read.
    pub seq: Option<u16>,
    /// The frame says (DS Parameter Set) it was sent on a channel more than
    /// `NEAR_CHANNELS` from the one it was captured on: heard through the
    /// receiver's filter, so its signal says little of the distance. A scan
    /// walks every channel, and a phone next to the access point is heard
    /// at -80 dBm on far channels and -25 dBm on near ones.
    pub off_channel: bool,
}

/// Channels this close to the capture channel are heard at full strength.
pub const NEAR_CHANNELS: u8 = 2;

/// FNV-1a's offset basis: the class of a probe request with no elements.
pub const NO_ELEMENTS: u64 = 0xcbf2_9ce4_8422_2325;

impl Details {
    /// For a source that hands over no frame (hostapd over ubus).
    pub const UNKNOWN: Details = Details { class: NO_ELEMENTS, seq: None, off_channel: false };
}

mod element {
    pub const SSID: u8 = 0;
    pub const SUPPORTED_RATES: u8 = 1;
    pub const DS_PARAMETER_SET: u8 = 3;
    pub const REQUEST: u8 = 10;
    pub const HT_CAPABILITIES: u8 = 45;
    pub const EXTENDED_RATES: u8 = 50;
    pub const SUPPORTED_OPERATING_CLASSES: u8 = 59;
    pub const RM_ENABLED_CAPABILITIES: u8 = 70;
    pub const INTERWORKING: u8 = 107;
    pub const MESH_ID: u8 = 114;
    pub const EXTENDED_CAPABILITIES: u8 = 127;
    pub const VHT_CAPABILITIES: u8 = 191;
    pub const VENDOR_SPECIFIC: u8 = 221;
    pub const EXTENSION: u8 = 255;
    /// Element ID extension of HE capabilities.
    pub const EXT_HE_CAPABILITIES: u8 = 35;
}

/// Whether an element counts with its contents, by its ID alone, or not at all.
enum Weight {
    Contents,
    IdOnly,
    Ignored,
}

fn weight(id: u8) -> Weight {
    use element::*;
    match id {
        SUPPORTED_RATES | EXTENDED_RATES | HT_CAPABILITIES | EXTENDED_CAPABILITIES | VHT_CAPABILITIES
        | RM_ENABLED_CAPABILITIES | SUPPORTED_OPERATING_CLASSES => Weight::Contents,
        SSID | DS_PARAMETER_SET | REQUEST | INTERWORKING | MESH_ID => Weight::IdOnly,
        _ => Weight::Ignored,
    }
}

struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The class of a probe request's elements (the bytes after the 24-byte
/// header, FCS removed). Stops at the first element that runs past the end.
pub fn class_of_elements(elements: &[u8]) -> u64 {
    read_elements(elements).0
}

/// The class, and the channel of the DS Parameter Set if there is one.
fn read_elements(mut elements: &[u8]) -> (u64, Option<u8>) {
    let mut hash = Fnv(NO_ELEMENTS);
    let mut ds_channel = None;
    // One bit per element ID below 256 already taken: an ID other than
    // vendor or extension met twice is not a real second element.
    let mut seen = [0u64; 4];
    while let [id, len, rest @ ..] = elements {
        let Some(body) = rest.get(..*len as usize) else { break };
        elements = &rest[*len as usize..];
        match *id {
            element::VENDOR_SPECIFIC => {
                hash.bytes(&[*id]);
                hash.bytes(body.get(..4).unwrap_or(body));
            }
            element::EXTENSION => {
                let Some((ext, contents)) = body.split_first() else { continue };
                hash.bytes(&[*id, *ext]);
                if *ext == element::EXT_HE_CAPABILITIES {
                    hash.bytes(contents);
                }
            }
            id => {
                let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
                if seen[word] & bit != 0 {
                    continue;
                }
                match weight(id) {
                    Weight::Contents => {
                        seen[word] |= bit;
                        hash.bytes(&[id, *len]);
                        hash.bytes(body);
                    }
                    Weight::IdOnly => {
                        seen[word] |= bit;
                        hash.bytes(&[id]);
                        if id == element::DS_PARAMETER_SET {
                            ds_channel = body.first().copied();
                        }
                    }
                    Weight::Ignored => {}
                }
            }
        }
    }
    (hash.0, ds_channel)
}

/// The channel number of a radiotap Channel field's frequency (MHz), for
/// 2.4 GHz and 5 GHz.
fn channel_of_mhz(mhz: u16) -> Option<u8> {
    match mhz {
        2484 => Some(14),
        2412..=2472 => Some(((mhz - 2407) / 5) as u8),
        5000..=5895 => Some(((mhz - 5000) / 5) as u8),
        _ => None,
    }
}

/// What `of_frame` needs of the radiotap header, in one walk: its length,
/// whether the frame ends with an FCS, and the channel it was captured on.
struct Capture {
    header_len: usize,
    fcs_at_end: bool,
    channel: Option<u8>,
}

fn capture_of(frame: &[u8]) -> Option<Capture> {
    let header = radiotap::Header::new_checked(frame).ok()?;
    let mut capture = Capture { header_len: header.len(), fcs_at_end: false, channel: None };
    for field in header.fields().map_while(Result::ok) {
        let radiotap::Field::Radiotap { namespace: 0, index, data } = field else { continue };
        match index {
            radiotap::index::FLAGS => capture.fcs_at_end = data.first().is_some_and(|f| f & FLAG_FCS_AT_END != 0),
            radiotap::index::CHANNEL => {
                capture.channel = data.get(..2).and_then(|mhz| channel_of_mhz(u16::from_le_bytes([mhz[0], mhz[1]])));
                // Flags (1) come before Channel (3): nothing more to read.
                break;
            }
            _ => {}
        }
    }
    Some(capture)
}

/// Reads a captured probe request (radiotap + 802.11) that
/// `frame::classify` accepted. A frame it cannot read gives the class of
/// no elements and no sequence number, never a panic.
pub fn of_frame(frame: &[u8]) -> Details {
    let Some(capture) = capture_of(frame) else { return Details::UNKNOWN };
    let fcs = if capture.fcs_at_end { 4 } else { 0 };
    let Some(body) = frame.get(capture.header_len..) else { return Details::UNKNOWN };
    let Some(body) = body.get(..body.len().saturating_sub(fcs)) else { return Details::UNKNOWN };
    let Some(&[seq_lo, seq_hi]) = body.get(22..MANAGEMENT_HEADER_LEN) else { return Details::UNKNOWN };
    let (class, ds_channel) = read_elements(&body[MANAGEMENT_HEADER_LEN..]);
    let off_channel = match (ds_channel, capture.channel) {
        (Some(sent), Some(heard)) => sent.abs_diff(heard) > NEAR_CHANNELS,
        _ => false,
    };
    Details { class, seq: Some(u16::from_le_bytes([seq_lo, seq_hi]) >> 4), off_channel }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The elements of an iPhone 11 (iOS 16.4.1) probe request on channel 6
    /// as tshark decodes them in probingpatterns-iPhone11-B.pcap (SSID
    /// wildcard), shortened to the parts that matter here.
    #[rustfmt::skip]
    fn iphone(channel: u8, ssid: &[u8]) -> Vec<u8> {
        let mut e = vec![0x00, ssid.len() as u8];
        e.extend_from_slice(ssid);
        e.extend_from_slice(&[
            0x01, 0x04, 0x02, 0x04, 0x0b, 0x16, // supported rates 1, 2, 5.5, 11
            0x32, 0x08, 0x0c, 0x12, 0x18, 0x24, 0x30, 0x48, 0x60, 0x6c, // extended rates
            0x03, 0x01, channel, // DS parameter set
            0x2d, 0x02, 0x2d, 0x40, // HT capabilities (shortened)
            0x7f, 0x03, 0x04, 0x00, 0x40, // extended capabilities (shortened)
            0xff, 0x03, 0x23, 0x01, 0x02, // HE capabilities (shortened)
        ]);
        e
    }

    #[test]
    fn a_rotation_keeps_the_class_whatever_the_ssid_and_channel() {
        let a = class_of_elements(&iphone(6, b""));
        assert_eq!(a, class_of_elements(&iphone(1, b"")));
        assert_eq!(a, class_of_elements(&iphone(11, b"cafe-wifi")));
        assert_ne!(a, NO_ELEMENTS);
    }

    #[test]
    fn capabilities_order_and_vendor_ouis_change_the_class() {
        let base = iphone(6, b"");
        let mut ht = base.clone();
        let at = ht.iter().position(|b| *b == 0x2d).unwrap();
        ht[at + 3] = 0x41; // one HT capability bit
        assert_ne!(class_of_elements(&base), class_of_elements(&ht));

        let mut vendor_a = base.clone();
        vendor_a.extend_from_slice(&[0xdd, 0x05, 0x00, 0x50, 0xf2, 0x08, 0x00]);
        let mut vendor_a_other_data = base.clone();
        vendor_a_other_data.extend_from_slice(&[0xdd, 0x05, 0x00, 0x50, 0xf2, 0x08, 0x12]);
        let mut vendor_b = base.clone();
        vendor_b.extend_from_slice(&[0xdd, 0x05, 0x00, 0x10, 0x18, 0x02, 0x00]);
        assert_eq!(class_of_elements(&vendor_a), class_of_elements(&vendor_a_other_data));
        assert_ne!(class_of_elements(&vendor_a), class_of_elements(&vendor_b));
        assert_ne!(class_of_elements(&vendor_a), class_of_elements(&base));

        // Rates before the SSID: another order, another class.
        let mut swapped = base[2..8].to_vec();
        swapped.extend_from_slice(&base[..2]);
        swapped.extend_from_slice(&base[8..]);
        assert_ne!(class_of_elements(&swapped), class_of_elements(&base));
    }

    #[test]
    fn trailing_bytes_that_look_like_a_repeated_or_unknown_element_are_ignored() {
        // As in probingpatterns-S21Ultra-M.pcap: 4 bytes after the last
        // vendor element parse as "HT capabilities, 2 bytes" or ID 149.
        let base = iphone(6, b"");
        let mut repeated = base.clone();
        repeated.extend_from_slice(&[0x2d, 0x02, 0xd0, 0x96]);
        let mut unknown = base.clone();
        unknown.extend_from_slice(&[0x95, 0x02, 0x5b, 0xd2]);
        let mut cut = base.clone();
        cut.extend_from_slice(&[0x01, 0x09, 0x00]); // runs past the end
        for other in [repeated, unknown, cut] {
            assert_eq!(class_of_elements(&other), class_of_elements(&base));
        }
        assert_eq!(class_of_elements(&[]), NO_ELEMENTS);
        assert_eq!(class_of_elements(&[0xff, 0x00, 0xdd]), NO_ELEMENTS);
    }

    /// Radiotap with Flags (FCS at end), Channel (2457 MHz: channel 10) and a
    /// signal, then a probe request whose DS Parameter Set says `sent_on`.
    #[rustfmt::skip]
    fn heard_on_10(sent_on: u8) -> Vec<u8> {
        let mut frame = vec![
            0x00, 0x00, 0x10, 0x00, // radiotap version 0, it_len 16
            0x2a, 0x00, 0x00, 0x00, // present: Flags(1), Channel(3), dBm antenna signal(5)
            0x10, 0x00, // Flags: FCS at end; pad to 2 for Channel
            0x99, 0x09, 0xa0, 0x00, // Channel: 2457 MHz, 2 GHz + CCK
            0xe5, 0x00, // -27 dBm, pad
            0x40, 0x00, 0x00, 0x00, // probe request, duration
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0x0a, 0xbd, 0x23, 0x1d, 0x2a, 0x66, // the A53 of wiproject-01 at 234.79 s
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0x80, 0xc2, // sequence 3112
        ];
        frame.extend_from_slice(&iphone(sent_on, b""));
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame
    }

    #[test]
    fn a_frame_sent_on_a_far_channel_is_marked_off_channel() {
        // tshark on wiproject-01_SamsungA53_01.pcap: heard on channel 10 at
        // -83 dBm when sent on 2, -27 dBm when sent on 9, 10 or 11.
        for (sent_on, off) in [(2, true), (5, true), (7, true), (8, false), (10, false), (12, false), (13, true)] {
            let d = of_frame(&heard_on_10(sent_on));
            assert_eq!((d.off_channel, d.seq), (off, Some(3112)), "sent on {sent_on}");
        }
        assert_eq!(channel_of_mhz(2412), Some(1));
        assert_eq!(channel_of_mhz(2484), Some(14));
        assert_eq!(channel_of_mhz(5180), Some(36));
        assert_eq!(channel_of_mhz(900), None);
    }

    #[test]
    fn the_sequence_number_and_elements_come_from_the_frame() {
        #[rustfmt::skip]
        let mut frame = vec![
            0x00, 0x00, 0x0a, 0x00, // radiotap version 0, it_len 10
            0x22, 0x00, 0x00, 0x00, // present: Flags, dBm antenna signal
            0x10, // Flags: the frame ends with an FCS
            0xc9, // -55 dBm
            0x40, 0x00, 0x00, 0x00, // probe request, duration
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // addr1
            0x02, 0x9a, 0xcd, 0xe3, 0x15, 0x49, // addr2
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // addr3
            0x50, 0x3e, // sequence control: fragment 0, sequence 0x3e5 = 997
        ];
        let elements = iphone(6, b"");
        frame.extend_from_slice(&elements);
        frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // FCS
        let class = class_of_elements(&elements);
        assert_eq!(of_frame(&frame), Details { class, seq: Some(997), off_channel: false });
        assert_eq!(of_frame(&frame[..20]), Details::UNKNOWN);
        assert_eq!(of_frame(&[]), Details::UNKNOWN);
    }
}
