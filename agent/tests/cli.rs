//! The `sovigilant` binary: init, collect --once, metrics, status, run with
//! SIGTERM, and exit code 64 on a bad config.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{config_text, eventually, Behaviour, Gateway, Server, HOST_ID, TOKEN};
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
    let args = [
        "init",
        "--server",
        &address,
        "--token",
        TOKEN,
        "--plaintext",
        "--name",
        "web-1",
        "--state-dir",
        state.to_str().unwrap(),
    ];

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
    let output =
        sovigilant(&config, &["init", "--server", "127.0.0.1:1", "--token", TOKEN, "--ca-cert", "/etc/sovigilant/ca.pem"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("registration failed"), "{}", text(&output.stderr));
    let parsed = sovigilant::config::Config::load(&config).unwrap();
    assert!(parsed.server.tls.enabled);
    assert_eq!(parsed.server.tls.ca_cert.as_deref(), Some(Path::new("/etc/sovigilant/ca.pem")));
}

#[tokio::test]
async fn init_interval_is_written_and_a_bad_one_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let output = sovigilant(&config, &["init", "--server", "127.0.0.1:1", "--token", TOKEN, "--interval", "2s"]).await;
    assert_eq!(output.status.code(), Some(1), "registration fails (nothing listens), the config is written");
    assert_eq!(sovigilant::config::Config::load(&config).unwrap().collection.interval, Duration::from_secs(2));

    let refused = dir.path().join("refused.yaml");
    let output = sovigilant(&refused, &["init", "--server", "127.0.0.1:1", "--token", TOKEN, "--interval", "often"]).await;
    assert_eq!(output.status.code(), Some(64));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("collection.interval") && stderr.contains("often"), "{stderr}");
    assert!(!refused.exists(), "nothing is written for a bad interval");
}

#[tokio::test]
async fn collect_once_reports_mounts_and_interfaces_and_by_default_containers_and_services() {
    let dir = tempfile::tempdir().unwrap();
    let output = sovigilant(&dir.path().join("absent.yaml"), &["collect", "--once"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let (host, _) = sovigilant::host::HostCollector::system().collect_with_errors();
    let expected = format!(
        "Collecting host metrics... OK ({} mounts, {} interfaces)",
        host.disk.unwrap().mounts.len(),
        host.network.unwrap().interfaces.len()
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], expected);
    // without a config, containers and services are collected (the seed's defaults)
    assert!(lines[1].starts_with("Collecting container metrics... OK ("), "{stdout}");
    assert!(lines[2].starts_with("Collecting service metrics... OK ("), "{stdout}");
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

    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    eventually("the agent to report a connected status", Duration::from_secs(15), || async {
        sovigilant::status::read(dir.path()).is_some_and(|s| s.connected && s.metrics_sent >= 1)
    })
    .await;
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

fn collection_config(dir: &Path, docker_socket: &Path) -> std::path::PathBuf {
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  address: 127.0.0.1:9\n  token: {TOKEN}\n  tls:\n    enabled: false\nstate_dir: {}\ncollection:\n  containers:\n    enabled: true\n    runtime: docker\n    docker_socket: {}\n  services:\n    enabled: true\n    discover: false\n    custom:\n      - name: app\n        check: \"true\"\n  custom_metrics:\n    - name: answer\n      command: echo 42\n      interval: 30s\nlogging:\n  output: {}\n",
            dir.join("state").display(),
            docker_socket.display(),
            dir.join("agent.log").display()
        ),
    )
    .unwrap();
    config
}

#[tokio::test]
async fn collect_once_reports_each_collector_and_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine::docker_v143(dir.path().join("docker.sock")).await;
    let config = collection_config(dir.path(), &engine.socket);
    let output = sovigilant(&config, &["collect", "--once"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("Collecting host metrics... OK ("), "{stdout}");
    assert_eq!(
        &lines[1..],
        [
            "Collecting container metrics... OK (2 containers)",
            "Collecting service metrics... OK (1 service)",
            "Collecting custom metrics... OK (1 metric)"
        ]
    );

    let output = sovigilant(&config, &["metrics"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    assert!(
        stdout.contains(
            "\nCONTAINERS\n  web       running  CPU: 20.0%  MEM: 80.0MB/2.0GB\n  db        exited   CPU: 0.0%   MEM: 0B/0B\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("\nSERVICES\n  app       active     PID: 0       MEM: 0B\n"), "{stdout}");
    assert!(stdout.contains("\nCUSTOM\n  answer  42 (gauge)\n"), "{stdout}");

    // a socket answering garbage: the containers line fails, the others still report
    engine.set("*", common::engine::Reply::Garbage);
    engine.remove(common::engine::LIST);
    let output = sovigilant(&config, &["collect", "--once"]).await;
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Collecting container metrics... FAILED (0 containers)\n  containers.docker: "), "{stdout}");
    assert!(stdout.contains("Collecting service metrics... OK (1 service)"), "{stdout}");
}

#[tokio::test]
async fn install_service_prints_a_systemd_unit_and_an_openrc_script() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let output =
        sovigilant(&config, &["install-service", "--print", "--init", "systemd", "--binary", "/usr/local/bin/sovigilant"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let unit = text(&output.stdout);
    for needle in [
        "[Unit]\n",
        "After=network-online.target\n",
        "[Service]\n",
        &format!("ExecStart=/usr/local/bin/sovigilant --config {} run\n", config.display()),
        "Restart=always\n",
        "RestartSec=5\n",
        "[Install]\nWantedBy=multi-user.target\n",
    ] {
        assert!(unit.contains(needle), "{needle:?} missing from:\n{unit}");
    }

    let output =
        sovigilant(&config, &["install-service", "--print", "--init", "openrc", "--binary", "/usr/local/bin/sovigilant"]).await;
    let script = text(&output.stdout);
    assert!(script.starts_with("#!/sbin/openrc-run\n"), "{script}");
    for needle in [
        "command=\"/usr/local/bin/sovigilant\"\n",
        &format!("command_args=\"--config {} run\"\n", config.display()),
        "supervisor=\"supervise-daemon\"\n",
        "depend() {\n\tneed net\n",
    ] {
        assert!(script.contains(needle), "{needle:?} missing from:\n{script}");
    }

    // written under --target-dir, with the next commands
    let target = dir.path().join("root");
    let output = sovigilant(&config, &["install-service", "--init", "openrc", "--target-dir", target.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let written = target.join("etc/init.d/sovigilant");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&written).unwrap().permissions().mode() & 0o777, 0o755);
    assert!(std::fs::read_to_string(&written).unwrap().starts_with("#!/sbin/openrc-run\n"));
    assert!(text(&output.stdout).contains("rc-update add sovigilant default"), "{}", text(&output.stdout));
    let output = sovigilant(&config, &["install-service", "--init", "systemd", "--target-dir", target.to_str().unwrap()]).await;
    assert!(output.status.success());
    assert!(target.join("etc/systemd/system/sovigilant.service").exists());
    assert!(text(&output.stdout).contains("systemctl enable --now sovigilant"), "{}", text(&output.stdout));
}

#[tokio::test]
async fn reset_needs_yes_then_clears_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let config = collection_config(dir.path(), &dir.path().join("none.sock"));
    let state = dir.path().join("state");
    let queue = sovigilant::agent::open_queue(&state, 10).await.unwrap();
    queue.lock().unwrap().push(vigil_proto::Metrics::default()).unwrap();
    std::fs::write(state.join("host_id"), HOST_ID).unwrap();
    std::fs::write(state.join("keep.txt"), "not ours").unwrap();
    drop(queue);

    let refused = sovigilant(&config, &["reset"]).await;
    assert_eq!(refused.status.code(), Some(64));
    assert!(text(&refused.stdout).contains("--yes"), "{}", text(&refused.stdout));
    assert!(state.join("host_id").exists());

    let output = sovigilant(&config, &["reset", "--yes"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    for gone in ["host_id", "seq", "queue", "acked"] {
        assert!(!state.join(gone).exists(), "{gone} still there");
    }
    assert!(state.join("keep.txt").exists(), "files that are not the agent's are left alone");
    let queue = sovigilant::agent::open_queue(&state, 10).await.unwrap();
    assert_eq!(queue.lock().unwrap().push(vigil_proto::Metrics::default()).unwrap(), 1, "seq starts again");
}

#[tokio::test]
async fn logs_prints_the_file_follows_it_and_explains_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let config = collection_config(dir.path(), &dir.path().join("none.sock"));
    let log = dir.path().join("agent.log");
    std::fs::write(&log, "line one\n").unwrap();
    let output = sovigilant(&config, &["logs"]).await;
    assert_eq!(text(&output.stdout), "line one\n");

    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["logs", "--follow"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    use std::io::Write;
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(b"line two\n").unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("line two") {
            let n = stdout.read(&mut buffer).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    child.kill().await.unwrap();
    assert!(read.is_ok(), "followed output: {:?}", text(&seen));
    assert_eq!(text(&seen), "line one\nline two\n");

    let stderr_config = dir.path().join("stderr.yaml");
    std::fs::write(&stderr_config, config_text("127.0.0.1:9".parse().unwrap(), dir.path(), "10s")).unwrap();
    let output = sovigilant(&stderr_config, &["logs"]).await;
    assert!(output.status.success());
    assert!(text(&output.stdout).contains("logs to stderr"), "{}", text(&output.stdout));
}
