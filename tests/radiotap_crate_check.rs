//! Why presenced does not use the `radiotap` crate (1.3): its answers on the
//! shared test vectors, set against the reference outputs and against our
//! iterator. Each assertion of a wrong answer is the evidence, not a wish.

mod support;

use support::data::*;
use presenced::wire::radiotap::{self, index, Field, Header};
use std::panic;

/// The dBm antenna signal of each radiotap namespace, in order.
fn our_signals_by_namespace(frame: &[u8]) -> Vec<(u8, i8)> {
    Header::new_checked(frame)
        .unwrap()
        .fields()
        .filter_map(|f| match f.unwrap() {
            Field::Radiotap {
                namespace,
                index: index::DBM_ANTENNA_SIGNAL,
                data,
            } => Some((namespace, data[0] as i8)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_crate_reports_a_per_chain_signal_instead_of_the_combined_one() {
    let dir = suite("tcpdump");
    let pcap = read_pcap(&dir.join("ieee802.11_meshid.pcap"));
    let frame = &pcap.records[1]; // the probe request
                                  // tcpdump prints the first (combined) signal: line 2 of the .out.
    let out = read_text(&dir.join("ieee802.11_meshid.out"));
    let line = out.lines().nth(1).unwrap();
    assert!(line.contains("Probe Request"));
    let tcpdump_signal: i8 = line
        .split_whitespace()
        .find_map(|t| t.strip_suffix("dBm"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        radiotap::summarize(frame).unwrap().antenna_signal_dbm,
        Some(tcpdump_signal)
    );

    // Three radiotap namespaces: combined -38, then chains 0 and 1 (bytes 30,
    // 52 and 54 of the header; tshark lists -38,-38,-44).
    let signals = our_signals_by_namespace(frame);
    assert_eq!(signals.len(), 3);
    let crate_signal = ::radiotap::Radiotap::from_bytes(frame)
        .unwrap()
        .antenna_signal
        .map(|s| s.value);
    // The crate overwrites as it goes: the last namespace's chain-1 value wins.
    assert_eq!(crate_signal, Some(signals[2].1));
    assert_ne!(crate_signal, Some(tcpdump_signal));
}

#[test]
fn the_crate_drops_a_field_it_does_not_know_and_misplaces_the_rest() {
    // No vector of the suite has a radiotap field the crate lacks (it knows
    // 0-22), so this one is built by hand: HE (23) between the combined
    // signal and a per-chain namespace.
    #[rustfmt::skip]
    let frame = [
        0x00, 0x00, 0x1c, 0x00, // version 0, pad, it_len 28
        0x22, 0x00, 0x80,
        0xa0, // word 0: Flags(1), dBm signal(5), HE(23), radiotap next(29), ext(31)
        0x20, 0x08, 0x00, 0x00, // word 1: dBm signal(5), antenna(11)
        0x10, // 12 Flags
        0xc4, // 13 dBm signal -60, combined
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, // 14 HE: 12 bytes, 2-aligned
        0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0xba, // 26 dBm signal -70, chain 0
        0x01, // 27 antenna 1
    ];
    assert_eq!(our_signals_by_namespace(&frame), vec![(0, -60), (1, -70)]);
    let parsed = ::radiotap::Radiotap::from_bytes(&frame).unwrap();
    // Without HE's 12 bytes the crate reads the chain signal and the antenna
    // from the first two HE bytes: +1 dBm, antenna 2.
    assert_eq!(parsed.antenna_signal.map(|s| s.value), Some(1));
    assert_eq!(parsed.antenna.map(|a| a.value), Some(2));
}

#[test]
fn the_crate_panics_on_a_vendor_skip_length_past_the_header() {
    // radiotap-library's unparsed-vendor.bin with the vendor skip length
    // (bytes 34-35, little-endian 2) raised to 255: the vendor header still
    // fits in the 39 bytes, its data does not.
    let mut frame = read(&suite("radiotap-library").join("unparsed-vendor.bin"));
    assert_eq!(frame[34..36], [0x02, 0x00]);
    frame[34] = 0xff;
    assert!(matches!(
        radiotap::summarize(&frame),
        Err(radiotap::Error::VendorDataPastHeader {
            skip_length: 0xff,
            ..
        })
    ));
    let crate_result = panic::catch_unwind(|| ::radiotap::Radiotap::from_bytes(&frame).is_ok());
    assert!(
        crate_result.is_err(),
        "the crate no longer panics here: re-check it"
    );
}

#[test]
fn the_crate_rejects_a_whole_header_over_a_field_we_do_not_need() {
    // pcap4j's synthetic header: MCS index 123 has no HT rate, so the crate
    // fails the header and loses the -52 dBm signal that pcap4j's dump (and
    // tshark) read from it.
    let dir = suite("pcap4j");
    let log = read_text(&dir.join("RadiotapPacketTest.log"));
    assert!(log.contains("MCS rate index: 123") && log.contains("Antenna signal: -52 dBm"));
    let frame = &read_pcap(&dir.join("RadiotapPacketTest.pcap")).records[0];
    assert!(::radiotap::Radiotap::from_bytes(frame).is_err());
    assert_eq!(
        radiotap::summarize(frame).unwrap().antenna_signal_dbm,
        Some(-52)
    );
}
