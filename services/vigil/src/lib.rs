//! The `vigil` binary's library: configuration, TLS material, database setup,
//! supervision of in-process services, agent releases, the local agent and the
//! nats-server of `vigil up`, and
//! [`Stack`], which whole-stack tests start like `vigil run gateway collector`.
#![deny(unsafe_code)]

pub mod agent;
pub mod config;
pub mod db;
pub mod nats;
pub mod release;
pub mod secret;
pub mod stack;
pub mod supervisor;
pub mod tls;
pub mod up;

pub use config::Config;
pub use db::migrate;
pub use stack::{ServiceKind, Stack, StackError};
