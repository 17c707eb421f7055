//! A real gRPC peer for the agent's tests: a tonic server implementing the
//! generated `VigilService` trait on 127.0.0.1 (plaintext), recording what it
//! receives, with switches to break a stream, refuse a snapshot or hold acks,
//! and a way to hand the agent an `Action` ([`Gateway::send_action`]) and
//! read its `ActionResult`s ([`Gateway::action_results`]).
#![allow(dead_code)]

pub mod actions;
pub mod engine;
pub mod podman;

/// The kit's polling helper (`vigil_testkit::eventually`), compiled from its
/// one source: the agent's tests do not depend on `vigil-testkit`, which
/// would bring NATS and MariaDB clients into their build.
#[path = "../../../tests/kit/src/poll.rs"]
mod poll;
#[allow(unused_imports)] // not every test binary waits
pub use poll::eventually;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};
use vigil_proto::vigil_service_server::{VigilService, VigilServiceServer};
use vigil_proto::{
    agent_message, server_message, Ack, Action, ActionResult, AgentMessage, RegisterRequest, RegisterResponse, ServerMessage,
};
use vigil_runtime::CancellationToken;

pub const TOKEN: &str = "test-token-123";
pub const HOST_ID: &str = "host-test-1";
/// The tenant every registration is answered with.
pub const TENANT_ID: &str = "tenant-test";

#[derive(Debug, Default)]
pub struct Behaviour {
    /// On the first connection: after this many snapshots, fail the stream.
    pub break_first_after: Option<usize>,
    /// On the first connection: acknowledge only this many snapshots.
    pub ack_first: usize,
    /// Refuse (accepted: false) this seq, every time.
    pub refuse: Option<u64>,
    /// Do not acknowledge anything.
    pub never_ack: bool,
}

#[derive(Debug, Default)]
pub struct Record {
    /// (connection number from 1, seq)
    pub received: Vec<(usize, u64)>,
    pub authorizations: Vec<String>,
    pub host_ids: Vec<String>,
    pub registers: Vec<RegisterRequest>,
    pub heartbeats: usize,
    pub snapshots: Vec<vigil_proto::Metrics>,
    /// (connection number from 1, report)
    pub action_results: Vec<(usize, ActionResult)>,
}

/// One stream's way to the agent.
type Outbound = mpsc::Sender<Result<ServerMessage, Status>>;

#[derive(Clone)]
pub struct Gateway {
    pub record: Arc<Mutex<Record>>,
    pub behaviour: Arc<Behaviour>,
    connections: Arc<AtomicUsize>,
    /// Cancelled to fail every open stream (the gateway "dies").
    kill: CancellationToken,
    /// The newest stream's way to the agent.
    outbound: Arc<Mutex<Option<Outbound>>>,
}

impl Gateway {
    pub fn new(behaviour: Behaviour) -> Self {
        Self {
            record: Arc::default(),
            behaviour: Arc::new(behaviour),
            connections: Arc::default(),
            kill: CancellationToken::new(),
            outbound: Arc::default(),
        }
    }

    /// A gateway sharing this one's record and counters (a "restarted" gateway).
    pub fn restarted(&self, behaviour: Behaviour) -> Self {
        Self {
            record: self.record.clone(),
            behaviour: Arc::new(behaviour),
            connections: self.connections.clone(),
            kill: CancellationToken::new(),
            outbound: Arc::default(),
        }
    }

    /// Hands `action` to the agent on the newest stream; `false` when no
    /// stream is open.
    pub async fn send_action(&self, action: Action) -> bool {
        let outbound = self.outbound.lock().unwrap().clone();
        match outbound {
            Some(tx) => tx.send(Ok(ServerMessage { payload: Some(server_message::Payload::Action(action)) })).await.is_ok(),
            None => false,
        }
    }

    /// Sends `message` to the agent on the newest stream; `false` when no
    /// stream is open.
    pub async fn send(&self, message: ServerMessage) -> bool {
        let outbound = self.outbound.lock().unwrap().clone();
        match outbound {
            Some(tx) => tx.send(Ok(message)).await.is_ok(),
            None => false,
        }
    }

    /// The reports received for `action_id`, in order.
    pub fn action_results(&self, action_id: &str) -> Vec<ActionResult> {
        let record = self.record.lock().unwrap();
        record.action_results.iter().filter(|(_, r)| r.action_id == action_id).map(|(_, r)| r.clone()).collect()
    }

    /// Waits for the final report (not `running`) of `action_id`: the reports
    /// received until then.
    pub async fn final_results(&self, action_id: &str, timeout: Duration) -> Vec<ActionResult> {
        eventually(&format!("a final report of action {action_id}"), timeout, || async {
            let results = self.action_results(action_id);
            if results.last().is_some_and(|r| r.status != "running") {
                Ok(results)
            } else {
                Err(results)
            }
        })
        .await
    }

    pub fn received(&self) -> Vec<(usize, u64)> {
        self.record.lock().unwrap().received.clone()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn authorization<T>(request: &Request<T>) -> String {
    request.metadata().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[tonic::async_trait]
impl VigilService for Gateway {
    type ConnectStream = ReceiverStream<Result<ServerMessage, Status>>;

    async fn connect(&self, request: Request<Streaming<AgentMessage>>) -> Result<Response<Self::ConnectStream>, Status> {
        let auth = authorization(&request);
        let host_id =
            request.metadata().get(vigil_proto::HOST_ID_METADATA).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        {
            let mut record = self.record.lock().unwrap();
            record.authorizations.push(auth.clone());
            record.host_ids.push(host_id.clone());
        }
        if auth != format!("Bearer {TOKEN}") {
            return Err(Status::unauthenticated("bad token"));
        }
        let connection = self.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let (tx, rx) = mpsc::channel(1024);
        *self.outbound.lock().unwrap() = Some(tx.clone());
        let mut inbound = request.into_inner();
        let record = self.record.clone();
        let behaviour = self.behaviour.clone();
        let kill = self.kill.clone();
        tokio::spawn(async move {
            let mut count = 0usize;
            loop {
                let message = tokio::select! {
                    message = inbound.message() => match message {
                        Ok(Some(message)) => Some(message),
                        _ => return,
                    },
                    () = kill.cancelled() => None,
                };
                let Some(message) = message else {
                    let _ = tx.send(Err(Status::unavailable("gateway stopped"))).await;
                    return;
                };
                match message.payload {
                    Some(agent_message::Payload::Metrics(metrics)) => {
                        count += 1;
                        let seq = metrics.seq;
                        {
                            let mut record = record.lock().unwrap();
                            record.received.push((connection, seq));
                            record.snapshots.push(metrics);
                        }
                        let ack_this = !behaviour.never_ack
                            && (connection > 1 || behaviour.break_first_after.is_none() || count <= behaviour.ack_first);
                        if ack_this {
                            let refused = behaviour.refuse == Some(seq);
                            let ack = Ack {
                                seq,
                                accepted: !refused,
                                error: if refused { "bad content".into() } else { String::new() },
                            };
                            let _ = tx.send(Ok(ServerMessage { payload: Some(server_message::Payload::Ack(ack)) })).await;
                        }
                        if connection == 1 && behaviour.break_first_after == Some(count) {
                            let _ = tx.send(Err(Status::unavailable("gateway going away"))).await;
                            return;
                        }
                    }
                    Some(agent_message::Payload::Heartbeat(_)) => record.lock().unwrap().heartbeats += 1,
                    Some(agent_message::Payload::ActionResult(result)) => {
                        record.lock().unwrap().action_results.push((connection, result))
                    }
                    None => {}
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn register(&self, request: Request<RegisterRequest>) -> Result<Response<RegisterResponse>, Status> {
        if authorization(&request) != format!("Bearer {TOKEN}") {
            return Err(Status::unauthenticated("bad token"));
        }
        let body = request.into_inner();
        let host_id = if body.requested_id.is_empty() { HOST_ID.to_owned() } else { body.requested_id.clone() };
        self.record.lock().unwrap().registers.push(body);
        Ok(Response::new(RegisterResponse { host_id, tenant_id: TENANT_ID.into(), interval_seconds: 0 }))
    }
}

/// A running test gateway; stops when dropped or on [`stop`](Self::stop).
pub struct Server {
    pub address: SocketAddr,
    kill: CancellationToken,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub async fn start(gateway: Gateway) -> Server {
        Self::start_on("127.0.0.1:0".parse().unwrap(), gateway).await
    }

    pub async fn start_on(address: SocketAddr, gateway: Gateway) -> Server {
        Self::start_inner(address, gateway, None).await
    }

    /// A TLS gateway with the given PEM certificate chain and key.
    pub async fn start_tls(gateway: Gateway, cert_pem: &str, key_pem: &str) -> Server {
        let tls = tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(cert_pem, key_pem));
        Self::start_inner("127.0.0.1:0".parse().unwrap(), gateway, Some(tls)).await
    }

    async fn start_inner(address: SocketAddr, gateway: Gateway, tls: Option<tonic::transport::ServerTlsConfig>) -> Server {
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let kill = gateway.kill.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut builder = tonic::transport::Server::builder();
            if let Some(tls) = tls {
                builder = builder.tls_config(tls).unwrap();
            }
            builder
                .add_service(VigilServiceServer::new(gateway))
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Server { address, kill, stop: Some(stop), task: Some(task) }
    }

    /// Stops accepting and waits (briefly) for open streams to close.
    /// Fails every open stream, stops accepting and waits for the server
    /// to finish.
    pub async fn stop(mut self) {
        self.kill.cancel();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                panic!("test gateway did not stop within 5s");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A config for an agent talking plaintext to `address`, with its state in
/// `state_dir`.
pub fn config_text(address: SocketAddr, state_dir: &std::path::Path, interval: &str) -> String {
    format!(
        "agent:\n  name: test-agent\nserver:\n  address: {address}\n  token: {TOKEN}\n  tls:\n    enabled: false\ncollection:\n  interval: {interval}\nstate_dir: {}\nbuffer:\n  max_snapshots: 1000\n",
        state_dir.display()
    )
}
