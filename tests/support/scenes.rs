//! Scenes of phones that randomize their MAC, built from
//! `../shared/data/randomized/` (one device per file, see its README), for
//! `--randomized-macs merge`: k devices overlapped in time on one channel,
//! written as one capture, with the truth of every frame (the file it came
//! from) kept beside it. tshark decides which frames are probe requests,
//! their channel, address and signal; presenced is never asked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use super::data::{read_pcap, shared_data, tshark_fields, write_radiotap_pcap};

/// One device's probe requests, times relative to its first one.
pub struct Device {
    pub name: &'static str,
    /// (microseconds after the device's first frame, radiotap frame as an
    /// access point on the scene's channel would have captured it).
    pub frames: Vec<(i64, Vec<u8>)>,
}

/// probingpatterns had three sniffers (channels 1, 6, 11) merged into each
/// file: an access point hears one of them.
const PROBINGPATTERNS_MHZ: &str = "2437";
/// The wiproject files hold the device under test, next to the sniffer
/// (its frames are heard at -10 to -30 dBm), and some passers-by heard at
/// -60 dBm and weaker: an address is the device's when its strongest frame
/// is at least this loud (the strongest passer-by in session 01 is -60).
const WIPROJECT_NEAR_DBM: i32 = -50;

/// The eight devices: two identical iPhone 11, an iPhone XR (iOS 16.4.1),
/// an iPhone 7 (iOS 15.5), a Galaxy S21 Ultra (Android 13), and session
/// 01 of the wiproject Huawei tablet, Galaxy A53 and iPad.
pub const DEVICES: [&str; 8] = [
    "probingpatterns-iPhone11-B",
    "probingpatterns-iPhone11-C",
    "probingpatterns-iPhoneXR-A",
    "probingpatterns-iPhone7-F",
    "probingpatterns-S21Ultra-M",
    "wiproject-01_HuaweiTablet_01",
    "wiproject-01_SamsungA53_01",
    "wiproject-01_iPadApple_01",
];

pub fn devices() -> &'static [Device] {
    static DEVICES_READ: OnceLock<Vec<Device>> = OnceLock::new();
    DEVICES_READ.get_or_init(|| DEVICES.iter().map(|name| read_device(name)).collect())
}

fn read_device(name: &'static str) -> Device {
    let path = shared_data().join("randomized").join(format!("{name}.pcap"));
    let pcap = read_pcap(&path);
    assert!(!pcap.nanos && !pcap.cut_short, "{}: expected a whole microsecond pcap", path.display());
    let fields = tshark_fields(
        &path,
        &["-T", "fields", "-e", "frame.number", "-e", "wlan.fc.type_subtype", "-e", "wlan_radio.frequency", "-e", "wlan.sa", "-e", "radiotap.dbm_antsignal", "-e", "radiotap.flags.fcs"],
    );
    let anonymized = name.starts_with("probingpatterns");
    let mut strongest: BTreeMap<String, i32> = BTreeMap::new();
    for f in &fields {
        let signal: i32 = f[4].split(',').next().and_then(|s| s.parse().ok()).unwrap_or(i32::MIN);
        let e = strongest.entry(f[3].clone()).or_insert(i32::MIN);
        *e = (*e).max(signal);
    }
    let mut frames = Vec::new();
    for f in &fields {
        let number: usize = f[0].parse().expect("frame number");
        let probe = f[1] == "0x0004" || f[1] == "4";
        let kept = if anonymized { f[2] == PROBINGPATTERNS_MHZ } else { strongest[&f[3]] >= WIPROJECT_NEAR_DBM };
        if !probe || !kept {
            continue;
        }
        assert!(f[5] == "1" || f[5] == "True", "{name} frame {number}: no FCS flag ({:?})", f[5]);
        let mut frame = pcap.records[number - 1].clone();
        if anonymized {
            // The publisher replaced each address by a random one, its first
            // octet's bits random too: mark it as the phone sent it (README).
            let sa = u16::from_le_bytes([frame[2], frame[3]]) as usize + 10;
            frame[sa] = (frame[sa] | 0x02) & !0x01;
        }
        let (secs, micros) = pcap.times[number - 1];
        frames.push((secs as i64 * 1_000_000 + micros as i64, frame));
    }
    frames.sort_by_key(|(t, _)| *t);
    let first = frames.first().map(|(t, _)| *t).unwrap_or_else(|| panic!("{name}: no probe requests kept"));
    for (t, _) in frames.iter_mut() {
        *t -= first;
    }
    Device { name, frames }
}

pub const RATE_SECS: i64 = 30;
const SCENE_START_SECS: i64 = 1_700_000_000;
/// Each device starts a little after the one before, so no two scans are
/// stamped alike by construction.
const STAGGER_MICROS: i64 = 1_700_000;
/// Two laptops with universal addresses probing every 10 s through the
/// whole scene: the second sends the elements of an iPhone 11, so that a
/// merge of a universal address into a fingerprint class would show.
pub const UNIVERSAL: [&str; 2] = ["00:9a:cd:e3:15:49", "00:9a:cd:e3:15:4a"];
const UNIVERSAL_EVERY_MICROS: i64 = 10_000_000;

/// One 30 s window of a scene, as the files say.
#[derive(Debug, Default, Clone)]
pub struct TruthWindow {
    /// Devices (by file) with a frame in the window.
    pub devices: BTreeSet<&'static str>,
    /// Frames from randomized addresses.
    pub randomized_frames: u64,
    /// Distinct randomized addresses: the naive count.
    pub addresses: BTreeSet<[u8; 6]>,
    /// Frames of each universal laptop.
    pub universal_frames: [u64; 2],
}

pub struct Scene {
    pub names: Vec<&'static str>,
    pub windows: Vec<TruthWindow>,
    /// Distinct randomized addresses over the whole scene.
    pub addresses: usize,
}

fn sa_of(frame: &[u8]) -> [u8; 6] {
    let at = u16::from_le_bytes([frame[2], frame[3]]) as usize + 10;
    frame[at..at + 6].try_into().expect("a probe request has an SA")
}

/// What a capture of the scene carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Everything a monitor interface captures.
    Monitor,
    /// Only what hostapd's probe notification carries of a frame (ubus.c:
    /// address, signal, time of arrival, the HT and VHT capabilities): the
    /// 24-byte header with its sequence number zeroed, then only those two
    /// elements, as hostapd's element parser keeps them (the last one long
    /// enough, cut to the struct's 26 and 12 bytes).
    AsHostapd,
}

/// Writes the scene of `chosen` (indices into `devices()`) to `path`: the
/// devices overlapped from the scene's start to the end of the shortest.
pub fn write_scene(chosen: &[usize], path: &Path) -> Scene {
    write_scene_heard(chosen, path, Heard::Monitor)
}

/// The radiotap header and the 24-byte header with sequence control zero,
/// the HT and VHT capabilities, then the frame's FCS (every frame kept has
/// one: `read_device` checks).
fn as_hostapd(frame: &[u8]) -> Vec<u8> {
    let radiotap = u16::from_le_bytes([frame[2], frame[3]]) as usize;
    let mut out = frame[..radiotap + 24].to_vec();
    out[radiotap + 22] = 0;
    out[radiotap + 23] = 0;
    let (mut ht, mut vht) = (None, None);
    let mut elements = &frame[radiotap + 24..frame.len() - 4];
    while let [id, len, rest @ ..] = elements {
        let Some(body) = rest.get(..*len as usize) else { break };
        match (*id, body.len()) {
            (45, 26..) => ht = Some(&body[..26]),
            (191, 12..) => vht = Some(&body[..12]),
            _ => {}
        }
        elements = &rest[*len as usize..];
    }
    for (id, body) in [(45u8, ht), (191, vht)] {
        if let Some(body) = body {
            out.push(id);
            out.push(body.len() as u8);
            out.extend_from_slice(body);
        }
    }
    out.extend_from_slice(&frame[frame.len() - 4..]);
    out
}

pub fn write_scene_heard(chosen: &[usize], path: &Path, heard: Heard) -> Scene {
    let all = devices();
    let span = chosen.iter().map(|&i| all[i].frames.last().expect("frames").0).min().expect("a device");
    let start = SCENE_START_SECS * 1_000_000;
    let mut frames: Vec<(i64, Vec<u8>, Option<&'static str>)> = Vec::new();
    for (n, &i) in chosen.iter().enumerate() {
        let offset = STAGGER_MICROS * (n as i64 + 1);
        for (t, frame) in all[i].frames.iter().filter(|(t, _)| *t + offset <= span) {
            frames.push((start + offset + t, frame.clone(), Some(all[i].name)));
        }
    }
    let template = all[0].frames[0].1.clone();
    let mut at = 0;
    while at <= span {
        for (u, mac) in UNIVERSAL.iter().enumerate() {
            let mut frame = template.clone();
            let sa = u16::from_le_bytes([frame[2], frame[3]]) as usize + 10;
            let bytes: Vec<u8> = mac.split(':').map(|h| u8::from_str_radix(h, 16).expect("hex")).collect();
            frame[sa..sa + 6].copy_from_slice(&bytes);
            frames.push((start + at + u as i64 * 1000, frame, None));
        }
        at += UNIVERSAL_EVERY_MICROS;
    }
    frames.sort_by_key(|(t, _, _)| *t);
    let windows_len = ((frames.last().expect("frames").0 - start) / (RATE_SECS * 1_000_000) + 1) as usize;
    let mut windows = vec![TruthWindow::default(); windows_len];
    let mut addresses = BTreeSet::new();
    for (t, frame, device) in &frames {
        let w = &mut windows[((t - start) / (RATE_SECS * 1_000_000)) as usize];
        let sa = sa_of(frame);
        match device {
            Some(name) => {
                w.devices.insert(name);
                w.randomized_frames += 1;
                w.addresses.insert(sa);
                addresses.insert(sa);
            }
            None => w.universal_frames[(sa[5] - 0x49) as usize] += 1,
        }
    }
    let records: Vec<(i64, u32, Vec<u8>)> = frames
        .into_iter()
        .map(|(t, f, _)| {
            let f = if heard == Heard::AsHostapd { as_hostapd(&f) } else { f };
            (t.div_euclid(1_000_000), t.rem_euclid(1_000_000) as u32, f)
        })
        .collect();
    write_radiotap_pcap(path, &records);
    Scene { names: chosen.iter().map(|&i| all[i].name).collect(), windows, addresses: addresses.len() }
}

/// What presenced reported for one window.
#[derive(Debug, Default, Clone)]
pub struct Reported {
    /// Estimated devices' pseudonyms and frame counts.
    pub estimated: Vec<(String, u64)>,
    /// Rows without the mark: (mac, count).
    pub others: Vec<(String, u64)>,
}

/// Replays `pcap` through presenced with `--randomized-macs merge`.
pub fn replay_merge(pcap: &Path) -> Vec<Reported> {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_presenced"))
        .arg("-r")
        .arg(pcap)
        .args(["--stdout", "--no-hostapd", "--node-mac", "02:00:00:00:00:01", "--rate", "30", "--randomized-macs", "merge", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("presenced starts");
    let out = super::wait_with_timeout(child, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "presenced failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let report: serde_json::Value = serde_json::from_str(line).expect("a JSON report");
            let mut r = Reported::default();
            for row in report["probe_requests"].as_array().expect("rows") {
                let entry = (row["mac"].as_str().expect("mac").to_string(), row["count"].as_u64().expect("count"));
                if row.get("estimated_device") == Some(&serde_json::Value::Bool(true)) {
                    r.estimated.push(entry);
                } else {
                    r.others.push(entry);
                }
            }
            r
        })
        .collect()
}

/// A scene's figures.
#[derive(Debug, Clone)]
pub struct Figures {
    pub k: usize,
    pub windows: usize,
    /// Σ|estimate − truth| / Σ truth over the windows.
    pub window_error: f64,
    /// Σ naive / Σ truth.
    pub naive_ratio: f64,
    pub distinct_estimated: usize,
    pub distinct_addresses: usize,
    /// Windows where both iPhone 11 were present, and of those the ones
    /// with at least as many estimates as devices.
    pub both_twins: usize,
    pub twins_counted: usize,
}

/// Checks what must hold exactly (every randomized frame in an estimate,
/// universal rows untouched) and computes the figures.
pub fn figures(scene: &Scene, reported: &[Reported]) -> Figures {
    assert_eq!(reported.len(), scene.windows.len(), "one report per 30 s window of {:?}", scene.names);
    let (mut abs, mut truth, mut naive, mut both, mut counted) = (0i64, 0i64, 0i64, 0, 0);
    let mut pseudonyms = BTreeSet::new();
    for (i, (w, r)) in scene.windows.iter().zip(reported).enumerate() {
        let in_estimates: u64 = r.estimated.iter().map(|(_, c)| c).sum();
        assert_eq!(in_estimates, w.randomized_frames, "window {i} of {:?}: every randomized frame counts in one estimate", scene.names);
        let mut expected_universal: Vec<(String, u64)> =
            UNIVERSAL.iter().zip(w.universal_frames).filter(|(_, n)| *n > 0).map(|(m, n)| (m.to_string(), n)).collect();
        expected_universal.sort();
        let mut others = r.others.clone();
        others.sort();
        assert_eq!(others, expected_universal, "window {i} of {:?}: universal addresses are never merged", scene.names);
        let (e, t) = (r.estimated.len() as i64, w.devices.len() as i64);
        abs += (e - t).abs();
        truth += t;
        naive += w.addresses.len() as i64;
        if w.devices.contains(DEVICES[0]) && w.devices.contains(DEVICES[1]) {
            both += 1;
            counted += (e >= t) as usize;
        }
        pseudonyms.extend(r.estimated.iter().map(|(m, _)| m.clone()));
    }
    Figures {
        k: scene.names.len(),
        windows: scene.windows.len(),
        window_error: abs as f64 / truth.max(1) as f64,
        naive_ratio: naive as f64 / truth.max(1) as f64,
        distinct_estimated: pseudonyms.len(),
        distinct_addresses: scene.addresses,
        both_twins: both,
        twins_counted: counted,
    }
}

/// Every choice of k of n indices, in lexicographic order.
pub fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut pick: Vec<usize> = (0..k).collect();
    loop {
        out.push(pick.clone());
        let Some(i) = (0..k).rev().find(|&i| pick[i] < n - k + i) else { return out };
        pick[i] += 1;
        for j in i + 1..k {
            pick[j] = pick[j - 1] + 1;
        }
    }
}
