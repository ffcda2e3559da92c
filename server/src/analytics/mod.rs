//! Analytics, pure: rows in, visits and figures out; no I/O, no clock (the
//! time is passed in).
//!
//! - `visits`: the batch sessionizer, rows to visits; the reference that
//!   the stored state is tested against, and the rules a network's visits
//!   are cut and judged by.
//! - `sessionize`: the incremental one that ingest runs: stored visits and
//!   new rows in, the visits to write out; equal to `visits` over the same
//!   rows whatever the order they arrive in (its module doc says why).
//! - `metrics`: visits to the figures per bucket in the venue's local time.
//! - `figures`: what a stored local hour keeps, and how days and ranges
//!   are put together from hours (equal to `metrics` of the bigger bucket).
//! - `intervals`: what the access points page concludes from report times.
//! - `object_id`: a client's keyed pseudonym where raw MACs are not shown.
//! - `hook_events`: the webhooks' events that the stored visits' changes
//!   make (`store::webhook_outbox` writes them, `webhooks` sends them).
//!
//! Contract: nothing here reads the database; `store` reads and writes the
//! state these functions compute, and every view shows what `metrics` makes
//! of the stored visits.

pub mod figures;
pub mod hook_events;
pub mod intervals;
pub mod metrics;
pub mod object_id;
pub mod sessionize;
pub mod visits;

pub use intervals::{infer_interval, is_silent, INTERVAL_SAMPLE};
