//! `vigil-action-bench`: how long a remote action takes, end to end, with
//! many agents connected. Starts a private stack (nats-server, fresh MariaDB
//! database) with the gateway, the collector and the actioner as three
//! `vigil run` processes.
//!
//! N simulated agents (`--hosts`) speak the real gRPC + TLS protocol
//! (`--hosts-per-channel` Connect streams share one HTTP/2 connection); each
//! sends a snapshot every `--interval` (the ingest load the gateway carries
//! meanwhile) and answers every action it is handed at once: a `running`
//! report, then `success` with a line of output, as an agent whose command
//! takes no time would. One dashboard WebSocket of the tenant is open.
//!
//! Then `--actions` actions (`restart_service`, spread over the hosts),
//! `--concurrency` at a time, each timed from sending `POST
//! /api/hosts/{id}/action` to the `action` frame with status `success` on
//! the WebSocket, which the actioner publishes only after the result is
//! stored: that is the round trip the issue names (target p99 < 250 ms).
//! Also printed: the POST's own answer time (the action recorded, signed
//! and published), actions lost (no success frame within `--wait`), and
//! each vigil process's RSS at the end.
//!
//! Then, unless `--scenarios 0`, a scenario's trigger latency: the
//! alerter and the orchestrator run too (two more processes from the start);
//! a rule `host.cpu.percent > 95` (0 s) and a scenario on it whose first step
//! restarts a service on the alert's host are created over REST; K hosts
//! (`--scenarios`) each send one snapshot at 99 % CPU at their next tick.
//! From the WebSocket's frames: the alert's `fired_at` (its snapshot's
//! collection time, so the gateway and the alerter are inside the figure)
//! to the scenario's action `created_at` (the first step requested) and to
//! its `dispatched_at` (handed to the agent's stream).
//!
//! Run (the `vigil` binary of the same profile must be built):
//! ```sh
//! cargo build --release -p vigil --bin vigil -p vigil-tests --bin vigil-action-bench
//! target/release/vigil-action-bench --hosts 1000
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::Parser;
use futures::StreamExt;
use serde_json::json;
use vigil_proto::{agent_message, server_message, ActionResult, AgentMessage};
use vigil_tests::{live, procstat, sim, Stack};

#[derive(Parser, Debug)]
struct Args {
    /// simulated agents connected
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// Connect streams sharing one gRPC/TLS connection (HTTP/2 streams)
    #[arg(long, default_value_t = 50)]
    hosts_per_channel: usize,
    /// each agent's snapshot interval (the ingest load meanwhile)
    #[arg(long, default_value = "10s", value_parser = vigil_bus::duration::parse)]
    interval: Duration,
    /// actions timed
    #[arg(long, default_value_t = 1000)]
    actions: usize,
    /// actions in flight at once
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// longest wait for one action's success frame
    #[arg(long, default_value = "10s", value_parser = vigil_bus::duration::parse)]
    wait: Duration,
    /// hosts whose alert triggers the scenario once each (0: no scenario phase, no alerter or orchestrator)
    #[arg(long, default_value_t = 50)]
    scenarios: usize,
}

/// What the frames said of one crossing host: its alert's `fired_at`, its
/// scenario action's `created_at` and `dispatched_at`.
#[derive(Default, Debug, Clone)]
struct Triggered {
    fired_at: Option<DateTime<Utc>>,
    created_at: Option<DateTime<Utc>>,
    dispatched_at: Option<DateTime<Utc>>,
}

/// Hosts told to send one 99 % CPU snapshot at their next tick.
type Crossings = Arc<Mutex<HashSet<String>>>;

/// Percentile `p` (0..=100) of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Success frames by action id, with their arrival.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// One agent: snapshots at its pace, every action answered at once.
async fn agent(
    host: String,
    mut connection: sim::Connection,
    interval: Duration,
    offset: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
    crossings: Crossings,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if *stop.borrow() {
                    return;
                }
                seq += 1;
                let mut metrics = sim::snapshot(seq, Utc::now(), seq);
                if crossings.lock().expect("crossings").remove(&host) {
                    if let Some(cpu) = metrics.host.as_mut().and_then(|h| h.cpu.as_mut()) {
                        cpu.percent = 99.0;
                    }
                }
                if connection.sender.send(sim::metrics_message(&host, metrics)).await.is_err() {
                    return;
                }
            }
            reply = connection.replies.next() => {
                let Some(Ok(reply)) = reply else { return };
                if let Some(server_message::Payload::Action(action)) = reply.payload {
                    let started = sim::rfc3339(Utc::now());
                    for (status, output) in [("running", ""), ("success", "ok\n")] {
                        let result = ActionResult {
                            action_id: action.id.clone(),
                            status: status.to_owned(),
                            success: status == "success",
                            output: output.to_owned(),
                            command: format!("systemctl restart {}.service", action.params.get("service").cloned().unwrap_or_default()),
                            rule: "systemctl restart *".to_owned(),
                            exit_code: (status == "success").then_some(0),
                            started_at: started.clone(),
                            duration_ms: 1,
                            ..Default::default()
                        };
                        let message = AgentMessage { agent_id: host.clone(), payload: Some(agent_message::Payload::ActionResult(result)) };
                        if connection.sender.send(message).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.hosts == 0 || args.actions == 0 || args.concurrency == 0 {
        bail!("--hosts, --actions and --concurrency must be above 0");
    }
    let mut stack = Stack::new().await?;
    stack.extra_env.insert("VIGIL_COLLECTOR_OFFLINE_AFTER".into(), "300s".into());
    let gateway = stack.spawn(&["gateway"]).await?;
    let collector = stack.spawn(&["collector"]).await?;
    let actioner = stack.spawn(&["actioner"]).await?;
    let automation = match args.scenarios {
        0 => None,
        _ => Some((stack.spawn(&["alerter"]).await?, stack.spawn(&["orchestrator"]).await?)),
    };
    println!(
        "vigil-action-bench: {} agents (snapshot every {:?}), {} actions, {} in flight",
        args.hosts, args.interval, args.actions, args.concurrency
    );
    let fixture = stack.tenant("bench").await?;
    let jwt = stack.login(&fixture).await?;

    // ---- agents
    let started = Instant::now();
    let mut channels = Vec::new();
    for _ in 0..args.hosts.div_ceil(args.hosts_per_channel) {
        channels.push(sim::channel(&stack.grpc_address(), &stack.ca_path()).await?);
    }
    let token = fixture.token.clone();
    let hosts: Vec<(String, sim::Connection)> = futures::stream::iter(0..args.hosts)
        .map(|index| {
            let channel = channels[index / args.hosts_per_channel].clone();
            let token = token.clone();
            async move {
                let mut attempt = 0u64;
                let id = loop {
                    match sim::register(
                        channel.clone(),
                        &token,
                        &format!("action-bench-m-{index}"),
                        &format!("action-bench-{index}"),
                    )
                    .await
                    {
                        Ok(id) => break id,
                        Err(status) if status.code() == tonic::Code::Unavailable && attempt < 10 => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                        }
                        Err(status) => bail!("register host {index}: {status}"),
                    }
                };
                let connection = sim::connect(channel, &token, &id).await.with_context(|| format!("connect {id}"))?;
                anyhow::Ok((id, connection))
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    println!("{} agents registered and connected in {:.1?}", hosts.len(), started.elapsed());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let crossings: Crossings = Arc::default();
    let ids: Vec<String> = hosts.iter().map(|(id, _)| id.clone()).collect();
    for (index, (host, connection)) in hosts.into_iter().enumerate() {
        let offset = args.interval.mul_f64(index as f64 / args.hosts as f64);
        tokio::spawn(agent(host, connection, args.interval, offset, stopped.clone(), crossings.clone()));
    }
    // every agent sends its first snapshot before anything is timed
    tokio::time::sleep(args.interval + Duration::from_secs(1)).await;

    // ---- the dashboard
    let mut ws = live::connect(stack.http_port, &jwt).await?;
    live::subscribe(&mut ws, Some(&[])).await?;
    let arrivals: Arrivals = Arc::default();
    let triggered: Arc<Mutex<HashMap<String, Triggered>>> = Arc::default();
    let reader = {
        let (arrivals, triggered) = (arrivals.clone(), triggered.clone());
        let time = |value: &serde_json::Value| value.as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
        tokio::spawn(async move {
            while let Ok(Some(frame)) = live::next_frame(&mut ws, Duration::from_secs(3600)).await {
                let host = frame["host_id"].as_str().unwrap_or_default().to_owned();
                if frame["type"] == "alert" && frame["event"] == "fired" {
                    let mut triggered = triggered.lock().expect("triggered");
                    triggered.entry(host).or_default().fired_at = time(&frame["alert"]["fired_at"]);
                } else if frame["type"] == "action" {
                    let action = &frame["action"];
                    if action["requested_by"].as_str().is_some_and(|by| by.starts_with("scenario:")) {
                        let mut triggered = triggered.lock().expect("triggered");
                        let entry = triggered.entry(host).or_default();
                        entry.created_at = entry.created_at.or(time(&action["created_at"]));
                        entry.dispatched_at = entry.dispatched_at.or(time(&action["dispatched_at"]));
                    }
                    if frame["status"] == "success" {
                        if let Some(id) = frame["id"].as_str() {
                            arrivals.lock().expect("arrivals").entry(id.to_owned()).or_insert_with(Instant::now);
                        }
                    }
                }
            }
        })
    };

    // ---- the actions
    let http = reqwest::Client::new();
    let timed = futures::stream::iter(0..args.actions)
        .map(|index| {
            let (http, jwt, arrivals) = (http.clone(), jwt.clone(), arrivals.clone());
            let host = ids[(index * 7919) % ids.len()].clone();
            let url = stack.http(&format!("/api/hosts/{host}/action"));
            let wait = args.wait;
            async move {
                let sent = Instant::now();
                let response = http
                    .post(url)
                    .bearer_auth(&jwt)
                    .json(&json!({"type": "restart_service", "params": {"service": format!("svc{}", index % 50)}}))
                    .send()
                    .await?;
                let answered = sent.elapsed();
                let status = response.status();
                let body: serde_json::Value = response.json().await?;
                if status != reqwest::StatusCode::ACCEPTED {
                    bail!("POST action: {status} {body}");
                }
                let id = body["id"].as_str().context("an action id")?.to_owned();
                let deadline = sent + wait;
                loop {
                    if let Some(at) = arrivals.lock().expect("arrivals").get(&id) {
                        return anyhow::Ok((answered, Some(at.duration_since(sent))));
                    }
                    if Instant::now() > deadline {
                        return anyhow::Ok((answered, None));
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
        .buffer_unordered(args.concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let scenario = match args.scenarios {
        0 => None,
        count => Some(scenario_phase(&stack, &http, &jwt, &ids, count, &crossings, &triggered, args.interval).await?),
    };
    let _ = stop.send(true);
    reader.abort();

    let mut answers: Vec<Duration> = timed.iter().map(|(answered, _)| *answered).collect();
    let mut round_trips: Vec<Duration> = timed.iter().filter_map(|(_, trip)| *trip).collect();
    answers.sort();
    round_trips.sort();
    let lost = timed.len() - round_trips.len();
    println!(
        "POST /api/hosts/{{id}}/action answered (recorded, signed, published): p50 {} p99 {} max {}",
        ms(percentile(&answers, 50.0)),
        ms(percentile(&answers, 99.0)),
        ms(percentile(&answers, 100.0))
    );
    println!(
        "round trip POST -> result stored -> success frame on the WebSocket: p50 {} p99 {} max {} ({} of {} actions; {} lost)",
        ms(percentile(&round_trips, 50.0)),
        ms(percentile(&round_trips, 99.0)),
        ms(percentile(&round_trips, 100.0)),
        round_trips.len(),
        timed.len(),
        lost
    );
    if let Some((created, dispatched, missing)) = &scenario {
        println!(
            "scenario trigger, alert fired_at -> first step's action created: p50 {} p99 {} max {}; -> handed to the agent: p50 {} p99 {} max {} ({} of {} hosts; {} without an action)",
            ms(percentile(created, 50.0)),
            ms(percentile(created, 99.0)),
            ms(percentile(created, 100.0)),
            ms(percentile(dispatched, 50.0)),
            ms(percentile(dispatched, 99.0)),
            ms(percentile(dispatched, 100.0)),
            created.len(),
            args.scenarios,
            missing
        );
    }
    let rss = |pid: u32| procstat::rss_kib(pid).map_or("?".to_owned(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0));
    println!("RSS: gateway {}, collector {}, actioner {}", rss(gateway.pid()), rss(collector.pid()), rss(actioner.pid()));
    if let Some((alerter, orchestrator)) = &automation {
        println!("RSS: alerter {}, orchestrator {}", rss(alerter.pid()), rss(orchestrator.pid()));
    }
    let p99 = percentile(&round_trips, 99.0);
    let verdict = if lost == 0 && p99 < Duration::from_millis(250) { "PASS" } else { "MISS" };
    println!("{verdict}: target p99 < 250 ms with {} agents connected, nothing lost", args.hosts);
    Ok(())
}

/// The scenario phase: a rule, a scenario on it, `count` hosts crossing it
/// once each; returns the sorted latencies (fired → created, fired →
/// dispatched) and how many hosts got no action in time.
#[allow(clippy::too_many_arguments)]
async fn scenario_phase(
    stack: &Stack,
    http: &reqwest::Client,
    jwt: &str,
    ids: &[String],
    count: usize,
    crossings: &Crossings,
    triggered: &Arc<Mutex<HashMap<String, Triggered>>>,
    interval: Duration,
) -> Result<(Vec<Duration>, Vec<Duration>, usize)> {
    let rule = json!({"name": "bench crossing", "condition": "host.cpu.percent > 95", "duration": "0s",
                      "severity": "critical", "message": "CPU at {{value}}% on {{host.name}}"});
    let response = http.post(stack.http("/api/alerts/rules")).bearer_auth(jwt).json(&rule).send().await?;
    let status = response.status();
    let rule: serde_json::Value = response.json().await?;
    if status != reqwest::StatusCode::CREATED {
        bail!("POST /api/alerts/rules: {status} {rule}");
    }
    let rule_id = rule["id"].as_str().context("the rule's id")?;
    let scenario = format!(
        "name: bench restart\ntrigger:\n  alert: {rule_id}\nguards:\n  cooldown: 10m\n  fleet_concurrency: {count}\nsteps:\n  - id: restart\n    service: action\n    action: restart_service\n    params:\n      host_id: \"{{{{alert.host_id}}}}\"\n      service: bench\n"
    );
    let response = http
        .post(stack.http("/api/scenarios"))
        .bearer_auth(jwt)
        .header("content-type", "application/yaml")
        .body(scenario)
        .send()
        .await?;
    let status = response.status();
    if status != reqwest::StatusCode::CREATED {
        bail!("POST /api/scenarios: {status} {}", response.text().await?);
    }
    let step = (ids.len() / count).max(1);
    let chosen: Vec<String> = ids.iter().step_by(step).take(count).cloned().collect();
    crossings.lock().expect("crossings").extend(chosen.iter().cloned());
    println!("scenario phase: {} hosts cross host.cpu.percent > 95 at their next tick", chosen.len());
    let deadline = Instant::now() + interval + Duration::from_secs(30);
    loop {
        let done = {
            let triggered = triggered.lock().expect("triggered");
            chosen
                .iter()
                .filter(|host| triggered.get(*host).is_some_and(|t| t.fired_at.is_some() && t.dispatched_at.is_some()))
                .count()
        };
        if done == chosen.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let triggered = triggered.lock().expect("triggered");
    let since = |at: Option<DateTime<Utc>>, fired: DateTime<Utc>| at.and_then(|at| (at - fired).to_std().ok());
    let (mut created, mut dispatched, mut missing) = (Vec::new(), Vec::new(), 0);
    for host in &chosen {
        match triggered.get(host).and_then(|t| t.fired_at.map(|fired| (t, fired))) {
            Some((t, fired)) if t.created_at.is_some() => {
                created.extend(since(t.created_at, fired));
                dispatched.extend(since(t.dispatched_at, fired));
            }
            _ => missing += 1,
        }
    }
    created.sort();
    dispatched.sort();
    Ok((created, dispatched, missing))
}
