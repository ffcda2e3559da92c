//! libpcap's view of every shared capture equals a plain reading of the file format.
//!
//! The point is the cross builds (tests/cross_replay.sh runs this test under
//! qemu-mips and qemu-mipsel/qemu-arm): on a 32-bit musl 1.2 CPU, `time_t` is 64-bit, and if
//! Rust's libc crate is built without `--cfg libc_unstable_musl_v1_2` it lays out
//! `struct timeval`, and so libpcap's `struct pcap_pkthdr`, for a 32-bit `time_t`:
//! every header is then read at the wrong offsets (caplen 0, or the microseconds).
//! The expected values come from a reader of the pcap file format written here
//! from its specification, which owes nothing to libpcap or to libc's structs.
//! Natively it checks the same on x86_64, which costs milliseconds.

use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq, Eq)]
struct Record {
    ts_sec: i64,
    ts_usec: i64,
    caplen: u32,
    len: u32,
    data: Vec<u8>,
}

fn captures_dir() -> PathBuf {
    let shared = std::env::var_os("PRESENCED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    shared.join("data/captures")
}

/// The classic pcap format: a 24-byte file header whose magic tells the byte
/// order (a1b2c3d4: microseconds, a1b23c4d: nanoseconds), then per record
/// ts_sec, ts_frac, incl_len, orig_len (u32 each) and incl_len bytes.
/// A record cut short ends the reading, as it ends libpcap's.
fn read_by_the_format(bytes: &[u8]) -> Vec<Record> {
    assert!(bytes.len() >= 24, "shorter than a pcap file header");
    let magic_le = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let magic_be = u32::from_be_bytes(bytes[0..4].try_into().unwrap());
    let (big_endian, nanos) = match (magic_le, magic_be) {
        (0xa1b2_c3d4, _) => (false, false),
        (0xa1b2_3c4d, _) => (false, true),
        (_, 0xa1b2_c3d4) => (true, false),
        (_, 0xa1b2_3c4d) => (true, true),
        _ => panic!("not a classic pcap file (pcapng is not used by these captures)"),
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
    };
    let mut records = Vec::new();
    let mut at = 24;
    while bytes.len() - at >= 16 {
        let caplen = u32_at(at + 8);
        let body = at + 16;
        if bytes.len() - body < caplen as usize {
            break;
        }
        let frac = i64::from(u32_at(at + 4));
        records.push(Record {
            ts_sec: i64::from(u32_at(at)),
            // libpcap opened without a precision hands out microseconds, truncating
            ts_usec: if nanos { frac / 1000 } else { frac },
            caplen,
            len: u32_at(at + 12),
            data: bytes[body..body + caplen as usize].to_vec(),
        });
        at = body + caplen as usize;
    }
    records
}

fn read_with_libpcap(path: &Path) -> Vec<Record> {
    let mut capture = pcap::Capture::from_file(path)
        .unwrap_or_else(|e| panic!("libpcap cannot open {}: {e}", path.display()));
    let mut records = Vec::new();
    loop {
        match capture.next_packet() {
            Ok(packet) => {
                let header = packet.header;
                records.push(Record {
                    ts_sec: header.ts.tv_sec as i64,
                    ts_usec: header.ts.tv_usec as i64,
                    caplen: header.caplen,
                    len: header.len,
                    data: packet.data.to_vec(),
                })
            }
            // End of file, or a record cut short (libpcap says "truncated dump file").
            Err(_) => break,
        }
    }
    records
}

#[test]
fn libpcap_reads_every_shared_capture_as_the_file_format_says() {
    let dir = captures_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set PRESENCED_SHARED)", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pcap"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .pcap files in {}", dir.display());

    let mut total_records = 0;
    let mut total_bytes = 0u64;
    for path in &files {
        let expected = read_by_the_format(&std::fs::read(path).unwrap());
        let actual = read_with_libpcap(path);
        assert!(!expected.is_empty(), "{}: no records", path.display());
        assert_eq!(
            actual.len(),
            expected.len(),
            "{}: record count (pcap_pkthdr is {} bytes in this build)",
            path.display(),
            std::mem::size_of::<pcap::PacketHeader>(),
        );
        for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
            // Compare headers first: a layout error shows as a readable line
            // rather than two dumps of frame bytes.
            assert_eq!(
                (a.ts_sec, a.ts_usec, a.caplen, a.len),
                (e.ts_sec, e.ts_usec, e.caplen, e.len),
                "{} record {i}: (ts_sec, ts_usec, caplen, len) from libpcap vs the file; \
                 pcap_pkthdr is {} bytes in this build",
                path.display(),
                std::mem::size_of::<pcap::PacketHeader>(),
            );
            assert!(a.data == e.data, "{} record {i}: frame bytes differ", path.display());
            total_bytes += u64::from(e.caplen);
        }
        total_records += expected.len();
    }
    eprintln!("{} files, {total_records} records, {total_bytes} bytes read alike", files.len());
}
