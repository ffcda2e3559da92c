//! Proves the live-test rig: the TAP interface behaves like a monitor-mode card
//! for libpcap, and the frame builder writes what it is asked to (checked with
//! tshark, an independent decoder).

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use presenced::wire::mac::MacAddr;
use support::frames::{self, GROUP_SA};
use support::tap::{self, Tap};

/// LINKTYPE_IEEE802_11_RADIOTAP in pcap files and libpcap.
const LINKTYPE_RADIOTAP: u32 = 127;

fn mac(text: &str) -> MacAddr {
    text.parse().expect("test MAC")
}

#[test]
#[ignore = "needs root (a TAP interface): make test runs it"]
fn tap_rig_interface_has_radiotap_link_type_and_is_up() {
    support::require_root("the TAP rig test");
    let tap = Tap::create().expect("create TAP");
    let sys = PathBuf::from("/sys/class/net").join(tap.name());
    let link_type = std::fs::read_to_string(sys.join("type")).expect("read link type");
    assert_eq!(link_type.trim(), "803", "ARPHRD_IEEE80211_RADIOTAP");
    let flags = std::fs::read_to_string(sys.join("flags")).expect("read flags");
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).expect("hex flags");
    assert_ne!(
        flags & libc::IFF_UP as u32,
        0,
        "{} is not up (flags {flags:#x})",
        tap.name()
    );
}

#[test]
#[ignore = "needs root (a TAP interface): make test runs it"]
fn tap_rig_interface_is_gone_after_close() {
    support::require_root("the TAP rig test");
    let tap = Tap::create().expect("create TAP");
    let name = tap.name().to_string();
    assert!(tap::interface_exists(&name));
    tap.close().expect("close TAP");
    assert!(!tap::interface_exists(&name), "{name} survived its fd");
    let shown = Command::new("ip")
        .args(["link", "show", "dev", &name])
        .output()
        .expect("run ip");
    assert!(
        !shown.status.success(),
        "`ip link show {name}` still finds it"
    );
}

#[test]
#[ignore = "needs root (a TAP interface, live capture): make test runs it"]
fn tap_rig_pcap_captures_exactly_the_probe_requests_written() {
    support::require_root("the TAP rig test");
    let tap = Tap::create().expect("create TAP");
    let mut capture = pcap::Capture::from_device(tap.name())
        .expect("pcap device")
        .immediate_mode(true)
        .open()
        .expect("open the TAP with libpcap")
        // With TPACKET_V3 a read timeout does not fire while no frame arrives,
        // so a blocking read would never end; poll instead.
        .setnonblock()
        .expect("non-blocking capture");
    assert_eq!(
        capture.get_datalink(),
        pcap::Linktype(LINKTYPE_RADIOTAP as i32)
    );
    capture
        .filter("type mgt subtype probe-req", true)
        .expect("kernel BPF filter");

    let probes: Vec<Vec<u8>> = [
        ("02:00:00:00:00:01", -30),
        ("02:00:00:00:00:02", -45),
        ("02:00:00:00:00:03", -60),
        ("02:00:00:00:00:01", -75),
        ("5c:dc:96:66:24:e3", -90),
    ]
    .iter()
    .enumerate()
    .map(|(i, (sa, dbm))| frames::probe_request(mac(sa), *dbm, i as u16))
    .collect();
    let beacons: Vec<Vec<u8>> = (0..3)
        .map(|i| frames::beacon(mac("02:aa:00:00:00:01"), -40, 100 + i))
        .collect();
    // Interleaved, so that the filter has to pick the probes out of a mixed stream.
    let mut written = Vec::new();
    for (i, probe) in probes.iter().enumerate() {
        written.push(probe);
        if let Some(beacon) = beacons.get(i) {
            written.push(beacon);
        }
    }
    for frame in &written {
        tap.write_frame(frame).expect("write frame to TAP");
    }

    let mut captured: Vec<Vec<u8>> = Vec::new();
    // Reads past the fifth frame for a while, so that an extra one would be seen.
    let quiet_until = |start: Instant| start + Duration::from_millis(500);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last_frame = Instant::now();
    while Instant::now() < deadline
        && !(captured.len() >= probes.len() && Instant::now() > quiet_until(last_frame))
    {
        match capture.next_packet() {
            Ok(packet) => {
                assert_eq!(
                    packet.header.caplen, packet.header.len,
                    "frame truncated by snaplen"
                );
                captured.push(packet.data.to_vec());
                last_frame = Instant::now();
            }
            Err(pcap::Error::TimeoutExpired) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("capture failed: {e}"),
        }
    }
    assert_eq!(
        captured, probes,
        "captured frames differ from the probe requests written"
    );
    drop(capture);
    tap.close().expect("TAP removed");
}

// ---------------------------------------------------------------------------
// The builder, checked by tshark

/// A classic pcap file (not pcapng), written by hand from the format's
/// definition so that no code under test is involved.
fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // magic: microsecond timestamps, LE
    out.extend_from_slice(&2u16.to_le_bytes()); // version major
    out.extend_from_slice(&4u16.to_le_bytes()); // version minor
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&LINKTYPE_RADIOTAP.to_le_bytes()); // network
    for (i, frame) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_475_860_695u32 + i as u32).to_le_bytes()); // ts_sec
        out.extend_from_slice(&0u32.to_le_bytes()); // ts_usec
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes()); // incl_len
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes()); // orig_len
        out.extend_from_slice(frame);
    }
    std::fs::write(path, out).expect("write pcap");
}

/// One row per frame: field name to value, as tshark prints it.
fn tshark_fields(path: &std::path::Path, fields: &[&str]) -> Vec<HashMap<String, String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-o", "wlan.check_checksum:TRUE", "-r"])
        .arg(path)
        .args(["-T", "fields", "-E", "separator=/t"]);
    for field in fields {
        cmd.args(["-e", field]);
    }
    let output = cmd.output().expect("run tshark (installed by `make deps`)");
    assert!(
        output.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("tshark prints UTF-8")
        .lines()
        .map(|line| {
            fields
                .iter()
                .map(|f| f.to_string())
                .zip(line.split('\t').map(str::to_string))
                .collect()
        })
        .collect()
}

fn type_subtype(text: &str) -> u32 {
    // tshark prints it as hex (0x0004) in some versions and decimal in others.
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .unwrap_or_else(|_| panic!("wlan.fc.type_subtype {text:?}"))
}

#[test]
fn frame_builder_agrees_with_tshark() {
    struct Expected {
        frame: Vec<u8>,
        sa: MacAddr,
        dbm: i8,
        /// 4: probe request, 8: beacon (type 0, so type_subtype = subtype).
        subtype: u32,
        seq: u16,
        /// tshark's wlan.fcs.status: 1 good, 0 bad, empty when there is no FCS.
        fcs_status: &'static str,
    }
    let a = mac("02:00:00:00:00:01");
    let b = mac("ac:86:74:82:9a:30");
    let cases = vec![
        Expected {
            frame: frames::probe_request(a, -55, 1),
            sa: a,
            dbm: -55,
            subtype: 4,
            seq: 1,
            fcs_status: "",
        },
        Expected {
            frame: frames::probe_request(b, -128, 4095),
            sa: b,
            dbm: -128,
            subtype: 4,
            seq: 4095,
            fcs_status: "",
        },
        Expected {
            frame: frames::probe_request(b, 20, 4096 + 7),
            sa: b,
            dbm: 20,
            subtype: 4,
            seq: 7,
            fcs_status: "",
        },
        Expected {
            frame: frames::probe_request_with_fcs(a, -70, 2),
            sa: a,
            dbm: -70,
            subtype: 4,
            seq: 2,
            fcs_status: "1",
        },
        Expected {
            frame: frames::probe_request_bad_fcs(a, -71, 3),
            sa: a,
            dbm: -71,
            subtype: 4,
            seq: 3,
            fcs_status: "0",
        },
        Expected {
            frame: frames::probe_request_group_sa(-60, 9),
            sa: GROUP_SA,
            dbm: -60,
            subtype: 4,
            seq: 9,
            fcs_status: "",
        },
        Expected {
            frame: frames::beacon(b, -40, 10),
            sa: b,
            dbm: -40,
            subtype: 8,
            seq: 10,
            fcs_status: "",
        },
    ];
    let dir = std::env::temp_dir().join(format!("presenced-tap-rig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("builder.pcap");
    write_pcap(
        &path,
        &cases.iter().map(|c| c.frame.clone()).collect::<Vec<_>>(),
    );

    let rows = tshark_fields(
        &path,
        &[
            "wlan.sa",
            "radiotap.dbm_antsignal",
            "wlan.fc.type_subtype",
            "wlan.seq",
            "wlan.fcs.status",
            "radiotap.length",
            "radiotap.channel.freq",
            "_ws.malformed",
        ],
    );
    std::fs::remove_dir_all(&dir).expect("remove temp dir");
    assert_eq!(rows.len(), cases.len(), "tshark saw {} frames", rows.len());
    for (i, (row, want)) in rows.iter().zip(&cases).enumerate() {
        assert_eq!(row["wlan.sa"], want.sa.to_string(), "frame {i}: SA");
        assert_eq!(
            row["radiotap.dbm_antsignal"],
            want.dbm.to_string(),
            "frame {i}: dBm"
        );
        assert_eq!(
            type_subtype(&row["wlan.fc.type_subtype"]),
            want.subtype,
            "frame {i}: subtype"
        );
        assert_eq!(
            row["wlan.seq"],
            want.seq.to_string(),
            "frame {i}: sequence number"
        );
        assert_eq!(
            row["wlan.fcs.status"], want.fcs_status,
            "frame {i}: FCS status"
        );
        assert_eq!(
            row["radiotap.length"],
            frames::RADIOTAP_LEN.to_string(),
            "frame {i}: radiotap length"
        );
        assert_eq!(row["radiotap.channel.freq"], "2437", "frame {i}: channel");
        // tshark files a wrong checksum under "malformed"; nothing else may be.
        let malformed = !row
            .get("_ws.malformed")
            .map(String::as_str)
            .unwrap_or("")
            .is_empty();
        assert_eq!(
            malformed,
            want.fcs_status == "0",
            "frame {i}: tshark's malformed flag"
        );
    }
}

#[test]
fn frame_builder_crc32_matches_the_standard_check_value() {
    // The CRC-32 catalogue's check value: CRC of the ASCII digits 1 to 9.
    assert_eq!(frames::crc32(b"123456789"), 0xcbf4_3926);
}

#[test]
fn frame_builder_fcs_variants_differ_only_in_flags_and_trailer() {
    let sa = mac("02:00:00:00:00:07");
    let plain = frames::probe_request(sa, -50, 5);
    let with_fcs = frames::probe_request_with_fcs(sa, -50, 5);
    let bad = frames::probe_request_bad_fcs(sa, -50, 5);
    assert_eq!(with_fcs.len(), plain.len() + 4);
    assert_eq!(bad.len(), plain.len() + 4);
    // Byte 8 is the radiotap Flags field.
    assert_eq!((plain[8], with_fcs[8], bad[8]), (0x00, 0x10, 0x50));
    assert_eq!(with_fcs[9..plain.len()], plain[9..]);
    assert_ne!(with_fcs[plain.len()..], bad[plain.len()..]);
}
