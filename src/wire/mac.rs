//! 48-bit MAC addresses as the report prints them.
//!
//! The Presence Reporting documents print the access point's own MAC in upper
//! case (`node_mac`) and client MACs in lower case (`mac`); both spellings are
//! produced here so that no other module formats addresses by hand.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub struct MacAddr(pub [u8; 6]);

/// One `u64` write rather than a length prefix and six single bytes. (The
/// table's `MacMap` hashes `to_u64` itself; this is for std's maps.)
impl std::hash::Hash for MacAddr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.to_u64());
    }
}

impl MacAddr {
    /// The six bytes as one number, first byte lowest.
    #[inline(always)]
    pub fn to_u64(&self) -> u64 {
        let b = self.0;
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], 0, 0])
    }

    /// The I/G bit: set for group (multicast and broadcast) addresses, which
    /// no client transmits from.
    #[inline(always)]
    pub fn is_group(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// `ac:86:74:82:9a:30` as ASCII bytes, without allocating.
    pub fn to_lower_bytes(&self) -> [u8; 17] {
        self.spelled(b"0123456789abcdef")
    }

    /// `AC:86:74:82:9A:30` as ASCII bytes, without allocating.
    pub fn to_upper_bytes(&self) -> [u8; 17] {
        self.spelled(b"0123456789ABCDEF")
    }

    fn spelled(&self, digits: &[u8; 16]) -> [u8; 17] {
        let mut out = [b':'; 17];
        for (i, b) in self.0.iter().enumerate() {
            out[3 * i] = digits[(b >> 4) as usize];
            out[3 * i + 1] = digits[(b & 0x0f) as usize];
        }
        out
    }

    /// `AC:86:74:82:9A:30`, the spelling of `node_mac`.
    pub fn to_upper_string(&self) -> String {
        let b = self.0;
        format!(
            "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Lower case, colon separated: the spelling of a client's `mac`.
impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMacError(pub String);

impl fmt::Display for ParseMacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a MAC address (expected six hex pairs like ac:86:74:82:9a:30)",
            self.0
        )
    }
}

impl std::error::Error for ParseMacError {}

/// Accepts `:` or `-` separators, either case; exactly six two-digit groups.
impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseMacError(s.to_string());
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 || !part.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_spellings_are_the_string_spellings() {
        let m = MacAddr([0xac, 0x86, 0x74, 0x82, 0x9a, 0x30]);
        assert_eq!(&m.to_lower_bytes(), b"ac:86:74:82:9a:30");
        assert_eq!(&m.to_upper_bytes(), b"AC:86:74:82:9A:30");
        assert_eq!(m.to_lower_bytes(), m.to_string().as_bytes());
    }

    #[test]
    fn prints_both_spellings_of_the_documented_sample() {
        let node: MacAddr = "ac:86:74:82:9a:30".parse().unwrap();
        assert_eq!(node.to_upper_string(), "AC:86:74:82:9A:30");
        let client: MacAddr = "00-9A-CD-E3-15-49".parse().unwrap();
        assert_eq!(client.to_string(), "00:9a:cd:e3:15:49");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in ["", "ac:86:74:82:9a", "ac:86:74:82:9a:30:11", "ac:86:74:82:9a:3", "ac:86:74:82:9a:3g", "ac86.7482.9a30", "ac:86-74:82:9a:30", "+c:86:74:82:9a:30"] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn group_bit_is_the_low_bit_of_the_first_octet() {
        assert!("ff:ff:ff:ff:ff:ff".parse::<MacAddr>().unwrap().is_group());
        assert!("01:00:5e:00:00:01".parse::<MacAddr>().unwrap().is_group());
        assert!(!"02:00:00:00:00:01".parse::<MacAddr>().unwrap().is_group());
    }
}
