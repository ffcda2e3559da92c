//! What hostapd's ubus interface (OpenWrt's hostapd, src/ap/ubus.c) sends,
//! read into presenced's terms. Pure.
//!
//! - A `probe` notification (hostapd_ubus_handle_event) carries `address`
//!   (the frame's SA as "xx:xx:xx:xx:xx:xx"), `target` (its DA), `signal`
//!   (an INT32 dBm, left out when the driver gave none), `freq`, `ifname`,
//!   and the tables `ht_capabilities` and `vht_capabilities` when the frame
//!   had those elements: the only part of its elements hostapd passes on,
//!   read for `--randomized-macs merge` (see `capability_details`).
//! - `get_clients` (hostapd_bss_get_clients) answers `freq` and a table
//!   `clients` keyed by station MAC, each a table of flags (`auth`, `assoc`,
//!   `authorized`, ... as BOOLs), `aid`, counters and `signal`.

use std::collections::BTreeSet;

use super::blob::{Fields, Kind};
use crate::wire::frame::{DropReason, Probe};
use crate::wire::mac::MacAddr;
use crate::window::devices::fingerprint::{class_of_elements, Details};

/// A notification that is not what ubus.c sends: the reason, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

/// One `probe` notification: the outcome a captured frame would get, and
/// what identifies the frame across the BSSes of one radio (each BSS hostapd
/// runs on a radio is handed the same frame and notifies it: see `dedup`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub outcome: Result<Probe, DropReason>,
    pub frame: FrameKey,
    /// The BSS that notified (`ifname`; empty if hostapd gave none).
    pub bss: String,
    /// What the estimate of `--randomized-macs merge` can read of the frame.
    pub details: Details,
}

/// What the copies of one frame have in common: the sender, the receiver
/// address, the signal and the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameKey {
    pub address: MacAddr,
    pub target: Option<MacAddr>,
    pub signal: Option<i32>,
    pub freq: Option<u32>,
}

/// A `probe` notification's data to the same outcome a captured frame
/// gets: a probe, or the drop rule that applies (a group source address,
/// no signal). `Err` when it cannot be read at all.
pub fn probe(data: &[u8]) -> Result<Result<Probe, DropReason>, Malformed> {
    notification(data).map(|n| n.outcome)
}

pub fn notification(data: &[u8]) -> Result<Notification, Malformed> {
    let fields = Fields::new(data);
    // Every field must be well-formed: past a bad one nothing can be
    // trusted, the fields asked for included.
    if let Some(Err(e)) = fields.clone().find(|f| f.is_err()) {
        return Err(Malformed(e.to_string()));
    }
    let address = fields.get("address").ok_or_else(|| Malformed("no address".into()))?;
    let text = address.str().ok_or_else(|| Malformed(format!("address is not a string ({:?})", address.kind)))?;
    let client: MacAddr = text.parse().map_err(|e| Malformed(format!("address '{text}': {e}")))?;
    let signal = match fields.get("signal") {
        None => None,
        Some(s) => Some(s.i32().ok_or_else(|| Malformed(format!("signal is not an INT32 ({:?})", s.kind)))?),
    };
    let frame = FrameKey {
        address: client,
        target: fields.get("target").and_then(|t| t.str()).and_then(|t| t.parse().ok()),
        signal,
        freq: fields.get("freq").and_then(|f| f.u32()),
    };
    let bss = fields.get("ifname").and_then(|i| i.str()).unwrap_or_default().to_string();
    let outcome = match signal {
        _ if client.is_group() => Err(DropReason::GroupSource),
        None => Err(DropReason::NoSignal),
        Some(dbm) => {
            let signal_dbm = i8::try_from(dbm).map_err(|_| Malformed(format!("signal {dbm} dBm is out of range")))?;
            Ok(Probe { client, signal_dbm })
        }
    };
    Ok(Notification { outcome, frame, bss, details: capability_details(&fields) })
}

/// The fingerprint class of the capability elements ubus.c describes,
/// rebuilt byte for byte as the frame carried them (HT capabilities, 26
/// bytes; VHT capabilities, 12), so that a class over ubus is the class of
/// a captured frame that had only those elements. No element order, no
/// other element and no sequence number come over ubus. ubus.c hands over
/// the raw little-endian fields as host integers: on a big-endian access
/// point the bytes come out swapped, the same for every frame, so the
/// classes are the same sets. A table that is not as ubus.c writes it
/// counts as absent.
pub fn capability_details(fields: &Fields) -> Details {
    let mut elements = Vec::with_capacity(42);
    if let Some(ht) = fields.get("ht_capabilities").and_then(|f| f.members()).and_then(|t| ht_element(&t)) {
        elements.extend_from_slice(&ht);
    }
    if let Some(vht) = fields.get("vht_capabilities").and_then(|f| f.members()).and_then(|t| vht_element(&t)) {
        elements.extend_from_slice(&vht);
    }
    Details { class: class_of_elements(&elements), seq: None, off_channel: false }
}

/// hostapd's struct ieee80211_ht_capabilities as element 45.
fn ht_element(ht: &Fields) -> Option<[u8; 28]> {
    let info = ht.get("ht_capabilities_info")?.u16()?;
    let set = ht.get("supported_mcs_set")?.members()?;
    let a_mpdu = set.get("a_mpdu_params")?.u16()?;
    let extended = set.get("ht_extended_capabilities")?.u16()?;
    let beamforming = set.get("tx_bf_capability_info")?.u32()?;
    let antenna_selection = set.get("asel_capabilities")?.u16()?;
    let mut mcs = [0u8; 16];
    let mut count = 0;
    for member in set.get("supported_mcs_set")?.members()? {
        let byte = u8::try_from(member.ok()?.u16()?).ok()?;
        *mcs.get_mut(count)? = byte;
        count += 1;
    }
    if count != mcs.len() {
        return None;
    }
    let mut e = [0u8; 28];
    e[0] = 45;
    e[1] = 26;
    e[2..4].copy_from_slice(&info.to_le_bytes());
    e[4] = u8::try_from(a_mpdu).ok()?;
    e[5..21].copy_from_slice(&mcs);
    e[21..23].copy_from_slice(&extended.to_le_bytes());
    e[23..27].copy_from_slice(&beamforming.to_le_bytes());
    e[27] = u8::try_from(antenna_selection).ok()?;
    Some(e)
}

/// hostapd's struct ieee80211_vht_capabilities as element 191.
fn vht_element(vht: &Fields) -> Option<[u8; 14]> {
    let info = vht.get("vht_capabilities_info")?.u32()?;
    let set = vht.get("vht_supported_mcs_set")?.members()?;
    let mut e = [0u8; 14];
    e[0] = 191;
    e[1] = 12;
    e[2..6].copy_from_slice(&info.to_le_bytes());
    for (i, name) in ["rx_map", "rx_highest", "tx_map", "tx_highest"].iter().enumerate() {
        e[6 + 2 * i..8 + 2 * i].copy_from_slice(&set.get(name)?.u16()?.to_le_bytes());
    }
    Some(e)
}

/// Stations of one BSS's `get_clients` answer that are associated or
/// authorized (the control socket's `[ASSOC]` or `[AUTHORIZED]`), and a
/// description of each entry that could not be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Clients {
    pub associated: BTreeSet<MacAddr>,
    pub problems: Vec<String>,
}

pub fn clients(data: &[u8]) -> Result<Clients, Malformed> {
    let fields = Fields::new(data);
    let list = fields.get("clients").ok_or_else(|| Malformed("no clients table".into()))?;
    let members = list
        .members()
        .ok_or_else(|| Malformed(format!("clients is not a table ({:?})", list.kind)))?;
    let mut out = Clients::default();
    for member in members {
        let member = match member {
            Ok(m) => m,
            Err(e) => {
                // What follows cannot be located: the list so far counts.
                out.problems.push(format!("clients: {e}"));
                break;
            }
        };
        let mac: MacAddr = match member.name.parse() {
            Ok(m) => m,
            Err(e) => {
                out.problems.push(format!("client '{}': {e}", member.name));
                continue;
            }
        };
        let Some(flags) = member.members().filter(|_| member.kind == Kind::Table) else {
            out.problems.push(format!("client {}: not a table", member.name));
            continue;
        };
        let flag = |name: &str| flags.get(name).and_then(|f| f.bool()).unwrap_or(false);
        if flag("assoc") || flag("authorized") {
            out.associated.insert(mac);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe notification's data as ubus.c builds it: address (via
    /// blobmsg_add_macaddr, a 20-byte string buffer of which 17 + NUL are
    /// used), ifname, target, signal -47, freq 2437.
    fn notification(address: &str, signal: Option<i32>) -> Vec<u8> {
        let mut b = Vec::new();
        let mut string = |name: &str, value: &str| {
            // header: extended STRING; name length; name NUL pad; value NUL pad
            let name_part = (2 + name.len() + 1 + 3) & !3;
            let len = 4 + name_part + value.len() + 1;
            b.extend_from_slice(&(0x8300_0000u32 | len as u32).to_be_bytes());
            b.extend_from_slice(&(name.len() as u16).to_be_bytes());
            b.extend_from_slice(name.as_bytes());
            b.resize(b.len() + name_part - 2 - name.len(), 0);
            b.extend_from_slice(value.as_bytes());
            b.push(0);
            b.resize((b.len() + 3) & !3, 0);
        };
        string("address", address);
        string("ifname", "wlan0");
        string("target", "ff:ff:ff:ff:ff:ff");
        let mut int32 = |name: &str, v: i32| {
            // "signal" and "freq" both fit a 12-byte (or 8-byte) name header
            let name_part = (2 + name.len() + 1 + 3) & !3;
            b.extend_from_slice(&(0x8500_0000u32 | (4 + name_part + 4) as u32).to_be_bytes());
            b.extend_from_slice(&(name.len() as u16).to_be_bytes());
            b.extend_from_slice(name.as_bytes());
            b.resize(b.len() + name_part - 2 - name.len(), 0);
            b.extend_from_slice(&v.to_be_bytes());
        };
        if let Some(s) = signal {
            int32("signal", s);
        }
        int32("freq", 2437);
        b
    }

    #[test]
    fn a_probe_notification_is_a_probe_of_its_address_and_signal() {
        // The "signal" field by hand: 85 00 00 14 | 00 06 "signal" 00 00 00 00 | ff ff ff d1
        let data = notification("00:1b:63:a1:b2:c3", Some(-47));
        let signal_at = data.windows(6).position(|w| w == b"signal").unwrap() - 6;
        assert_eq!(
            &data[signal_at..signal_at + 20],
            &[0x85, 0, 0, 0x14, 0, 6, b's', b'i', b'g', b'n', b'a', b'l', 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xd1]
        );
        assert_eq!(
            probe(&data),
            Ok(Ok(Probe { client: MacAddr([0x00, 0x1b, 0x63, 0xa1, 0xb2, 0xc3]), signal_dbm: -47 }))
        );
    }

    /// blobmsg attributes written out from blobmsg.h: a 4-byte header
    /// (extended bit, type, length with the header), the name's length,
    /// the name with its NUL padded to 4, the value padded to 4.
    fn attr(kind: u8, name: &str, value: &[u8]) -> Vec<u8> {
        let name_part = (2 + name.len() + 1 + 3) & !3;
        let len = 4 + name_part + value.len();
        let mut b = ((0x80u32 | kind as u32) << 24 | len as u32).to_be_bytes().to_vec();
        b.extend_from_slice(&(name.len() as u16).to_be_bytes());
        b.extend_from_slice(name.as_bytes());
        b.resize(4 + name_part, 0);
        b.extend_from_slice(value);
        b.resize((b.len() + 3) & !3, 0);
        b
    }
    const ARRAY: u8 = 1;
    const TABLE: u8 = 2;
    const INT32: u8 = 5;
    const INT16: u8 = 6;

    /// The HT capabilities of the iPhone 11 in probingpatterns-iPhone11-B
    /// (tshark: 2d 40 1b ff 00 ...: info 0x402d, A-MPDU 0x1b, MCS 0-7), as
    /// ubus.c describes them.
    fn iphone_ht() -> Vec<u8> {
        let mut mcs = Vec::new();
        for byte in [0xffu16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] {
            mcs.extend(attr(INT16, "", &byte.to_be_bytes()));
        }
        let mut set = attr(INT16, "a_mpdu_params", &0x1bu16.to_be_bytes());
        set.extend(attr(INT16, "ht_extended_capabilities", &0u16.to_be_bytes()));
        set.extend(attr(INT32, "tx_bf_capability_info", &0u32.to_be_bytes()));
        set.extend(attr(INT16, "asel_capabilities", &0u16.to_be_bytes()));
        set.extend(attr(ARRAY, "supported_mcs_set", &mcs));
        let mut ht = attr(INT16, "ht_capabilities_info", &0x402du16.to_be_bytes());
        ht.extend(attr(TABLE, "supported_mcs_set", &set));
        attr(TABLE, "ht_capabilities", &ht)
    }

    #[test]
    fn the_ht_capabilities_table_is_the_class_of_the_frames_element() {
        let mut data = notification("da:a1:19:00:00:01", Some(-46));
        data.extend(iphone_ht());
        let n = notification_of(&data);
        let element: [u8; 28] = [
            45, 26, 0x2d, 0x40, 0x1b, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(n.details, Details { class: class_of_elements(&element), seq: None, off_channel: false });
        // Without the table, or with one that is not as ubus.c writes it: no elements.
        let plain = notification_of(&notification("da:a1:19:00:00:01", Some(-46)));
        assert_eq!(plain.details, Details::UNKNOWN);
        let mut short = notification("da:a1:19:00:00:01", Some(-46));
        short.extend(attr(TABLE, "ht_capabilities", &attr(INT16, "ht_capabilities_info", &0x402du16.to_be_bytes())));
        assert_eq!(notification_of(&short).details, Details::UNKNOWN);
    }

    fn notification_of(data: &[u8]) -> Notification {
        super::notification(data).unwrap()
    }

    #[test]
    fn the_frame_drop_rules_apply() {
        assert_eq!(probe(&notification("01:00:5e:00:00:01", Some(-40))), Ok(Err(DropReason::GroupSource)));
        assert_eq!(probe(&notification("00:1b:63:a1:b2:c3", None)), Ok(Err(DropReason::NoSignal)));
    }

    #[test]
    fn what_ubus_c_never_sends_is_malformed_with_a_reason() {
        let e = probe(&notification("00:1b:63:a1:b2", Some(-40))).unwrap_err();
        assert!(e.0.contains("address '00:1b:63:a1:b2'"), "{e:?}");
        let e = probe(&notification("00:1b:63:a1:b2:c3", Some(-300))).unwrap_err();
        assert!(e.0.contains("-300"), "{e:?}");
        assert!(probe(&[]).unwrap_err().0.contains("no address"));
        let data = notification("00:1b:63:a1:b2:c3", Some(-40));
        for cut in 1..data.len() {
            // Cut anywhere: an error or (cut after a whole field) an outcome,
            // never a panic; a cut inside a field is always an error.
            let _ = probe(&data[..cut]);
        }
        let e = probe(&data[..data.len() - 2]).unwrap_err();
        assert!(e.0.contains("cut short") || e.0.contains("claims"), "{e:?}");
    }

    /// get_clients' answer for two stations, as hostapd_bss_get_clients
    /// builds it (flags as INT8 bools; the rest left out: presenced reads
    /// only the flags).
    fn get_clients(stations: &[(&str, bool, bool)]) -> Vec<u8> {
        use super::super::blob::Writer;
        // The writer makes only STRING and INT32 fields; tables and bools are
        // spelled out here byte by byte.
        fn bool_field(name: &str, v: bool) -> Vec<u8> {
            let name_part = (2 + name.len() + 1 + 3) & !3;
            let mut b = (0x8700_0000u32 | (4 + name_part + 1) as u32).to_be_bytes().to_vec();
            b.extend_from_slice(&(name.len() as u16).to_be_bytes());
            b.extend_from_slice(name.as_bytes());
            b.resize(4 + name_part, 0);
            b.push(v as u8);
            b.resize((b.len() + 3) & !3, 0);
            b
        }
        fn table(name: &str, members: &[u8]) -> Vec<u8> {
            let name_part = (2 + name.len() + 1 + 3) & !3;
            let mut b = (0x8200_0000u32 | (4 + name_part + members.len()) as u32).to_be_bytes().to_vec();
            b.extend_from_slice(&(name.len() as u16).to_be_bytes());
            b.extend_from_slice(name.as_bytes());
            b.resize(4 + name_part, 0);
            b.extend_from_slice(members);
            b
        }
        let mut w = Writer::new();
        w.field_u32("freq", 2437);
        let mut list = Vec::new();
        for (mac, assoc, authorized) in stations {
            let mut flags = bool_field("auth", true);
            flags.extend(bool_field("assoc", *assoc));
            flags.extend(bool_field("authorized", *authorized));
            list.extend(table(mac, &flags));
        }
        let mut b = w.into_bytes();
        b.extend(table("clients", &list));
        b
    }

    #[test]
    fn associated_or_authorized_stations_count() {
        let data = get_clients(&[
            ("00:1b:63:d4:e5:f6", true, true),
            ("00:1b:63:00:00:0a", false, false),
            ("00:1b:63:00:00:0b", false, true),
            ("not-a-mac", true, true),
        ]);
        let c = clients(&data).unwrap();
        let want: BTreeSet<MacAddr> =
            ["00:1b:63:d4:e5:f6", "00:1b:63:00:00:0b"].iter().map(|m| m.parse().unwrap()).collect();
        assert_eq!(c.associated, want);
        assert_eq!(c.problems.len(), 1);
        assert!(c.problems[0].contains("not-a-mac"));
        assert!(clients(&[]).unwrap_err().0.contains("no clients"));
        // Cut short, the table's length points past the end: no list at all.
        assert!(clients(&data[..data.len() - 5]).is_err());
    }
}
