//! Webhooks: the stored visits' changes told to HTTP endpoints as
//! Camlytics-shaped events.
//!
//! Contract:
//! - One truth with the dashboard: the events are what the sessionizer's
//!   writes to the stored visits do, read in the transaction that writes
//!   them (`store::webhook_outbox`): a network-wide visit that appears is a
//!   `RegionJoin` (origin as judged then), one the network's clock closes
//!   (its end plus the session timeout) a `RegionLeave` with its dwell, and
//!   occupancy (open visits that qualify as a visitor's, per network and
//!   per access point where the client was last seen) changes with those.
//!   `ChannelSilent` and `ChannelReporting` follow the access points'
//!   report times (more than three intervals without one).
//! - The clock is the network's stream: its rows' times (never past their
//!   arrival), carried on between reports by the server's clock, so a
//!   backfill of old reports sent in order is judged as it happened.
//! - Late rows: a visit that arrives already closed is told (a join and a
//!   leave at once) up to `analytics::hook_events::LATE_HORIZON` after its close; beyond,
//!   and for late rows that change a visit already told as left, nothing
//!   is sent and the network's counters say how many (the stored visits,
//!   the figures and the API have them whatever the arrival order).
//! - Each event exists once: it is written to an outbox with the next
//!   per-network sequence in the transaction that made it, under the
//!   network's lock on PostgreSQL; `delivery` sends each endpoint its
//!   events in order, at least once (twice only if a process dies between
//!   an endpoint's 2xx and recording it).
//!
//! Which changes are which events is pure and lives below the store, in
//! `analytics::hook_events` (the store writes the outbox in the transaction
//! that wrote the visits, so it must not import this layer); `delivery`
//! does the HTTP.

pub mod delivery;

pub use crate::analytics::hook_events::{HookEvent, HookKind};
