//! Radiotap + 802.11 frames built byte by byte for the live and replay tests.
//!
//! Every frame starts with the same 15-byte radiotap header (Flags, Channel,
//! dBm antenna signal: the fields a monitor-mode card typically reports and
//! the ones presenced reads), then a 24-byte 802.11 management header, then
//! the body. The expected values a test asserts are the arguments given
//! here; `tests/tap_rig.rs` checks with tshark that the bytes say so.

use presenced::wire::mac::MacAddr;

/// Length of the radiotap header of every frame built here.
pub const RADIOTAP_LEN: usize = 15;
/// Length of the 802.11 management header.
pub const DOT11_HEADER_LEN: usize = 24;

/// Radiotap Flags bits (radiotap.org, "Flags").
pub const FLAG_FCS_AT_END: u8 = 0x10;
pub const FLAG_BAD_FCS: u8 = 0x40;

/// A multicast address (I/G bit set): a probe "from" it must be dropped.
pub const GROUP_SA: MacAddr = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);

const BROADCAST: [u8; 6] = [0xff; 6];

/// A probe request from `sa` at `dbm`, no FCS. `seq` goes into the 12-bit
/// sequence number, so only its low 12 bits count.
pub fn probe_request(sa: MacAddr, dbm: i8, seq: u16) -> Vec<u8> {
    build(0, dbm, &probe_request_mpdu(sa, seq), Fcs::Absent)
}

/// As [`probe_request`], with Flags saying an FCS follows and a correct one at the end.
pub fn probe_request_with_fcs(sa: MacAddr, dbm: i8, seq: u16) -> Vec<u8> {
    build(
        FLAG_FCS_AT_END,
        dbm,
        &probe_request_mpdu(sa, seq),
        Fcs::Good,
    )
}

/// As [`probe_request_with_fcs`], but Flags says the FCS check failed, and the
/// FCS is indeed wrong (the correct value inverted).
pub fn probe_request_bad_fcs(sa: MacAddr, dbm: i8, seq: u16) -> Vec<u8> {
    build(
        FLAG_FCS_AT_END | FLAG_BAD_FCS,
        dbm,
        &probe_request_mpdu(sa, seq),
        Fcs::Bad,
    )
}

/// A probe request whose SA is [`GROUP_SA`].
pub fn probe_request_group_sa(dbm: i8, seq: u16) -> Vec<u8> {
    probe_request(GROUP_SA, dbm, seq)
}

/// A beacon from `bssid`: a management frame that is not a probe request.
#[rustfmt::skip] // One commented field per line.
pub fn beacon(bssid: MacAddr, dbm: i8, seq: u16) -> Vec<u8> {
    let mut mpdu = dot11_header(0x80, BROADCAST, bssid.0, bssid.0, seq);
    mpdu.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, // timestamp (TSF), u64 LE: 0
        0x64, 0x00, // beacon interval: 100 TU, LE
        0x01, 0x00, // capability: ESS
        0x00, 7, // SSID element: ID 0, length 7
    ]);
    mpdu.extend_from_slice(b"pd-test");
    build(0, dbm, &mpdu, Fcs::Absent)
}

/// The 802.11 part of a probe request (header and body, no FCS).
pub fn probe_request_mpdu(sa: MacAddr, seq: u16) -> Vec<u8> {
    // Subtype 4 in bits 7..4 of the first byte, type 0 (management) in bits 3..2.
    let mut mpdu = dot11_header(0x40, BROADCAST, sa.0, BROADCAST, seq);
    // Wildcard SSID element (ID 0, length 0): "any network, answer".
    mpdu.extend_from_slice(&[0x00, 0x00]);
    mpdu
}

#[rustfmt::skip] // One commented field per line.
fn dot11_header(fc0: u8, addr1: [u8; 6], addr2: [u8; 6], addr3: [u8; 6], seq: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(DOT11_HEADER_LEN);
    h.extend_from_slice(&[
        fc0, // frame control byte 0: protocol version 0, type, subtype
        0x00, // frame control byte 1: no ToDS/FromDS, no retry, no protection
        0x00, 0x00, // duration: 0
    ]);
    h.extend_from_slice(&addr1); // addr1: receiver / DA
    h.extend_from_slice(&addr2); // addr2: transmitter / SA, the client presenced counts
    h.extend_from_slice(&addr3); // addr3: BSSID
    // Sequence control, LE: fragment number 0 in bits 3..0, sequence number in 15..4.
    h.extend_from_slice(&((seq & 0x0fff) << 4).to_le_bytes());
    h
}

enum Fcs {
    Absent,
    Good,
    Bad,
}

#[rustfmt::skip] // One commented field per line.
fn build(flags: u8, dbm: i8, mpdu: &[u8], fcs: Fcs) -> Vec<u8> {
    let mut f = Vec::with_capacity(RADIOTAP_LEN + mpdu.len() + 4);
    f.extend_from_slice(&[
        0x00, // [0] it_version: 0
        0x00, // [1] it_pad
        RADIOTAP_LEN as u8, 0x00, // [2..4] it_len, u16 LE: the whole radiotap header
        0x2a, 0x00, 0x00, 0x00, // [4..8] it_present, u32 LE: bits 1 Flags, 3 Channel, 5 dBm antenna signal
        flags, // [8] Flags (u8, alignment 1)
        0x00, // [9] padding: Channel is u16-aligned, counted from the header start
        0x85, 0x09, // [10..12] channel frequency, u16 LE: 2437 MHz (channel 6)
        0xa0, 0x00, // [12..14] channel flags, u16 LE: 0x0080 2 GHz | 0x0020 CCK
        dbm as u8, // [14] dBm antenna signal (s8, alignment 1)
    ]);
    f.extend_from_slice(mpdu);
    let crc = crc32(mpdu);
    match fcs {
        Fcs::Absent => {}
        // The FCS goes on the air least significant byte first.
        Fcs::Good => f.extend_from_slice(&crc.to_le_bytes()),
        Fcs::Bad => f.extend_from_slice(&(!crc).to_le_bytes()),
    }
    f
}

/// CRC-32 as 802.11 computes its FCS (the IEEE 802.3 polynomial, reflected,
/// initial value and final XOR all ones). Bitwise: speed is irrelevant here.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let lsb = crc & 1;
            crc >>= 1;
            if lsb != 0 {
                crc ^= 0xedb8_8320;
            }
        }
    }
    !crc
}
