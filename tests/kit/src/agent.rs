//! The agent's side of the gRPC protocol, with the real generated client:
//! a TLS channel, the `Connect` stream, the message wrapping a snapshot.
//! (`raw_grpc` sends what no generated client would.)

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Streaming};
use vigil_proto::vigil_service_client::VigilServiceClient;
use vigil_proto::{agent_message, AgentMessage, Metrics, ServerMessage};

/// A TLS channel to the gateway at `address` (`localhost:<port>`), trusting
/// only the CA certificate `ca_pem` and expecting the name `localhost`.
pub async fn tls_channel(address: &str, ca_pem: &str) -> Result<Channel, tonic::transport::Error> {
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)).domain_name("localhost");
    Endpoint::from_shared(format!("https://{address}"))?.tls_config(tls)?.connect().await
}

/// Adds `authorization: Bearer <token>` (an agent token) to `request`.
pub fn authorize<T>(request: &mut Request<T>, token: &str) {
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("an ascii token"));
}

/// An open `Connect` stream: send on `sender`, read acks from `replies`.
pub struct Connection {
    pub sender: mpsc::Sender<AgentMessage>,
    pub replies: Streaming<ServerMessage>,
}

/// Opens `Connect` as host `host_id` with the agent token `token` (messages
/// up to 64 MiB each way, so tests can send what the gateway must refuse).
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

/// `metrics` as the message an agent with id `host_id` sends.
pub fn metrics_message(host_id: &str, metrics: Metrics) -> AgentMessage {
    AgentMessage { agent_id: host_id.to_owned(), payload: Some(agent_message::Payload::Metrics(metrics)) }
}
