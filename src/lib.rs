//! presenced: 802.11 probe requests in, Presence Reporting API reports out.
//!
//! The pure layers (`radiotap`, `dot11`, `frame`, `table`, `report`) do no I/O
//! and read no clock; the daemon (`run`) feeds them frames and times.

pub mod bpf;
pub mod config;
pub mod daemon;
pub mod dot11;
pub mod frame;
pub mod hostapd;
pub mod http;
pub mod logger;
pub mod mac;
pub mod mac_map;
pub mod privacy;
pub mod radiotap;
pub mod receiver;
pub mod report;
pub mod reporter;
pub mod resender;
pub mod spool;
pub mod status;
pub mod table;
pub mod ubus;
pub mod window;
