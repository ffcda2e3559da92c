//! `--randomized-macs merge`: probe requests from locally administered
//! (randomized) addresses counted as estimated devices rather than as
//! addresses.
//!
//! Contract:
//! - Only frames whose source is locally administered come here (the table
//!   diverts them on its cold path); a universal address is never merged
//!   with anything and never reaches this module.
//! - Pure: no I/O, no clock. Each frame comes with its capture time; the
//!   tracker is given each window's rows in window order.
//! - Memory is bounded: a window holds at most `max_bursts` bursts (the
//!   table's `--max-clients`; a frame that would open one more is counted as
//!   `table_full`), and the tracker at most as many devices, forgetting the
//!   longest unseen first.
//! - No raw address leaves it: an estimated device is reported under a
//!   pseudonym made from a per-run random key, its fingerprint class and a
//!   serial number, never from an address.
//!
//! The method (the published work: Vanhoef et al. 2016, Martin et al. 2017,
//! Espresso 2021, TrueSight 2021, Pintor & Atzori 2022; and the captures in
//! `../shared/data/randomized/`):
//! 1. `fingerprint`: the information elements of a probe request, their
//!    order and the contents of the capability elements, hashed into a
//!    class. Rotations of one device keep the class; devices of one model
//!    and OS share it, so a class is a set of devices, not a device.
//! 2. `bursts`: within a class, frames from the same address, or less than
//!    a second apart at a similar signal, are one scan burst.
//! 3. `clusters`: at the window's end, the bursts of a class are linked
//!    where the 802.11 sequence number continues across an address change
//!    (older phones), then split where their peak signals are far apart:
//!    each part is one estimated device of the window.
//! 4. `tracker`: each window's devices are matched to the devices of the
//!    windows before (sequence number first, then signal) so a device keeps
//!    its pseudonym while the evidence links it.

pub mod bursts;
pub mod clusters;
pub mod fingerprint;
pub mod tracker;

pub use bursts::Bursts;
pub use clusters::Cluster;
pub use fingerprint::Details;
pub use tracker::Tracker;
