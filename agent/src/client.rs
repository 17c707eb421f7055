//! The gRPC side of the agent: the channel to the gateway (TLS with rustls,
//! or plaintext when `server.tls.enabled: false`), `Register`, and the
//! [`Sender`] that drains the on-disk queue over `Connect`.
//!
//! Invariants kept by the sender:
//! - every call carries `authorization: Bearer <token>`; `Connect` also
//!   carries `x-vigil-host-id`;
//! - snapshots go out in `seq` order; after a reconnect everything still
//!   queued is replayed from the oldest;
//! - a snapshot leaves the queue only on its `Ack` (accepted, or refused for
//!   good, which is logged), never because it was sent; the one exception is
//!   a queued snapshot whose message is over [`vigil_proto::MAX_MESSAGE_BYTES`]
//!   (written by an agent version that did not cap its snapshots): it could
//!   never be sent, so it is dropped with a logged reason instead of failing
//!   the stream at every replay;
//! - at most [`MAX_IN_FLIGHT`] snapshots are sent and not yet acknowledged;
//! - on any stream error or end it reconnects with exponential backoff
//!   (1 s doubling to 30 s, with jitter);
//! - an `Action` is handed to the actions worker ([`crate::actions`]) and
//!   never waited on; the worker's reports go out on whichever connection is
//!   current when they are ready.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use vigil_proto::vigil_service_client::VigilServiceClient;
use vigil_proto::{
    agent_message, server_message, ActionResult, AgentMessage, Heartbeat, Metrics, RegisterRequest, RegisterResponse,
    ServerMessage,
};
use vigil_runtime::shutdown::{sleep_or_cancelled, CancellationToken};
use vigil_runtime::Backoff;

use crate::config::{Config, ServerConfig};
use crate::queue::SharedQueue;
use crate::status::Status;

/// Snapshots sent and not yet acknowledged, at most.
pub const MAX_IN_FLIGHT: usize = 256;
/// A heartbeat goes out when nothing else was sent for this long.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(30);
/// First reconnect delay.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Limit for one unary call or for opening the stream.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the CA certificate {path}: {source}; fix server.tls.ca_cert")]
    CaCert { path: String, source: std::io::Error },
    #[error("invalid gateway address {address:?}: {source}")]
    Endpoint { address: String, source: tonic::transport::Error },
    #[error("cannot connect to the gateway at {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("{call} failed: {}", describe_status(.status))]
    Rpc { call: &'static str, status: tonic::Status },
    #[error("{call} timed out after {timeout:?}")]
    Timeout { call: &'static str, timeout: Duration },
    #[error("{what} {value:?} cannot be sent as gRPC metadata")]
    Metadata { what: &'static str, value: String },
    #[error("the gateway returned host id {value:?}: {source}")]
    BadHostId { value: String, source: vigil_bus::IdError },
    #[error("the gateway returned tenant id {value:?}: {source}")]
    BadTenantId { value: String, source: vigil_bus::IdError },
    #[error("cannot store {path}: {source}")]
    StoreId { path: String, source: std::io::Error },
    #[error("the outgoing stream closed")]
    OutgoingClosed,
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct BearerToken {
    value: MetadataValue<Ascii>,
}

impl BearerToken {
    pub fn new(token: &str) -> Result<Self, ClientError> {
        let value =
            format!("Bearer {token}").parse().map_err(|_| ClientError::Metadata { what: "token", value: "<redacted>".into() })?;
        Ok(Self { value })
    }
}

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.value.clone());
        Ok(request)
    }
}

pub type Client = VigilServiceClient<InterceptedService<Channel, BearerToken>>;

/// Opens a channel to `server.address` (TLS unless `tls.enabled: false`).
pub async fn connect_channel(server: &ServerConfig) -> Result<Channel, ClientError> {
    let scheme = if server.tls.enabled { "https" } else { "http" };
    let uri = format!("{scheme}://{}", server.address);
    let endpoint_error = |source| ClientError::Endpoint { address: server.address.clone(), source };
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(endpoint_error)?
        .connect_timeout(Duration::from_secs(10))
        .tcp_keepalive(Some(Duration::from_secs(30)))
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true);
    if server.tls.enabled {
        let mut tls = ClientTlsConfig::new().domain_name(server.host.clone());
        tls = match &server.tls.ca_cert {
            Some(path) => {
                let pem = tokio::fs::read(path)
                    .await
                    .map_err(|source| ClientError::CaCert { path: path.display().to_string(), source })?;
                tls.ca_certificate(Certificate::from_pem(pem))
            }
            None => tls.with_native_roots(),
        };
        endpoint = endpoint.tls_config(tls).map_err(endpoint_error)?;
    }
    endpoint
        .connect()
        .await
        .map_err(|source| ClientError::Connect { address: server.address.clone(), reason: error_chain(&source) })
}

/// `error: cause: cause...`, so a TLS or DNS failure says what it was
/// (tonic's transport error alone prints only "transport error").
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn describe_status(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(source) = std::error::Error::source(status) {
        text.push_str(": ");
        text.push_str(&error_chain(source));
    }
    text
}

/// A client on `channel` that authenticates with `token`.
pub fn new_client(channel: Channel, token: &str) -> Result<Client, ClientError> {
    Ok(VigilServiceClient::with_interceptor(channel, BearerToken::new(token)?)
        .max_decoding_message_size(vigil_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(vigil_proto::MAX_MESSAGE_BYTES))
}

/// The `RegisterRequest` describing this machine.
pub async fn register_request(config: &Config) -> RegisterRequest {
    let ip_address = match tokio::net::lookup_host((config.server.host.as_str(), config.server.port)).await {
        Ok(mut addresses) => addresses.next().map(crate::sysinfo::outgoing_ip).unwrap_or_default(),
        Err(_) => String::new(),
    };
    RegisterRequest {
        name: config.agent.name.clone(),
        hostname: crate::sysinfo::hostname(),
        machine_id: crate::sysinfo::machine_id(),
        os: crate::sysinfo::os_name(),
        arch: crate::sysinfo::arch(),
        agent_version: crate::sysinfo::agent_version(),
        ip_address,
        requested_id: config.agent.id.clone().unwrap_or_default(),
        actions: Some(crate::actions::registered_policy(config)),
    }
}

/// Calls `Register` once and stores the host id in `state_dir/host_id` and
/// the tenant id in `state_dir/tenant_id`.
pub async fn register(config: &Config) -> Result<RegisterResponse, ClientError> {
    let response = register_call(config).await?;
    store_id(&config.state_dir, HOST_ID_FILE, &response.host_id).await?;
    store_id(&config.state_dir, TENANT_ID_FILE, &response.tenant_id).await?;
    tracing::info!(host_id = %response.host_id, tenant_id = %response.tenant_id, "registered with the gateway");
    Ok(response)
}

/// Calls `Register` once and checks the ids it returns; stores nothing.
async fn register_call(config: &Config) -> Result<RegisterResponse, ClientError> {
    let channel = connect_channel(&config.server).await?;
    let mut client = new_client(channel, &config.server.token)?;
    let request = register_request(config).await;
    let response = tokio::time::timeout(CALL_TIMEOUT, client.register(request))
        .await
        .map_err(|_| ClientError::Timeout { call: "Register", timeout: CALL_TIMEOUT })?
        .map_err(|status| ClientError::Rpc { call: "Register", status })?
        .into_inner();
    vigil_bus::ids::validate("host", &response.host_id)
        .map_err(|source| ClientError::BadHostId { value: response.host_id.clone(), source })?;
    vigil_bus::ids::validate("tenant", &response.tenant_id)
        .map_err(|source| ClientError::BadTenantId { value: response.tenant_id.clone(), source })?;
    Ok(response)
}

/// File under `state_dir` holding the host id.
pub const HOST_ID_FILE: &str = "host_id";
/// File under `state_dir` holding the tenant id (checked against orders).
pub const TENANT_ID_FILE: &str = "tenant_id";

/// The tenant id stored by an earlier `Register`, if any (and valid).
pub fn stored_tenant_id(state_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(state_dir.join(TENANT_ID_FILE)).ok()?;
    let id = text.trim();
    vigil_bus::ids::validate("tenant", id).is_ok().then(|| id.to_owned())
}

/// The host id stored by an earlier `Register`, if any (and valid).
pub fn stored_host_id(state_dir: &Path) -> Option<String> {
    let path = state_dir.join(HOST_ID_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let id = text.trim();
    match vigil_bus::ids::validate("host", id) {
        Ok(()) => Some(id.to_owned()),
        Err(error) => {
            tracing::error!(path = %path.display(), error = %error, "stored host id is invalid; registering again");
            None
        }
    }
}

async fn store_id(state_dir: &Path, file: &str, id: &str) -> Result<(), ClientError> {
    let state_dir = state_dir.to_owned();
    let id = id.to_owned();
    let path = state_dir.join(file);
    let display = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&state_dir)?;
        crate::queue::write_atomic(&path, format!("{id}\n").as_bytes()).map_err(|error| match error {
            crate::queue::QueueError::Io { source, .. } => source,
        })
    })
    .await
    .map_err(|join| ClientError::StoreId { path: display.clone(), source: std::io::Error::other(join.to_string()) })?
    .map_err(|source| ClientError::StoreId { path: display, source })
}

/// Registers (with backoff) until a host id is stored, unless one already
/// is. `None` when `shutdown` was cancelled first.
pub async fn ensure_host_id(config: &Config, shutdown: &CancellationToken) -> Option<RegisteredHost> {
    if let Some(host_id) = stored_host_id(&config.state_dir) {
        let tenant_id = stored_tenant_id(&config.state_dir);
        return Some(RegisteredHost { host_id, tenant_id, interval_seconds: 0, registered_now: false });
    }
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX).with_jitter();
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        match register(config).await {
            Ok(response) => {
                return Some(RegisteredHost {
                    host_id: response.host_id,
                    tenant_id: Some(response.tenant_id),
                    interval_seconds: response.interval_seconds,
                    registered_now: true,
                })
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "registration failed");
                if sleep_or_cancelled(delay, shutdown).await {
                    return None;
                }
            }
        }
    }
}

/// The result of [`ensure_host_id`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredHost {
    pub host_id: String,
    /// The tenant the gateway answered (stored from an earlier registration
    /// when the host id was; `None` when an older agent stored none).
    pub tenant_id: Option<String>,
    /// Interval the server asked for (0: keep the configured one).
    pub interval_seconds: u32,
    /// Registered by this call (else the stored id was used).
    pub registered_now: bool,
}

/// With a stored host id the agent still registers once per start, in the
/// background: the gateway learns its current action policy and the agent
/// its tenant (`tenant`, stored in `state_dir/tenant_id`). Retried with
/// backoff while the gateway is unreachable; given up on a refusal. A
/// different host id in the answer is reported and not taken.
pub async fn refresh_registration(
    config: &Config,
    host_id: &str,
    tenant: &watch::Sender<Option<String>>,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX).with_jitter();
    loop {
        match register_call(config).await {
            Ok(response) if response.host_id != host_id => {
                tracing::error!(
                    stored = %host_id,
                    answered = %response.host_id,
                    "the gateway registers this machine under another host id; this agent keeps {host_id} \
                     (remove {} and restart it to take the new one)",
                    config.state_dir.join(HOST_ID_FILE).display()
                );
                return;
            }
            Ok(response) => {
                tracing::info!(host_id = %host_id, tenant_id = %response.tenant_id, "registration refreshed");
                tenant.send_replace(Some(response.tenant_id.clone()));
                if let Err(error) = store_id(&config.state_dir, TENANT_ID_FILE, &response.tenant_id).await {
                    tracing::warn!(error = %error, "cannot store the tenant id");
                }
                return;
            }
            Err(ClientError::Rpc { status, .. })
                if !matches!(
                    status.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Unknown
                        | tonic::Code::Internal
                        | tonic::Code::ResourceExhausted
                        | tonic::Code::Aborted
                ) =>
            {
                tracing::error!(error = %describe_status(&status), "the gateway refused to refresh the registration");
                return;
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "cannot refresh the registration");
                if sleep_or_cancelled(delay, shutdown).await {
                    return;
                }
            }
        }
    }
}

/// Encoded size of the `AgentMessage` carrying `metrics` from `host_id`:
/// what tonic compares with the message size limit.
pub fn message_len(host_id: &str, metrics: &Metrics) -> usize {
    use prost::encoding::{encoded_len_varint, key_len};
    let agent_id = if host_id.is_empty() { 0 } else { key_len(1) + encoded_len_varint(host_id.len() as u64) + host_id.len() };
    agent_id + prost::encoding::message::encoded_len(2, metrics)
}

/// The actions worker as one session sees it.
struct Actions<'a> {
    orders: Option<&'a mpsc::UnboundedSender<vigil_proto::Action>>,
    results: &'a mut Option<mpsc::UnboundedReceiver<ActionResult>>,
}

/// How a `Connect` session ended without an error.
enum SessionEnd {
    Shutdown,
    StreamEnded,
}

/// Drains the queue over `Connect`, reconnecting forever until shutdown.
pub struct Sender {
    pub server: ServerConfig,
    pub host_id: String,
    pub queue: SharedQueue,
    /// Notified by the collector after each push.
    pub wake: Arc<Notify>,
    pub status: Arc<Status>,
    /// Receives the collection interval the server asks for (`ConfigUpdate`;
    /// zero: back to the configured one, see [`crate::agent::effective_interval`]).
    pub interval: watch::Sender<Duration>,
    /// Idle time after which a heartbeat is sent ([`HEARTBEAT_PERIOD`]).
    pub heartbeat: Duration,
    /// The actions worker ([`crate::actions::start`]); `None`: every action
    /// is refused.
    pub actions: Option<crate::actions::Link>,
}

/// The next report of the actions worker; never ready without one.
async fn next_result(results: &mut Option<mpsc::UnboundedReceiver<ActionResult>>) -> ActionResult {
    if let Some(receiver) = results {
        if let Some(result) = receiver.recv().await {
            return result;
        }
        *results = None;
    }
    std::future::pending().await
}

impl Sender {
    /// Runs until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX).with_jitter();
        let (orders, mut results) = match self.actions.take() {
            Some(link) => (Some(link.orders), Some(link.results)),
            None => (None, None),
        };
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let mut acked = 0u64;
            let started = Instant::now();
            let actions = Actions { orders: orders.as_ref(), results: &mut results };
            let outcome = self.session(&shutdown, &mut acked, actions).await;
            self.status.set_connected(false);
            match outcome {
                Ok(SessionEnd::Shutdown) => return,
                Ok(SessionEnd::StreamEnded) => tracing::warn!(acked, "the gateway closed the stream"),
                Err(error) => tracing::warn!(error = %error, acked, "stream to the gateway failed"),
            }
            if acked > 0 || started.elapsed() > BACKOFF_MAX {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            tracing::info!(retry_in_ms = delay.as_millis() as u64, "reconnecting");
            if sleep_or_cancelled(delay, &shutdown).await {
                return;
            }
        }
    }

    async fn session(
        &self,
        shutdown: &CancellationToken,
        acked: &mut u64,
        actions: Actions<'_>,
    ) -> Result<SessionEnd, ClientError> {
        let channel = connect_channel(&self.server).await?;
        let mut client = new_client(channel, &self.server.token)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<AgentMessage>(MAX_IN_FLIGHT + 16);
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        let host_id: MetadataValue<Ascii> =
            self.host_id.parse().map_err(|_| ClientError::Metadata { what: "host id", value: self.host_id.clone() })?;
        request.metadata_mut().insert(vigil_proto::HOST_ID_METADATA, host_id);
        let response = tokio::select! {
            response = tokio::time::timeout(CALL_TIMEOUT, client.connect(request)) => response
                .map_err(|_| ClientError::Timeout { call: "Connect", timeout: CALL_TIMEOUT })?
                .map_err(|status| ClientError::Rpc { call: "Connect", status })?,
            () = shutdown.cancelled() => return Ok(SessionEnd::Shutdown),
        };
        let mut inbound = response.into_inner();
        self.status.set_connected(true);
        tracing::info!(server = %self.server.address, host_id = %self.host_id, "connected to the gateway");

        // Everything still queued is (re)sent from the oldest.
        let mut cursor = 0u64;
        let mut in_flight: BTreeSet<u64> = BTreeSet::new();
        let mut last_sent = Instant::now();
        loop {
            if in_flight.len() < MAX_IN_FLIGHT {
                let (batch, new_cursor) = self.next_batch(cursor, MAX_IN_FLIGHT - in_flight.len()).await;
                cursor = new_cursor;
                for metrics in batch {
                    let seq = metrics.seq;
                    let message =
                        AgentMessage { agent_id: self.host_id.clone(), payload: Some(agent_message::Payload::Metrics(metrics)) };
                    tx.send(message).await.map_err(|_| ClientError::OutgoingClosed)?;
                    in_flight.insert(seq);
                    last_sent = Instant::now();
                    tracing::debug!(seq, "snapshot sent");
                }
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(SessionEnd::Shutdown),
                message = inbound.message() => match message {
                    Ok(Some(message)) => {
                        if self.handle(message, &tx, &mut in_flight, actions.orders).await? {
                            *acked += 1;
                        }
                    }
                    Ok(None) => return Ok(SessionEnd::StreamEnded),
                    Err(status) => return Err(ClientError::Rpc { call: "Connect", status }),
                },
                result = next_result(actions.results) => {
                    tracing::debug!(action_id = %result.action_id, status = %result.status, "action report sent");
                    let message =
                        AgentMessage { agent_id: self.host_id.clone(), payload: Some(agent_message::Payload::ActionResult(result)) };
                    tx.send(message).await.map_err(|_| ClientError::OutgoingClosed)?;
                    last_sent = Instant::now();
                }
                _ = self.wake.notified(), if in_flight.len() < MAX_IN_FLIGHT => {}
                _ = tokio::time::sleep_until(last_sent + self.heartbeat) => {
                    let queued = self.queue_len().await as u64;
                    let message = AgentMessage {
                        agent_id: self.host_id.clone(),
                        payload: Some(agent_message::Payload::Heartbeat(Heartbeat { timestamp: crate::now_rfc3339(), queued })),
                    };
                    tx.send(message).await.map_err(|_| ClientError::OutgoingClosed)?;
                    last_sent = Instant::now();
                    tracing::debug!(queued, "heartbeat sent");
                }
            }
        }
    }

    /// Reads up to `limit` queued snapshots after `cursor`; returns them and
    /// the new cursor (past snapshots that vanished, were corrupt, or were
    /// too large to send: those are dropped, see [`message_len`]).
    async fn next_batch(&self, cursor: u64, limit: usize) -> (Vec<Metrics>, u64) {
        let queue = self.queue.clone();
        let host_id = self.host_id.clone();
        let status = self.status.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            let mut batch = Vec::new();
            let mut new_cursor = cursor;
            for seq in queue.seqs_after(cursor, limit) {
                new_cursor = seq;
                match queue.read(seq) {
                    Ok(Some(metrics)) => {
                        let size = message_len(&host_id, &metrics);
                        if size <= vigil_proto::MAX_MESSAGE_BYTES {
                            batch.push(metrics);
                            continue;
                        }
                        tracing::error!(
                            seq,
                            size,
                            limit = vigil_proto::MAX_MESSAGE_BYTES,
                            "queued snapshot of {size} bytes is over the {}-byte gRPC message limit \
                             (queued by an older agent version); it can never be sent: dropped",
                            vigil_proto::MAX_MESSAGE_BYTES,
                        );
                        match queue.ack(seq) {
                            Ok(_) => status.set_queued(queue.len()),
                            Err(error) => tracing::error!(seq, error = %error, "cannot remove an oversized snapshot"),
                        }
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::error!(seq, error = %error, "cannot read a queued snapshot; will retry");
                        new_cursor = seq - 1;
                        break;
                    }
                }
            }
            (batch, new_cursor)
        })
        .await;
        result.unwrap_or_else(|join| {
            tracing::error!(error = %join, "queue read task failed");
            (Vec::new(), cursor)
        })
    }

    async fn queue_len(&self) -> usize {
        let queue = self.queue.clone();
        tokio::task::spawn_blocking(move || queue.lock().unwrap_or_else(|p| p.into_inner()).len()).await.unwrap_or(0)
    }

    /// Handles one server message; returns whether it was an accepted ack.
    async fn handle(
        &self,
        message: ServerMessage,
        tx: &tokio::sync::mpsc::Sender<AgentMessage>,
        in_flight: &mut BTreeSet<u64>,
        orders: Option<&mpsc::UnboundedSender<vigil_proto::Action>>,
    ) -> Result<bool, ClientError> {
        match message.payload {
            Some(server_message::Payload::Ack(ack)) => {
                in_flight.remove(&ack.seq);
                let queue = self.queue.clone();
                let seq = ack.seq;
                let removed = tokio::task::spawn_blocking(move || {
                    let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
                    let removed = queue.ack(seq);
                    (removed, queue.len())
                })
                .await;
                match removed {
                    Ok((Ok(_), len)) => self.status.set_queued(len),
                    Ok((Err(error), _)) => tracing::error!(seq, error = %error, "cannot remove an acknowledged snapshot"),
                    Err(join) => tracing::error!(seq, error = %join, "queue ack task failed"),
                }
                if ack.accepted {
                    self.status.record_ack();
                    tracing::debug!(seq, "snapshot acknowledged");
                    Ok(true)
                } else {
                    tracing::error!(seq, error = %ack.error, "the gateway refused a snapshot for good; dropped");
                    Ok(false)
                }
            }
            Some(server_message::Payload::Config(update)) => {
                // 0: the tenant has no interval of its own (any more); the
                // collector goes back to the configured one
                let interval = Duration::from_secs(u64::from(update.interval_seconds));
                if *self.interval.borrow() != interval {
                    tracing::info!(
                        interval_seconds = update.interval_seconds,
                        "the server changed the collection interval (0: the configured one)"
                    );
                }
                self.interval.send_replace(interval);
                Ok(false)
            }
            Some(server_message::Payload::Action(action)) => {
                // handed over, never waited on
                let sent = match orders {
                    Some(orders) => orders.send(action),
                    None => Err(mpsc::error::SendError(action)),
                };
                let Err(mpsc::error::SendError(action)) = sent else { return Ok(false) };
                tracing::warn!(action_id = %action.id, action_type = %action.r#type, "no actions worker runs in this sender; refused");
                let result = AgentMessage {
                    agent_id: self.host_id.clone(),
                    payload: Some(agent_message::Payload::ActionResult(ActionResult {
                        action_id: action.id,
                        success: false,
                        output: String::new(),
                        error: "this agent runs no actions worker".into(),
                        status: "denied".into(),
                        ..ActionResult::default()
                    })),
                };
                tx.send(result).await.map_err(|_| ClientError::OutgoingClosed)?;
                Ok(false)
            }
            None => Ok(false),
        }
    }
}
