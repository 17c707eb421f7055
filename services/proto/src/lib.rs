//! Generated types and client/server stubs for `proto/vigil.proto`, the
//! agent ⇄ gateway contract. Nothing but generated code lives here.
#![allow(clippy::all)]

tonic::include_proto!("vigil");

/// Metadata key carrying the host id on `Connect`.
pub const HOST_ID_METADATA: &str = "x-vigil-host-id";
/// Largest gRPC message either side accepts (a snapshot is a few KiB).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
