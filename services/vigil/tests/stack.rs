//! Whole-process tests of [`vigil::Stack`] against a private nats-server
//! (so no other test's collector shares our durable consumer) and a fresh
//! database on the machine's MariaDB.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil::supervisor::ping;
use vigil::{Config, ServiceKind, Stack};
use vigil_testkit::{eventually, NatsServer};

const SERVER: &str = "mysql://root@127.0.0.1:3306";

/// A config for a test: private nats (its services' creds in
/// `dir/nats.creds`, the default file, its keys in `dir/nats.keys`), a fresh
/// database name, port 0, data in `dir`.
fn test_config(nats: &NatsServer, dir: &Path) -> (Config, String) {
    let database = format!("vigil_t_{}", hex::encode(rand::random::<[u8; 6]>()));
    let mut config = Config { data_dir: dir.to_path_buf(), ..Config::default() };
    config.nats.url = nats.url.clone();
    nats.write_credentials_file(&config.nats_credentials_path()).unwrap();
    nats.write_keys_file(&config.nats_keys_path()).unwrap();
    config.database.url = format!("{SERVER}/{database}");
    config.database.max_connections = 4;
    config.gateway.http_listen = "127.0.0.1:0".parse().unwrap();
    config.gateway.grpc_listen = "127.0.0.1:0".parse().unwrap();
    (config, database)
}

async fn drop_database(database: &str) {
    let pool = sqlx::MySqlPool::connect(&format!("{SERVER}/information_schema")).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS `{database}`")).execute(&pool).await.unwrap();
    pool.close().await;
}

/// `GET path` over plain HTTP/1.1; returns the status line.
async fn http_get_status(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await.unwrap().unwrap();
    String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn collector_only_stack_answers_its_ping_until_stopped() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (config, database) = test_config(&nats, dir.path());
    let stack = Stack::start_services(config, &[ServiceKind::Collector]).await.unwrap();
    assert_eq!(stack.http_addr(), None);
    assert!(!dir.path().join("tls").exists(), "no tls material without a gateway");
    let client = nats.client().await;
    assert!(ping(&client, ServiceKind::Collector.name(), Duration::from_secs(5)).await);
    stack.stop().await;
    assert!(!ping(&client, ServiceKind::Collector.name(), Duration::from_millis(500)).await);
    drop_database(&database).await;
}

#[tokio::test]
async fn unreachable_nats_fails_the_start_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let port = vigil_testkit::free_port();
    let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    config.nats.url = format!("nats://127.0.0.1:{port}");
    let database = format!("vigil_t_{}", hex::encode(rand::random::<[u8; 6]>()));
    config.database.url = format!("{SERVER}/{database}");
    let error = match Stack::start_services(config, &[ServiceKind::Collector]).await {
        Ok(_) => panic!("started without nats"),
        Err(error) => error.to_string(),
    };
    assert!(error.starts_with(&format!("cannot connect to nats at nats://127.0.0.1:{port}")), "{error}");
    drop_database(&database).await;
}

#[tokio::test]
async fn wrong_nats_creds_fail_the_start_naming_the_file_not_the_seed() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (config, database) = test_config(&nats, dir.path());
    // creds of the same shape, signed by another operator's keys
    let stranger = vigil_bus::accounts::BusKeys::generate();
    std::fs::write(config.nats_credentials_path(), stranger.platform_user_creds().unwrap()).unwrap();
    let error = match Stack::start_services(config.clone(), &[ServiceKind::Collector]).await {
        Ok(_) => panic!("started with another operator's creds"),
        Err(error) => error.to_string(),
    };
    assert!(error.starts_with(&format!("nats at {} refused the creds of nats.credentials_file", nats.url)), "{error}");
    assert!(error.contains(&config.nats_credentials_path().display().to_string()), "{error}");
    assert!(!error.contains(&stranger.platform_user), "the seed is not shown: {error}");
    drop_database(&database).await;
}

#[tokio::test]
async fn a_nats_server_that_lets_anonymous_clients_in_is_refused() {
    let port = vigil_testkit::free_port();
    let store = tempfile::tempdir().unwrap();
    let mut anonymous = std::process::Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    eventually("the anonymous nats-server to accept clients", Duration::from_secs(5), || async {
        async_nats::connect(url.as_str()).await.map(drop).map_err(|error| error.to_string())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    config.nats.url = url.clone();
    let database = format!("vigil_t_{}", hex::encode(rand::random::<[u8; 6]>()));
    config.database.url = format!("{SERVER}/{database}");
    let result = Stack::start_services(config, &[ServiceKind::Collector]).await;
    let _ = anonymous.kill();
    let _ = anonymous.wait();
    let error = match result {
        Ok(_) => panic!("started on an anonymous bus"),
        Err(error) => error.to_string(),
    };
    assert!(error.starts_with(&format!("the nats-server at {url} lets anonymous clients in")), "{error}");
    drop_database(&database).await;
}

#[tokio::test]
async fn stack_on_port_zero_answers_health_and_pings() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (config, database) = test_config(&nats, dir.path());
    let stack = Stack::start(config).await.unwrap();
    let http = stack.http_addr().expect("gateway http address");
    let grpc = stack.grpc_addr().expect("gateway grpc address");
    assert_ne!(http.port(), 0);
    assert_ne!(grpc.port(), 0);
    assert_eq!(stack.ca_path(), Some(dir.path().join("tls/ca.pem").as_path()));
    assert!(dir.path().join("jwt.secret").exists());
    assert_eq!(http_get_status(http, "/api/health").await, "HTTP/1.1 200 OK");
    let client = nats.client().await;
    assert!(ping(&client, ServiceKind::Gateway.name(), Duration::from_secs(5)).await);
    assert!(ping(&client, ServiceKind::Collector.name(), Duration::from_secs(5)).await);
    stack.stop().await;
    assert!(tokio::net::TcpStream::connect(http).await.is_err(), "the gateway stopped listening");
    drop_database(&database).await;
}

#[tokio::test]
async fn up_bootstrap_creates_the_admin_once_and_the_agent_config_once() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (config, database) = test_config(&nats, dir.path());
    let pool = vigil::db::connect_and_migrate(&config.database.url, 2).await.unwrap();

    let first = vigil::up::bootstrap(&config, &pool).await.unwrap();
    let vigil::up::AdminOutcome::Created { email, password } = first else { panic!("admin not created: {first:?}") };
    assert_eq!(email, "admin@localhost");
    assert_eq!(password.len(), 20);
    let second = vigil::up::bootstrap(&config, &pool).await.unwrap();
    assert_eq!(second, vigil::up::AdminOutcome::Exists { email: "admin@localhost".into() });

    let ca = dir.path().join("tls/ca.pem");
    let path = vigil::agent::ensure_config(&config, &pool, "0.0.0.0:9443".parse().unwrap(), &ca).await.unwrap();
    let written: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written["server"]["address"].as_str(), Some("127.0.0.1:9443"));
    assert_eq!(written["server"]["tls"]["ca_cert"].as_str(), Some(ca.to_str().unwrap()));
    assert_eq!(written["state_dir"].as_str(), Some(dir.path().join("agent/state").to_str().unwrap()));
    assert_eq!(written["collection"]["interval"].as_str(), Some("10s"));
    let token = written["server"]["token"].as_str().unwrap().to_owned();
    let tokens: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM agent_tokens WHERE tenant_id = 'default'").fetch_one(&pool).await.unwrap();
    assert_eq!(tokens, 1);

    // a later start on another port keeps the token and creates no other
    vigil::agent::ensure_config(&config, &pool, "127.0.0.1:9555".parse().unwrap(), &ca).await.unwrap();
    let again: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(again["server"]["token"].as_str(), Some(token.as_str()));
    assert_eq!(again["server"]["address"].as_str(), Some("127.0.0.1:9555"));
    let tokens: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM agent_tokens WHERE tenant_id = 'default'").fetch_one(&pool).await.unwrap();
    assert_eq!(tokens, 1);
    pool.close().await;
    drop_database(&database).await;
}
