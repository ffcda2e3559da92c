//! presenced's ready-made probe request filter against libpcap's own
//! compilation of `type mgt subtype probe-req` for link type 127: both must
//! accept exactly the same frames, real, malformed and random.

mod support;

use support::data::{read_pcap, shared_data};
use presenced::wire::bpf::probe_request_filter_accepts;

fn libpcap_program() -> pcap::BpfProgram {
    let dead = pcap::Capture::dead(pcap::Linktype(127)).expect("a dead radiotap capture");
    dead.compile("type mgt subtype probe-req", true).expect("libpcap compiles the expression")
}

fn pcap_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![shared_data()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "pcap") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_shared_frame_gets_the_same_verdict_as_libpcaps_compiled_filter() {
    let reference = libpcap_program();
    let (mut frames, mut accepted) = (0, 0);
    for file in pcap_files() {
        for frame in read_pcap(&file).records {
            let expected = reference.filter(&frame);
            assert_eq!(probe_request_filter_accepts(&frame), expected, "{}: frame {frame:02x?}", file.display());
            frames += 1;
            accepted += expected as usize;
        }
    }
    // tshark counts 8634 probe requests in captures/ alone: both filters must see them.
    assert!(accepted > 8600 && frames > accepted, "{frames} frames, {accepted} accepted");
}

#[test]
fn edge_cases_and_random_frames_get_the_same_verdict() {
    let reference = libpcap_program();
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x00],
        vec![0x00, 0x00, 0x08],
        // radiotap length 8, then frame control bytes of every kind.
        vec![0x00, 0x00, 0x08, 0x00, 0, 0, 0, 0],
    ];
    for fc0 in 0..=255u8 {
        cases.push(vec![0x00, 0x00, 0x08, 0x00, 0, 0, 0, 0, fc0, 0x00]);
    }
    // Radiotap lengths past the end, at the end, and beyond 255 (both bytes used).
    cases.push(vec![0x00, 0x00, 0x40, 0x00, 0, 0, 0, 0, 0x40]);
    cases.push(vec![0x00, 0x00, 0x09, 0x00, 0, 0, 0, 0, 0x40]);
    let mut long = vec![0u8; 0x0102 + 2];
    long[2] = 0x02;
    long[3] = 0x01;
    long[0x0102] = 0x40;
    cases.push(long);
    // Deterministic pseudo-random frames (xorshift), biased toward short
    // radiotap lengths so that the frame control byte is often inside.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..50_000 {
        let len = (next() % 64) as usize;
        let mut f: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len >= 4 {
            f[2] = (next() % 70) as u8;
            f[3] = if next() % 16 == 0 { 1 } else { 0 };
        }
        cases.push(f);
    }
    let mut accepted = 0;
    for frame in &cases {
        let expected = reference.filter(frame);
        assert_eq!(probe_request_filter_accepts(frame), expected, "frame {frame:02x?}");
        accepted += expected as usize;
    }
    // 0x40-0x43 (version bits ignored, as libpcap does) and more from the random ones.
    assert!(accepted >= 4, "{accepted}");
}
