//! Test sandbox for whole-stack tests and the benchmark: a private
//! `nats-server` (restartable), a fresh MariaDB database, the real `vigil` and
//! `sovigilant` binaries as child processes, and small helpers to wait for
//! things. Nothing here fakes our own infrastructure.

pub mod live;
pub mod procstat;
pub mod raw_rows;
pub mod sandbox;
pub mod sim;

pub use sandbox::*;
