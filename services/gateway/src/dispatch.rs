//! Remote actions between the bus and the agents this gateway holds.
//!
//! - Orders: every gateway reads `actions.*.*.requested` (one core
//!   subscription) and hands an order to the agent stream it holds for that
//!   host, if any, then publishes `actions.<t>.<h>.dispatched`. An agent
//!   that connects is handed its host's unfinished orders (asked of the
//!   actioner), so an order waits for an offline agent until its TTL.
//! - Reports: an agent's `ActionResult` is published on
//!   `actions.<t>.<h>.result` (stream `ACTIONS`), tenant and host taken from
//!   the authenticated stream, never from the message.
//!
//! Invariants: an order is only written to the stream of its own tenant
//! and host; orders may reach an agent more than once (two gateways, a
//! reconnect): the agent runs each id at most once and answers the rest
//! from its record. Reports are bounded (64 KiB of output, 8 KiB per other
//! text) and checked (a known status, a valid id) before they reach the bus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_nats::jetstream::message::PublishMessage;
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::mpsc;
use tonic::Status;
use vigil_bus::actions::MAX_OUTPUT_BYTES;
use vigil_bus::messages::{ActionDispatched, ActionOrder, ActionOutcome, ActionStage, ActionStatus, PendingActions};
use vigil_bus::subjects::{self, actioner};
use vigil_proto::{server_message, ServerMessage};
use vigil_runtime::CancellationToken;

use crate::Shared;

/// Longest other text of a report published.
const MAX_TEXT_BYTES: usize = 8 * 1024;

type Outbound = mpsc::Sender<Result<ServerMessage, Status>>;

/// The agent streams this gateway holds, by (tenant, host).
#[derive(Default)]
pub(crate) struct Agents {
    streams: Mutex<HashMap<(String, String), (u64, Outbound)>>,
    next: AtomicU64,
}

impl Agents {
    /// Registers a stream; the returned number unregisters exactly it (a
    /// newer stream of the same host replaces it).
    pub(crate) fn register(&self, tenant_id: &str, host_id: &str, outbound: Outbound) -> u64 {
        let session = self.next.fetch_add(1, Ordering::Relaxed);
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams.insert((tenant_id.to_owned(), host_id.to_owned()), (session, outbound));
        crate::telemetry::metrics().agents_connected.set(streams.len() as i64);
        session
    }

    pub(crate) fn unregister(&self, tenant_id: &str, host_id: &str, session: u64) {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let key = (tenant_id.to_owned(), host_id.to_owned());
        if streams.get(&key).is_some_and(|(held, _)| *held == session) {
            streams.remove(&key);
        }
        crate::telemetry::metrics().agents_connected.set(streams.len() as i64);
    }

    /// The streams held for the tenant's hosts, with their host ids.
    pub(crate) fn of_tenant(&self, tenant_id: &str) -> Vec<(String, Outbound)> {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams
            .iter()
            .filter(|((tenant, _), _)| tenant == tenant_id)
            .map(|((_, host), (_, outbound))| (host.clone(), outbound.clone()))
            .collect()
    }

    fn outbound(&self, tenant_id: &str, host_id: &str) -> Option<Outbound> {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams.get(&(tenant_id.to_owned(), host_id.to_owned())).map(|(_, outbound)| outbound.clone())
    }
}

/// The protobuf `Action` of an order; `None` when its signature is not
/// base64 (the agent would refuse it anyway).
fn action_message(order: &ActionOrder) -> Option<ServerMessage> {
    let signature = base64::engine::general_purpose::STANDARD.decode(&order.signature).ok()?;
    Some(ServerMessage {
        payload: Some(server_message::Payload::Action(vigil_proto::Action {
            id: order.id.clone(),
            r#type: order.action_type.as_str().to_owned(),
            params: order.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            tenant_id: order.tenant_id.clone(),
            host_id: order.host_id.clone(),
            requested_by: order.requested_by.clone(),
            expires_at: vigil_bus::actions::signed_time(order.expires_at),
            timeout_seconds: order.timeout_seconds,
            signature,
        })),
    })
}

/// Hands `order` to `outbound` and publishes its dispatch.
async fn hand_over(shared: &Shared, order: &ActionOrder, outbound: &Outbound) {
    let Some(message) = action_message(order) else {
        tracing::warn!(action_id = %order.id, "an order's signature is not base64; not handed over");
        return;
    };
    let sent = tokio::time::timeout(std::time::Duration::from_secs(5), outbound.send(Ok(message))).await;
    if !matches!(sent, Ok(Ok(()))) {
        tracing::info!(tenant_id = %order.tenant_id, host_id = %order.host_id, action_id = %order.id, "agent stream gone or full; the order waits for its next connection");
        return;
    }
    let dispatched = ActionDispatched {
        action_id: order.id.clone(),
        tenant_id: order.tenant_id.clone(),
        host_id: order.host_id.clone(),
        at: Utc::now(),
    };
    let subject = subjects::action(&order.tenant_id, &order.host_id, ActionStage::Dispatched);
    publish(shared, subject, &dispatched, format!("{}:dispatched", order.id)).await;
    tracing::info!(tenant_id = %order.tenant_id, host_id = %order.host_id, action_id = %order.id, "action handed to the agent");
}

/// Publishes `message` on the `ACTIONS` stream, de-duplicated by `msg_id`.
async fn publish<T: serde::Serialize>(shared: &Shared, subject: String, message: &T, msg_id: String) {
    let Ok(payload) = serde_json::to_vec(message) else { return };
    let publish = PublishMessage::build().payload(payload.into()).message_id(msg_id);
    let stored = match shared.jetstream.send_publish(subject.clone(), publish).await {
        Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    if let Err(error) = stored {
        tracing::warn!(%subject, error = %error, "cannot publish an action message");
    }
}

/// Reads every order published and hands those of held agents over, until `stop`.
pub(crate) async fn start(shared: Arc<Shared>, stop: CancellationToken) -> Result<(), async_nats::SubscribeError> {
    let mut orders = shared.nats.subscribe(subjects::ACTIONS_REQUESTED).await?;
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => break,
                message = orders.next() => match message { Some(message) => message, None => break },
            };
            let Some((tenant_id, host_id, _)) = subjects::parse_action(message.subject.as_str()) else { continue };
            let Some(outbound) = shared.agents.outbound(tenant_id, host_id) else { continue };
            let order: ActionOrder = match serde_json::from_slice(&message.payload) {
                Ok(order) => order,
                Err(error) => {
                    tracing::warn!(subject = %message.subject, error = %error, "not an action order; skipped");
                    continue;
                }
            };
            if order.tenant_id != tenant_id || order.host_id != host_id {
                tracing::warn!(subject = %message.subject, "an order's ids differ from its subject; skipped");
                continue;
            }
            let shared = shared.clone();
            tokio::spawn(async move { hand_over(&shared, &order, &outbound).await });
        }
    });
    Ok(())
}

/// Hands an agent that just connected its host's unfinished orders.
pub(crate) async fn pending(shared: Arc<Shared>, tenant_id: String, host_id: String, outbound: Outbound) {
    let request = PendingActions { tenant_id: tenant_id.clone(), host_id: host_id.clone() };
    match vigil_bus::messages::request(&shared.nats, actioner::PENDING, &request).await {
        Ok(orders) => {
            for order in orders {
                hand_over(&shared, &order, &outbound).await;
            }
        }
        Err(error) => {
            tracing::debug!(%tenant_id, %host_id, error = %error, "cannot read pending actions (is an actioner running?)")
        }
    }
}

fn cut(mut text: String, max: usize) -> String {
    text.truncate(vigil_bus::text::truncate(&text, max).len());
    text
}

fn optional(text: String) -> Option<String> {
    (!text.is_empty()).then(|| cut(text, MAX_TEXT_BYTES))
}

/// An agent's report as the bus carries it, or why it cannot be.
pub(crate) fn outcome(
    tenant_id: &str,
    host_id: &str,
    result: vigil_proto::ActionResult,
    received_at: DateTime<Utc>,
) -> Result<ActionOutcome, String> {
    vigil_bus::ids::validate("action", &result.action_id).map_err(|e| e.to_string())?;
    let status: ActionStatus = result.status.parse().map_err(|e: String| format!("status: {e}"))?;
    if status == ActionStatus::Pending {
        return Err("status: pending is not an agent's report".to_owned());
    }
    let started_at = match result.started_at.as_str() {
        "" => None,
        text => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|e| format!("started_at {text:?} is not an RFC 3339 time: {e}"))?
                .with_timezone(&Utc),
        ),
    };
    let truncated = result.truncated || result.output.len() > MAX_OUTPUT_BYTES;
    Ok(ActionOutcome {
        action_id: result.action_id,
        tenant_id: tenant_id.to_owned(),
        host_id: host_id.to_owned(),
        status,
        command: optional(result.command),
        rule: optional(result.rule),
        exit_code: result.exit_code,
        output: cut(result.output, MAX_OUTPUT_BYTES),
        truncated,
        error: optional(result.error),
        started_at,
        duration_ms: (status != ActionStatus::Running).then_some(result.duration_ms),
        received_at,
    })
}

/// Publishes an agent's report (in its own task: the agent's stream keeps being read).
pub(crate) fn report(shared: Arc<Shared>, tenant_id: &str, host_id: &str, result: vigil_proto::ActionResult) {
    let action_id = result.action_id.clone();
    match outcome(tenant_id, host_id, result, Utc::now()) {
        Ok(outcome) => {
            tokio::spawn(async move {
                let subject = subjects::action(&outcome.tenant_id, &outcome.host_id, ActionStage::Result);
                let msg_id = format!("{}:{}", outcome.action_id, outcome.status.as_str());
                publish(&shared, subject, &outcome, msg_id).await;
            });
        }
        Err(error) => tracing::warn!(%tenant_id, %host_id, %action_id, %error, "agent's action report refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: &str) -> vigil_proto::ActionResult {
        vigil_proto::ActionResult { action_id: "act-1".into(), status: status.into(), ..Default::default() }
    }

    #[test]
    fn reports_are_checked_and_bounded_with_ids_from_the_stream() {
        let now = Utc::now();
        let mut big = result("success");
        big.output = "é".repeat(MAX_OUTPUT_BYTES);
        big.started_at = "2026-12-06T10:00:00.000Z".into();
        let reported = outcome("acme", "h1", big, now).unwrap();
        assert_eq!((reported.tenant_id.as_str(), reported.host_id.as_str()), ("acme", "h1"));
        assert!(reported.output.len() <= MAX_OUTPUT_BYTES && reported.truncated);
        assert_eq!(reported.started_at.unwrap().to_rfc3339(), "2026-12-06T10:00:00+00:00");
        assert_eq!(outcome("acme", "h1", result("pending"), now).unwrap_err(), "status: pending is not an agent's report");
        assert!(outcome("acme", "h1", result("done"), now).unwrap_err().starts_with("status: action status \"done\""));
        let mut bad = result("failed");
        bad.action_id = "act.1>".into();
        assert!(outcome("acme", "h1", bad, now).is_err());
    }

    #[test]
    fn an_order_becomes_the_signed_protobuf_action() {
        let order = ActionOrder {
            id: "act-1".into(),
            tenant_id: "acme".into(),
            host_id: "h1".into(),
            action_type: vigil_bus::messages::ActionType::RestartService,
            params: [("service".to_owned(), "nginx".to_owned())].into(),
            requested_by: "ops@acme.test".into(),
            requested_at: Utc::now(),
            expires_at: DateTime::from_timestamp_millis(1_800_000_000_123).unwrap(),
            timeout_seconds: 60,
            signature: base64::engine::general_purpose::STANDARD.encode([7u8; 64]),
        };
        let Some(ServerMessage { payload: Some(server_message::Payload::Action(action)) }) = action_message(&order) else {
            panic!("no action");
        };
        assert_eq!(action.r#type, "restart_service");
        assert_eq!(action.expires_at, "2027-01-15T08:00:00.123Z");
        assert_eq!(action.signature, vec![7u8; 64]);
        assert_eq!(action.params.get("service").map(String::as_str), Some("nginx"));
        assert!(action_message(&ActionOrder { signature: "%%".into(), ..order }).is_none());
    }
}
