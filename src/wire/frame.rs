//! From one captured frame (radiotap header + 802.11 frame) to a probe
//! observation, or the reason it was dropped.
//!
//! The checks run in this order, and the first that fails names the drop:
//!
//! 1. radiotap header malformed: `bad_radiotap` (nothing after it can be located);
//! 2. Flags say bad FCS: `bad_fcs`, before anything is read from the 802.11
//!    frame, because a corrupt frame's type bits are as untrustworthy as its
//!    addresses; then, if Flags say the frame carries an FCS, its last 4 bytes
//!    are cut off (a frame shorter than those 4 bytes is `too_short`);
//! 3. frame control (2 bytes) missing: `too_short`;
//! 4. protocol version not 0, or not management/probe request:
//!    `not_probe_request`. This comes before the 24-byte length check so that
//!    ACKs and CTSs (10 bytes) count as what they are, not as truncated
//!    frames, and before the signal check so that a beacon without a signal
//!    field is a non-probe rather than a probe without signal. A non-zero
//!    version is 802.11ah's PV1 or garbage: either way no probe request of the
//!    format we read, so it needs no reason of its own;
//! 5. shorter than the 24-byte management header: `too_short`;
//! 6. SA with the I/G bit set: `group_source`;
//! 7. no dBm antenna signal: `no_signal`.

use crate::wire::dot11;
use crate::wire::mac::MacAddr;
use crate::wire::radiotap::{self, FLAG_BAD_FCS, FLAG_FCS_AT_END};

/// Why a captured frame did not become a row update. Every drop is counted by
/// reason and the counts go into each report's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The radiotap header is malformed (bad version, length past the frame, ...).
    BadRadiotap,
    /// Radiotap Flags say the FCS check failed (0x40): the addresses may be corrupt.
    BadFcs,
    /// Too short to hold the 24-byte management header.
    TooShort,
    /// Not a management frame of subtype 4.
    NotProbeRequest,
    /// Source address has the I/G bit set: no client transmits from it.
    GroupSource,
    /// No dBm antenna signal field in the radiotap header.
    NoSignal,
    /// `--randomized-macs drop`: the client address is locally administered
    /// (0x02 of the first octet), as phones' randomized addresses are.
    /// Decided by the table's `Admission`, never by `classify`.
    Randomized,
    /// `--min-signal`: weaker than the floor. Decided by the table's
    /// `Admission`, never by `classify`.
    WeakSignal,
}

impl DropReason {
    pub const ALL: [DropReason; 8] = [
        DropReason::BadRadiotap,
        DropReason::BadFcs,
        DropReason::TooShort,
        DropReason::NotProbeRequest,
        DropReason::GroupSource,
        DropReason::NoSignal,
        DropReason::Randomized,
        DropReason::WeakSignal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::BadRadiotap => "bad_radiotap",
            DropReason::BadFcs => "bad_fcs",
            DropReason::TooShort => "too_short",
            DropReason::NotProbeRequest => "not_probe_request",
            DropReason::GroupSource => "group_source",
            DropReason::NoSignal => "no_signal",
            DropReason::Randomized => "randomized",
            DropReason::WeakSignal => "weak_signal",
        }
    }

    #[inline(always)]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A probe request that counts: who sent it and how loud it was.
///
/// Aligned to 8 so that `Result<Probe, DropReason>` is two words: the
/// probe travels from `classify` to `Table::record` as one register, not
/// shifted into a word beside the `Result`'s tag and out again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(align(8))]
pub struct Probe {
    pub client: MacAddr,
    pub signal_dbm: i8,
}

const FCS_LEN: usize = 4;

/// Classifies one frame as captured with link type 127 (radiotap + 802.11),
/// in the order given in the module doc. Never panics.
pub fn classify(frame: &[u8]) -> Result<Probe, DropReason> {
    match radiotap::summarize(frame) {
        Ok(summary) => classify_body(frame, summary),
        Err(_) => Err(DropReason::BadRadiotap),
    }
}

/// `classify` for the frames of one capture: the same answers, with the
/// radiotap walk done once per layout (see `radiotap::LayoutCache`).
#[derive(Clone, Debug, Default)]
pub struct Classifier {
    layouts: radiotap::LayoutCache,
}

impl Classifier {
    /// Inlined into the capture loops: at opt-level "z" a call here and in
    /// each layer below cost more than the checks themselves.
    #[inline(always)]
    pub fn classify(&mut self, frame: &[u8]) -> Result<Probe, DropReason> {
        // Two copies of the 802.11 checks, so that a hit's summary stays in
        // registers instead of meeting the walk's in memory.
        match self.layouts.remembered(frame) {
            Some(summary) => classify_body(frame, summary),
            None => self.classify_walked(frame),
        }
    }

    #[inline(never)]
    fn classify_walked(&mut self, frame: &[u8]) -> Result<Probe, DropReason> {
        match self.layouts.walk(frame) {
            Ok(summary) => classify_body(frame, summary),
            Err(_) => Err(DropReason::BadRadiotap),
        }
    }
}

/// Steps 2 to 7 of the module doc. `summary.header_len` is at most the
/// frame's length (radiotap checked it).
#[inline(always)]
fn classify_body(frame: &[u8], summary: radiotap::Summary) -> Result<Probe, DropReason> {
    let flags = summary.flags.unwrap_or(0);
    if flags & FLAG_BAD_FCS != 0 {
        return Err(DropReason::BadFcs);
    }
    let fcs_len = if flags & FLAG_FCS_AT_END != 0 { FCS_LEN } else { 0 };
    // One length check for the FCS and the frame control: a frame shorter
    // than the FCS is as short as one with no frame control after it.
    let body = match frame.get(summary.header_len..) {
        Some(after) if after.len() >= fcs_len + 2 => after.get(..after.len() - fcs_len).unwrap_or_default(),
        _ => return Err(DropReason::TooShort),
    };
    let frame_control = dot11::FrameControl::of(body).ok_or(DropReason::TooShort)?;
    if !frame_control.is_probe_request() {
        return Err(DropReason::NotProbeRequest);
    }
    let header = dot11::Frame::new_checked(body).map_err(|_| DropReason::TooShort)?;
    let client = header.addr2();
    if client.is_group() {
        return Err(DropReason::GroupSource);
    }
    let signal_dbm = summary.antenna_signal_dbm.ok_or(DropReason::NoSignal)?;
    Ok(Probe { client, signal_dbm })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RADIOTAP_LEN: usize = 10;
    const FLAGS_AT: usize = 8;

    /// Radiotap with Flags and a signal, a probe request header, and an FCS.
    #[rustfmt::skip]
    const PROBE_WITH_FCS: [u8; 38] = [
        0x00, 0x00, // radiotap version 0, pad
        0x0a, 0x00, // it_len 10
        0x22, 0x00, 0x00, 0x00, // present: Flags(1), dBm antenna signal(5)
        0x10, // Flags: frame ends with an FCS
        0xc9, // dBm antenna signal: -55
        0x40, 0x00, // 802.11 frame control: management, probe request
        0x00, 0x00, // duration
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // addr1: broadcast
        0x00, 0x9a, 0xcd, 0xe3, 0x15, 0x49, // addr2 (SA): the client
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // addr3: wildcard BSSID
        0x30, 0x00, // sequence control
        0xde, 0xad, 0xbe, 0xef, // FCS: not checked, only cut off
    ];

    fn with(mut frame: Vec<u8>, at: usize, value: u8) -> Vec<u8> {
        frame[at] = value;
        frame
    }

    #[test]
    fn a_probe_request_gives_its_sa_and_signal() {
        assert_eq!(
            classify(&PROBE_WITH_FCS),
            Ok(Probe {
                client: "00:9a:cd:e3:15:49".parse().unwrap(),
                signal_dbm: -55
            })
        );
    }

    #[test]
    fn the_fcs_is_not_counted_as_header_bytes() {
        // 27 bytes after radiotap: 24 of header plus 3. With the FCS flag, only 23 are header.
        let short = &PROBE_WITH_FCS[..PROBE_WITH_FCS.len() - 1];
        assert_eq!(classify(short), Err(DropReason::TooShort));
        // The same bytes without the FCS flag hold a whole header.
        let no_fcs = with(short.to_vec(), FLAGS_AT, 0x00);
        assert!(classify(&no_fcs).is_ok());
        // A frame shorter than the FCS itself.
        let tiny = with(PROBE_WITH_FCS[..RADIOTAP_LEN + 3].to_vec(), FLAGS_AT, 0x10);
        assert_eq!(classify(&tiny), Err(DropReason::TooShort));
    }

    #[test]
    fn bad_fcs_is_dropped_before_anything_is_read_from_the_frame() {
        // 0x50: FCS present and failed.
        assert_eq!(
            classify(&with(PROBE_WITH_FCS.to_vec(), FLAGS_AT, 0x50)),
            Err(DropReason::BadFcs)
        );
        // Even a "frame" too short to have a type.
        let mut short = with(PROBE_WITH_FCS.to_vec(), FLAGS_AT, 0x40);
        short.truncate(RADIOTAP_LEN + 1);
        assert_eq!(classify(&short), Err(DropReason::BadFcs));
    }

    #[test]
    fn a_group_source_is_not_a_client() {
        // addr2 01:9a:...: the I/G bit of the first octet is set.
        let group = with(PROBE_WITH_FCS.to_vec(), RADIOTAP_LEN + 10, 0x01);
        assert_eq!(classify(&group), Err(DropReason::GroupSource));
    }

    #[test]
    fn a_probe_request_without_signal_is_no_signal_and_other_frames_are_not_probes() {
        #[rustfmt::skip]
        let no_signal = [
            0x00, 0x00, 0x09, 0x00, // radiotap version 0, pad, it_len 9
            0x02, 0x00, 0x00, 0x00, // present: Flags(1) only
            0x00, // Flags: none
            0x40, 0x00, 0x00, 0x00, // probe request, duration
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // addr1
            0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // addr2
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // addr3
            0x00, 0x00, // sequence control
        ];
        assert_eq!(classify(&no_signal), Err(DropReason::NoSignal));
        // The same frame as a beacon (subtype 8): not a probe, whatever its signal.
        assert_eq!(
            classify(&with(no_signal.to_vec(), 9, 0x80)),
            Err(DropReason::NotProbeRequest)
        );
        // Protocol version 1 with probe request bits.
        assert_eq!(
            classify(&with(no_signal.to_vec(), 9, 0x41)),
            Err(DropReason::NotProbeRequest)
        );
        // An ACK with no signal: 10 bytes, short for a management header but
        // counted as what it is.
        #[rustfmt::skip]
        let ack = [
            0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // radiotap: no fields
            0xd4, 0x00, 0x00, 0x00, // ACK, duration
            0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // receiver address
        ];
        assert_eq!(classify(&ack), Err(DropReason::NotProbeRequest));
    }

    #[test]
    fn a_malformed_radiotap_header_is_bad_radiotap() {
        assert_eq!(
            classify(&with(PROBE_WITH_FCS.to_vec(), 0, 1)),
            Err(DropReason::BadRadiotap)
        );
        assert_eq!(
            classify(&with(PROBE_WITH_FCS.to_vec(), 2, 200)),
            Err(DropReason::BadRadiotap)
        );
    }

    #[test]
    fn every_truncation_of_a_probe_request_is_dropped_with_a_fitting_reason() {
        for len in 0..PROBE_WITH_FCS.len() {
            let expected = if len < RADIOTAP_LEN {
                DropReason::BadRadiotap
            } else {
                DropReason::TooShort
            };
            assert_eq!(
                classify(&PROBE_WITH_FCS[..len]),
                Err(expected),
                "{len} bytes"
            );
        }
    }
}
