//! Container metrics from recorded Docker, Podman and Incus API responses
//! served on a unix socket (tests/fixtures/README.md names the API versions).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::engine::{docker_v143, fixture, stats_path, Engine, Reply, INCUS_LIST, LIST};
use sovigilant::collect::Collectors;
use sovigilant::config::{CollectionConfig, ContainerMetric, ContainersConfig, Runtime};
use sovigilant::containers::{ContainerCollector, Endpoint, Engine as Kind};
use vigil_proto::ContainerMetrics;
use vigil_runtime::CancellationToken;

fn config() -> ContainersConfig {
    ContainersConfig {
        enabled: true,
        runtime: Runtime::Auto,
        metrics: ContainerMetric::ALL.into_iter().collect(),
        docker_socket: None,
        podman_socket: None,
        incus_socket: None,
    }
}

fn collector(endpoints: Vec<Endpoint>) -> ContainerCollector {
    ContainerCollector::with_endpoints(config(), endpoints)
}

fn find<'a>(containers: &'a [ContainerMetrics], name: &str) -> &'a ContainerMetrics {
    containers.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("{name} missing from {containers:#?}"))
}

#[tokio::test]
async fn docker_v1_43_list_and_chunked_stats_give_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let engine = docker_v143(dir.path().join("docker.sock")).await;
    let mut collector = collector(vec![Endpoint { engine: Kind::Docker, socket: engine.socket.clone() }]);
    let (containers, failures) = collector.collect().await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(containers.len(), 2);
    let web = find(&containers, "web");
    assert_eq!(
        web,
        &ContainerMetrics {
            name: "web".into(),
            runtime: "docker".into(),
            status: "running".into(),
            created: "2023-11-14T22:13:20Z".into(),
            image: "nginx:1.25-alpine".into(),
            cpu_percent: 20.0,
            memory_used: 80 * 1024 * 1024,
            memory_limit: 2147483648,
            memory_percent: 3.91,
            disk_used: 12288,
            network_rx: 1300,
            network_tx: 2400,
            processes: 5,
        }
    );
    let db = find(&containers, "db");
    assert_eq!(
        (db.status.as_str(), db.image.as_str(), db.cpu_percent, db.memory_used, db.processes),
        ("exited", "mariadb:11", 0.0, 0, 0)
    );
    assert_eq!(db.created, "2023-11-14T19:26:40Z");
    // no stats are asked for a stopped container
    assert!(!engine.requests().iter().any(|r| r.contains("4fa6e0f0")), "{:?}", engine.requests());
}

#[tokio::test]
async fn docker_v1_41_cgroup_v1_stats_subtract_total_inactive_file() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(dir.path().join("docker.sock")).await;
    engine.set(LIST, Reply::Json(fixture("docker-v1.41-containers.json")));
    engine.set(
        &stats_path("b0a1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        Reply::Json(fixture("docker-v1.41-stats-cache.json")),
    );
    let (containers, failures) =
        collector(vec![Endpoint { engine: Kind::Docker, socket: engine.socket.clone() }]).collect().await;
    assert!(failures.is_empty(), "{failures:?}");
    let cache = find(&containers, "cache");
    assert_eq!(cache.cpu_percent, 10.0);
    assert_eq!((cache.memory_used, cache.memory_limit, cache.memory_percent), (40_000_000, 1_000_000_000, 4.0));
    assert_eq!((cache.network_rx, cache.network_tx, cache.processes, cache.disk_used), (5555, 6666, 3, 4096));
    assert_eq!((cache.image.as_str(), cache.status.as_str()), ("redis:7", "running"));
}

#[tokio::test]
async fn podman_compat_api_is_read_as_podman() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(dir.path().join("podman.sock")).await;
    engine.set(LIST, Reply::Json(fixture("podman-v4-compat-containers.json")));
    engine.set(
        &stats_path("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        Reply::Json(fixture("podman-v4-compat-stats-app.json")),
    );
    let (containers, failures) =
        collector(vec![Endpoint { engine: Kind::Podman, socket: engine.socket.clone() }]).collect().await;
    assert!(failures.is_empty(), "{failures:?}");
    let app = find(&containers, "app");
    assert_eq!(app.runtime, "podman");
    assert_eq!(app.image, "docker.io/library/alpine:3.19");
    assert_eq!((app.cpu_percent, app.memory_used, app.memory_limit, app.memory_percent), (1.0, 1048576, 4194304, 25.0));
    assert_eq!((app.network_rx, app.network_tx, app.processes, app.disk_used), (700, 800, 1, 8192));
    let builder = find(&containers, "builder");
    assert_eq!((builder.status.as_str(), builder.runtime.as_str()), ("created", "podman"));
}

#[tokio::test]
async fn incus_instances_and_cpu_from_the_usage_delta() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(dir.path().join("incus.sock")).await;
    let first = fixture("incus-6-instances-recursion2.json");
    engine.set(INCUS_LIST, Reply::Json(first.clone()));
    let mut collector = collector(vec![Endpoint { engine: Kind::Incus, socket: engine.socket.clone() }]);
    let (containers, failures) = collector.collect().await;
    assert!(failures.is_empty(), "{failures:?}");
    let maria = find(&containers, "maria3");
    assert_eq!(
        maria,
        &ContainerMetrics {
            name: "maria3".into(),
            runtime: "incus".into(),
            status: "running".into(),
            created: "2025-01-01T00:00:00.000000000Z".into(),
            image: "alpine/3.21".into(),
            cpu_percent: 0.0,
            memory_used: 536870912,
            memory_limit: 2147483648,
            memory_percent: 25.0,
            disk_used: 10737418240,
            network_rx: 12345678,
            network_tx: 87654321,
            processes: 45,
        }
    );
    let gw = find(&containers, "gw3");
    assert_eq!((gw.status.as_str(), gw.processes, gw.disk_used, gw.image.as_str()), ("stopped", 0, 524288000, "debian/bookworm"));

    // 0.5 s of cpu later, over about 1 s of wall time: about 50 %
    let mut body: serde_json::Value = serde_json::from_str(&first).unwrap();
    body["metadata"][0]["state"]["cpu"]["usage"] = serde_json::json!(5_500_000_000u64);
    engine.set(INCUS_LIST, Reply::Json(body.to_string()));
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (containers, _) = collector.collect().await;
    let wall = started.elapsed().as_secs_f64();
    let cpu = find(&containers, "maria3").cpu_percent;
    let expected = 0.5 / wall * 100.0;
    assert!((cpu - expected).abs() < 5.0 && cpu > 30.0, "cpu {cpu}, expected about {expected}");
}

#[tokio::test]
async fn a_container_that_disappears_leaves_the_next_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let engine = docker_v143(dir.path().join("docker.sock")).await;
    let mut collector = collector(vec![Endpoint { engine: Kind::Docker, socket: engine.socket.clone() }]);
    let names = |c: &[ContainerMetrics]| c.iter().map(|c| c.name.clone()).collect::<BTreeSet<_>>();
    let (first, _) = collector.collect().await;
    assert_eq!(names(&first), BTreeSet::from(["web".to_owned(), "db".to_owned()]));

    let mut list: serde_json::Value = serde_json::from_str(&fixture("docker-v1.43-containers.json")).unwrap();
    list.as_array_mut().unwrap().retain(|c| c["Names"][0] != "/db");
    engine.set(LIST, Reply::Json(list.to_string()));
    let (second, _) = collector.collect().await;
    assert_eq!(names(&second), BTreeSet::from(["web".to_owned()]));

    // and one that appears shows up
    list.as_array_mut().unwrap().push(serde_json::json!({"Id": "ffff", "Names": ["/new"], "Image": "busybox", "Created": 1700000100, "State": "created", "Status": "Created"}));
    engine.set(LIST, Reply::Json(list.to_string()));
    let (third, _) = collector.collect().await;
    assert_eq!(names(&third), BTreeSet::from(["web".to_owned(), "new".to_owned()]));
}

fn collection_with_docker(socket: &std::path::Path) -> CollectionConfig {
    CollectionConfig {
        containers: ContainersConfig { runtime: Runtime::Docker, docker_socket: Some(socket.to_owned()), ..config() },
        ..Default::default()
    }
}

#[tokio::test]
async fn garbage_from_the_socket_is_a_containers_error_and_host_metrics_still_leave() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(dir.path().join("docker.sock")).await;
    engine.set("*", Reply::Garbage);
    let mut collectors = Collectors::new(&collection_with_docker(&engine.socket), &CancellationToken::new());
    let metrics = collectors.snapshot().await;
    assert!(metrics.host.as_ref().is_some_and(|h| h.memory.is_some() && h.cpu.is_some()), "{:?}", metrics.host);
    assert!(metrics.containers.is_empty());
    let error =
        metrics.errors.iter().find(|e| e.section == "containers.docker").unwrap_or_else(|| panic!("{:?}", metrics.errors));
    assert!(error.error.contains("malformed HTTP response") && error.error.contains("docker.sock"), "{}", error.error);
}

#[tokio::test]
async fn a_socket_that_never_answers_does_not_hold_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(dir.path().join("docker.sock")).await;
    engine.set("*", Reply::Hang);
    let mut collectors = Collectors::new(&collection_with_docker(&engine.socket), &CancellationToken::new());
    collectors.containers.as_mut().unwrap().timeout = Duration::from_millis(500);
    let started = Instant::now();
    let metrics = collectors.snapshot().await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "snapshot took {took:?}");
    assert!(metrics.host.is_some());
    let error =
        metrics.errors.iter().find(|e| e.section == "containers.docker").unwrap_or_else(|| panic!("{:?}", metrics.errors));
    assert!(error.error.contains("no answer within 0.5s"), "{}", error.error);
}

#[tokio::test]
async fn one_container_whose_stats_hang_keeps_its_list_fields_and_the_others_their_stats() {
    let dir = tempfile::tempdir().unwrap();
    let engine = docker_v143(dir.path().join("docker.sock")).await;
    let mut list: serde_json::Value = serde_json::from_str(&fixture("docker-v1.43-containers.json")).unwrap();
    let mut stuck = list[0].clone();
    stuck["Id"] = serde_json::json!("deadbeef");
    stuck["Names"] = serde_json::json!(["/stuck"]);
    list.as_array_mut().unwrap().push(stuck);
    engine.set(LIST, Reply::Json(list.to_string()));
    engine.set(&stats_path("deadbeef"), Reply::Hang);
    let mut collector = collector(vec![Endpoint { engine: Kind::Docker, socket: engine.socket.clone() }]);
    collector.timeout = Duration::from_millis(500);
    let started = Instant::now();
    let (containers, failures) = collector.collect().await;
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(find(&containers, "web").cpu_percent, 20.0);
    let stuck = find(&containers, "stuck");
    assert_eq!((stuck.status.as_str(), stuck.disk_used, stuck.memory_used), ("running", 12288, 0));
}

#[tokio::test]
async fn auto_asks_every_present_socket_and_skips_absent_ones() {
    let dir = tempfile::tempdir().unwrap();
    let docker = docker_v143(dir.path().join("docker.sock")).await;
    let incus = Engine::start(dir.path().join("incus.sock")).await;
    incus.set(INCUS_LIST, Reply::Json(fixture("incus-6-instances-recursion2.json")));
    let config = ContainersConfig {
        docker_socket: Some(docker.socket.clone()),
        podman_socket: Some(dir.path().join("absent-podman.sock")),
        incus_socket: Some(incus.socket.clone()),
        ..config()
    };
    let endpoints = sovigilant::containers::endpoints(&config);
    assert_eq!(endpoints.iter().map(|e| e.engine).collect::<Vec<_>>(), [Kind::Docker, Kind::Incus]);
    let (containers, failures) = ContainerCollector::new(config.clone()).collect().await;
    assert!(failures.is_empty(), "{failures:?}");
    let runtimes: BTreeSet<_> = containers.iter().map(|c| c.runtime.as_str()).collect();
    assert_eq!(runtimes, BTreeSet::from(["docker", "incus"]));
    assert_eq!(containers.len(), 4);

    // an explicitly chosen runtime whose socket is absent is reported
    let podman_only = ContainersConfig { runtime: Runtime::Podman, ..config };
    let (containers, failures) = ContainerCollector::new(podman_only).collect().await;
    assert!(containers.is_empty());
    assert_eq!(failures.len(), 1);
    assert!(failures[0].section == "containers.podman" && failures[0].error.contains("absent-podman.sock"), "{failures:?}");
}
