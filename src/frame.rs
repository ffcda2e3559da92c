//! From one captured frame (radiotap header + 802.11 frame) to a probe
//! observation, or the reason it was dropped.

use crate::mac::MacAddr;

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
}

impl DropReason {
    pub const ALL: [DropReason; 6] = [
        DropReason::BadRadiotap,
        DropReason::BadFcs,
        DropReason::TooShort,
        DropReason::NotProbeRequest,
        DropReason::GroupSource,
        DropReason::NoSignal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::BadRadiotap => "bad_radiotap",
            DropReason::BadFcs => "bad_fcs",
            DropReason::TooShort => "too_short",
            DropReason::NotProbeRequest => "not_probe_request",
            DropReason::GroupSource => "group_source",
            DropReason::NoSignal => "no_signal",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A probe request that counts: who sent it and how loud it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub client: MacAddr,
    pub signal_dbm: i8,
}

/// Classifies one frame as captured with link type 127. Never panics.
pub fn classify(_frame: &[u8]) -> Result<Probe, DropReason> {
    Err(DropReason::BadRadiotap) // replaced by the radiotap/dot11 work
}
