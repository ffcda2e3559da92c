//! Helpers of the receiver's own tests.

pub mod receiver_process;
