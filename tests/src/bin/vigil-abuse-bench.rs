//! `vigil-abuse-bench`: what bad input costs in memory. Starts a private stack
//! (`vigil run gateway collector` in one process, as `vigil up` runs them),
//! lets good agents report, then sends a burst of what an attacker or a
//! broken agent sends: snapshots over `gateway.max_message_bytes`, snapshots
//! that grow past the bus limit as JSON, snapshots dated 0000..9999, garbage
//! bytes and messages over the transport limit, from many streams at once.
//! Prints the `vigil` process's RSS steady, at the burst's peak, and after
//! it (the figure that must come back down), with the good agents' acks.
//!
//! Run: `cargo build --release -p vigil -p vigil-tests --bins && target/release/vigil-abuse-bench`

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Parser;
use tokio_stream::StreamExt;
use vigil_proto::{server_message, InterfaceMetrics, MountMetrics};
use vigil_tests::{sim, Stack};

#[derive(Parser, Debug)]
struct Args {
    /// abusive agent streams sending at once
    #[arg(long, default_value_t = 20)]
    streams: usize,
    /// bad messages per stream
    #[arg(long, default_value_t = 30)]
    messages: usize,
    /// how long to wait after the burst before the last reading
    #[arg(long, default_value = "20s", value_parser = vigil_bus::duration::parse)]
    settle: Duration,
}

/// Resident set size of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The bad message number `i` of a stream: a rotation of every kind.
fn bad_snapshot(i: usize) -> vigil_proto::Metrics {
    let mut snapshot = sim::snapshot(i as u64 + 1, Utc::now(), i as u64);
    let host = snapshot.host.as_mut().expect("sim snapshots have a host");
    match i % 3 {
        // 1.7 MB of protobuf: over max_message_bytes
        0 => {
            host.disk.as_mut().expect("disk").mounts = (0..8_000)
                .map(|m| MountMetrics { path: format!("/mnt/{m:0200}"), total: 1, used: 1, percent: 1.0, fs_type: "x".into() })
                .collect()
        }
        // 0.9 MB of protobuf, 5.4 MB as JSON
        1 => {
            host.network.as_mut().expect("network").interfaces = (0..900)
                .map(|n| InterfaceMetrics { name: format!("{n}{}", "\u{1}".repeat(1000)), ..Default::default() })
                .collect()
        }
        // dated where no table can go
        _ => snapshot.timestamp = format!("{:04}-01-01T00:00:00Z", [0, 1, 1000, 2040, 2099, 9999][i / 3 % 6]),
    }
    snapshot
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let stack = Stack::new().await?;
    let vigil = stack.spawn(&["gateway", "collector"]).await?;
    let pid = vigil.pid();
    let tenant = stack.tenant("abuse").await?;
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await?;
    let good_host = sim::register(channel.clone(), &tenant.token, "m-good", "good").await?;
    let mut good = sim::connect(channel.clone(), &tenant.token, &good_host).await?;
    let mut seq = 0u64;
    let mut send_good = async |good: &mut sim::Connection| -> Result<bool> {
        seq += 1;
        good.sender.send(sim::metrics_message(&good_host, sim::snapshot(seq, Utc::now(), seq))).await?;
        let reply = tokio::time::timeout(Duration::from_secs(10), good.replies.next()).await?.context("stream ended")??;
        Ok(matches!(reply.payload, Some(server_message::Payload::Ack(ack)) if ack.accepted))
    };
    for _ in 0..20 {
        send_good(&mut good).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let steady = rss_mib(pid);

    let started = Instant::now();
    let mut abusers = Vec::new();
    for s in 0..args.streams {
        let (channel, token) = (channel.clone(), tenant.token.clone());
        let host = sim::register(channel.clone(), &token, &format!("m-bad-{s}"), &format!("bad-{s}")).await?;
        let messages = args.messages;
        abusers.push(tokio::spawn(async move {
            let (mut refused, mut ended) = (0usize, 0usize);
            let mut connection = sim::connect(channel.clone(), &token, &host).await.expect("connect");
            for i in 0..messages {
                // every tenth message: bytes no decoder accepts, or 6 MB over the transport limit
                if i % 10 == 9 {
                    let payload = if i % 20 == 19 { vec![0xff; 64] } else { vec![0x0a; 6 * 1024 * 1024] };
                    vigil_testkit::raw_grpc::connect_and_send_raw(channel.clone(), &token, &host, payload).await;
                    ended += 1;
                    continue;
                }
                if connection.sender.send(sim::metrics_message(&host, bad_snapshot(i))).await.is_err() {
                    connection = sim::connect(channel.clone(), &token, &host).await.expect("reconnect");
                    continue;
                }
                match tokio::time::timeout(Duration::from_secs(30), connection.replies.next()).await {
                    Ok(Some(Ok(reply))) => {
                        if matches!(reply.payload, Some(server_message::Payload::Ack(ref ack)) if !ack.accepted) {
                            refused += 1;
                        }
                    }
                    _ => connection = sim::connect(channel.clone(), &token, &host).await.expect("reconnect"),
                }
            }
            (refused, ended)
        }));
    }
    let mut peak = steady;
    let (mut refused, mut ended) = (0, 0);
    while !abusers.iter().all(|a| a.is_finished()) {
        peak = peak.max(rss_mib(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for abuser in abusers {
        let (r, e) = abuser.await?;
        refused += r;
        ended += e;
    }
    let burst = started.elapsed();
    let good_during = send_good(&mut good).await?;
    tokio::time::sleep(args.settle).await;
    let after = rss_mib(pid);
    let good_after = send_good(&mut good).await?;

    println!(
        "abuse: {} streams x {} bad messages in {:.1} s: {refused} refused for good (Ack accepted=false), {ended} ended by the transport",
        args.streams,
        args.messages,
        burst.as_secs_f64()
    );
    println!(
        "vigil rss: steady {steady:.0} MiB, peak {peak:.0} MiB, {:.0} s after {after:.0} MiB (after/steady {:.2}); good agent acked during {good_during}, after {good_after}",
        args.settle.as_secs_f64(),
        after / steady
    );
    Ok(())
}
