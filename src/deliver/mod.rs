//! A finished window out to the report's server: the report's bytes, the
//! signed POST, and what happens when the server does not take it.
//!
//! Contract: delivery never stalls capture. The capture loop hands a window
//! to the [`reporter`] thread and goes on; every exchange with the server
//! runs against a deadline (the POST's timeout, or the shutdown cut-off once
//! a stop signal sets it); a report the server did not take is dropped and
//! said so, or kept in the bounded [`spool`] and sent again by the
//! [`resender`]. The report's format and signature are not defined here but
//! in `presenced-report`, shared with the servers that receive it.
//!
//! [`report`] (a window's report body, streamed from its rows), [`http`]
//! (one POST over `std::net` and rustls), [`reporter`] (the thread that
//! prints, signs and POSTs each window), [`spool`] (reports kept in RAM,
//! pure) and [`resender`] (the thread that sends them again).

pub mod http;
pub mod report;
pub mod reporter;
pub mod resender;
pub mod spool;
