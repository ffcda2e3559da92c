//! The bytes of a captured frame, and the filter that lets only probe
//! requests through the kernel.
//!
//! Contract, for every module here: a view over `&[u8]` is checked once when
//! it is made (`new_checked`), and every accessor after that reads inside the
//! checked range and cannot panic, whatever the bytes; numbers are decoded
//! with an explicit byte order (radiotap is little-endian, 802.11's
//! fields are read as the standard lays them out). Nothing here allocates,
//! reads a clock or does I/O, except [`bpf`]'s one call that hands the fixed
//! program to libpcap. A frame that cannot be used becomes a named drop
//! reason ([`frame::DropReason`]), never an error that stops the capture.
//!
//! Bottom up: [`radiotap`] (the capture header), [`dot11`] (the 802.11
//! management header), [`mac`] (addresses as the report prints them),
//! [`frame`] (one captured frame to a probe observation or a drop reason),
//! [`bpf`] (the kernel filter).

pub mod bpf;
pub mod dot11;
pub mod frame;
pub mod mac;
pub mod radiotap;
