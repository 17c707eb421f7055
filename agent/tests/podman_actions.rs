//! Container actions against a real Podman API service (`podman system
//! service`), through the agent's actions worker with signed orders: a
//! running container is stopped, started and restarted through the
//! Docker-compatible API, its state checked with `podman inspect` after
//! each; a start of a running one and a stop of a stopped one succeed saying
//! so, an unknown container fails.
//!
//! Needs podman, runc and busybox-static (scripts/lib/infra.sh
//! `ensure_test_packages` installs them and builds the test image); without
//! podman the test fails with the install hint.

mod common;

use std::path::Path;

use common::actions::Worker;
use common::podman::{ensure_image, podman, Service, IMAGE};
use sovigilant::config::Config;

fn state(name: &str) -> (bool, String) {
    let text = podman(&["inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", name]);
    let (running, started) = text.split_once(' ').unwrap();
    (running == "true", started.to_owned())
}

#[tokio::test]
async fn a_running_podman_container_is_stopped_started_and_restarted_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path()).await;
    ensure_image(dir.path());
    let socket = service.socket.clone();

    let name = format!("vigil-act-{}-{}", std::process::id(), chrono::Utc::now().timestamp_micros());
    // busybox sleep as pid 1 ignores SIGTERM: stopped with SIGKILL at once
    podman(&["run", "-d", "--name", &name, "--stop-signal", "KILL", IMAGE, "/bin/busybox", "sleep", "3600"]);
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::process::Command::new("podman").args(["rm", "-f", "-t", "0", &self.0]).output();
        }
    }
    let _remove = Remove(name.clone());
    let (running, first_start) = state(&name);
    assert!(running);

    let state_dir = dir.path().join("state");
    let text = format!(
        "server:\n  address: 127.0.0.1:9\n  token: t\n  tls:\n    enabled: false\n\
         collection:\n  containers:\n    enabled: true\n    runtime: podman\n    podman_socket: {}\n\
         state_dir: {}\n\
         actions:\n  enabled: true\n  allowed:\n    - \"podman start *\"\n    - \"podman stop *\"\n    - \"podman restart *\"\n",
        socket.display(),
        state_dir.display()
    );
    let config = Config::parse(Path::new("podman-actions.yaml"), &text).unwrap();
    let mut worker = Worker::start(&config);

    let stopped = worker.act("pod-stop", "stop_container", &[("container", &name)]).await;
    assert_eq!(
        (stopped.status.as_str(), stopped.command.as_str()),
        ("success", format!("podman stop {name}").as_str()),
        "{stopped:#?}"
    );
    assert!(!state(&name).0, "stopped");
    let again = worker.act("pod-stop-again", "stop_container", &[("container", &name)]).await;
    assert_eq!((again.status.as_str(), again.output.clone()), ("success", format!("{name} was already stopped")));

    let started = worker.act("pod-start", "start_container", &[("container", &name)]).await;
    assert_eq!(started.status, "success", "{started:#?}");
    let (running, second_start) = state(&name);
    assert!(running, "started");
    assert_ne!(second_start, first_start);
    let again = worker.act("pod-start-again", "start_container", &[("container", &name)]).await;
    assert_eq!((again.status.as_str(), again.output.clone()), ("success", format!("{name} was already started")));

    let restarted = worker.act("pod-restart", "restart_container", &[("container", &name)]).await;
    assert_eq!((restarted.status.as_str(), restarted.rule.as_str()), ("success", "podman restart *"), "{restarted:#?}");
    let (running, third_start) = state(&name);
    assert!(running, "running after the restart");
    assert_ne!(third_start, second_start, "a restart starts it anew");

    let missing = worker.act("pod-missing", "restart_container", &[("container", "vigil-no-such-container")]).await;
    assert_eq!((missing.status.as_str(), missing.error.as_str()), ("failed", "no such container: vigil-no-such-container"));
    drop(service);
}
