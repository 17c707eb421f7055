//! A simulated agent speaking the real protocol (gRPC over TLS, the real
//! generated client) — for tests that need exact control over what is sent and
//! for the load generator. Snapshot values are synthetic but plausible.
//!
//! The stream, the message and the snapshot are the kit's
//! (`vigil_testkit::agent`, `vigil_testkit::fixtures::agent_metrics`),
//! re-exported here under the names the tests and benchmarks use.

use std::path::Path;

use anyhow::{Context, Result};
use tonic::{transport::Channel, Request};
use vigil_proto::{vigil_service_client::VigilServiceClient, RegisterRequest};
use vigil_testkit::agent::{authorize, tls_channel};
pub use vigil_testkit::agent::{connect, metrics_message, Connection};
/// A plausible snapshot; `seed` varies the values so rows can be told apart.
pub use vigil_testkit::fixtures::agent_metrics as snapshot;
pub use vigil_testkit::fixtures::rfc3339;

/// A TLS channel to the gateway at `address` ("localhost:port"), trusting `ca_pem_path`.
pub async fn channel(address: &str, ca_pem_path: &Path) -> Result<Channel> {
    let ca = std::fs::read_to_string(ca_pem_path).with_context(|| format!("cannot read {}", ca_pem_path.display()))?;
    Ok(tls_channel(address, &ca).await?)
}

pub async fn register(channel: Channel, token: &str, machine_id: &str, name: &str) -> Result<String, tonic::Status> {
    let mut client = VigilServiceClient::new(channel);
    let mut request = Request::new(RegisterRequest {
        name: name.to_owned(),
        hostname: name.to_owned(),
        machine_id: machine_id.to_owned(),
        os: "Debian GNU/Linux 12 (bookworm)".to_owned(),
        arch: "x86_64".to_owned(),
        agent_version: "sim".to_owned(),
        ip_address: "127.0.0.1".to_owned(),
        requested_id: String::new(),
    });
    authorize(&mut request, token);
    Ok(client.register(request).await?.into_inner().host_id)
}
