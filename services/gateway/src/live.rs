//! Live updates for the dashboard: `GET /ws?token=<access JWT>` (seed §4.2).
//!
//! One [`Hub`] per gateway process holds one core NATS subscription to
//! [`subjects::HOSTS_ALL`] and, per tenant with at least one dashboard
//! connected, one to that tenant's snapshots ([`subjects::metrics_of_tenant`]),
//! opened with the tenant's first connection and closed with its last: a
//! gateway nobody watches receives no snapshot at all. Each message is turned
//! into its frame JSON once, then pushed (a reference-counted clone) to every
//! connected client of that tenant whose subscription matches the host.
//!
//! Protocol: the client sends `{"type":"subscribe","hosts":[...]}` (`hosts`
//! omitted: every host of its tenant) and `{"type":"unsubscribe","hosts":[...]}`;
//! the server sends `metrics` frames
//! (`{"type","host_id","timestamp","data":{"cpu","memory","disk","containers","services_count"}}`,
//! percentages; `disk` is the `/` mount, else the fullest one) and `host_status`
//! frames (`{"type","host_id","status","timestamp"}`), and an `alert` frame on
//! every transition of one of the tenant's alerts, whatever hosts the client
//! subscribed to (`{"type":"alert","id","event","severity","host_id",
//! "message","timestamp","alert":{...}}`, from one core subscription to
//! [`subjects::ALERTS_ALL`]; a client that reconnects reads the active alerts
//! over REST), and an `action` frame at every status change of one of the
//! tenant's actions (`{"type":"action","id","status","host_id","timestamp",
//! "action":{...}}`, from one core subscription to `actions.*.*.status`).
//! Right after a subscribe
//! the server sends each newly subscribed host's latest stored metrics once
//! (asked to the collector).
//!
//! Invariants:
//! - the token is checked like REST's (`auth::check_access_token`) and a bad
//!   or expired one is a 401 before any upgrade; the connection closes (4001)
//!   when the token expires, and the client reconnects with a fresh one;
//! - a client only ever receives frames of its own tenant: clients are indexed
//!   by the tenant of their token and the hub looks up only the message's
//!   tenant (from the subject for metrics, from the payload for host events);
//! - the hub never waits on a client: pushing is a short mutex section on a
//!   bounded queue ([`QUEUE_FRAMES`]). When a queue is full its oldest
//!   `metrics` frame is dropped (status and control frames are kept in
//!   preference), so a slow client loses stale values, never blocks the hub,
//!   other clients or the NATS subscription (hence never the ingest path);
//! - a client whose socket accepts nothing for [`WRITE_TIMEOUT`], or that
//!   answers nothing (not even a pong) for [`IDLE_TIMEOUT`], is disconnected;
//! - at shutdown every connection is closed with 1001 (going away).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use vigil_bus::messages::{
    self, HostEvent, HostEventKind, HostMetrics, HostRecord, ListHosts, MetricsLatest, MetricsPoint, MetricsSnapshot,
};
use vigil_bus::subjects::{self, collector};
use vigil_runtime::CancellationToken;

use crate::auth::{self, TokenRefused};
use crate::error::ApiError;
use crate::{GatewayError, Shared};

/// Frames a client may have waiting; past it the oldest metrics frame goes.
pub const QUEUE_FRAMES: usize = 512;
/// Interval between server pings.
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// A client that sends nothing (not even a pong) for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A socket that accepts no write for this long is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message a client may send.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Collector requests in flight per connection when sending latest values.
const LATEST_CONCURRENCY: usize = 16;
/// Close code sent when the access token expires (4000–4999: application).
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;

// ---------------------------------------------------------------------------
// Frames

/// One server → client frame, serialized once and shared between clients.
#[derive(Clone, Debug)]
pub(crate) enum Frame {
    /// A `metrics` frame: the first thing dropped from a full queue.
    Metrics(Utf8Bytes),
    /// `host_status` and control frames: kept in preference.
    Kept(Utf8Bytes),
}

impl Frame {
    fn text(&self) -> Utf8Bytes {
        match self {
            Frame::Metrics(t) | Frame::Kept(t) => t.clone(),
        }
    }
}

#[derive(Serialize)]
struct LiveContainer<'a> {
    name: &'a str,
    cpu: f64,
    memory: f64,
    status: &'a str,
}

#[derive(Serialize)]
struct MetricsData<'a> {
    cpu: f64,
    memory: f64,
    disk: Option<f64>,
    /// `None` when the source (a stored point) does not carry containers.
    containers: Option<Vec<LiveContainer<'a>>>,
    services_count: Option<usize>,
}

#[derive(Serialize)]
struct MetricsFrameJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    host_id: &'a str,
    timestamp: String,
    data: MetricsData<'a>,
}

#[derive(Serialize)]
struct StatusFrameJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    host_id: &'a str,
    status: &'static str,
    timestamp: String,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `/` mount's percentage, else the fullest mount's (what the dashboard shows).
fn disk_percent(host: &HostMetrics) -> Option<f64> {
    let mounts = &host.disk.mounts;
    mounts.iter().find(|m| m.path == "/").map(|m| m.percent).or_else(|| mounts.iter().map(|m| m.percent).reduce(f64::max))
}

fn to_text(value: &impl Serialize) -> Option<Utf8Bytes> {
    match serde_json::to_string(value) {
        Ok(text) => Some(Utf8Bytes::from(text)),
        Err(error) => {
            tracing::error!(error = %error, "cannot encode a live frame");
            None
        }
    }
}

/// The `metrics` frame of a snapshot published on `metrics.<tenant>.<host>`.
pub(crate) fn metrics_frame(snapshot: &MetricsSnapshot) -> Option<Frame> {
    let frame = MetricsFrameJson {
        kind: "metrics",
        host_id: &snapshot.host_id,
        timestamp: rfc3339(snapshot.collected_at),
        data: MetricsData {
            cpu: snapshot.host.cpu.percent,
            memory: snapshot.host.memory.percent,
            disk: disk_percent(&snapshot.host),
            containers: Some(
                snapshot
                    .containers
                    .iter()
                    .map(|c| LiveContainer { name: &c.name, cpu: c.cpu_percent, memory: c.memory_percent, status: &c.status })
                    .collect(),
            ),
            services_count: Some(snapshot.services.len()),
        },
    };
    to_text(&frame).map(Frame::Metrics)
}

/// The `metrics` frame of a stored point (no containers or services in it).
pub(crate) fn point_frame(host_id: &str, point: &MetricsPoint) -> Option<Frame> {
    let frame = MetricsFrameJson {
        kind: "metrics",
        host_id,
        timestamp: rfc3339(point.timestamp),
        data: MetricsData {
            cpu: point.host.cpu.percent,
            memory: point.host.memory.percent,
            disk: disk_percent(&point.host),
            containers: None,
            services_count: None,
        },
    };
    to_text(&frame).map(Frame::Metrics)
}

/// The `host_status` frame of a host event; `None` for events that are not a
/// status (`registered`).
pub(crate) fn status_frame(event: &HostEvent) -> Option<Frame> {
    let status = match event.event {
        HostEventKind::Online => "online",
        HostEventKind::Offline => "offline",
        HostEventKind::Degraded => "degraded",
        HostEventKind::Registered => return None,
    };
    let frame = StatusFrameJson { kind: "host_status", host_id: &event.host_id, status, timestamp: rfc3339(event.at) };
    to_text(&frame).map(Frame::Kept)
}

#[derive(Serialize)]
struct AlertFrameJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    event: &'static str,
    severity: &'static str,
    host_id: &'a str,
    message: &'a str,
    timestamp: String,
    alert: &'a messages::Alert,
}

/// The seed's `alert` frame of an alert event, with the whole alert.
pub(crate) fn alert_frame(event: &messages::AlertEvent) -> Option<Frame> {
    let frame = AlertFrameJson {
        kind: "alert",
        id: &event.alert.id,
        event: event.event.as_str(),
        severity: event.alert.severity.as_str(),
        host_id: &event.alert.host_id,
        message: &event.alert.message,
        timestamp: rfc3339(event.at),
        alert: &event.alert,
    };
    to_text(&frame).map(Frame::Kept)
}

#[derive(Serialize)]
struct ActionFrameJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    status: &'static str,
    host_id: &'a str,
    timestamp: String,
    action: &'a messages::ActionRecord,
}

/// The `action` frame of an action's status, with the whole record (its
/// output included).
pub(crate) fn action_frame(record: &messages::ActionRecord) -> Option<Frame> {
    let at = record.completed_at.or(record.started_at).or(record.dispatched_at).unwrap_or(record.created_at);
    let frame = ActionFrameJson {
        kind: "action",
        id: &record.id,
        status: record.status.as_str(),
        host_id: &record.host_id,
        timestamp: rfc3339(at),
        action: record,
    };
    to_text(&frame).map(Frame::Kept)
}

fn error_frame(message: &str) -> Option<Frame> {
    to_text(&serde_json::json!({"type": "error", "message": message})).map(Frame::Kept)
}

// ---------------------------------------------------------------------------
// Clients and their queues

/// Which hosts a client wants.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Interest {
    /// Nothing until the first subscribe.
    Nothing,
    /// Every host of the tenant but these.
    All {
        except: HashSet<String>,
    },
    Hosts(HashSet<String>),
}

impl Interest {
    fn wants(&self, host_id: &str) -> bool {
        match self {
            Interest::Nothing => false,
            Interest::All { except } => !except.contains(host_id),
            Interest::Hosts(hosts) => hosts.contains(host_id),
        }
    }

    fn subscribe(&mut self, hosts: Option<Vec<String>>) {
        match (hosts, &mut *self) {
            (None, _) => *self = Interest::All { except: HashSet::new() },
            (Some(hosts), Interest::All { except }) => {
                for host in hosts {
                    except.remove(&host);
                }
            }
            (Some(hosts), Interest::Hosts(set)) => set.extend(hosts),
            (Some(hosts), Interest::Nothing) => *self = Interest::Hosts(hosts.into_iter().collect()),
        }
    }

    fn unsubscribe(&mut self, hosts: Vec<String>) {
        match self {
            Interest::Nothing => {}
            Interest::All { except } => except.extend(hosts),
            Interest::Hosts(set) => {
                for host in hosts {
                    set.remove(&host);
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Frame>,
    /// Frames dropped because the queue was full.
    dropped: u64,
}

/// A bounded frame queue: [`push`](FrameQueue::push) never waits.
#[derive(Debug)]
pub(crate) struct FrameQueue {
    capacity: usize,
    inner: Mutex<Queue>,
    ready: Notify,
}

impl FrameQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        FrameQueue { capacity: capacity.max(1), inner: Mutex::new(Queue::default()), ready: Notify::new() }
    }

    /// Queues a frame. When full: the oldest metrics frame is dropped; if
    /// none is queued, a new metrics frame is dropped, and a new kept frame
    /// replaces the oldest kept one.
    pub(crate) fn push(&self, frame: Frame) {
        {
            let mut queue = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if queue.frames.len() >= self.capacity {
                queue.dropped += 1;
                if let Some(index) = queue.frames.iter().position(|f| matches!(f, Frame::Metrics(_))) {
                    queue.frames.remove(index);
                } else if matches!(frame, Frame::Metrics(_)) {
                    return;
                } else {
                    queue.frames.pop_front();
                }
            }
            queue.frames.push_back(frame);
        }
        self.ready.notify_one();
    }

    /// Moves every queued frame into `out`.
    pub(crate) fn take(&self, out: &mut Vec<Frame>) {
        let mut queue = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        out.extend(queue.frames.drain(..));
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).dropped
    }

    /// Completes when a frame was pushed since the last call.
    async fn ready(&self) {
        self.ready.notified().await;
    }
}

/// One connected dashboard.
struct Client {
    id: u64,
    tenant_id: String,
    interest: Mutex<Interest>,
    queue: FrameQueue,
}

impl Client {
    fn wants(&self, host_id: &str) -> bool {
        self.interest.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).wants(host_id)
    }
}

// ---------------------------------------------------------------------------
// The hub

/// A tenant with at least one dashboard connected.
#[derive(Default)]
struct Watched {
    clients: Vec<Arc<Client>>,
    /// The task reading the tenant's snapshots; aborted (which drops, so
    /// unsubscribes, it) when the tenant's last client leaves. `None` before
    /// [`Hub::start`].
    feed: Option<tokio::task::AbortHandle>,
}

/// Connected clients by tenant, fed from NATS.
#[derive(Default)]
pub(crate) struct Hub {
    tenants: RwLock<HashMap<String, Watched>>,
    /// Set by [`Hub::start`]: where per-tenant feeds subscribe, and the
    /// shutdown signal they stop on.
    source: std::sync::OnceLock<(async_nats::Client, CancellationToken)>,
    next_id: std::sync::atomic::AtomicU64,
}

/// Removes its client from the hub when the connection ends.
struct Registration {
    hub: Arc<Hub>,
    client: Arc<Client>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        crate::telemetry::metrics().websocket_clients.dec();
        let mut tenants = self.hub.tenants.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(watched) = tenants.get_mut(&self.client.tenant_id) {
            watched.clients.retain(|c| c.id != self.client.id);
            if watched.clients.is_empty() {
                if let Some(feed) = tenants.remove(&self.client.tenant_id).and_then(|w| w.feed) {
                    feed.abort();
                    tracing::debug!(tenant_id = %self.client.tenant_id, "live: last dashboard of the tenant left; its snapshots are no longer read");
                }
            }
        }
    }
}

impl Hub {
    pub(crate) fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    fn register(self: &Arc<Self>, tenant_id: &str) -> Registration {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let client = Arc::new(Client {
            id,
            tenant_id: tenant_id.to_owned(),
            interest: Mutex::new(Interest::Nothing),
            queue: FrameQueue::new(QUEUE_FRAMES),
        });
        let mut tenants = self.tenants.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let watched = tenants.entry(tenant_id.to_owned()).or_default();
        if watched.feed.is_none() {
            watched.feed = self.start_feed(tenant_id);
        }
        watched.clients.push(client.clone());
        crate::telemetry::metrics().websocket_clients.inc();
        Registration { hub: self.clone(), client }
    }

    /// Starts reading the tenant's snapshots (its first dashboard connected).
    /// Before [`Hub::start`] (no NATS yet) it does nothing.
    fn start_feed(self: &Arc<Self>, tenant_id: &str) -> Option<tokio::task::AbortHandle> {
        let (nats, stopping) = self.source.get()?;
        let subject = subjects::metrics_of_tenant(tenant_id);
        let (hub, nats, stopping, tenant) = (self.clone(), nats.clone(), stopping.clone(), tenant_id.to_owned());
        let task = tokio::spawn(async move {
            match nats.subscribe(subject.clone()).await {
                Ok(subscription) => feed(hub, subscription, stopping, Hub::on_metrics).await,
                Err(error) => {
                    tracing::error!(tenant_id = %tenant, subject = %subject, error = %error, "live: cannot subscribe to the tenant's snapshots; its dashboards get no metrics frames until they reconnect")
                }
            }
        });
        Some(task.abort_handle())
    }

    /// True when some client of the tenant is connected (frames are only
    /// built for tenants someone watches).
    fn watched(&self, tenant_id: &str) -> bool {
        self.tenants.read().unwrap_or_else(|poisoned| poisoned.into_inner()).contains_key(tenant_id)
    }

    /// Pushes `frame` to every client of the tenant that wants the host
    /// (every client of the tenant when `host_id` is `None`).
    fn dispatch(&self, tenant_id: &str, host_id: Option<&str>, frame: &Frame) {
        let tenants = self.tenants.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(watched) = tenants.get(tenant_id) {
            for client in &watched.clients {
                if host_id.is_none_or(|host_id| client.wants(host_id)) {
                    client.queue.push(frame.clone());
                }
            }
        }
    }

    fn on_metrics(&self, message: &async_nats::Message) {
        let Some((tenant_id, host_id)) = subjects::parse_metrics(message.subject.as_str()) else {
            return;
        };
        if !self.watched(tenant_id) {
            return;
        }
        let snapshot: MetricsSnapshot = match serde_json::from_slice(&message.payload) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(subject = %message.subject, error = %error, "live: a metrics message is not a snapshot; skipped");
                return;
            }
        };
        if snapshot.tenant_id != tenant_id || snapshot.host_id != host_id {
            tracing::warn!(subject = %message.subject, "live: snapshot ids differ from its subject; skipped");
            return;
        }
        if let Some(frame) = metrics_frame(&snapshot) {
            self.dispatch(tenant_id, Some(host_id), &frame);
        }
    }

    fn on_alert_event(&self, message: &async_nats::Message) {
        let Some((tenant_id, host_id)) = subjects::parse_alert_event(message.subject.as_str()) else {
            return;
        };
        if !self.watched(tenant_id) {
            return;
        }
        let event: messages::AlertEvent = match serde_json::from_slice(&message.payload) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(subject = %message.subject, error = %error, "live: an alerts message is not an alert event; skipped");
                return;
            }
        };
        if event.alert.tenant_id != tenant_id || event.alert.host_id != host_id {
            tracing::warn!(subject = %message.subject, "live: alert ids differ from its subject; skipped");
            return;
        }
        if let Some(frame) = alert_frame(&event) {
            self.dispatch(tenant_id, None, &frame);
        }
    }

    fn on_action_status(&self, message: &async_nats::Message) {
        let Some((tenant_id, host_id, _)) = subjects::parse_action(message.subject.as_str()) else {
            return;
        };
        if !self.watched(tenant_id) {
            return;
        }
        let record: messages::ActionRecord = match serde_json::from_slice(&message.payload) {
            Ok(record) => record,
            Err(error) => {
                tracing::warn!(subject = %message.subject, error = %error, "live: an action status is not an action record; skipped");
                return;
            }
        };
        if record.tenant_id != tenant_id || record.host_id != host_id {
            tracing::warn!(subject = %message.subject, "live: action ids differ from its subject; skipped");
            return;
        }
        if let Some(frame) = action_frame(&record) {
            self.dispatch(tenant_id, None, &frame);
        }
    }

    fn on_host_event(&self, message: &async_nats::Message) {
        let event: HostEvent = match serde_json::from_slice(&message.payload) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(subject = %message.subject, error = %error, "live: a hosts message is not a host event; skipped");
                return;
            }
        };
        if !self.watched(&event.tenant_id) {
            return;
        }
        if let Some(frame) = status_frame(&event) {
            self.dispatch(&event.tenant_id, Some(&event.host_id), &frame);
        }
    }

    /// Subscribes to every host and alert event, and from now on to the snapshots of
    /// each tenant while one of its dashboards is connected, and feeds the
    /// clients until `stopping` flips. The host events subscription's error
    /// is returned here, at build.
    pub(crate) async fn start(
        self: &Arc<Self>,
        nats: &async_nats::Client,
        stopping: CancellationToken,
    ) -> Result<(), GatewayError> {
        let hosts = nats.subscribe(subjects::HOSTS_ALL).await.map_err(|source| GatewayError::Service(Box::new(source)))?;
        tokio::spawn(feed(self.clone(), hosts, stopping.clone(), Hub::on_host_event));
        let alerts = nats.subscribe(subjects::ALERTS_ALL).await.map_err(|source| GatewayError::Service(Box::new(source)))?;
        tokio::spawn(feed(self.clone(), alerts, stopping.clone(), Hub::on_alert_event));
        let actions = nats.subscribe(subjects::ACTIONS_STATUS).await.map_err(|source| GatewayError::Service(Box::new(source)))?;
        tokio::spawn(feed(self.clone(), actions, stopping.clone(), Hub::on_action_status));
        {
            let mut tenants = self.tenants.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            if self.source.set((nats.clone(), stopping)).is_err() {
                return Err(GatewayError::Live("the live hub was started twice".to_owned()));
            }
            // dashboards that connected before the start (none in practice)
            for (tenant_id, watched) in tenants.iter_mut() {
                watched.feed = self.start_feed(tenant_id);
            }
        }
        Ok(())
    }
}

/// Reads one subscription until shutdown; each message is handled without
/// awaiting anything, so the subscription never backs up behind a client.
async fn feed(
    hub: Arc<Hub>,
    mut subscription: async_nats::Subscriber,
    stopping: CancellationToken,
    handle: fn(&Hub, &async_nats::Message),
) {
    loop {
        tokio::select! {
            () = stopping.cancelled() => break,
            message = subscription.next() => match message {
                Some(message) => handle(&hub, &message),
                None => {
                    tracing::error!("live: the nats subscription ended; live updates stop");
                    break;
                }
            },
        }
    }
    let _ = subscription.unsubscribe().await;
}

// ---------------------------------------------------------------------------
// The WebSocket endpoint

type AppState = Arc<Shared>;

#[derive(Deserialize)]
pub(crate) struct WsParams {
    token: Option<String>,
}

pub(crate) async fn upgrade(
    State(shared): State<AppState>,
    params: Result<Query<WsParams>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let token = params.ok().and_then(|Query(p)| p.token).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let Some(token) = token else {
        return ApiError::unauthorized("missing access token; connect to /ws?token=<access_token> (POST /api/auth/login)")
            .into_response();
    };
    let claims = match auth::check_access_token(&shared.config.jwt_secret, &token) {
        Ok(claims) => claims,
        Err(TokenRefused::Expired) => {
            return ApiError::unauthorized("access token expired; refresh it (POST /api/auth/refresh) and reconnect")
                .into_response()
        }
        Err(TokenRefused::Invalid) => return ApiError::unauthorized("invalid access token; log in again").into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade.max_message_size(MAX_CLIENT_MESSAGE).on_upgrade(move |socket| serve(shared, claims, socket))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Subscribe {
        #[serde(default)]
        hosts: Option<Vec<String>>,
    },
    Unsubscribe {
        hosts: Vec<String>,
    },
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

/// Why a connection ended (for the log).
#[derive(Debug)]
enum End {
    ClientClosed,
    Shutdown,
    TokenExpired,
    Idle,
    WriteStalled,
    Socket(axum::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::ClientClosed => f.write_str("closed by the client"),
            End::Shutdown => f.write_str("gateway shutdown"),
            End::TokenExpired => f.write_str("access token expired"),
            End::Idle => f.write_str("no answer to pings"),
            End::WriteStalled => f.write_str("the client read nothing for the write timeout"),
            End::Socket(error) => write!(f, "socket error: {error}"),
        }
    }
}

async fn serve(shared: Arc<Shared>, claims: auth::Claims, socket: WebSocket) {
    let registration = shared.live.register(&claims.tenant);
    let client = registration.client.clone();
    tracing::debug!(client = client.id, tenant_id = %claims.tenant, user_id = %claims.sub, "live: dashboard connected");
    let (mut sink, mut stream) = socket.split();
    let stopping = shared.stopping.clone();
    let expires_in = u64::try_from(claims.exp - Utc::now().timestamp()).unwrap_or(0);
    let expiry = tokio::time::sleep(Duration::from_secs(expires_in));
    tokio::pin!(expiry);
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_heard = Instant::now();
    let mut latest_tasks = JoinSet::new();
    let mut batch = Vec::new();

    let end = loop {
        tokio::select! {
            () = stopping.cancelled() => {
                let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(close(1001, "gateway shutting down"))).await;
                break End::Shutdown;
            }
            _ = &mut expiry => {
                let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(close(CLOSE_TOKEN_EXPIRED, "access token expired; reconnect with a fresh one"))).await;
                break End::TokenExpired;
            }
            incoming = stream.next() => match incoming {
                None | Some(Ok(Message::Close(_))) => break End::ClientClosed,
                Some(Err(error)) => break End::Socket(error),
                Some(Ok(Message::Text(text))) => {
                    last_heard = Instant::now();
                    handle_client_message(&shared, &client, text.as_str(), &mut latest_tasks);
                }
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            _ = client.queue.ready() => {
                client.queue.take(&mut batch);
                let send = async {
                    for frame in batch.drain(..) {
                        sink.feed(Message::Text(frame.text())).await?;
                    }
                    sink.flush().await
                };
                match tokio::time::timeout(WRITE_TIMEOUT, send).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => break End::Socket(error),
                    Err(_) => break End::WriteStalled,
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE_TIMEOUT {
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(close(1000, "no answer to pings"))).await;
                    break End::Idle;
                }
                match tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Ping(Default::default()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => break End::Socket(error),
                    Err(_) => break End::WriteStalled,
                }
            }
        }
    };
    latest_tasks.abort_all();
    tracing::debug!(client = client.id, tenant_id = %claims.tenant, end = %end, dropped = client.queue.dropped(), "live: dashboard disconnected");
    drop(registration);
}

fn handle_client_message(shared: &Arc<Shared>, client: &Arc<Client>, text: &str, tasks: &mut JoinSet<()>) {
    let message: ClientMessage = match serde_json::from_str(text) {
        Ok(message) => message,
        Err(error) => {
            let text = format!("cannot read this message ({error}); send {{\"type\":\"subscribe\",\"hosts\":[...]}} or {{\"type\":\"unsubscribe\",\"hosts\":[...]}}");
            if let Some(frame) = error_frame(&text) {
                client.queue.push(frame);
            }
            return;
        }
    };
    let valid = |hosts: Vec<String>| -> Vec<String> {
        hosts.into_iter().filter(|h| vigil_bus::ids::validate("host", h).is_ok()).collect()
    };
    match message {
        ClientMessage::Subscribe { hosts } => {
            let hosts = hosts.map(valid);
            client.interest.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).subscribe(hosts.clone());
            // Tasks that finished are reaped so the set does not grow.
            while tasks.try_join_next().is_some() {}
            tasks.spawn(send_latest(shared.nats.clone(), client.clone(), hosts));
        }
        ClientMessage::Unsubscribe { hosts } => {
            client.interest.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).unsubscribe(valid(hosts));
        }
    }
}

/// Sends the latest stored metrics of the hosts just subscribed (every host
/// of the tenant when `hosts` is `None`). Hosts of another tenant are
/// answered `NotFound` by the collector and skipped.
async fn send_latest(nats: async_nats::Client, client: Arc<Client>, hosts: Option<Vec<String>>) {
    let tenant_id = client.tenant_id.clone();
    let hosts = match hosts {
        Some(hosts) => hosts,
        None => match messages::request::<_, Vec<HostRecord>>(
            &nats,
            collector::LIST_HOSTS,
            &ListHosts { tenant_id: tenant_id.clone() },
        )
        .await
        {
            Ok(records) => records.into_iter().map(|r| r.id).collect(),
            Err(error) => {
                tracing::warn!(tenant_id = %tenant_id, error = %error, "live: cannot list hosts for the first values");
                return;
            }
        },
    };
    let answers = futures::stream::iter(hosts)
        .map(|host_id| {
            let nats = nats.clone();
            let request: MetricsLatest = MetricsLatest { tenant_id: tenant_id.clone(), host_id: host_id.clone() };
            async move {
                let answer = messages::request::<_, Option<MetricsPoint>>(&nats, collector::METRICS_LATEST, &request).await;
                (host_id, answer)
            }
        })
        .buffer_unordered(LATEST_CONCURRENCY);
    futures::pin_mut!(answers);
    while let Some((host_id, answer)) = answers.next().await {
        match answer {
            Ok(Some(point)) => {
                if client.wants(&host_id) {
                    if let Some(frame) = point_frame(&host_id, &point) {
                        client.queue.push(frame);
                    }
                }
            }
            Ok(None) => {}
            Err(error) if error.code == vigil_bus::ErrorCode::NotFound => {}
            Err(error) => tracing::debug!(host_id = %host_id, error = %error, "live: no first value for a host"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(text: &str) -> Frame {
        Frame::Metrics(Utf8Bytes::from(text.to_owned()))
    }

    fn kept(text: &str) -> Frame {
        Frame::Kept(Utf8Bytes::from(text.to_owned()))
    }

    fn texts(queue: &FrameQueue) -> Vec<String> {
        let mut out = Vec::new();
        queue.take(&mut out);
        out.iter().map(|f| f.text().as_str().to_owned()).collect()
    }

    #[test]
    fn a_full_queue_drops_its_oldest_metrics_frame_first() {
        let queue = FrameQueue::new(3);
        queue.push(kept("s1"));
        queue.push(metrics("m1"));
        queue.push(metrics("m2"));
        queue.push(metrics("m3"));
        assert_eq!(texts(&queue), ["s1", "m2", "m3"]);
        assert_eq!(queue.dropped(), 1);
    }

    #[test]
    fn status_frames_are_kept_over_metrics_frames() {
        let queue = FrameQueue::new(2);
        queue.push(kept("s1"));
        queue.push(kept("s2"));
        // No metrics frame to drop: the new metrics frame goes.
        queue.push(metrics("m1"));
        assert_eq!(texts(&queue), ["s1", "s2"]);
        queue.push(kept("s1"));
        queue.push(kept("s2"));
        // Only kept frames: the oldest one makes room for the newest.
        queue.push(kept("s3"));
        assert_eq!(texts(&queue), ["s2", "s3"]);
    }

    #[test]
    fn interest_follows_subscribe_and_unsubscribe() {
        let mut interest = Interest::Nothing;
        assert!(!interest.wants("h1"));
        interest.subscribe(Some(vec!["h1".into()]));
        assert!(interest.wants("h1") && !interest.wants("h2"));
        interest.unsubscribe(vec!["h1".into()]);
        assert!(!interest.wants("h1"));
        interest.subscribe(None);
        assert!(interest.wants("h1") && interest.wants("h2"));
        interest.unsubscribe(vec!["h2".into()]);
        assert!(interest.wants("h1") && !interest.wants("h2"));
        interest.subscribe(Some(vec!["h2".into()]));
        assert!(interest.wants("h2"));
    }

    #[test]
    fn metrics_frame_has_the_dashboard_shape() {
        let mut snapshot = MetricsSnapshot {
            tenant_id: "acme".into(),
            host_id: "h1".into(),
            seq: 1,
            collected_at: DateTime::parse_from_rfc3339("2026-01-31T12:00:00.250Z").unwrap().with_timezone(&Utc),
            received_at: Utc::now(),
            host: HostMetrics::default(),
            containers: vec![messages::ContainerMetrics {
                name: "web".into(),
                status: "running".into(),
                cpu_percent: 12.5,
                memory_percent: 25.0,
                ..Default::default()
            }],
            services: vec![messages::ServiceMetrics::default(); 2],
            custom: vec![],
            errors: vec![],
        };
        snapshot.host.cpu.percent = 23.5;
        snapshot.host.memory.percent = 50.0;
        snapshot.host.disk.mounts = vec![
            messages::MountMetrics { path: "/data".into(), percent: 90.0, ..Default::default() },
            messages::MountMetrics { path: "/".into(), percent: 40.0, ..Default::default() },
        ];
        let frame = metrics_frame(&snapshot).unwrap();
        assert!(matches!(frame, Frame::Metrics(_)));
        let json: serde_json::Value = serde_json::from_str(frame.text().as_str()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "metrics", "host_id": "h1", "timestamp": "2026-01-31T12:00:00.250Z",
                "data": {"cpu": 23.5, "memory": 50.0, "disk": 40.0,
                         "containers": [{"name": "web", "cpu": 12.5, "memory": 25.0, "status": "running"}],
                         "services_count": 2}
            })
        );
        snapshot.host.disk.mounts.remove(1);
        let json: serde_json::Value = serde_json::from_str(metrics_frame(&snapshot).unwrap().text().as_str()).unwrap();
        assert_eq!(json["data"]["disk"], 90.0, "no / mount: the fullest mount");
    }

    #[test]
    fn host_events_become_status_frames_except_registered() {
        let at = DateTime::parse_from_rfc3339("2026-01-31T12:00:00Z").unwrap().with_timezone(&Utc);
        let mut event =
            HostEvent { tenant_id: "acme".into(), host_id: "h1".into(), event: HostEventKind::Offline, at, last_seen: None };
        let frame = status_frame(&event).unwrap();
        assert!(matches!(frame, Frame::Kept(_)));
        let json: serde_json::Value = serde_json::from_str(frame.text().as_str()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "host_status", "host_id": "h1", "status": "offline", "timestamp": "2026-01-31T12:00:00.000Z"})
        );
        event.event = HostEventKind::Registered;
        assert!(status_frame(&event).is_none());
    }

    #[test]
    fn the_hub_delivers_only_to_the_tenant_and_hosts_subscribed() {
        let hub = Hub::new();
        let acme_all = hub.register("acme");
        let acme_one = hub.register("acme");
        let globex = hub.register("globex");
        acme_all.client.interest.lock().unwrap().subscribe(None);
        acme_one.client.interest.lock().unwrap().subscribe(Some(vec!["h2".into()]));
        globex.client.interest.lock().unwrap().subscribe(None);
        hub.dispatch("acme", Some("h1"), &metrics("acme-h1"));
        hub.dispatch("acme", Some("h2"), &metrics("acme-h2"));
        assert_eq!(texts(&acme_all.client.queue), ["acme-h1", "acme-h2"]);
        assert_eq!(texts(&acme_one.client.queue), ["acme-h2"]);
        assert!(texts(&globex.client.queue).is_empty());
        drop(acme_all);
        drop(acme_one);
        assert!(!hub.watched("acme"), "a tenant without clients is forgotten");
        assert!(hub.watched("globex"));
    }
}
