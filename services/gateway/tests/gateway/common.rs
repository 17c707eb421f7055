//! Test infrastructure for the gateway: a private nats-server per test, a
//! private database per test on the shared MariaDB, a self-signed TLS identity,
//! a running gateway, and a stand-in for the collector's endpoints.
//!
//! The collector stand-in is a test double of a *peer service* (not of our
//! infrastructure): it answers the fixed `vigil.collector.*` endpoints from an
//! in-memory map on the test's private nats-server, so these tests do not
//! depend on the collector crate being written in parallel. The whole-stack
//! tests in `tests/` run the real collector behind the real gateway.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::Request;
use vigil_bus::messages::*;
use vigil_bus::subjects::collector;
use vigil_bus::{ErrorCode, ServiceError};
use vigil_gateway::admin::{self, Role};
use vigil_gateway::{Gateway, GatewayConfig, GatewayError, TlsMaterial};
use vigil_proto::vigil_service_client::VigilServiceClient;
use vigil_proto::{RegisterRequest, ServerMessage};

pub const JWT_SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123456789";

use vigil_testkit::agent::{authorize, tls_channel, Connection};
pub use vigil_testkit::{random_suffix, NatsServer, TestDb};

/// A self-signed certificate for "localhost": the server identity and the
/// only CA the test clients trust.
pub fn tls_material() -> TlsMaterial {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("generate a certificate");
    TlsMaterial { cert_chain_pem: certified.cert.pem(), private_key_pem: certified.key_pair.serialize_pem() }
}

pub fn test_config(tls: TlsMaterial) -> GatewayConfig {
    GatewayConfig::new(JWT_SECRET.to_vec(), tls)
}

// ---------------------------------------------------------------------------
// The collector stand-in

#[derive(Default)]
pub struct CollectorState {
    pub hosts: HashMap<String, HostRecord>,
    pub points: HashMap<String, Vec<MetricsPoint>>,
    /// Requests seen, by endpoint subject.
    pub requests: Vec<String>,
}

#[derive(Clone, Default)]
pub struct FakeCollector {
    pub state: Arc<Mutex<CollectorState>>,
}

impl FakeCollector {
    /// Subscribes the five collector endpoints on `client`.
    pub async fn start(client: async_nats::Client) -> (FakeCollector, Vec<JoinHandle<()>>) {
        let fake = FakeCollector::default();
        let mut tasks = Vec::new();
        for endpoint in collector::ALL {
            let mut subscription = client.subscribe(endpoint.subject()).await.expect("subscribe a collector endpoint");
            let (client, fake) = (client.clone(), fake.clone());
            tasks.push(tokio::spawn(async move {
                while let Some(message) = subscription.next().await {
                    let reply = fake.answer(endpoint.subject(), &message.payload);
                    if let Some(to) = message.reply {
                        let _ = client.publish(to, reply.into()).await;
                    }
                }
            }));
        }
        client.flush().await.expect("flush subscriptions");
        (fake, tasks)
    }

    fn answer(&self, subject: String, payload: &[u8]) -> Vec<u8> {
        let mut state = self.state.lock().unwrap();
        state.requests.push(subject.clone());
        fn encode<T: serde::Serialize>(result: Result<T, ServiceError>) -> Vec<u8> {
            serde_json::to_vec(&Reply::from(result)).unwrap()
        }
        fn not_found(host_id: &str) -> ServiceError {
            ServiceError::new(ErrorCode::NotFound, format!("host {host_id} not found"))
        }
        let owned = |state: &CollectorState, tenant: &str, host: &str| {
            state.hosts.get(host).filter(|h| h.tenant_id == tenant).cloned().ok_or_else(|| not_found(host))
        };
        if subject == collector::REGISTER_HOST.subject() {
            let request: RegisterHost = serde_json::from_slice(payload).unwrap();
            let id = request.requested_id.clone().unwrap_or_else(|| format!("host-{}", request.machine_id));
            let record = HostRecord {
                id: id.clone(),
                tenant_id: request.tenant_id,
                name: request.name,
                hostname: request.hostname,
                ip_address: request.ip_address,
                os: request.os,
                arch: request.arch,
                cpu_model: String::new(),
                agent_version: request.agent_version,
                status: HostStatus::Offline,
                last_seen: None,
                created_at: Utc::now(),
                actions: request.actions,
            };
            if let Some(existing) = state.hosts.get(&id) {
                if existing.tenant_id != record.tenant_id {
                    return encode::<HostRecord>(Err(ServiceError::new(ErrorCode::Conflict, format!("host id {id} is taken"))));
                }
            }
            state.hosts.insert(id, record.clone());
            encode(Ok(record))
        } else if subject == collector::LIST_HOSTS.subject() {
            let request: ListHosts = serde_json::from_slice(payload).unwrap();
            let hosts: Vec<HostRecord> = state.hosts.values().filter(|h| h.tenant_id == request.tenant_id).cloned().collect();
            encode(Ok(hosts))
        } else if subject == collector::GET_HOST.subject() {
            let request: GetHost = serde_json::from_slice(payload).unwrap();
            encode(owned(&state, &request.tenant_id, &request.host_id))
        } else if subject == collector::METRICS_LATEST.subject() {
            let request: MetricsLatest = serde_json::from_slice(payload).unwrap();
            encode(
                owned(&state, &request.tenant_id, &request.host_id)
                    .map(|_| state.points.get(&request.host_id).and_then(|points| points.last().cloned())),
            )
        } else if subject == collector::METRICS_RANGE.subject() {
            let request: MetricsRange = serde_json::from_slice(payload).unwrap();
            encode(owned(&state, &request.tenant_id, &request.host_id).map(|_| {
                state
                    .points
                    .get(&request.host_id)
                    .map(|points| {
                        points
                            .iter()
                            .filter(|p| p.timestamp >= request.from && p.timestamp <= request.to)
                            .take(request.limit as usize)
                            .cloned()
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            }))
        } else {
            encode::<()>(Err(ServiceError::new(ErrorCode::Internal, format!("no handler for {subject}"))))
        }
    }

    /// Adds a host directly (as if an agent of `tenant` had registered it).
    pub fn add_host(&self, tenant: &str, host_id: &str) {
        let record = HostRecord {
            id: host_id.to_owned(),
            tenant_id: tenant.to_owned(),
            name: host_id.to_owned(),
            hostname: host_id.to_owned(),
            ip_address: "127.0.0.1".to_owned(),
            os: "linux".to_owned(),
            arch: "x86_64".to_owned(),
            cpu_model: String::new(),
            agent_version: "test".to_owned(),
            status: HostStatus::Online,
            last_seen: Some(Utc::now()),
            created_at: Utc::now(),
            actions: None,
        };
        self.state.lock().unwrap().hosts.insert(host_id.to_owned(), record);
    }

    pub fn add_point(&self, host_id: &str, timestamp: DateTime<Utc>, cpu_percent: f64) {
        let mut host = vigil_bus::messages::HostMetrics::default();
        host.cpu.percent = cpu_percent;
        self.state.lock().unwrap().points.entry(host_id.to_owned()).or_default().push(MetricsPoint { timestamp, host });
    }
}

// ---------------------------------------------------------------------------
// A running gateway

pub struct TestGateway {
    pub nats: NatsServer,
    pub client: async_nats::Client,
    pub db: TestDb,
    pub collector: FakeCollector,
    collector_tasks: Vec<JoinHandle<()>>,
    pub tls: TlsMaterial,
    pub grpc_port: u16,
    pub http_port: u16,
    stop: Option<vigil_runtime::CancellationToken>,
    pub running: Option<JoinHandle<Result<(), GatewayError>>>,
}

impl TestGateway {
    pub async fn start() -> TestGateway {
        TestGateway::start_with(|_| {}).await
    }

    /// Starts a gateway whose config `adjust` may change.
    pub async fn start_with(adjust: impl FnOnce(&mut GatewayConfig)) -> TestGateway {
        let nats = NatsServer::start().await;
        let client = nats.client().await;
        let db = TestDb::create().await;
        let (collector, collector_tasks) = FakeCollector::start(client.clone()).await;
        let tls = tls_material();
        let mut config = test_config(tls.clone());
        adjust(&mut config);
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = Gateway::build(config, grpc, http, client.clone(), db.pool.clone()).await.expect("build the gateway");
        let (grpc_port, http_port) = (gateway.grpc_addr().port(), gateway.http_addr().port());
        let stop = vigil_runtime::CancellationToken::new();
        let running = tokio::spawn(gateway.run_until_stopped(stop.clone()));
        TestGateway {
            nats,
            client,
            db,
            collector,
            collector_tasks,
            tls,
            grpc_port,
            http_port,
            stop: Some(stop),
            running: Some(running),
        }
    }

    /// Stops the gateway and returns what `run_until_stopped` returned.
    pub async fn shutdown(&mut self) -> Result<(), GatewayError> {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
        let running = self.running.take().expect("gateway running");
        tokio::time::timeout(Duration::from_secs(10), running).await.expect("gateway stops within 10s").expect("gateway task")
    }

    /// Stops answering as the collector (it becomes unreachable).
    pub fn stop_collector(&mut self) {
        for task in self.collector_tasks.drain(..) {
            task.abort();
        }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub async fn channel(&self) -> Channel {
        tls_channel(&format!("localhost:{}", self.grpc_port), &self.tls.cert_chain_pem)
            .await
            .expect("connect to the gateway over tls")
    }

    /// Tenant + user with `role` (password `password-<tenant>`); returns the email.
    pub async fn user(&self, tenant: &str, role: Role) -> (String, String) {
        admin::ensure_tenant(&self.db.pool, tenant, tenant).await.unwrap();
        let email = format!("{}-{}@{tenant}.test", role, random_suffix());
        let password = format!("password-{tenant}");
        admin::add_user(&self.db.pool, tenant, &email, &password, role).await.unwrap();
        (email, password)
    }

    /// Logs in; returns the whole JSON answer.
    pub async fn login(&self, email: &str, password: &str) -> serde_json::Value {
        let response = reqwest::Client::new()
            .post(self.http("/api/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "login of {email}");
        response.json().await.unwrap()
    }

    pub async fn access_token(&self, tenant: &str, role: Role) -> String {
        let (email, password) = self.user(tenant, role).await;
        self.login(&email, &password).await["access_token"].as_str().unwrap().to_owned()
    }

    /// Tenant + agent token.
    pub async fn agent_token(&self, tenant: &str) -> admin::CreatedToken {
        admin::ensure_tenant(&self.db.pool, tenant, tenant).await.unwrap();
        admin::create_agent_token(&self.db.pool, tenant, Some("test")).await.unwrap()
    }
}

/// GET with a bearer token: (status, JSON body or Null).
pub async fn get(url: &str, token: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

// ---------------------------------------------------------------------------
// A simulated agent (the rest of its side is `vigil_testkit::agent`)

pub async fn register(channel: Channel, token: &str, machine_id: &str) -> Result<vigil_proto::RegisterResponse, tonic::Status> {
    let mut request = Request::new(RegisterRequest {
        name: machine_id.to_owned(),
        hostname: machine_id.to_owned(),
        machine_id: machine_id.to_owned(),
        os: "linux".to_owned(),
        arch: "x86_64".to_owned(),
        agent_version: "test".to_owned(),
        ip_address: "127.0.0.1".to_owned(),
        requested_id: String::new(),
        ..Default::default()
    });
    authorize(&mut request, token);
    Ok(VigilServiceClient::new(channel).register(request).await?.into_inner())
}

/// The next reply within 10 s.
pub async fn next_reply(connection: &mut Connection) -> Result<Option<ServerMessage>, tonic::Status> {
    tokio::time::timeout(Duration::from_secs(10), connection.replies.message()).await.expect("a reply within 10s")
}
