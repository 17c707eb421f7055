//! Against a real Podman API service (`podman system service`), when podman
//! is installed: a container created from an imported tarball is listed
//! with status "created", and leaves the list once removed.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::eventually;
use sovigilant::containers::{ContainerCollector, Endpoint, Engine};

fn podman_installed() -> bool {
    std::process::Command::new("podman")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn podman(args: &[&str]) -> String {
    let output = std::process::Command::new("podman").args(args).output().unwrap();
    assert!(output.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn real_podman_lists_a_created_container_and_forgets_a_removed_one() {
    if !podman_installed() {
        eprintln!("skipped: podman is not installed (apt-get install -y podman)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("podman.sock");
    let mut service = tokio::process::Command::new("podman")
        .args(["system", "service", "--time=0", &format!("unix://{}", socket.display())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = Instant::now();
    eventually(&format!("the podman service to create {}", socket.display()), Duration::from_secs(20), || async {
        socket.exists()
    })
    .await;

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
    let _ = service.kill().await;
}
