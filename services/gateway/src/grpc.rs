//! The agents' gRPC service (`vigil.VigilService`), served over TLS.
//!
//! Every call is authenticated by the agent token in `authorization: Bearer`;
//! the token's tenant scopes everything the call does.
//!
//! `Connect` invariants:
//! - the stream is accepted only for a valid `x-vigil-host-id` that belongs to
//!   the token's tenant (asked to the collector);
//! - a snapshot is acknowledged (`Ack{accepted: true}`) only after JetStream's
//!   PubAck for it arrived, and acks leave in the order messages came in
//!   (refusals included), so the agent can drop its queue front to back;
//! - at most `max_in_flight_per_agent` publishes are awaiting their PubAck;
//!   past that the stream is not read (back-pressure reaches the agent);
//! - each snapshot is published with `Nats-Msg-Id` = `MetricsSnapshot::msg_id`,
//!   so a replay after a reconnect is de-duplicated by the stream;
//! - a publish or PubAck failure ends the stream with `unavailable`: the agent
//!   reconnects and replays whatever was not acknowledged;
//! - a snapshot that can never be published or stored (bad timestamp, a
//!   collection time outside the [`convert::Window`], missing host, non-finite
//!   number, an `agent_id` that is not the stream's host, over
//!   `max_message_bytes` as protobuf, or over the bus's `max_payload` as JSON)
//!   gets `Ack{accepted: false, error}` and the stream goes on: an agent never
//!   replays what can never be accepted. An `agent_id`
//!   mismatch is refused per message rather than ending the stream, because an
//!   ended stream would be replayed by the agent forever;
//! - the token is checked again every [`TOKEN_RECHECK`], so revoking a token
//!   also ends the streams already open with it;
//! - messages past [`GatewayConfig::transport_limit`](crate::GatewayConfig::transport_limit)
//!   or undecodable are refused by tonic; that ends only the stream that sent
//!   them. So one stream holds at most `max_in_flight_per_agent` snapshots of
//!   at most `max_message_bytes` (their JSON at most the bus's `max_payload`).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use chrono::Utc;
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use vigil_bus::messages::{self, GetHost, HostRecord, RegisterHost};
use vigil_bus::subjects::{self, collector};
use vigil_bus::ErrorCode;
use vigil_proto::vigil_service_server::{VigilService, VigilServiceServer};
use vigil_proto::{agent_message, server_message, Ack, AgentMessage, RegisterRequest, RegisterResponse, ServerMessage};

use crate::auth::{self, AgentIdentity};
use crate::error::status;
use crate::{convert, dispatch, Shared};

/// Bytes of a bus message's `max_payload` kept for its headers.
const BUS_HEADER_ROOM: usize = 1024;

/// How often an open stream checks that its token is still valid.
pub const TOKEN_RECHECK: Duration = Duration::from_secs(60);

pub(crate) fn service(shared: Arc<Shared>) -> VigilServiceServer<Agents> {
    let max = shared.config.transport_limit();
    VigilServiceServer::new(Agents { shared }).max_decoding_message_size(max).max_encoding_message_size(max)
}

pub(crate) struct Agents {
    shared: Arc<Shared>,
}

impl Agents {
    async fn authenticate<T>(&self, request: &Request<T>) -> Result<AgentIdentity, Status> {
        let token = auth::bearer_from_metadata(request.metadata()).map_err(|e| status(&e))?;
        auth::authenticate_agent(&self.shared.pool, &token).await.map_err(|e| status(&e))
    }
}

fn host_id_from_metadata(metadata: &tonic::metadata::MetadataMap) -> Result<String, Status> {
    let value = metadata.get(vigil_proto::HOST_ID_METADATA).ok_or_else(|| {
        Status::invalid_argument(format!(
            "missing {} metadata; call Register first and send the host id it returned",
            vigil_proto::HOST_ID_METADATA
        ))
    })?;
    let host_id = value
        .to_str()
        .map_err(|_| Status::invalid_argument(format!("{} metadata is not ASCII", vigil_proto::HOST_ID_METADATA)))?;
    vigil_bus::ids::validate("host", host_id).map_err(|e| status(&e))?;
    Ok(host_id.to_owned())
}

type ConnectStream = Pin<Box<dyn futures::Stream<Item = Result<ServerMessage, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl VigilService for Agents {
    type ConnectStream = ConnectStream;

    async fn register(&self, request: Request<RegisterRequest>) -> Result<Response<RegisterResponse>, Status> {
        let identity = self.authenticate(&request).await?;
        let body = request.into_inner();
        let requested_id = match body.requested_id.trim() {
            "" | "auto" => None,
            id => {
                vigil_bus::ids::validate("host", id).map_err(|e| Status::invalid_argument(format!("requested_id: {e}")))?;
                Some(id.to_owned())
            }
        };
        if body.machine_id.trim().is_empty() {
            return Err(Status::invalid_argument("machine_id is empty; send the content of /etc/machine-id"));
        }
        let actions = convert::action_policy(body.actions).map_err(Status::invalid_argument)?;
        let register = RegisterHost {
            actions,
            tenant_id: identity.tenant_id.clone(),
            requested_id,
            name: body.name,
            hostname: body.hostname,
            machine_id: body.machine_id,
            os: body.os,
            arch: body.arch,
            agent_version: body.agent_version,
            ip_address: body.ip_address,
        };
        let host: HostRecord =
            messages::request(&self.shared.nats, collector::REGISTER_HOST, &register).await.map_err(|e| status(&e))?;
        tracing::info!(tenant_id = %host.tenant_id, host_id = %host.id, token_id = %identity.token_id, "agent registered");
        // the tenant's collection interval (0: the agent keeps its own)
        let interval_seconds = crate::tenant::agent_interval(&self.shared.pool, &host.tenant_id).await;
        Ok(Response::new(RegisterResponse { host_id: host.id, tenant_id: host.tenant_id, interval_seconds }))
    }

    async fn connect(&self, request: Request<Streaming<AgentMessage>>) -> Result<Response<Self::ConnectStream>, Status> {
        let identity = self.authenticate(&request).await?;
        let host_id = host_id_from_metadata(request.metadata())?;
        let get = GetHost { tenant_id: identity.tenant_id.clone(), host_id: host_id.clone() };
        match messages::request::<_, HostRecord>(&self.shared.nats, collector::GET_HOST, &get).await {
            Ok(_) => {}
            Err(error) if error.code == ErrorCode::NotFound => {
                return Err(Status::permission_denied(format!("host {host_id} is not registered for this token's tenant")));
            }
            Err(error) => return Err(status(&error)),
        }
        let capacity = self.shared.config.settings.max_in_flight_per_agent.saturating_add(16);
        let (replies, receiver) = mpsc::channel(capacity);
        // read once per stream: `server_info` clones the server's whole INFO
        let bus_limit = self.shared.nats.server_info().max_payload.saturating_sub(BUS_HEADER_ROOM);
        let session = Session { shared: self.shared.clone(), identity, host_id, replies, bus_limit };
        tracing::info!(tenant_id = %session.identity.tenant_id, host_id = %session.host_id, "agent stream opened");
        tokio::spawn(session.run(request.into_inner()));
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

/// What a queued message turns into, in arrival order.
/// Resolves to the ack and the payload bytes it held while in flight.
type Pending = BoxFuture<'static, Result<(Ack, usize), Status>>;

/// Snapshot bytes (JSON) of one agent awaiting their PubAck; past it the
/// stream is not read until some are acknowledged. With
/// `max_in_flight_per_agent` it bounds what one agent costs: a normal agent
/// (256 snapshots of a few KiB) never reaches it, one sending 4 MB snapshots
/// holds 4 of them, not 256 (1 GB).
pub const MAX_IN_FLIGHT_BYTES_PER_AGENT: usize = 16 * 1024 * 1024;

/// One open `Connect` stream.
struct Session {
    shared: Arc<Shared>,
    identity: AgentIdentity,
    host_id: String,
    replies: mpsc::Sender<Result<ServerMessage, Status>>,
    /// Largest JSON snapshot the bus takes (its `max_payload` less header room).
    bus_limit: usize,
}

fn ack(ack: Ack) -> ServerMessage {
    ServerMessage { payload: Some(server_message::Payload::Ack(ack)) }
}

/// The pending ack of a snapshot refused for good.
fn refused(seq: u64, error: String) -> Pending {
    crate::telemetry::metrics().snapshots_refused.inc();
    futures::future::ready(Ok((Ack { seq, accepted: false, error }, 0))).boxed()
}

impl Session {
    async fn run(self, mut inbound: Streaming<AgentMessage>) {
        let max_in_flight = self.shared.config.settings.max_in_flight_per_agent;
        let stopping = self.shared.stopping.clone();
        let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
        let mut pending_bytes = 0usize;
        let mut inbound_open = true;
        let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + TOKEN_RECHECK, TOKEN_RECHECK);
        let (tenant_id, host_id) = (self.identity.tenant_id.clone(), self.host_id.clone());
        let session = self.shared.agents.register(&tenant_id, &host_id, self.replies.clone());
        tokio::spawn(dispatch::pending(self.shared.clone(), tenant_id.clone(), host_id.clone(), self.replies.clone()));
        tokio::spawn(crate::tenant::on_connect(self.shared.clone(), tenant_id.clone(), host_id.clone(), self.replies.clone()));
        let end = loop {
            if !inbound_open && pending.is_empty() {
                break None;
            }
            tokio::select! {
                biased;
                () = stopping.cancelled() => {
                    break Some(Status::unavailable("the gateway is shutting down; reconnect"));
                }
                Some(done) = pending.next(), if !pending.is_empty() => match done {
                    Ok((reply, bytes)) => {
                        pending_bytes -= bytes;
                        if self.replies.send(Ok(ack(reply))).await.is_err() {
                            break None;
                        }
                    }
                    Err(status) => break Some(status),
                },
                message = inbound.message(), if inbound_open && pending.len() < max_in_flight && pending_bytes < MAX_IN_FLIGHT_BYTES_PER_AGENT => match message {
                    Ok(Some(message)) => match self.handle(message).await {
                        Ok(Some((next, bytes))) => {
                            pending_bytes += bytes;
                            pending.push_back(next);
                        }
                        Ok(None) => {}
                        Err(status) => break Some(status),
                    },
                    Ok(None) => inbound_open = false,
                    Err(status) if status.code() == tonic::Code::Cancelled => {
                        tracing::debug!(%tenant_id, %host_id, "agent cancelled its stream");
                        break None;
                    }
                    Err(status) => {
                        tracing::warn!(%tenant_id, %host_id, code = ?status.code(), error = %status.message(), "agent stream refused a message");
                        break Some(status);
                    }
                },
                _ = self.replies.closed() => break None,
                _ = recheck.tick() => {
                    if let Err(error) = auth::recheck_agent(&self.shared.pool, &self.identity).await {
                        break Some(status(&error));
                    }
                }
            }
        };
        self.shared.agents.unregister(&tenant_id, &host_id, session);
        match end {
            Some(status) => {
                tracing::info!(%tenant_id, %host_id, code = ?status.code(), reason = %status.message(), "agent stream ended by the gateway");
                let _ = self.replies.send(Err(status)).await;
            }
            None => tracing::info!(%tenant_id, %host_id, "agent stream closed"),
        }
    }

    /// Turns one message into its pending ack (`None`: nothing to ack).
    async fn handle(&self, message: AgentMessage) -> Result<Option<(Pending, usize)>, Status> {
        let (tenant_id, host_id) = (&self.identity.tenant_id, &self.host_id);
        match message.payload {
            Some(agent_message::Payload::Metrics(metrics)) => {
                crate::telemetry::metrics().snapshots_received.inc();
                let seq = metrics.seq;
                if message.agent_id != *host_id {
                    let error = format!(
                        "agent_id {:?} is not this stream's host {host_id}; send the host id Register returned",
                        message.agent_id
                    );
                    tracing::warn!(%tenant_id, %host_id, seq, "{error}");
                    return Ok(Some((refused(seq, error), 0)));
                }
                let size = prost::Message::encoded_len(&metrics);
                let max = self.shared.config.settings.max_message_bytes;
                if size > max {
                    let error = format!(
                        "snapshot {seq} is {size} bytes, over the gateway's limit of {max} bytes (gateway.max_message_bytes); send fewer mounts, interfaces, containers or custom metrics"
                    );
                    tracing::warn!(%tenant_id, %host_id, seq, size, max, "snapshot refused: too large");
                    return Ok(Some((refused(seq, error), 0)));
                }
                let window = convert::Window {
                    max_clock_skew: self.shared.config.settings.max_clock_skew,
                    max_age: self.shared.config.max_snapshot_age,
                };
                let snapshot = match convert::snapshot(tenant_id, host_id, metrics, Utc::now(), window) {
                    Ok(snapshot) => snapshot,
                    Err(error) => {
                        tracing::warn!(%tenant_id, %host_id, seq, error = %error, "snapshot refused");
                        return Ok(Some((refused(seq, error.to_string()), 0)));
                    }
                };
                let payload =
                    serde_json::to_vec(&snapshot).map_err(|e| Status::internal(format!("cannot encode the snapshot: {e}")))?;
                // JSON is larger than protobuf (about 2x for numbers): what
                // passed max_message_bytes may still not fit one bus message,
                // and a publish over max_payload would fail on every replay.
                // Headers (Nats-Msg-Id) take a few dozen bytes more.
                let bus_limit = self.bus_limit;
                if payload.len() > bus_limit {
                    let error = format!(
                        "snapshot {seq} is {} bytes as JSON, over the bus limit of {bus_limit} bytes (nats max_payload); send fewer mounts, interfaces, containers or custom metrics",
                        payload.len()
                    );
                    tracing::warn!(%tenant_id, %host_id, seq, json_bytes = payload.len(), bus_limit, "snapshot refused: too large for the bus");
                    return Ok(Some((refused(seq, error), 0)));
                }
                let bytes = payload.len();
                let publish = PublishMessage::build().payload(payload.into()).message_id(snapshot.msg_id());
                // Publishing happens inside the pending future, not here: the
                // JetStream context bounds PubAcks in flight (5,000 permits
                // shared by every stream), and a session blocked here waiting
                // for a permit would stop polling the futures that hold its
                // permits: with enough agents every session waits, none
                // releases, and ingest stops (seen with 50 agents x 256).
                let jetstream = self.shared.jetstream.clone();
                let subject = subjects::metrics(tenant_id, host_id);
                let (tenant_id, host_id) = (tenant_id.clone(), host_id.clone());
                Ok(Some((
                    async move {
                        let ack_future = jetstream.send_publish(subject, publish).await.map_err(|e| {
                            tracing::warn!(%tenant_id, %host_id, seq, error = %e, "cannot publish a snapshot");
                            Status::unavailable(format!("cannot publish the snapshot to jetstream: {e}; reconnect and replay"))
                        })?;
                        match ack_future.await {
                            Ok(pub_ack) => {
                                tracing::debug!(%tenant_id, %host_id, seq, stream_seq = pub_ack.sequence, duplicate = pub_ack.duplicate, "snapshot stored in jetstream");
                                crate::telemetry::metrics().snapshots_accepted.inc();
                                Ok((Ack { seq, accepted: true, error: String::new() }, bytes))
                            }
                            Err(e) => {
                                tracing::warn!(%tenant_id, %host_id, seq, error = %e, "jetstream did not acknowledge a snapshot");
                                Err(Status::unavailable(format!("jetstream did not acknowledge snapshot {seq}: {e}; reconnect and replay")))
                            }
                        }
                    }
                    .boxed(),
                    bytes,
                )))
            }
            Some(agent_message::Payload::Heartbeat(heartbeat)) => {
                tracing::debug!(%tenant_id, %host_id, timestamp = %heartbeat.timestamp, queued = heartbeat.queued, "agent heartbeat");
                Ok(None)
            }
            Some(agent_message::Payload::ActionResult(result)) => {
                tracing::debug!(%tenant_id, %host_id, action_id = %result.action_id, status = %result.status, "action report");
                dispatch::report(self.shared.clone(), tenant_id, host_id, result);
                Ok(None)
            }
            None => {
                tracing::debug!(%tenant_id, %host_id, "agent message without payload ignored");
                Ok(None)
            }
        }
    }
}
