//! The Presence Reporting API document and its signature, defined once for
//! the access point (presenced) and the servers that receive it.
//!
//! The body is the compact JSON of the CloudTrax / Datto / EnGenius documents,
//! keys in their order; `Signature` is the lower-case hex HMAC-SHA256 of the
//! exact body bytes, keyed with the shared Key.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub mod key_file;
pub use key_file::{read_key_file, KeyFile, KEY_ENV, MAX_KEY_FILE_BYTES};

/// Field order is the order the documents print, and serde keeps it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub network_id: u64,
    pub node_mac: String,
    pub version: u32,
    pub probe_requests: Vec<ProbeRow>,
}

/// One client's row. `Mac` is the MAC's text: owned in a parsed `Report`,
/// borrowed (`Row`) when a sender streams rows into `write_body`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProbeRow<Mac = String> {
    pub mac: Mac,
    pub count: u32,
    pub min_signal: i32,
    pub max_signal: i32,
    pub avg_signal: i32,
    pub last_seen_signal: i32,
    pub first_seen: i64,
    pub last_seen: i64,
    pub associated: bool,
    /// Not in the vendors' documents: `true` when the row is a device that
    /// presenced estimated from randomized addresses (`--randomized-macs
    /// merge`); its `mac` is then a pseudonym of that estimate, not an
    /// address any device sent. Written only when true, so every other row
    /// keeps the documented bytes; absent reads as false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub estimated_device: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The key of `ProbeRow::estimated_device` in the body.
pub const ESTIMATED_DEVICE_KEY: &str = "estimated_device";

impl<Mac> ProbeRow<Mac> {
    /// Whether a receiver must count this row as an estimated device (a
    /// number of phones that randomize their address) rather than as one
    /// client address.
    pub fn is_estimated_device(&self) -> bool {
        self.estimated_device
    }
}

pub const VERSION: u32 = 1;

/// What a report's rows count: client addresses, and devices estimated
/// from randomized addresses (`ProbeRow::estimated_device`). A receiver
/// shows and adds up the two apart: an estimate is a number of phones, an
/// address row may be one phone's passing address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub addresses: usize,
    pub estimated_devices: usize,
}

impl Report {
    pub fn row_counts(&self) -> RowCounts {
        let estimated_devices = self.probe_requests.iter().filter(|r| r.is_estimated_device()).count();
        RowCounts { addresses: self.probe_requests.len() - estimated_devices, estimated_devices }
    }

    /// The body exactly as sent: compact JSON, no trailing newline.
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = write_body(&mut body, self.network_id, &self.node_mac, self);
        body
    }
}

impl Rows for Report {
    fn each_row(&self, f: &mut dyn FnMut(Row<'_>) -> std::io::Result<()>) -> std::io::Result<()> {
        self.probe_requests.iter().try_for_each(|r| f(r.borrowed()))
    }
}

/// Where `write_body` takes its rows from: anything that can hand them over
/// one at a time, each borrowed only for its own call (a sender may format a
/// row's MAC into a buffer on its stack).
pub trait Rows {
    fn each_row(&self, f: &mut dyn FnMut(Row<'_>) -> std::io::Result<()>) -> std::io::Result<()>;
}

/// A row as `write_body` takes it, its MAC borrowed, so that a sender need
/// not build a `Report` of strings first.
pub type Row<'a> = ProbeRow<&'a str>;

impl ProbeRow {
    pub fn borrowed(&self) -> Row<'_> {
        ProbeRow {
            mac: self.mac.as_str(),
            count: self.count,
            min_signal: self.min_signal,
            max_signal: self.max_signal,
            avg_signal: self.avg_signal,
            last_seen_signal: self.last_seen_signal,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            associated: self.associated,
            estimated_device: self.estimated_device,
        }
    }
}

/// Writes the body: compact JSON, keys in the documents' order, no trailing
/// newline. This is the one definition of the bytes; `Report::to_body` and
/// the agent's reports both go through it, and a test checks it against
/// serde_json's serialization of the `Report` type. Straight into `out`, so a
/// sender can stream a large report into the signature, the socket and the
/// terminal in turn without holding it in memory. MACs (`node_mac` and each
/// row's `mac`) must be colon-separated hex, which needs no JSON escaping.
pub fn write_body<W: std::io::Write + ?Sized>(
    out: &mut W,
    network_id: u64,
    node_mac: &str,
    rows: &dyn Rows,
) -> std::io::Result<()> {
    write!(out, "{{\"network_id\":{network_id},\"node_mac\":\"{node_mac}\",\"version\":{VERSION},\"probe_requests\":[")?;
    let mut first = true;
    rows.each_row(&mut |r| {
        if !std::mem::take(&mut first) {
            out.write_all(b",")?;
        }
        write!(
            out,
            "{{\"mac\":\"{}\",\"count\":{},\"min_signal\":{},\"max_signal\":{},\"avg_signal\":{},\
             \"last_seen_signal\":{},\"first_seen\":{},\"last_seen\":{},\"associated\":{}",
            r.mac, r.count, r.min_signal, r.max_signal, r.avg_signal, r.last_seen_signal, r.first_seen, r.last_seen,
            r.associated
        )?;
        if r.estimated_device {
            write!(out, ",\"{ESTIMATED_DEVICE_KEY}\":true")?;
        }
        out.write_all(b"}")
    })?;
    out.write_all(b"]}")
}

/// A `Write` that computes the `Signature` of what is written to it, so that
/// a body can be signed as it is streamed.
pub struct Signer(Hmac<Sha256>);

impl Signer {
    pub fn new(key: &[u8]) -> Signer {
        // HMAC accepts keys of any length, so new_from_slice cannot fail.
        Signer(<Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length"))
    }

    /// Lower-case hex, as the `Signature` header carries it.
    pub fn finish(self) -> String {
        hex_lower(&self.0.finalize().into_bytes())
    }
}

impl std::io::Write for Signer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lower-case hex HMAC-SHA256 of `body` keyed with `key`: the `Signature` header.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut signer = Signer::new(key);
    signer.0.update(body);
    signer.finish()
}

/// Checks a `Signature` header value in constant time (the comparison does not
/// stop at the first differing byte). Upper-case hex is accepted too.
pub fn verify_signature(key: &[u8], body: &[u8], header: &str) -> bool {
    let Some(claimed) = parse_hex32(header.trim()) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&claimed).is_ok()
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    s
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}


/// Why a body is not a Presence Reporting API document, in words a sender's
/// operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

impl Report {
    /// Parses and checks a received body: every documented field present with
    /// its type (serde names the missing or mistyped one), no unknown ones,
    /// version 1, MAC addresses in the colon form.
    pub fn from_body(body: &[u8]) -> Result<Report, FormatError> {
        let report: Report = serde_json::from_slice(body)
            .map_err(|e| FormatError(format!("not a Presence Reporting API report: {e}")))?;
        report.validate()?;
        Ok(report)
    }

    pub fn validate(&self) -> Result<(), FormatError> {
        if self.version != VERSION {
            return Err(FormatError(format!(
                "version {} is not supported (only {VERSION})",
                self.version
            )));
        }
        if !is_colon_mac(&self.node_mac) {
            return Err(FormatError(format!(
                "node_mac {:?} is not a MAC address like AC:86:74:82:9A:30",
                self.node_mac
            )));
        }
        for (i, row) in self.probe_requests.iter().enumerate() {
            if !is_colon_mac(&row.mac) {
                return Err(FormatError(format!(
                    "probe_requests[{i}].mac {:?} is not a MAC address like 00:9a:cd:e3:15:49",
                    row.mac
                )));
            }
            if row.estimated_device && !is_pseudonym_mac(&row.mac) {
                return Err(FormatError(format!(
                    "probe_requests[{i}] is an estimated device but its mac {:?} is not locally administered: \
                     an estimate's pseudonym never looks like a device's own address",
                    row.mac
                )));
            }
            if row.first_seen > row.last_seen {
                return Err(FormatError(format!(
                    "probe_requests[{i}]: first_seen {} is after last_seen {}",
                    row.first_seen, row.last_seen
                )));
            }
        }
        Ok(())
    }
}

/// Six two-digit hex octets separated by colons, either case.
/// A colon-form MAC whose first octet is locally administered (0x02) and
/// unicast (not 0x01), as every pseudonym presenced makes.
pub fn is_pseudonym_mac(s: &str) -> bool {
    is_colon_mac(s) && u8::from_str_radix(&s[..2], 16).is_ok_and(|first| first & 0x03 == 0x02)
}

pub fn is_colon_mac(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 17
        && b.iter().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                *c == b':'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}


/// A key file's bytes less trailing line ends: `echo key > file` or an editor
/// adds one, and it is never meant as part of the key. Both sides read key
/// files this way, or signatures would not match.
pub fn key_from_file(mut bytes: Vec<u8>) -> Vec<u8> {
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    bytes
}

#[cfg(test)]
mod stream_tests {
    use super::*;
    use std::io::Write;

    /// serde_json's serialization of the `Report` type is a second,
    /// independent writer of the same JSON: the two must agree byte for
    /// byte, on the documented sample and on rows at the edges of each type.
    #[test]
    fn write_body_agrees_with_serde_json_on_the_sample_and_on_extremes() {
        let sample = r#"{"network_id":221234,"node_mac":"AC:86:74:82:9A:30","version":1,"probe_requests":[{"mac":"00:9a:cd:e3:15:49","count":11,"min_signal":-77,"max_signal":-36,"avg_signal":-55,"last_seen_signal":-77,"first_seen":1475860695,"last_seen":1475860718,"associated":false}]}"#;
        let report: Report = serde_json::from_str(sample).unwrap();
        assert_eq!(report.to_body(), sample.as_bytes());
        let extreme = ProbeRow {
            mac: "ff:ff:ff:ff:ff:fe".into(),
            count: u32::MAX,
            min_signal: i32::MIN,
            max_signal: i32::MAX,
            avg_signal: 0,
            last_seen_signal: -1,
            first_seen: i64::MIN,
            last_seen: i64::MAX,
            associated: true,
            estimated_device: false,
        };
        let estimate = ProbeRow { mac: "da:00:00:00:00:01".into(), estimated_device: true, associated: false, ..extreme.clone() };
        for rows in [vec![], vec![extreme.clone()], vec![extreme.clone(), report.probe_requests[0].clone(), estimate.clone(), extreme], vec![estimate]] {
            let r = Report { network_id: u64::MAX, node_mac: "02:00:00:00:00:01".into(), version: VERSION, probe_requests: rows };
            assert_eq!(r.to_body(), serde_json::to_vec(&r).unwrap());
        }
    }

    #[test]
    fn a_signer_fed_in_pieces_signs_as_signature_does() {
        // RFC 4231 test case 2, fed one byte at a time.
        let data = b"what do ya want for nothing?";
        let mut signer = Signer::new(b"Jefe");
        for b in data {
            signer.write_all(&[*b]).unwrap();
        }
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(signer.finish(), expected);
        assert_eq!(signature(b"Jefe", data), expected);
    }
}

#[cfg(test)]
mod estimated_device_tests {
    use super::*;

    const SAMPLE: &str = r#"{"network_id":221234,"node_mac":"AC:86:74:82:9A:30","version":1,"probe_requests":[{"mac":"00:9a:cd:e3:15:49","count":11,"min_signal":-77,"max_signal":-36,"avg_signal":-55,"last_seen_signal":-77,"first_seen":1475860695,"last_seen":1475860718,"associated":false}]}"#;

    /// The sample with a second row, written out by hand: an estimated
    /// device under a pseudonym (0xda: locally administered, unicast).
    const WITH_ESTIMATE: &str = r#"{"network_id":221234,"node_mac":"AC:86:74:82:9A:30","version":1,"probe_requests":[{"mac":"00:9a:cd:e3:15:49","count":11,"min_signal":-77,"max_signal":-36,"avg_signal":-55,"last_seen_signal":-77,"first_seen":1475860695,"last_seen":1475860718,"associated":false},{"mac":"da:a1:19:5e:00:07","count":40,"min_signal":-70,"max_signal":-52,"avg_signal":-60,"last_seen_signal":-58,"first_seen":1475860690,"last_seen":1475860719,"associated":false,"estimated_device":true}]}"#;

    #[test]
    fn rows_without_the_mark_are_addresses_and_keep_the_documented_bytes() {
        let report = Report::from_body(SAMPLE.as_bytes()).unwrap();
        assert_eq!(report.row_counts(), RowCounts { addresses: 1, estimated_devices: 0 });
        assert_eq!(report.to_body(), SAMPLE.as_bytes());
        assert!(!SAMPLE.contains(ESTIMATED_DEVICE_KEY));
    }

    #[test]
    fn a_marked_row_is_an_estimated_device_and_round_trips() {
        let report = Report::from_body(WITH_ESTIMATE.as_bytes()).unwrap();
        assert_eq!(report.row_counts(), RowCounts { addresses: 1, estimated_devices: 1 });
        assert!(report.probe_requests[1].is_estimated_device());
        assert!(!report.probe_requests[0].is_estimated_device());
        assert_eq!(report.to_body(), WITH_ESTIMATE.as_bytes());
        // An explicit false is the documented row (and is written without the key).
        let explicit = SAMPLE.replace(r#""associated":false}"#, r#""associated":false,"estimated_device":false}"#);
        let parsed = Report::from_body(explicit.as_bytes()).unwrap();
        assert_eq!(parsed.row_counts().estimated_devices, 0);
        assert_eq!(parsed.to_body(), SAMPLE.as_bytes());
    }

    #[test]
    fn an_estimate_under_a_universal_address_or_with_a_bad_mark_is_refused() {
        let universal = WITH_ESTIMATE.replace("da:a1:19:5e:00:07", "d8:a1:19:5e:00:07");
        let e = Report::from_body(universal.as_bytes()).unwrap_err();
        assert!(e.0.contains("probe_requests[1] is an estimated device") && e.0.contains("d8:a1:19:5e:00:07"), "{e}");
        let group = WITH_ESTIMATE.replace("da:a1:19:5e:00:07", "db:a1:19:5e:00:07");
        assert!(Report::from_body(group.as_bytes()).is_err());
        let not_bool = WITH_ESTIMATE.replace(r#""estimated_device":true"#, r#""estimated_device":1"#);
        let e = Report::from_body(not_bool.as_bytes()).unwrap_err();
        assert!(e.0.contains("expected a boolean"), "{e}");
        assert!(is_pseudonym_mac("02:00:00:00:00:00") && !is_pseudonym_mac("00:00:00:00:00:00") && !is_pseudonym_mac("zz:00:00:00:00:00"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    // RFC 4231, HMAC-SHA-256 test cases 1, 2, 3, 4, 6 and 7 (case 5 is truncated output).
    #[test]
    fn rfc4231_known_answers() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
            (vec![0x0b; 20], b"Hi There".to_vec(),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (vec![0xaa; 20], vec![0xdd; 50],
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            (unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), vec![0xcd; 50],
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
            (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            (vec![0xaa; 131],
             b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ];
        for (key, data, expected) in cases {
            assert_eq!(signature(&key, &data), expected);
            assert!(verify_signature(&key, &data, expected));
            assert!(verify_signature(&key, &data, &expected.to_uppercase()));
        }
    }

    #[test]
    fn verify_rejects_wrong_or_malformed_signatures() {
        let good = signature(b"k", b"body");
        assert!(!verify_signature(b"k", b"body!", &good));
        assert!(!verify_signature(b"other", b"body", &good));
        assert!(!verify_signature(b"k", b"body", &good[..63]));
        assert!(!verify_signature(b"k", b"body", ""));
        assert!(!verify_signature(b"k", b"body", &format!("{}zz", &good[..62])));
    }

    #[test]
    fn the_documented_sample_parses_and_reserializes_byte_for_byte() {
        let sample = r#"{"network_id":221234,"node_mac":"AC:86:74:82:9A:30","version":1,"probe_requests":[{"mac":"00:9a:cd:e3:15:49","count":11,"min_signal":-77,"max_signal":-36,"avg_signal":-55,"last_seen_signal":-77,"first_seen":1475860695,"last_seen":1475860718,"associated":false},{"mac":"e2:9f:fc:7f:1f:42","count":1,"min_signal":-65,"max_signal":-65,"avg_signal":-65,"last_seen_signal":-65,"first_seen":1475860714,"last_seen":1475860714,"associated":false}]}"#;
        let report: Report = serde_json::from_str(sample).unwrap();
        assert_eq!(report.to_body(), sample.as_bytes());
    }

    #[test]
    fn from_body_names_what_is_wrong() {
        let row = r#"{"mac":"00:9a:cd:e3:15:49","count":1,"min_signal":-65,"max_signal":-65,"avg_signal":-65,"last_seen_signal":-65,"first_seen":1,"last_seen":2,"associated":false}"#;
        let ok = format!(r#"{{"network_id":1,"node_mac":"AC:86:74:82:9A:30","version":1,"probe_requests":[{row}]}}"#);
        assert!(Report::from_body(ok.as_bytes()).is_ok());
        let cases = [
            (ok.replace(r#","last_seen_signal":-65"#, ""), "last_seen_signal"),
            (ok.replace(r#""count":1"#, r#""count":"1""#), "invalid type"),
            (ok.replace(r#""associated":false"#, r#""associated":0"#), "invalid type"),
            (ok.replace(r#""version":1"#, r#""version":2"#), "version 2"),
            (ok.replace("AC:86:74:82:9A:30", "AC-86-74-82-9A-30"), "node_mac"),
            (ok.replace("00:9a:cd:e3:15:49", "00:9a:cd:e3:15"), "probe_requests[0].mac"),
            (ok.replace(r#""first_seen":1"#, r#""first_seen":3"#), "first_seen 3 is after"),
            (ok.replace(r#""network_id":1"#, r#""network_id":1,"extra":1"#), "unknown field `extra`"),
            ("{".to_string(), "EOF"),
        ];
        for (body, expected) in cases {
            let err = Report::from_body(body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{body}: {err} lacks {expected}");
        }
    }

    #[test]
    fn colon_macs() {
        assert!(is_colon_mac("ac:86:74:82:9A:30"));
        for bad in ["", "ac:86:74:82:9a", "ac:86:74:82:9a:3g", "ac:86:74:82:9a:300", "ac86:74:82:9a:30:"] {
            assert!(!is_colon_mac(bad), "{bad}");
        }
    }
}
