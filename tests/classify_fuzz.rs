//! Deterministic fuzzing of the frame path: random and mutated frames through
//! `classify`, the radiotap walk and the 802.11 view. The assertion is that
//! nothing panics and that the layers agree; the seed is fixed so that a
//! failure reproduces.

mod support;

use presenced::wire::dot11::{self, FrameControl};
use presenced::wire::frame::{classify, Classifier};
use presenced::wire::radiotap::{self, Header};

/// xorshift64*: small, fast, good enough to spread bytes; not for secrets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Radiotap with Flags (FCS at end) and a signal, then a probe request and an FCS.
#[rustfmt::skip]
const PROBE: [u8; 38] = [
    0x00, 0x00, 0x0a, 0x00, // version 0, pad, it_len 10
    0x22, 0x00, 0x00, 0x00, // present: Flags(1), dBm antenna signal(5)
    0x10, 0xc9, // Flags: FCS at end; -55 dBm
    0x40, 0x00, 0x00, 0x00, // probe request, duration
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // addr1
    0x02, 0x9a, 0xcd, 0xe3, 0x15, 0x49, // addr2
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // addr3
    0x30, 0x00, // sequence control
    0xde, 0xad, 0xbe, 0xef, // FCS
];

/// Real headers from the shared vectors, each followed by the probe request
/// above, so that mutations start from layouts with namespaces and vendors.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![PROBE.to_vec()];
    let dir = support::data::suite("radiotap-library");
    let mut bins: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    bins.sort();
    for bin in bins
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
    {
        let mut frame = support::data::read(bin);
        frame.extend_from_slice(&PROBE[10..]);
        seeds.push(frame);
    }
    let mesh = support::data::read_pcap(&support::data::suite("tcpdump").join("ieee802.11_meshid.pcap"));
    seeds.extend(mesh.records);
    seeds
}

fn mutate(rng: &mut Rng, frame: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        match rng.below(7) {
            0 if !frame.is_empty() => {
                let at = rng.below(frame.len());
                frame[at] ^= 1 << rng.below(8);
            }
            1 if !frame.is_empty() => {
                let at = rng.below(frame.len());
                frame[at] = rng.byte();
            }
            2 => frame.truncate(rng.below(frame.len() + 1)),
            3 => {
                let at = rng.below(frame.len() + 1);
                frame.insert(at, rng.byte());
            }
            // it_len anywhere, including past the end and below 8.
            4 if frame.len() >= 4 => {
                frame[2] = rng.byte();
                frame[3] = if rng.below(4) == 0 { rng.byte() } else { 0 };
            }
            // Extension, namespace and unknown bits in some present word.
            5 if frame.len() >= 8 => {
                let word = 4 + 4 * rng.below((frame.len() - 4) / 4);
                if let Some(top) = frame.get_mut(word + 3) {
                    *top ^= [0x80, 0x40, 0x20, 0x10, 0x08][rng.below(5)];
                }
            }
            // Flags byte of the seed layout: FCS, bad FCS.
            _ if frame.len() > 8 => frame[8] ^= [0x10, 0x40][rng.below(2)],
            _ => {}
        }
    }
}

fn exercise(frame: &[u8]) {
    let classified = classify(frame);
    let summary = radiotap::summarize(frame);
    if let Ok(header) = Header::new_checked(frame) {
        let mut errors = 0;
        for field in header.fields() {
            errors += usize::from(field.is_err());
        }
        assert!(errors <= 1, "the walk goes on after an error");
        assert_eq!(summary.is_ok(), errors == 0);
    }
    if let Ok(probe) = classified {
        let summary = summary.expect("a probe needs a radiotap header");
        assert_eq!(summary.antenna_signal_dbm, Some(probe.signal_dbm));
        let body = &frame[summary.header_len..];
        assert!(FrameControl::of(body).is_some_and(FrameControl::is_probe_request));
        assert!(!probe.client.is_group());
    }
    // The 802.11 view alone, on whatever bytes.
    if let Ok(view) = dot11::Frame::new_checked(frame) {
        let _ = (
            view.addr1(),
            view.addr2(),
            view.addr3(),
            view.frame_control().subtype(),
        );
    }
}

#[test]
fn two_hundred_thousand_random_and_mutated_frames_do_not_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut probes = 0;
    // One classifier for the whole stream: its remembered layout is hit by
    // mutants of the same seed and must never answer differently.
    let mut classifier = Classifier::default();
    for round in 0..200_000 {
        let frame = if round % 4 == 0 {
            // Pure noise, mostly short, sometimes starting like radiotap v0.
            let mut noise: Vec<u8> = (0..rng.below(96)).map(|_| rng.byte()).collect();
            if noise.len() >= 2 && rng.below(2) == 0 {
                noise[0] = 0;
            }
            noise
        } else {
            let mut frame = seeds[rng.below(seeds.len())].clone();
            mutate(&mut rng, &mut frame);
            frame
        };
        exercise(&frame);
        assert_eq!(classifier.classify(&frame), classify(&frame), "{frame:02x?}");
        probes += usize::from(classify(&frame).is_ok());
    }
    // Mutations must leave some frames valid, or the checks above on valid
    // probes exercised nothing.
    assert!(probes > 1000, "only {probes} probes survived mutation");
}

/// Every frame of every shared capture, in file order as a live stream would
/// bring them, and every radiotap test vector: the remembering classifier
/// answers as the walk of each header alone does.
#[test]
fn the_remembering_classifier_agrees_with_classify_on_every_shared_frame() {
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let dir = support::data::shared_data().join("captures");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files.iter().filter(|p| p.extension().is_some_and(|e| e == "pcap")) {
        frames.extend(support::data::read_pcap(f).records);
    }
    let shared = frames.len();
    frames.extend(seeds());
    let mut classifier = Classifier::default();
    let mut probes = 0;
    for frame in &frames {
        let expected = classify(frame);
        assert_eq!(classifier.classify(frame), expected, "{frame:02x?}");
        probes += usize::from(expected.is_ok());
    }
    assert!(shared > 8000 && probes > 4000, "{shared} frames, {probes} probes");
}

/// The remembered layout is one of `it_len` and the present words: a frame
/// with the same words but cut short of `it_len`, or with another version,
/// is still refused, and a header with a vendor namespace (whose layout
/// depends on its skip length) is walked every time.
#[test]
fn a_remembered_layout_is_never_stretched_over_another_header() {
    let mut classifier = Classifier::default();
    assert!(classifier.classify(&PROBE).is_ok());
    assert!(classifier.classify(&PROBE[..9]).is_err());
    let mut v1 = PROBE;
    v1[0] = 1;
    assert_eq!(classifier.classify(&v1), classify(&v1));
    assert!(classify(&v1).is_err());
    // Same words, other signal and Flags (bad FCS): read afresh.
    let mut other = PROBE;
    other[9] = 0xb0; // -80 dBm
    assert_eq!(classifier.classify(&other).map(|p| p.signal_dbm), Ok(-80));
    other[8] = 0x50; // FCS at end + bad FCS
    assert_eq!(classifier.classify(&other), classify(&other));
    assert!(classify(&other).is_err());
}
