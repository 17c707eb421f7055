//! No snapshot lost, none stored twice: each hop killed or restarted under load.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use vigil_proto::server_message;
use vigil_testkit::{eventually, try_eventually};
use vigil_tests::{sim, Stack};

async fn stored_timestamps(stack: &Stack, host_id: &str) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar::<_, chrono::NaiveDateTime>("SELECT timestamp FROM metrics_host WHERE host_id = ? ORDER BY timestamp")
        .bind(host_id)
        .fetch_all(&stack.db.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.and_utc())
        .collect()
}

async fn stream_messages(stack: &Stack) -> u64 {
    let jetstream = async_nats::jetstream::new(stack.nats.client().await);
    let mut stream = jetstream.get_stream(vigil_bus::streams::METRICS_STREAM).await.unwrap();
    stream.info().await.unwrap().state.messages
}

fn queued_snapshots(state_dir: &std::path::Path) -> usize {
    std::fs::read_dir(state_dir.join("queue"))
        .map(|d| d.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "pb")).count())
        .unwrap_or(usize::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_restart_mid_stream_leaves_no_gap_and_no_duplicate() {
    let stack = Stack::new().await.unwrap();
    let _collector = stack.spawn(&["collector"]).await.unwrap();
    let mut gateway = stack.spawn(&["gateway"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let mut agent = stack.agent(&acme, "1s").unwrap();
    eventually("agent registered", Duration::from_secs(30), || async { agent.host_id().is_some() }).await;
    let host_id = agent.host_id().unwrap();
    eventually("3 rows stored", Duration::from_secs(30), || async { stored_timestamps(&stack, &host_id).await.len() >= 3 }).await;

    gateway.kill();
    let outage_start = Utc::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let outage_end = Utc::now();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();

    // The agent replays its backlog, then keeps streaming.
    try_eventually("agent queue drained after the restart", Duration::from_secs(60), || async {
        queued_snapshots(&agent.state_dir()) <= 1
            && stored_timestamps(&stack, &host_id).await.last().is_some_and(|t| *t > outage_end)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nagent log:\n{}", agent.log_text()));
    agent.stop();
    let expected_queue = queued_snapshots(&agent.state_dir());

    let rows = eventually("every published snapshot stored", Duration::from_secs(30), || async {
        let rows = stored_timestamps(&stack, &host_id).await;
        (rows.len() as u64 == stream_messages(&stack).await).then_some(rows)
    })
    .await;
    assert!(
        rows.iter().any(|t| *t > outage_start && *t < outage_end),
        "snapshots taken during the outage were replayed: {rows:?}"
    );
    for pair in rows.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap < chrono::Duration::milliseconds(1900), "gap of {gap} between {} and {}", pair[0], pair[1]);
    }
    assert!(expected_queue <= 1, "agent left {expected_queue} snapshots unacknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_sigkill_mid_stream_stores_every_snapshot_exactly_once() {
    const HOSTS: usize = 4;
    const PER_HOST: u64 = 500;
    let stack = Stack::new().await.unwrap();
    let _gateway = stack.spawn(&["gateway"]).await.unwrap();
    let mut collector = stack.spawn(&["collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();

    let base = Utc::now() - chrono::Duration::hours(2);
    let mut senders = Vec::new();
    for h in 0..HOSTS {
        let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
        let host_id = sim::register(channel.clone(), &acme.token, &format!("machine-{h}"), &format!("sim-{h}")).await.unwrap();
        // every stream is open before the collector is killed: opening one
        // asks the collector whether the host exists
        let mut connection = sim::connect(channel, &acme.token, &host_id).await.unwrap();
        senders.push(tokio::spawn(async move {
            let mut acked = 0u64;
            for seq in 1..=PER_HOST {
                let at = base + chrono::Duration::seconds(seq as i64 * 10);
                connection.sender.send(sim::metrics_message(&host_id, sim::snapshot(seq, at, seq))).await.unwrap();
                if seq % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            while acked < PER_HOST {
                let reply = connection.replies.next().await.expect("stream open").expect("no error");
                if let Some(server_message::Payload::Ack(ack)) = reply.payload {
                    assert!(ack.accepted, "{}", ack.error);
                    acked += 1;
                }
            }
            host_id
        }));
    }

    let total = (HOSTS as u64 * PER_HOST) as i64;
    eventually("some rows stored", Duration::from_secs(30), || async {
        stack.db.count("SELECT COUNT(*) FROM metrics_host").await >= 200
    })
    .await;
    collector.kill();
    let at_kill = stack.db.count("SELECT COUNT(*) FROM metrics_host").await;
    assert!(at_kill < total, "the collector was killed mid-stream ({at_kill} of {total} stored)");
    for sender in senders {
        sender.await.unwrap();
    }
    let _collector = stack.spawn(&["collector"]).await.unwrap();
    eventually("every snapshot stored", Duration::from_secs(60), || async {
        stack.db.count("SELECT COUNT(*) FROM metrics_host").await >= total
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.db.count("SELECT COUNT(*) FROM metrics_host").await, total);
    assert_eq!(stack.db.count("SELECT COUNT(DISTINCT host_id) FROM metrics_host").await, HOSTS as i64);
}
