//! hostapd over ubus: probe requests and station lists from OpenWrt's own
//! hostapd, without a monitor interface.
//!
//! A native client of ubus's wire protocol rather than bindings to libubus
//! and libubox, for three reasons:
//! - Size and build: presenced's MIPS binary is cross-built with zig and a
//!   static libpcap; bindings would need libubox, libubus and json-c built
//!   for every target too (or an OpenWrt SDK), for a protocol whose part
//!   used here is six message types. The native client costs 39 KiB of the
//!   mips_24kc binary (19 KiB of the ipk; see README) and no library.
//! - Robustness: libubus's calls block without a bound (its writes poll(2)
//!   with no timeout, `ubus_complete_request` with timeout 0 waits for ever)
//!   and trust ubusd's bytes; here every read and write has a deadline, and
//!   the parser (`blob`, `message`) is a bounds-checked view that answers a
//!   hostile or truncated message with an error, never a panic or an
//!   allocation beyond ubusd's own 1 MiB message limit.
//! - Testability: the parser and the subscriber's state machine
//!   (`subscriber`) are pure and tested on bytes written out from the
//!   protocol's definition; the whole is tested against the real ubusd.
//!
//! Layers, bottom up: `blob` (libubox's blob and blobmsg), `message` (ubus
//! messages, framing, requests), `hostapd` (what hostapd's ubus.c sends:
//! probe notifications and get_clients), `dedup` (one count per frame
//! although every BSS of a radio notifies it), `subscriber` (the pure state
//! machine of one connection: subscribe to every `hostapd.*` object, follow
//! objects as they come and go, answer every notification with status 0),
//! `connection` (the socket, with deadlines), `source` (the capture source:
//! reconnects with a bounded backoff) and `lookup` (`associated` from
//! get_clients). presenced's own object: `object` (registering it and
//! answering its method, pure), `status_reply` (the answer's fields from a
//! `status::Snapshot`, pure) and `publisher` (the thread).

pub mod blob;
pub mod connection;
pub mod dedup;
pub mod hostapd;
pub mod lookup;
pub mod message;
pub mod object;
pub mod publisher;
pub mod source;
pub mod status_reply;
pub mod subscriber;

/// Where ubusd listens on OpenWrt (ubus's UBUS_UNIX_SOCKET).
pub const DEFAULT_SOCKET: &str = "/var/run/ubus/ubus.sock";
/// hostapd's objects: one per BSS, `hostapd.<ifname>`.
pub const HOSTAPD_PREFIX: &str = "hostapd.";
