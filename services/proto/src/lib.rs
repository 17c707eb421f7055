//! Generated types and client/server stubs for `proto/vigil.proto`, the
//! agent ⇄ gateway contract. Nothing but generated code lives here.
#![allow(clippy::all)]

tonic::include_proto!("vigil");

/// Metadata key carrying the host id on `Connect`.
pub const HOST_ID_METADATA: &str = "x-vigil-host-id";
/// Largest gRPC message an agent sends and the gateway accepts by default
/// (1 MiB; a snapshot is a few KiB, and the agent bounds and caps its
/// snapshots below this, see `docs/agent-snapshot-size.md`).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
