//! One reporting window: the row of every client heard in it, the counts of
//! what was captured and dropped, where the window ends, and what a finished
//! window shows of a client's address.
//!
//! Contract: pure. Every function takes the time it needs as an argument
//! (a frame's timestamp, the moment of a tick) and none reads a clock or
//! does I/O, so a replayed capture gives the windows a live run would have
//! given. Memory is bounded by `--max-clients`: a client that does not fit is
//! counted (`table_full`), never stored.
//!
//! [`table`] (the window's rows and counters) on [`mac_map`] (its hash map,
//! keyed against chosen collisions); [`schedule`] (where windows end, live
//! and replayed); [`privacy`] (keyed pseudonyms, applied to a finished window);
//! [`devices`] (`--randomized-macs merge`: randomized addresses' frames as
//! estimated devices, from window to window under keyed pseudonyms).

pub mod devices;
pub mod mac_map;
pub mod privacy;
pub mod schedule;
pub mod table;
