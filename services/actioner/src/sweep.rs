//! Expiry: an order still pending past its `expires_at` (plus
//! `expiry_grace`) is marked `expired`; the agent refuses it too, so it
//! never runs late. Several actioners sweep side by side (`SKIP LOCKED`).

use std::sync::Arc;

use chrono::Utc;
use vigil_runtime::shutdown::sleep_or_cancelled;
use vigil_runtime::CancellationToken;

use crate::{events, store, Shared};

pub(crate) async fn sweep_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let grace = chrono::Duration::from_std(shared.config.expiry_grace).unwrap_or_default();
    loop {
        let now = Utc::now();
        match store::expire(&shared.pool, now - grace, now).await {
            Ok(expired) => {
                for (tenant, id) in expired {
                    tracing::info!(tenant_id = %tenant, action_id = %id, "action expired before the agent started it");
                    events::publish_status(&shared, &tenant, &id).await;
                }
            }
            Err(error) => tracing::warn!(error = %error, "cannot expire actions; retrying"),
        }
        if sleep_or_cancelled(shared.config.sweep_interval, &stop).await {
            return;
        }
    }
}
