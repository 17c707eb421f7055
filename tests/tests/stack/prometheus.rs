//! Prometheus exposition through the whole stack: an admin creates a scrape
//! token over REST, a real Prometheus (Debian's `prometheus`, started here
//! with its own config, port and tsdb) scrapes `GET /api/metrics/prometheus`
//! with it and `GET /metrics`, and its query API returns the values a
//! simulated agent sent. `promtool check metrics` passes on both texts. A
//! token reads its own tenant only; a wrong or revoked one is a 401.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use vigil_proto::{ContainerMetrics, CustomMetric, ServiceMetrics};
use vigil_testkit::schemas::checked_request;
use vigil_testkit::{eventually, free_port};
use vigil_tests::{sim, Stack};

use crate::{get, post, send};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// GET with a bearer token: (status, body text, content type).
async fn scrape(stack: &Stack, path: &str, token: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(stack.http(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("http get");
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, response.text().await.unwrap_or_default(), content_type)
}

/// `promtool check metrics` on `text`: passes, or panics with what it said.
fn promtool_check(what: &str, text: &str) {
    use std::io::Write;
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{PROMTOOL} (Debian's prometheus package; scripts/test installs it): {e}"));
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics refused {what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A real Prometheus scraping the stack every second, killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(gateway_port: u16, scrape_token: &str) -> Prometheus {
        let dir = tempfile::TempDir::new().unwrap();
        let token_file = dir.path().join("scrape.token");
        std::fs::write(&token_file, scrape_token).unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
                 \x20 - job_name: vigil\n    metrics_path: /api/metrics/prometheus\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: ['127.0.0.1:{gateway_port}']\n\
                 \x20 - job_name: vigil-ops\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['127.0.0.1:{gateway_port}']\n",
                token_file.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{PROMETHEUS} (Debian's prometheus package; scripts/test installs it): {e}"));
        Prometheus { child, port, _dir: dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The instant vector of `query`, as Prometheus's HTTP API answers it.
    async fn query(&self, query: &str) -> Result<Vec<Value>, String> {
        let response = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query(&[("query", query)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        match body["data"]["result"].as_array() {
            Some(result) if !result.is_empty() => Ok(result.clone()),
            _ => Err(format!("{query}: {body}")),
        }
    }

    /// The single value of `query` once Prometheus has one.
    async fn value(&self, query: &str) -> f64 {
        let result = eventually(&format!("prometheus to answer {query}"), Duration::from_secs(30), || self.query(query)).await;
        assert_eq!(result.len(), 1, "{query}: {result:?}");
        result[0]["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{query}: {result:?}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stack whose hosts stay online through the test (one snapshot each):
/// the tests' default `offline_after` is 5 s.
async fn fresh_stack() -> Stack {
    let mut stack = Stack::new().await.unwrap();
    stack.extra_env.insert("VIGIL_COLLECTOR_OFFLINE_AFTER".to_owned(), "10m".to_owned());
    stack
}

fn container(name: &str) -> ContainerMetrics {
    ContainerMetrics {
        name: name.to_owned(),
        runtime: "podman".to_owned(),
        status: "running".to_owned(),
        created: "2026-01-02T03:04:05Z".to_owned(),
        image: "nginx:1".to_owned(),
        cpu_percent: 150.0,
        memory_used: 104_857_600,
        memory_limit: 536_870_912,
        memory_percent: 19.53,
        disk_used: 4096,
        network_rx: 123_456,
        network_tx: 654_321,
        processes: 4,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_a_tenants_latest_metrics_with_a_scrape_token() {
    assert!(Path::new(PROMETHEUS).exists(), "{PROMETHEUS} is absent: apt-get install prometheus (scripts/test installs it)");
    let stack = fresh_stack().await;
    let _vigil = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let globex = stack.tenant("globex").await.unwrap();
    let admin = stack.login(&acme).await.unwrap();

    // acme's host sends known values; globex's host sends too
    let mut web = sim::Agent::start(&stack, &acme.token, "web-1").await.unwrap();
    web.send_with(Utc::now(), |metrics| {
        let host = metrics.host.as_mut().unwrap();
        host.cpu.as_mut().unwrap().percent = 37.5;
        host.memory.as_mut().unwrap().used = 3_221_225_472;
        host.network.as_mut().unwrap().interfaces[0].rx_bytes = 987_654_321;
        metrics.containers = vec![container("web \"blue\"")];
        metrics.services = vec![ServiceMetrics {
            name: "nginx.service".to_owned(),
            status: "active".to_owned(),
            pid: 42,
            memory: 8_388_608,
            cpu_percent: 2.5,
            ports: vec![80],
            uptime: 3600,
        }];
        metrics.custom =
            vec![CustomMetric { name: "Queue.Depth".to_owned(), r#type: "gauge".to_owned(), value: 17.25, error: String::new() }];
    })
    .await;
    let mut other = sim::Agent::start(&stack, &globex.token, "globex-db").await.unwrap();
    other.send(Utc::now(), 99.0).await;

    // a scrape token, shown once, listed without its secret
    let (status, created) = post(&stack, "/api/config/scrape-tokens", &admin, json!({"name": "prometheus"})).await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("vgs_"), "{created}");
    let (status, listed) = get(&stack, "/api/config/scrape-tokens", &admin).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed[0]["id"], created["id"], "{listed}");
    assert!(listed[0].get("token").is_none() && !listed.to_string().contains(&token), "{listed}");

    // the text: acme's values, never globex's host; promtool accepts it
    let text = eventually("web-1's values in the exposition", Duration::from_secs(20), || async {
        let (status, text, content_type) = scrape(&stack, "/api/metrics/prometheus", Some(&token)).await;
        assert_eq!(status, 200, "{text}");
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        if text.contains("vigil_host_cpu_usage_ratio{host=\"web-1\"") {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await;
    assert!(text.contains(&format!("vigil_host_cpu_usage_ratio{{host=\"web-1\",host_id=\"{}\"}} 0.375\n", web.host)), "{text}");
    assert!(text.contains(&format!("vigil_host_up{{host=\"web-1\",host_id=\"{}\"}} 1\n", web.host)), "{text}");
    assert!(text.contains("container=\"web \\\"blue\\\"\",runtime=\"podman\"} 104857600\n"), "{text}");
    assert!(!text.contains("globex") && !text.contains(&other.host), "globex's host leaked into acme's scrape: {text}");
    promtool_check("GET /api/metrics/prometheus", &text);

    // the collector's page endpoint answers what schemas/ says
    let nats = stack.nats.client().await;
    let page = json!({"tenant_id": "acme", "limit": 10, "fresh_since": (Utc::now() - chrono::Duration::minutes(5)).to_rfc3339()});
    checked_request(&nats, "vigil.collector.hosts.latest", "collector-hosts-latest.schema.json", page).await;

    // /metrics: the process's operational metrics (gateway and collector), no tenant data
    let (status, operational, _) = scrape(&stack, "/metrics", None).await;
    assert_eq!(status, 200, "{operational}");
    for family in [
        "vigil_gateway_snapshots_accepted_total",
        "vigil_gateway_http_request_duration_seconds_bucket",
        "vigil_gateway_agents_connected",
        "vigil_consumer_messages_stored_total",
    ] {
        assert!(operational.contains(family), "{family} missing from /metrics: {operational}");
    }
    assert!(!operational.contains("acme") && !operational.contains(&web.host), "tenant data in /metrics: {operational}");
    promtool_check("GET /metrics", &operational);

    // a real Prometheus scrapes both; its query API returns what the agent sent
    let prometheus = Prometheus::start(stack.http_port, &token);
    let host = format!("host_id=\"{}\"", web.host);
    assert_eq!(prometheus.value(&format!("vigil_host_cpu_usage_ratio{{{host}}}")).await, 0.375, "{}", prometheus.log());
    assert_eq!(prometheus.value(&format!("vigil_host_memory_used_bytes{{{host}}}")).await, 3_221_225_472.0);
    assert_eq!(
        prometheus.value(&format!("vigil_host_network_receive_bytes_total{{{host},interface=\"eth0\"}}")).await,
        987_654_321.0
    );
    assert_eq!(prometheus.value(&format!("vigil_container_cpu_usage_ratio{{{host}}}")).await, 1.5);
    assert_eq!(prometheus.value(&format!("vigil_service_up{{{host},service=\"nginx.service\"}}")).await, 1.0);
    assert_eq!(prometheus.value(&format!("vigil_custom_queue_depth{{{host}}}")).await, 17.25);
    assert_eq!(prometheus.value("up{job=\"vigil-ops\"}").await, 1.0);
    assert!(prometheus.value("vigil_consumer_messages_stored_total{consumer=\"collector\"}").await >= 2.0);
    assert!(prometheus.query(&format!("vigil_host_up{{host_id=\"{}\"}}", other.host)).await.is_err());

    // a wrong token and a revoked one are 401
    let (status, _, _) = scrape(&stack, "/api/metrics/prometheus", Some("vgs_0000")).await;
    assert_eq!(status, 401);
    let (status, _, _) = scrape(&stack, "/api/metrics/prometheus", None).await;
    assert_eq!(status, 401);
    let id = created["id"].as_str().unwrap();
    let (status, body) = send(&stack, reqwest::Method::DELETE, &format!("/api/config/scrape-tokens/{id}"), &admin, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body, _) = scrape(&stack, "/api/metrics/prometheus", Some(&token)).await;
    assert_eq!(status, 401, "{body}");
    let (_, listed) = get(&stack, "/api/config/scrape-tokens", &admin).await;
    assert!(listed[0]["revoked_at"].is_string(), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_token_reads_its_own_tenant_only_and_only_admins_manage_them() {
    let stack = fresh_stack().await;
    let _vigil = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let globex = stack.tenant("globex").await.unwrap();
    let mut a = sim::Agent::start(&stack, &acme.token, "acme-web").await.unwrap();
    a.send(Utc::now(), 10.0).await;
    let mut b = sim::Agent::start(&stack, &globex.token, "globex-web").await.unwrap();
    b.send(Utc::now(), 20.0).await;

    let acme_admin = stack.login(&acme).await.unwrap();
    let globex_admin = stack.login(&globex).await.unwrap();
    let (_, acme_token) = post(&stack, "/api/config/scrape-tokens", &acme_admin, json!({})).await;
    let (_, globex_token) = post(&stack, "/api/config/scrape-tokens", &globex_admin, json!({"name": "globex prom"})).await;
    for (token, own, foreign) in [(&acme_token, &a.host, &b.host), (&globex_token, &b.host, &a.host)] {
        let token = token["token"].as_str().unwrap();
        let text = eventually("the tenant's host in its scrape", Duration::from_secs(20), || async {
            let (status, text, _) = scrape(&stack, "/api/metrics/prometheus", Some(token)).await;
            if status == 200 && text.contains(&format!("host_id=\"{own}\"}} 1\n")) {
                Ok(text)
            } else {
                Err((status, text))
            }
        })
        .await;
        assert!(!text.contains(foreign.as_str()), "a scrape token read another tenant's host {foreign}: {text}");
    }

    // another tenant's token id is not found; a viewer may not manage tokens
    let id = globex_token["id"].as_str().unwrap();
    let (status, body) =
        send(&stack, reqwest::Method::DELETE, &format!("/api/config/scrape-tokens/{id}"), &acme_admin, None).await;
    assert_eq!(status, 404, "{body}");
    vigil_gateway::admin::add_user(
        &stack.db.pool,
        "acme",
        "viewer@acme.test",
        "viewer-password-1",
        vigil_gateway::admin::Role::Viewer,
    )
    .await
    .unwrap();
    let viewer = stack
        .login(&vigil_tests::TenantFixture {
            email: "viewer@acme.test".into(),
            password: "viewer-password-1".into(),
            ..acme.clone()
        })
        .await
        .unwrap();
    let (status, body) = get(&stack, "/api/config/scrape-tokens", &viewer).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(&stack, "/api/config/scrape-tokens", &acme_admin, json!({"name": "x".repeat(101)})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("name: "), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_run_alone_serves_its_metrics_at_metrics_listen() {
    let mut stack = Stack::new().await.unwrap();
    let port = free_port();
    stack.extra_env.insert("VIGIL_METRICS_LISTEN".to_owned(), format!("127.0.0.1:{port}"));
    let _collector = stack.spawn(&["collector"]).await.unwrap();
    let text = eventually("the collector's consumer metrics at metrics.listen", Duration::from_secs(20), || async {
        let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.map_err(|e| e.to_string())?;
        let text = response.text().await.map_err(|e| e.to_string())?;
        if text.contains("vigil_consumer_pending_messages{service=\"collector\",consumer=\"collector\"}") {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await;
    assert!(!text.contains("vigil_gateway_"), "no gateway runs in this process: {text}");
    promtool_check("metrics.listen's /metrics", &text);
}
