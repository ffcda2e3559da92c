//! presenced: 802.11 probe requests in, Presence Reporting API reports out.
//!
//! One folder per layer, bottom up; each folder's `mod.rs` states its contract:
//! - [`wire`]: the bytes of a captured frame (radiotap, 802.11, MAC
//!   addresses) and the kernel filter; pure, bounds-checked, no allocation.
//! - [`window`]: one reporting window's rows and counters, where windows
//!   end, pseudonyms; pure: time is passed in.
//! - [`deliver`]: a finished window to a signed report, POSTed, spooled and
//!   sent again; the only layer that talks to the report's server.
//! - [`hostapd`] and [`ubus`]: which clients are associated, and probe
//!   requests without a monitor interface, from hostapd's control sockets or
//!   OpenWrt's ubus; every wait bounded.
//!
//! Beside them, [`config`] (the command line), [`daemon`] (the capture loop
//! that ties the layers together), [`status`] (what `ubus call presenced
//! status` answers, handed over by capture and the reporter) and [`logger`].

pub mod config;
pub mod daemon;
pub mod deliver;
pub mod hostapd;
pub mod logger;
pub mod status;
pub mod ubus;
pub mod window;
pub mod wire;
