//! Custom metrics: a number printed is a value; a failing, non-numeric or
//! hung command is an error in the metric, and never delays a snapshot.

mod common;

use std::time::{Duration, Instant};

use common::eventually;
use sovigilant::collect::Collectors;
use sovigilant::config::{CollectionConfig, CustomMetricConfig, MetricType};
use sovigilant::custom::run_once;
use vigil_runtime::CancellationToken;

fn metric(name: &str, command: &str, kind: MetricType, timeout: Duration) -> CustomMetricConfig {
    CustomMetricConfig { name: name.into(), command: command.into(), kind, interval: Duration::from_secs(60), timeout }
}

#[tokio::test]
async fn echo_42_is_a_gauge_of_42() {
    let result = run_once(&metric("answer", "echo 42", MetricType::Gauge, Duration::from_secs(5))).await;
    assert_eq!(
        (result.name.as_str(), result.r#type.as_str(), result.value, result.error.as_str()),
        ("answer", "gauge", 42.0, "")
    );
    let counter = run_once(&metric("c", "printf ' 1.5e3\\n'", MetricType::Counter, Duration::from_secs(5))).await;
    assert_eq!((counter.r#type.as_str(), counter.value, counter.error.as_str()), ("counter", 1500.0, ""));
}

#[tokio::test]
async fn failing_and_non_numeric_commands_are_errors() {
    let failed = run_once(&metric("x", "echo oops >&2; exit 3", MetricType::Gauge, Duration::from_secs(5))).await;
    assert_eq!(failed.error, "exited with status 3: oops");
    let text = run_once(&metric("y", "echo forty-two", MetricType::Gauge, Duration::from_secs(5))).await;
    assert_eq!(text.error, "output \"forty-two\" is not a number");
}

#[tokio::test]
async fn a_hung_command_is_killed_at_its_timeout() {
    // a duration no other test uses, so pgrep finds only this one; the shell
    // forks `sleep` (two commands), so killing only the shell would leave it
    let command = "sleep 31.4159; echo 1";
    let started = Instant::now();
    let hung = run_once(&metric("slow", command, MetricType::Gauge, Duration::from_secs(1))).await;
    let took = started.elapsed();
    assert_eq!(hung.error, "timed out after 1s");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let left = std::process::Command::new("pgrep").args(["-f", "sleep 31.4159"]).output().unwrap();
    let pids = String::from_utf8_lossy(&left.stdout).trim().to_owned();
    assert!(pids.is_empty(), "the command's sleep survived the timeout: pids {pids}");
}

#[tokio::test]
async fn snapshots_carry_the_latest_values_and_never_wait_for_a_hung_command() {
    let collection = CollectionConfig {
        custom_metrics: vec![
            metric("answer", "echo 42", MetricType::Gauge, Duration::from_secs(5)),
            metric("broken", "exit 3", MetricType::Gauge, Duration::from_secs(5)),
            metric("slow", "sleep 30", MetricType::Gauge, Duration::from_secs(1)),
        ],
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let mut collectors = Collectors::new(&collection, &shutdown);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // while `sleep 30` runs, a snapshot is not delayed
    let started = Instant::now();
    let metrics = collectors.snapshot().await;
    assert!(started.elapsed() < Duration::from_millis(500), "snapshot took {:?}", started.elapsed());
    let names: Vec<_> = metrics.custom.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["answer", "broken"], "slow has no result yet");
    assert_eq!(metrics.custom[0].value, 42.0);
    assert_eq!(metrics.custom[1].error, "exited with status 3");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = Instant::now();
    let metrics = collectors.snapshot().await;
    assert!(started.elapsed() < Duration::from_millis(500), "snapshot took {:?}", started.elapsed());
    let slow = metrics.custom.iter().find(|m| m.name == "slow").expect("slow reported after its timeout");
    assert_eq!(slow.error, "timed out after 1s");
    shutdown.cancel();
}

/// Lines the metric `tick` (below) appended to `file` so far.
fn runs(file: &std::path::Path) -> usize {
    std::fs::read_to_string(file).map(|text| text.lines().count()).unwrap_or(0)
}

fn ticking(file: &std::path::Path) -> CollectionConfig {
    CollectionConfig {
        custom_metrics: vec![CustomMetricConfig {
            interval: Duration::from_millis(100),
            ..metric("tick", &format!("echo run >> {}; echo 1", file.display()), MetricType::Gauge, Duration::from_secs(5))
        }],
        ..Default::default()
    }
}

/// Waits until `file` has at least two runs, lets `stop` act, then checks
/// no run starts afterwards.
async fn assert_stops(file: &std::path::Path, stop: impl FnOnce()) {
    eventually("two runs of the metric", Duration::from_secs(5), || async { runs(file) >= 2 }).await;
    stop();
    // a run already started may still finish
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped_at = runs(file);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs(file), stopped_at, "the metric still runs after its stop");
}

#[tokio::test]
async fn custom_metric_tasks_stop_at_shutdown_and_with_their_collectors() {
    let dir = tempfile::tempdir().unwrap();

    let shutdown = CancellationToken::new();
    let at_shutdown = dir.path().join("shutdown.log");
    let _collectors = Collectors::new(&ticking(&at_shutdown), &shutdown);
    assert_stops(&at_shutdown, || shutdown.cancel()).await;

    let shutdown = CancellationToken::new();
    let on_drop = dir.path().join("drop.log");
    let collectors = Collectors::new(&ticking(&on_drop), &shutdown);
    assert_stops(&on_drop, || drop(collectors)).await;
    assert!(!shutdown.is_cancelled(), "dropping the collectors does not cancel the agent's shutdown");
}
