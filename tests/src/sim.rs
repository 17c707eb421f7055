//! A simulated agent speaking the real protocol (gRPC over TLS, the real
//! generated client) — for tests that need exact control over what is sent and
//! for the load generator. Snapshot values are synthetic but plausible.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{
    metadata::MetadataValue,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
    Request, Streaming,
};
use vigil_proto::{
    agent_message, vigil_service_client::VigilServiceClient, AgentMessage, CpuMetrics, DiskMetrics, HostMetrics,
    InterfaceMetrics, LoadMetrics, MemoryMetrics, Metrics, MountMetrics, NetworkMetrics, RegisterRequest, ServerMessage,
};

/// A TLS channel to the gateway at `address` ("localhost:port"), trusting `ca_pem_path`.
pub async fn channel(address: &str, ca_pem_path: &Path) -> Result<Channel> {
    let ca = std::fs::read_to_string(ca_pem_path).with_context(|| format!("cannot read {}", ca_pem_path.display()))?;
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name("localhost");
    let endpoint = Endpoint::from_shared(format!("https://{address}"))?.tls_config(tls)?;
    Ok(endpoint.connect().await?)
}

fn authorize<T>(request: &mut Request<T>, token: &str) {
    let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("token is ascii");
    request.metadata_mut().insert("authorization", value);
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

/// An open `Connect` stream: send on `sender`, read acks from `replies`.
pub struct Connection {
    pub sender: mpsc::Sender<AgentMessage>,
    pub replies: Streaming<ServerMessage>,
}

pub async fn connect(channel: Channel, token: &str, host_id: &str) -> Result<Connection, tonic::Status> {
    let mut client =
        VigilServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024).max_encoding_message_size(64 * 1024 * 1024);
    let (sender, receiver) = mpsc::channel(1024);
    let mut request = Request::new(ReceiverStream::new(receiver));
    authorize(&mut request, token);
    request
        .metadata_mut()
        .insert(vigil_proto::HOST_ID_METADATA, host_id.parse().map_err(|_| tonic::Status::invalid_argument("host id"))?);
    let replies = client.connect(request).await?.into_inner();
    Ok(Connection { sender, replies })
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A plausible snapshot; `seed` varies the values so rows can be told apart.
pub fn snapshot(seq: u64, collected_at: DateTime<Utc>, seed: u64) -> Metrics {
    let f = (seed % 1000) as f64 / 10.0;
    let timestamp = rfc3339(collected_at);
    Metrics {
        timestamp: timestamp.clone(),
        seq,
        host: Some(HostMetrics {
            timestamp,
            uptime: 86_400 + seed,
            cpu: Some(CpuMetrics {
                percent: f,
                cores: 4,
                model: "Sim CPU".to_owned(),
                per_core: vec![f, f / 2.0, f / 3.0, f / 4.0],
            }),
            memory: Some(MemoryMetrics {
                total: 8 << 30,
                used: (2 << 30) + seed * 4096,
                available: (6 << 30) - seed * 4096,
                percent: 25.0,
                swap_total: 1 << 30,
                swap_used: 0,
            }),
            disk: Some(DiskMetrics {
                mounts: vec![MountMetrics {
                    path: "/".to_owned(),
                    total: 100 << 30,
                    used: 40 << 30,
                    percent: 40.0,
                    fs_type: "ext4".to_owned(),
                }],
            }),
            network: Some(NetworkMetrics {
                interfaces: vec![InterfaceMetrics {
                    name: "eth0".to_owned(),
                    rx_bytes: 1_000_000 + seed,
                    tx_bytes: 2_000_000 + seed,
                    rx_packets: 1000,
                    tx_packets: 2000,
                    rx_errors: 0,
                    tx_errors: 0,
                }],
            }),
            load: Some(LoadMetrics { load_1m: 0.5, load_5m: 0.4, load_15m: 0.3 }),
        }),
        containers: vec![],
        services: vec![],
        custom: vec![],
        errors: vec![],
    }
}

pub fn metrics_message(host_id: &str, metrics: Metrics) -> AgentMessage {
    AgentMessage { agent_id: host_id.to_owned(), payload: Some(agent_message::Payload::Metrics(metrics)) }
}
