//! Against a real Podman API service (`podman system service`; without
//! podman the test fails with the install hint): a container created from an imported tarball is listed
//! with status "created", and leaves the list once removed.

mod common;

use std::time::{Duration, Instant};

use common::podman::{podman, Service};
use sovigilant::containers::{ContainerCollector, Endpoint, Engine};

#[tokio::test]
async fn real_podman_lists_a_created_container_and_forgets_a_removed_one() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path()).await;
    let socket = service.socket.clone();
    let started = Instant::now();

    let suffix = format!("{}-{}", std::process::id(), started.elapsed().as_nanos());
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/true", rootfs.join("bin/true")).unwrap();
    let tarball = dir.path().join("rootfs.tar");
    let tarred = std::process::Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tarball).arg(".").status().unwrap();
    assert!(tarred.success());
    let image = format!("localhost/sovigilant-test-{suffix}:latest");
    podman(&["import", tarball.to_str().unwrap(), &image]);
    let name = format!("sovigilant-test-{suffix}");
    podman(&["create", "--name", &name, &image, "/bin/true"]);

    let mut collector = ContainerCollector::with_endpoints(
        sovigilant::config::CollectionConfig::default().containers,
        vec![Endpoint { engine: Engine::Podman, socket: socket.clone() }],
    );
    collector.timeout = Duration::from_secs(10);
    let (containers, failures) = collector.collect().await;
    let found = containers.iter().find(|c| c.name == name);
    let cleanup = || {
        let _ = std::process::Command::new("podman").args(["rm", "-f", &name]).output();
        let _ = std::process::Command::new("podman").args(["rmi", "-f", &image]).output();
    };
    let Some(found) = found.cloned() else {
        cleanup();
        panic!("{name} not listed: {containers:#?} {failures:?}");
    };
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!((found.runtime.as_str(), found.status.as_str(), found.image.as_str()), ("podman", "created", image.as_str()));
    let created =
        chrono::DateTime::parse_from_rfc3339(&found.created).unwrap_or_else(|e| panic!("created {:?}: {e}", found.created));
    assert!((chrono::Utc::now() - created.with_timezone(&chrono::Utc)).num_seconds().abs() < 600, "created {created}");

    podman(&["rm", "-f", &name]);
    let (containers, failures) = collector.collect().await;
    cleanup();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(!containers.iter().any(|c| c.name == name), "{name} still listed after removal");
    drop(service);
}
