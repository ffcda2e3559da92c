//! Where the shared data lives, a minimal pcap reader, and tshark as the
//! independent reference decoder.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$PRESENCED_SHARED/data`, else `../shared/data` beside the checkout (this
/// crate is a folder of the checkout, hence the `../..`). A
/// missing directory fails the test: a test that silently skips proves nothing.
pub fn shared_data() -> PathBuf {
    let shared = std::env::var_os("PRESENCED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    let data = shared.join("data");
    assert!(
        data.is_dir(),
        "test data not found at {} (set PRESENCED_SHARED to the shared/ directory)",
        data.display()
    );
    data
}

/// A capture of `data/captures`, read in place; a missing one fails the test.
pub fn shared_capture(name: &str) -> PathBuf {
    let path = shared_data().join("captures").join(name);
    assert!(path.is_file(), "shared capture {} is missing (PRESENCED_SHARED)", path.display());
    path
}

/// A file of the radiotap test vectors of other projects.
pub fn suite(name: &str) -> PathBuf {
    shared_data().join("radiotap-suite").join(name)
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn read_text(path: &Path) -> String {
    String::from_utf8(read(path)).unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", path.display()))
}

pub const LINKTYPE_IEEE802_11: u32 = 105;
pub const LINKTYPE_IEEE802_11_RADIOTAP: u32 = 127;

pub struct Pcap {
    /// The link type proper: the low 16 bits. The upper bits of the field may
    /// carry FCS-length information (tcpdump's fuzzed files set them).
    pub link_type: u32,
    pub records: Vec<Vec<u8>>,
    /// Each record's timestamp: (seconds, microseconds or nanoseconds as the
    /// file stores them; see `nanos`).
    pub times: Vec<(u32, u32)>,
    /// The magic number says the sub-second field counts nanoseconds.
    pub nanos: bool,
    /// The file ends inside a record header or inside a record's data; the
    /// incomplete record is not in `records`.
    pub cut_short: bool,
}

/// Reads a classic pcap file in either byte order (by its magic number), as
/// libpcap does: 24-byte global header, then 16-byte record headers each
/// followed by `incl_len` bytes.
pub fn read_pcap(path: &Path) -> Pcap {
    let bytes = read(path);
    let magic = bytes
        .get(..4)
        .unwrap_or_else(|| panic!("{}: no pcap magic", path.display()));
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{}: not a pcap file (magic {magic:02x?})", path.display()),
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let link_type =
        u32_at(20).unwrap_or_else(|| panic!("{}: pcap header cut short", path.display())) & 0xffff;
    let nanos = matches!(magic, [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d]);
    let mut records = Vec::new();
    let mut times = Vec::new();
    let mut at = 24;
    let mut cut_short = false;
    while at < bytes.len() {
        let Some(incl_len) = u32_at(at + 8) else {
            cut_short = true;
            break;
        };
        let start = at + 16;
        let Some(data) = bytes.get(start..start + incl_len as usize) else {
            cut_short = true;
            break;
        };
        records.push(data.to_vec());
        times.push((u32_at(at).unwrap_or(0), u32_at(at + 4).unwrap_or(0)));
        at = start + incl_len as usize;
    }
    Pcap {
        link_type,
        records,
        times,
        nanos,
        cut_short,
    }
}

/// Runs tshark with `args` on `file` and returns its stdout lines split on tabs.
/// tshark is the reference decoder: without it these tests cannot say anything.
pub fn tshark_fields(file: &Path, args: &[&str]) -> Vec<Vec<String>> {
    let output = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run tshark ({e}): install it (`make deps` installs the tshark package)")
        });
    // tshark exits 2 on a capture cut short, after printing what it read.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() || stderr.contains("cut short"),
        "tshark failed on {}: {stderr}",
        file.display()
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split('\t').map(str::to_string).collect())
        .collect()
}

/// Writes a classic little-endian pcap file of radiotap frames, each with
/// its (seconds, microseconds) timestamp: the format libpcap reads.
pub fn write_radiotap_pcap(path: &Path, frames: &[(i64, u32, Vec<u8>)]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&LINKTYPE_IEEE802_11_RADIOTAP.to_le_bytes());
    for (secs, micros, frame) in frames {
        out.extend_from_slice(&(*secs as u32).to_le_bytes());
        out.extend_from_slice(&micros.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
