//! Service metrics against real processes: a redis-server and an nginx
//! started on free ports with their own config, found by discovery, with
//! pid, ports, memory and uptime; a killed one changes status at the next
//! collection; custom checks' exit codes give active/failed.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::eventually;
use sovigilant::config::{CustomService, ServicesConfig};
use sovigilant::services::{InitSystem, ServiceCollector};
use tokio::process::{Child, Command};
use vigil_proto::ServiceMetrics;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn installed(binary: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {binary}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

async fn wait_listening(port: u16) {
    eventually(&format!("something to listen on {port}"), Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map(drop).map_err(|error| error.to_string())
    })
    .await;
}

async fn start_redis(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server (apt-get install -y redis-server)");
    wait_listening(port).await;
    child
}

async fn start_nginx(dir: &std::path::Path, port: u16) -> Child {
    let conf = dir.join("nginx.conf");
    let d = dir.display();
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  server {{ listen 127.0.0.1:{port}; return 200 'ok'; }}\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx (apt-get install -y nginx-light)");
    wait_listening(port).await;
    child
}

fn collector(config: ServicesConfig) -> ServiceCollector {
    let mut collector = ServiceCollector::new(config);
    collector.init = InitSystem::None;
    collector
}

fn find<'a>(services: &'a [ServiceMetrics], name: &str) -> &'a ServiceMetrics {
    services.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("{name} missing from {services:#?}"))
}

#[tokio::test]
async fn discovery_finds_redis_and_nginx_with_pid_ports_memory_and_a_kill_is_seen() {
    if !installed("nginx") || !installed("redis-server") {
        panic!("nginx and redis-server are needed: apt-get install -y nginx-light redis-server");
    }
    let dir = tempfile::tempdir().unwrap();
    let (redis_port, nginx_port) = (free_port(), free_port());
    let redis = start_redis(redis_port).await;
    let mut nginx = start_nginx(dir.path(), nginx_port).await;
    let redis_pid = redis.id().unwrap();
    let nginx_pid = nginx.id().unwrap();

    let mut collector = collector(ServicesConfig {
        enabled: true,
        discover: true,
        watch: vec!["nginx".into(), "not-a-service-xyz".into()],
        custom: vec![],
    });
    let (services, failures) = collector.collect().await;
    assert!(failures.is_empty(), "{failures:?}");

    let redis_metrics = find(&services, "redis");
    assert_eq!(redis_metrics.status, "active");
    assert!(redis_metrics.pid > 0);
    assert!(redis_metrics.ports.contains(&u32::from(redis_port)), "redis ports {:?} lack {redis_port}", redis_metrics.ports);
    assert!(redis_metrics.memory > 1024 * 1024, "redis memory {}", redis_metrics.memory);

    let nginx_metrics = find(&services, "nginx");
    assert_eq!(nginx_metrics.status, "active");
    assert_eq!(nginx_metrics.pid, nginx_pid, "the master is the main pid");
    assert_eq!(nginx_metrics.ports, vec![u32::from(nginx_port)]);
    assert!(nginx_metrics.memory > 0);
    assert!(nginx_metrics.uptime < 60, "uptime {}", nginx_metrics.uptime);
    assert_eq!(services.iter().filter(|s| s.name == "nginx").count(), 1, "watched and discovered once");
    assert_eq!(find(&services, "not-a-service-xyz").status, "not-found");
    // our redis's own pid is in the reported tree: its port proves it; and it is alive
    assert!(std::path::Path::new(&format!("/proc/{redis_pid}")).exists());

    // stop it the way an init system does: SIGTERM, the master stops its workers
    let stopped = std::process::Command::new("kill").args(["-TERM", &nginx_pid.to_string()]).status().unwrap();
    assert!(stopped.success());
    tokio::time::timeout(Duration::from_secs(10), nginx.wait()).await.expect("nginx stops on SIGTERM").unwrap();
    let started = Instant::now();
    loop {
        let (services, _) = collector.collect().await;
        let nginx_now = find(&services, "nginx");
        if nginx_now.status == "not-found" {
            assert_eq!((nginx_now.pid, nginx_now.memory), (0, 0));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "nginx still {nginx_now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(redis);
}

#[tokio::test]
async fn custom_checks_exit_code_and_port_give_the_status() {
    if !installed("redis-server") {
        panic!("redis-server is needed: apt-get install -y redis-server");
    }
    let port = free_port();
    let _redis = start_redis(port).await;
    let unused = free_port();
    let custom = vec![
        CustomService { name: "ok".into(), check: "true".into(), port: None },
        CustomService { name: "down".into(), check: "exit 1".into(), port: None },
        CustomService { name: "listening".into(), check: "true".into(), port: Some(port) },
        CustomService { name: "not-listening".into(), check: "true".into(), port: Some(unused) },
    ];
    let mut collector = collector(ServicesConfig { enabled: true, discover: false, watch: vec![], custom });
    let (services, failures) = collector.collect().await;
    assert!(failures.is_empty(), "{failures:?}");
    let statuses: Vec<(&str, &str)> = services.iter().map(|s| (s.name.as_str(), s.status.as_str())).collect();
    assert_eq!(statuses, [("ok", "active"), ("down", "failed"), ("listening", "active"), ("not-listening", "failed")]);
    assert_eq!(find(&services, "listening").ports, vec![u32::from(port)]);
}

#[tokio::test]
async fn an_unreadable_proc_is_a_services_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = collector(ServicesConfig { enabled: true, discover: true, watch: vec!["nginx".into()], custom: vec![] });
    collector.proc_root = dir.path().join("no-such-proc");
    let (services, failures) = collector.collect().await;
    assert!(services.is_empty());
    assert_eq!(failures.len(), 1);
    assert!(failures[0].section == "services" && failures[0].error.contains("no-such-proc"), "{failures:?}");
}
