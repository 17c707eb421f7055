//! TLS to the gateway: the agent trusts `server.tls.ca_cert`, checks the
//! certificate against the host part of `server.address`, and refuses a
//! gateway whose certificate another CA signed.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{eventually, Behaviour, Gateway, Server, HOST_ID, TOKEN};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use sovigilant::config::Config;
use vigil_runtime::CancellationToken;

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki(names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Pki { ca_pem: ca.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

fn tls_config(address: &str, state_dir: &Path, ca_file: &Path) -> Config {
    let text = format!(
        "agent:\n  name: tls-agent\nserver:\n  address: {address}\n  token: {TOKEN}\n  tls:\n    enabled: true\n    ca_cert: {}\nstate_dir: {}\n",
        ca_file.display(),
        state_dir.display()
    );
    Config::parse(Path::new("test.yaml"), &text).unwrap()
}

#[tokio::test]
async fn registers_and_streams_over_tls_with_the_configured_ca() {
    let pki = pki(&["localhost"]);
    let gateway = Gateway::new(Behaviour::default());
    let server = Server::start_tls(gateway.clone(), &pki.cert_pem, &pki.key_pem).await;
    let state = tempfile::tempdir().unwrap();
    let ca_file = state.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let config = tls_config(&format!("localhost:{}", server.address.port()), state.path(), &ca_file);

    let response = sovigilant::client::register(&config).await.unwrap();
    assert_eq!(response.host_id, HOST_ID);

    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sovigilant::agent::run(config, shutdown.clone()));
    eventually("a snapshot over TLS", Duration::from_secs(10), || async { !gateway.received().is_empty() }).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap().unwrap();
    server.stop().await;
}

#[tokio::test]
async fn gateway_signed_by_another_ca_is_refused() {
    let served = pki(&["localhost"]);
    let other = pki(&["localhost"]);
    let server = Server::start_tls(Gateway::new(Behaviour::default()), &served.cert_pem, &served.key_pem).await;
    let state = tempfile::tempdir().unwrap();
    let ca_file = state.path().join("ca.pem");
    std::fs::write(&ca_file, &other.ca_pem).unwrap();
    let config = tls_config(&format!("localhost:{}", server.address.port()), state.path(), &ca_file);
    let error = sovigilant::client::register(&config).await.unwrap_err();
    assert!(sovigilant::client::stored_host_id(state.path()).is_none());
    let text = error.to_string();
    assert!(text.contains("invalid peer certificate"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn certificate_for_another_name_is_refused() {
    let pki = pki(&["gateway.example.com"]);
    let server = Server::start_tls(Gateway::new(Behaviour::default()), &pki.cert_pem, &pki.key_pem).await;
    let state = tempfile::tempdir().unwrap();
    let ca_file = state.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let config = tls_config(&format!("localhost:{}", server.address.port()), state.path(), &ca_file);
    let error = sovigilant::client::register(&config).await.expect_err("name mismatch accepted").to_string();
    assert!(error.contains("not valid for name \"localhost\""), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn missing_ca_file_is_named_in_the_error() {
    let state = tempfile::tempdir().unwrap();
    let config = tls_config("localhost:1", state.path(), Path::new("/nonexistent/ca.pem"));
    let error = sovigilant::client::register(&config).await.unwrap_err().to_string();
    assert!(error.contains("/nonexistent/ca.pem") && error.contains("server.tls.ca_cert"), "{error}");
}
