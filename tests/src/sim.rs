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
        ..Default::default()
    });
    authorize(&mut request, token);
    Ok(client.register(request).await?.into_inner().host_id)
}

/// One simulated host of a [`crate::Stack`]: registered, its `Connect` stream
/// open; every send waits for its ack and expects it accepted.
pub struct Agent {
    pub host: String,
    token: String,
    connection: Connection,
    seq: u64,
}

impl Agent {
    /// Registers `name` (machine id `m-<name>`) with the agent token `token`.
    pub async fn start(stack: &crate::Stack, token: &str, name: &str) -> Result<Agent> {
        let channel = channel(&stack.grpc_address(), &stack.ca_path()).await?;
        let host = register(channel.clone(), token, &format!("m-{name}"), name).await?;
        let connection = connect(channel, token, &host).await?;
        Ok(Agent { host, token: token.to_owned(), connection, seq: 0 })
    }

    /// Opens a new `Connect` stream (the old one is dropped), e.g. after a
    /// gateway restart.
    pub async fn reconnect(&mut self, stack: &crate::Stack) -> Result<()> {
        let channel = channel(&stack.grpc_address(), &stack.ca_path()).await?;
        self.connection = connect(channel, &self.token, &self.host).await?;
        Ok(())
    }

    /// The next action order the gateway hands over within `timeout` (acks
    /// are skipped); `None` when none came or the stream ended.
    pub async fn next_action(&mut self, timeout: std::time::Duration) -> Option<vigil_proto::Action> {
        use tokio_stream::StreamExt;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let reply = tokio::time::timeout_at(deadline, self.connection.replies.next()).await.ok()??.ok()?;
            if let Some(vigil_proto::server_message::Payload::Action(action)) = reply.payload {
                return Some(action);
            }
        }
    }

    /// Sends an action report.
    pub async fn report(&mut self, result: vigil_proto::ActionResult) {
        let message = vigil_proto::AgentMessage {
            agent_id: self.host.clone(),
            payload: Some(vigil_proto::agent_message::Payload::ActionResult(result)),
        };
        self.connection.sender.send(message).await.expect("the stream is open");
    }

    /// Sends the next plausible snapshot collected at `at`, changed by `edit`.
    pub async fn send_with(&mut self, at: chrono::DateTime<chrono::Utc>, edit: impl FnOnce(&mut vigil_proto::Metrics)) {
        use tokio_stream::StreamExt;
        self.seq += 1;
        let mut metrics = snapshot(self.seq, at, self.seq);
        edit(&mut metrics);
        self.connection.sender.send(metrics_message(&self.host, metrics)).await.expect("the stream is open");
        loop {
            let reply = tokio::time::timeout(std::time::Duration::from_secs(15), self.connection.replies.next())
                .await
                .expect("an ack within 15 s")
                .expect("the stream is open")
                .expect("not an error status");
            match reply.payload {
                Some(vigil_proto::server_message::Payload::Ack(ack)) => break assert!(ack.accepted, "{ack:?}"),
                // the tenant's interval, sent when the stream opens or it changes
                Some(vigil_proto::server_message::Payload::Config(_)) => continue,
                other => panic!("expected an ack, got {other:?}"),
            }
        }
    }

    /// A snapshot with CPU at `cpu` %.
    pub async fn send(&mut self, at: chrono::DateTime<chrono::Utc>, cpu: f64) {
        self.send_with(at, |metrics| metrics.host.as_mut().expect("host").cpu.as_mut().expect("cpu").percent = cpu).await;
    }

    /// Snapshots with these CPU values, 10 s apart from `start`; returns the
    /// time after the last one.
    pub async fn series(&mut self, start: chrono::DateTime<chrono::Utc>, values: &[f64]) -> chrono::DateTime<chrono::Utc> {
        let mut at = start;
        for value in values {
            self.send(at, *value).await;
            at += chrono::Duration::seconds(10);
        }
        at
    }
}
