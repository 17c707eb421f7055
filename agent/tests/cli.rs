//! The `sovigilant` binary: init, collect --once, metrics, status, run with
//! SIGTERM, and exit code 64 on a bad config.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{config_text, wait_until, Behaviour, Gateway, Server, HOST_ID, TOKEN};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sovigilant");

async fn sovigilant(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SOVIGILANT_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn init_writes_the_config_registers_and_refuses_to_overwrite() {
    let server = Server::start(Gateway::new(Behaviour::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("etc/config.yaml");
    let state = dir.path().join("state");
    let address = server.address.to_string();
    let args = ["init", "--server", &address, "--token", TOKEN, "--plaintext", "--name", "web-1", "--state-dir", state.to_str().unwrap()];

    let output = sovigilant(&config, &args).await;
    assert!(output.status.success(), "stdout: {}\nstderr: {}", text(&output.stdout), text(&output.stderr));
    assert!(text(&output.stdout).contains(&format!("Registered: host id {HOST_ID}")), "{}", text(&output.stdout));
    let parsed = sovigilant::config::Config::load(&config).unwrap();
    assert_eq!(parsed.server.address, address);
    assert_eq!(parsed.server.token, TOKEN);
    assert!(!parsed.server.tls.enabled);
    assert_eq!(parsed.agent.name, "web-1");
    assert_eq!(parsed.state_dir, state);
    assert_eq!(std::fs::read_to_string(state.join("host_id")).unwrap().trim(), HOST_ID);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600, "the token is not world-readable");

    let again = sovigilant(&config, &args).await;
    assert_eq!(again.status.code(), Some(64));
    assert!(text(&again.stderr).contains("already exists") && text(&again.stderr).contains("--force"), "{}", text(&again.stderr));
    let forced = sovigilant(&config, &[&args[..], &["--force"]].concat()).await;
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    server.stop().await;
}

#[tokio::test]
async fn init_with_ca_cert_writes_it_into_tls() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    // nothing listens on port 1: the config is written, registration fails
    let output = sovigilant(&config, &["init", "--server", "127.0.0.1:1", "--token", TOKEN, "--ca-cert", "/etc/sovigilant/ca.pem"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("registration failed"), "{}", text(&output.stderr));
    let parsed = sovigilant::config::Config::load(&config).unwrap();
    assert!(parsed.server.tls.enabled);
    assert_eq!(parsed.server.tls.ca_cert.as_deref(), Some(Path::new("/etc/sovigilant/ca.pem")));
}

#[tokio::test]
async fn collect_once_reports_mounts_and_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let output = sovigilant(&dir.path().join("absent.yaml"), &["collect", "--once"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let (host, _) = sovigilant::host::HostCollector::system().collect_with_errors();
    let expected = format!(
        "Collecting host metrics... OK ({} mounts, {} interfaces)\n",
        host.disk.unwrap().mounts.len(),
        host.network.unwrap().interfaces.len()
    );
    assert_eq!(stdout, expected);
}

#[tokio::test]
async fn metrics_prints_the_host_section() {
    let dir = tempfile::tempdir().unwrap();
    let output = sovigilant(&dir.path().join("absent.yaml"), &["metrics"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("HOST\n  CPU: "), "{stdout}");
    for needle in ["  Memory: ", "  Disk /: ", "  Load: "] {
        assert!(stdout.contains(needle), "{needle:?} missing from:\n{stdout}");
    }
}

#[tokio::test]
async fn bad_config_exits_64_naming_file_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, config_text("127.0.0.1:9".parse().unwrap(), dir.path(), "10x")).unwrap();
    for command in [&["run"][..], &["collect", "--once"], &["metrics"]] {
        let output = sovigilant(&config, command).await;
        assert_eq!(output.status.code(), Some(64), "{command:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!("{}: collection.interval: \"10x\" is not a duration", config.display())),
            "{command:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn status_without_a_running_agent_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, config_text("127.0.0.1:9".parse().unwrap(), dir.path(), "10s")).unwrap();
    let output = sovigilant(&config, &["status"]).await;
    assert!(text(&output.stdout).contains("not running"), "{}", text(&output.stdout));
}

#[tokio::test]
async fn run_reports_status_and_exits_0_on_sigterm() {
    let gateway = Gateway::new(Behaviour::default());
    let server = Server::start(gateway.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, config_text(server.address, dir.path(), "1s")).unwrap();

    let mut child = Command::new(BIN).arg("--config").arg(&config).arg("run").stderr(std::process::Stdio::null()).kill_on_drop(true).spawn().unwrap();
    let pid = child.id().unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || sovigilant::status::read(dir.path()).is_some_and(|s| s.connected && s.metrics_sent >= 1)).await,
        "the agent never reported a connected status"
    );
    let output = sovigilant(&config, &["status"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for needle in [
        format!("Agent ID: {HOST_ID}\n"),
        "Status: connected\n".to_owned(),
        format!("Server: {}\n", server.address),
        "Uptime: ".to_owned(),
        "Last push: ".to_owned(),
        "Metrics sent: ".to_owned(),
        "Queued: ".to_owned(),
    ] {
        assert!(stdout.contains(&needle), "{needle:?} missing from:\n{stdout}");
    }

    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("agent stops on SIGTERM").unwrap();
    assert_eq!(status.code(), Some(0));
    let output = sovigilant(&config, &["status"]).await;
    assert!(text(&output.stdout).contains("not running"), "{}", text(&output.stdout));
    assert!(!gateway.received().is_empty());
    server.stop().await;
}
