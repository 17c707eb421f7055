//! The actions' executor with real commands: a timeout kills the whole
//! process group (grandchildren included), what a finished command left in
//! its group is killed too, output past the 64 KiB cap is drained and
//! dropped (the child never blocks); at most `max_concurrent` actions run
//! at once and one whose order expired while it waited never runs;
//! container actions against recorded engine answers (Incus operations,
//! Docker's 304 and 404).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::actions::{script, unsigned, Worker};
use common::engine::{fixture, Engine as FixtureEngine, Reply};
use common::eventually;
use sovigilant::actions::engines;
use sovigilant::actions::run::{run, OUTPUT_CAP};
use sovigilant::containers::{Endpoint, Engine};

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// `true` once `pid` is no process any more (absent, or a zombie waiting to
/// be reaped by init).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group_grandchildren_included() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // the shell forks a grandchild (a subshell running sleep), then waits
    let script = format!("(sleep 300; echo never) & echo $! > {}; echo started; sleep 300", pids.display());
    let started = Instant::now();
    let finished = run(&argv(&["sh", "-c", &script]), Duration::from_secs(1)).await;
    assert!(started.elapsed() < Duration::from_secs(1) + sovigilant::actions::run::DRAIN_GRACE + Duration::from_secs(2));
    assert_eq!(finished.error.as_deref(), Some("timed out after 1 s"));
    assert_eq!(finished.exit_code, None);
    assert_eq!(finished.output, "started\n");
    let grandchild = read_pid(&pids);
    eventually(&format!("the grandchild {grandchild} to be killed"), Duration::from_secs(5), || async { gone(grandchild) }).await;
}

#[tokio::test]
async fn what_a_finished_command_left_in_its_group_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!("sleep 300 > /dev/null 2>&1 & echo $! > {}; echo bye", pids.display());
    let finished = run(&argv(&["sh", "-c", &script]), Duration::from_secs(30)).await;
    assert!(finished.success(), "{finished:?}");
    assert_eq!(finished.output, "bye\n");
    let left = read_pid(&pids);
    eventually(&format!("the leftover {left} to be killed"), Duration::from_secs(5), || async { gone(left) }).await;
    // setsid leaves the group: that one survives (documented way out)
    let escaped = dir.path().join("escaped");
    let script = format!(
        "setsid sh -c 'echo $$ > {0}.new && mv {0}.new {0}; exec sleep 300' > /dev/null 2>&1 < /dev/null &
         while [ ! -e {0} ]; do sleep 0.05; done",
        escaped.display()
    );
    let finished = run(&argv(&["sh", "-c", &script]), Duration::from_secs(30)).await;
    assert!(finished.success(), "{finished:?}");
    let survivor = read_pid(&escaped);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!gone(survivor), "a process that left the group with setsid is not killed");
    let _ = std::process::Command::new("kill").args(["-KILL", &survivor.to_string()]).status();
}

#[tokio::test]
async fn output_past_the_cap_is_truncated_and_the_pipe_drained() {
    // 1 MiB on stdout then a line on stderr: the child must never block
    let script = "head -c 1048576 /dev/zero | tr '\\0' a; echo tail-line >&2; exit 0";
    let started = Instant::now();
    let finished = run(&argv(&["sh", "-c", script]), Duration::from_secs(30)).await;
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(finished.success(), "{finished:?}");
    assert!(finished.truncated);
    assert_eq!(finished.output.len(), OUTPUT_CAP);
    assert!(finished.output.bytes().all(|b| b == b'a'));
    // under the cap: everything, both streams, not truncated
    let finished = run(&argv(&["sh", "-c", "echo out; echo err >&2"]), Duration::from_secs(30)).await;
    assert_eq!((finished.output.as_str(), finished.truncated), ("out\nerr\n", false));
}

async fn incus_engine(dir: &Path) -> (FixtureEngine, Endpoint) {
    let socket = dir.join("incus.sock");
    let engine = FixtureEngine::start(socket.clone()).await;
    (engine, Endpoint { engine: Engine::Incus, socket })
}

#[tokio::test]
async fn incus_state_changes_wait_on_their_operation() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, endpoint) = incus_engine(dir.path()).await;
    let operation = "/1.0/operations/b8d84888-1dc2-44fd-b386-7f679e171ba5";
    engine.set("PUT /1.0/instances/maria3/state", Reply::Status(202, fixture("incus-6-state-put-async.json")));
    engine.set(&format!("{operation}/wait?timeout=30"), Reply::Json(fixture("incus-6-operation-wait-success.json")));
    let finished = engines::act(&endpoint, "restart", "maria3", Duration::from_secs(60)).await;
    assert!(finished.success(), "{finished:?}");
    assert_eq!(finished.output, "maria3 restarted");
    let requests = engine.full_requests();
    assert_eq!(requests[0].0, "PUT");
    assert_eq!(requests[0].1, "/1.0/instances/maria3/state");
    let body: serde_json::Value = serde_json::from_slice(&requests[0].2).unwrap();
    assert_eq!(body, serde_json::json!({"action": "restart", "timeout": 30}));
    assert_eq!((requests[1].0.as_str(), requests[1].1.as_str()), ("GET", format!("{operation}/wait?timeout=30").as_str()));

    // starting a running instance: the state asked for, said so
    engine.set(&format!("{operation}/wait?timeout=30"), Reply::Json(fixture("incus-6-operation-wait-already-running.json")));
    let finished = engines::act(&endpoint, "start", "maria3", Duration::from_secs(60)).await;
    assert_eq!((finished.output.as_str(), finished.error.as_deref()), ("maria3 was already started", None));
    // stopping fails with the operation's error
    let finished = engines::act(&endpoint, "stop", "maria3", Duration::from_secs(60)).await;
    assert_eq!(finished.error.as_deref(), Some("The instance is already running"));
    // an unknown instance
    let finished = engines::act(&endpoint, "restart", "nope", Duration::from_secs(60)).await;
    assert_eq!(finished.error.as_deref(), Some("no such instance: nope"));
    // an engine that never answers: bounded by the action's timeout
    engine.set("PUT /1.0/instances/slow/state", Reply::Hang);
    let started = Instant::now();
    let finished = engines::act(&endpoint, "restart", "slow", Duration::from_secs(1)).await;
    assert_eq!(finished.error.as_deref(), Some("timed out after 1 s"));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn docker_api_answers_304_as_already_and_404_as_no_such_container() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let engine = FixtureEngine::start(socket.clone()).await;
    let endpoint = Endpoint { engine: Engine::Docker, socket };
    engine.set("POST /containers/web/restart", Reply::Status(204, String::new()));
    engine.set("POST /containers/web/start", Reply::Status(304, String::new()));
    engine.set("POST /containers/nope/stop", Reply::Status(404, r#"{"message":"No such container: nope"}"#.to_owned()));
    engine.set(
        "POST /containers/db/stop",
        Reply::Status(500, r#"{"message":"cannot kill container: permission denied"}"#.to_owned()),
    );
    let finished = engines::act(&endpoint, "restart", "web", Duration::from_secs(10)).await;
    assert_eq!((finished.output.as_str(), finished.error.as_deref()), ("web restarted", None));
    let finished = engines::act(&endpoint, "start", "web", Duration::from_secs(10)).await;
    assert_eq!((finished.output.as_str(), finished.error.as_deref()), ("web was already started", None));
    let finished = engines::act(&endpoint, "stop", "nope", Duration::from_secs(10)).await;
    assert_eq!(finished.error.as_deref(), Some("no such container: nope"));
    let finished = engines::act(&endpoint, "stop", "db", Duration::from_secs(10)).await;
    assert_eq!(finished.error.as_deref(), Some("POST /containers/db/stop: HTTP 500: cannot kill container: permission denied"));
    assert_eq!(engine.full_requests()[0].0, "POST");
}

#[tokio::test]
async fn at_most_max_concurrent_run_at_once_and_an_order_expired_in_the_queue_never_runs() {
    let dir = tempfile::tempdir().unwrap();
    let slow = script(dir.path(), "slow.sh", &format!("echo $1 >> {}/ran; sleep $2", dir.path().display()));
    let text = format!(
        "server:\n  address: 127.0.0.1:9\n  token: t\nstate_dir: {}\nactions:\n  enabled: true\n  max_concurrent: 1\n  allowed:\n    - \"exec {} *\"\n",
        dir.path().join("state").display(),
        slow.display()
    );
    let config = sovigilant::config::Config::parse(Path::new("queue.yaml"), &text).unwrap();
    let mut worker = Worker::start(&config);
    let command = |name: &str, sleep: u32| format!("{} {name} {sleep}", slow.display());
    worker.send(worker.signer.order("q-a", "exec", &[("command", &command("a", 2))]));
    worker.send(worker.signer.order("q-b", "exec", &[("command", &command("b", 0))]));
    let mut expiring = unsigned("q-c", "exec", &[("command", &command("c", 0))]);
    expiring.expires_at = vigil_bus::actions::signed_time(chrono::Utc::now() + chrono::Duration::milliseconds(1000));
    worker.send(worker.signer.sign(expiring));
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let report = worker.next().await;
        seen.push(format!("{} {}", report.action_id, report.status));
    }
    // a runs alone; b starts once a is done; c's turn came after its expiry
    // (or, on a slow machine, it was expired on receipt already)
    let ab: Vec<&str> = seen.iter().map(String::as_str).filter(|s| !s.starts_with("q-c")).collect();
    assert_eq!(ab, ["q-a running", "q-a success", "q-b running", "q-b success"], "{seen:?}");
    assert!(seen.contains(&"q-c expired".to_owned()), "{seen:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("ran")).unwrap(), "a\nb\n");
}
