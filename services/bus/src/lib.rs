//! The bus contract. Every NATS subject, JetStream stream, service endpoint and
//! message type that crosses a process boundary is defined here and nowhere
//! else; `schemas/` documents the same messages as JSON Schema for integrators.
//!
//! Invariant: a tenant or host id reaches a subject only after
//! [`ids::validate`] accepted it, so no `.`, `*` or `>` from outside ever
//! changes a subject's meaning.

#[cfg(feature = "nats")]
pub mod accounts;
pub mod actions;
pub mod duration;
pub mod error;
pub mod ids;
pub mod messages;
pub mod release;
#[cfg(feature = "nats")]
pub mod rpc;
#[cfg(feature = "nats")]
pub mod streams;
pub mod subjects;
pub mod text;

pub use error::{ErrorCode, HasErrorCode, ServiceError};
pub use ids::{validate, ContainerId, ContainerIdError, ContainerNameError, IdError};
