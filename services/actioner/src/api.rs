//! The actioner's endpoints: request (record, sign, publish), list, get, and
//! the pending orders a gateway hands to an agent that connects.

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use chrono::Utc;
use vigil_bus::messages::{
    ActionOrder, ActionRecord, ActionStage, GetHost, HostRecord, ListActions, PendingActions, RequestAction, TenantItem,
};
use vigil_bus::subjects::{self, collector};
use vigil_bus::{ErrorCode, ServiceError};

use crate::error::{bad_id, db, unprocessable, QueryError};
use crate::{events, store, Shared};

/// A new action id: `act-` and 16 hex digits.
fn new_id() -> String {
    vigil_runtime::new_id("act")
}

/// `requested` seconds, the default when absent, refused past `max`.
fn seconds(field: &str, requested: Option<u32>, default: Duration, max: Duration) -> Result<u32, ServiceError> {
    let value = match requested {
        None => default.as_secs(),
        Some(0) => return Err(unprocessable(format!("{field} is 0; give at least 1 second"))),
        Some(value) => u64::from(value),
    };
    if value > max.as_secs() {
        return Err(unprocessable(format!("{field} is {value}; at most {} seconds", max.as_secs())));
    }
    Ok(u32::try_from(value).unwrap_or(u32::MAX))
}

pub(crate) async fn request(shared: &Shared, request: RequestAction) -> Result<ActionRecord, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    bad_id("host", &request.host_id)?;
    vigil_bus::actions::check_params(request.action_type, &request.params)
        .map_err(|error| ServiceError::new(ErrorCode::Unprocessable, error.to_string()))?;
    if request.requested_by.is_empty() || request.requested_by.len() > 255 {
        return Err(unprocessable("requested_by is empty or longer than 255 characters"));
    }
    if let Some(key) = &request.idempotency_key {
        if key.is_empty() || key.len() > 120 {
            return Err(unprocessable("idempotency_key is empty or longer than 120 characters"));
        }
        // asked before: the first request's action, never a second one
        if let Some(record) = store::by_key(&shared.pool, &request.tenant_id, key).await.map_err(db("reading an action"))? {
            return Ok(record);
        }
    }
    let config = &shared.config;
    let ttl = seconds("ttl_seconds", request.ttl_seconds, config.ttl, config.max_ttl)?;
    let timeout = seconds("timeout_seconds", request.timeout_seconds, config.timeout, config.max_timeout)?;
    // the host must be the tenant's (NotFound otherwise, like any other read)
    let host = GetHost { tenant_id: request.tenant_id.clone(), host_id: request.host_id.clone() };
    vigil_bus::messages::request::<_, HostRecord>(&shared.nats, collector::GET_HOST, &host).await?;

    let now = Utc::now();
    let mut order = ActionOrder {
        id: new_id(),
        tenant_id: request.tenant_id,
        host_id: request.host_id,
        action_type: request.action_type,
        params: request.params,
        requested_by: request.requested_by,
        requested_at: now,
        expires_at: now + chrono::Duration::seconds(i64::from(ttl)),
        timeout_seconds: timeout,
        signature: String::new(),
    };
    // the database keeps milliseconds: sign what it will give back
    order.requested_at = store::millis(order.requested_at);
    order.expires_at = store::millis(order.expires_at);
    order.signature = shared.key.sign(&vigil_bus::actions::signed_message(&order));
    let key = request.idempotency_key.as_deref();
    let inserted =
        store::insert(&shared.pool, &order, request.user_id.as_deref(), key).await.map_err(db("recording an action"))?;
    if !inserted {
        // a concurrent request with the same key won
        let key = key.unwrap_or_default();
        return store::by_key(&shared.pool, &order.tenant_id, key)
            .await
            .map_err(db("reading an action"))?
            .ok_or_else(|| ServiceError::new(ErrorCode::Internal, "the action recorded under this key is gone"));
    }
    if let Err(error) = publish_order(shared, &order).await {
        tracing::error!(tenant_id = %order.tenant_id, host_id = %order.host_id, action_id = %order.id, error = %error, "cannot publish an order; marked failed");
        store::publish_failed(&shared.pool, &order, &error).await.map_err(db("recording a failed publish"))?;
        events::publish_status(shared, &order.tenant_id, &order.id).await;
        return Err(QueryError::Publish(error).into());
    }
    tracing::info!(tenant_id = %order.tenant_id, host_id = %order.host_id, action_id = %order.id, action_type = order.action_type.as_str(), requested_by = %order.requested_by, "action requested");
    let record = store::pending_record(&order, request.user_id);
    events::publish_record(shared, &record).await;
    Ok(record)
}

/// Publishes an order on `actions.<t>.<h>.requested` (stream `ACTIONS`,
/// de-duplicated by its id) and waits for the stream to store it.
pub(crate) async fn publish_order(shared: &Shared, order: &ActionOrder) -> Result<(), String> {
    let payload = serde_json::to_vec(order).map_err(|e| e.to_string())?;
    let subject = subjects::action(&order.tenant_id, &order.host_id, ActionStage::Requested);
    let publish = PublishMessage::build().payload(payload.into()).message_id(format!("{}:requested", order.id));
    let ack = shared.jetstream.send_publish(subject, publish).await.map_err(|e| e.to_string())?;
    ack.await.map(|_| ()).map_err(|e| e.to_string())
}

pub(crate) async fn list(shared: &Shared, request: ListActions) -> Result<Vec<ActionRecord>, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    if let Some(host) = &request.host_id {
        bad_id("host", host)?;
    }
    if let Some(before) = &request.before {
        bad_id("action", before)?;
    }
    store::list(&shared.pool, &request).await.map_err(db("listing actions"))
}

pub(crate) async fn get(shared: &Shared, request: TenantItem) -> Result<ActionRecord, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    bad_id("action", &request.id)?;
    store::get(&shared.pool, &request.tenant_id, &request.id)
        .await
        .map_err(db("reading an action"))?
        .ok_or_else(|| ServiceError::new(ErrorCode::NotFound, format!("no action {:?}", request.id)))
}

pub(crate) async fn pending(shared: &Shared, request: PendingActions) -> Result<Vec<ActionOrder>, ServiceError> {
    bad_id("tenant", &request.tenant_id)?;
    bad_id("host", &request.host_id)?;
    store::pending(&shared.pool, &request.tenant_id, &request.host_id).await.map_err(db("reading pending actions"))
}
