//! The alerter's request/reply endpoints (group `vigil.alerter`, queue group
//! `alerter`, so with several alerters exactly one answers each request):
//! one line per endpoint.

use std::sync::Arc;

use vigil_bus::subjects::alerter;
use vigil_runtime::endpoints::EndpointTable;

use crate::{api, preview, Shared};

pub(crate) fn table() -> EndpointTable<Shared> {
    EndpointTable::new(alerter::GROUP)
        .handle(alerter::LIST_RULES, |s: Arc<Shared>, r| async move { api::list_rules(&s, r).await })
        .handle(alerter::CREATE_RULE, |s: Arc<Shared>, r| async move { api::create_rule(&s, r).await })
        .handle(alerter::UPDATE_RULE, |s: Arc<Shared>, r| async move { api::update_rule(&s, r).await })
        .handle(alerter::DELETE_RULE, |s: Arc<Shared>, r| async move { api::delete_rule(&s, r).await })
        .handle(alerter::VALIDATE_RULE, |s: Arc<Shared>, r| async move { api::validate_rule(&s, r).await })
        .handle(alerter::PREVIEW_RULE, |s: Arc<Shared>, r| async move { preview::preview(&s, r).await })
        .handle(alerter::LIST_ALERTS, |s: Arc<Shared>, r| async move { api::list_alerts(&s, r).await })
        .handle(alerter::ALERT_HISTORY, |s: Arc<Shared>, r| async move { api::history(&s, r).await })
        .handle(alerter::ACKNOWLEDGE, |s: Arc<Shared>, r| async move { api::acknowledge(&s, r).await })
        .handle(alerter::LIST_CHANNELS, |s: Arc<Shared>, r| async move { api::list_channels(&s, r).await })
        .handle(alerter::PUT_CHANNELS, |s: Arc<Shared>, r| async move { api::put_channels(&s, r).await })
        .handle(alerter::TEST_CHANNEL, |s: Arc<Shared>, r| async move { api::test_channel(&s, r).await })
        .handle(alerter::NOTIFY, |s: Arc<Shared>, r| async move { api::notify(&s, r).await })
        .handle(alerter::LIST_SILENCES, |s: Arc<Shared>, r| async move { api::list_silences(&s, r).await })
        .handle(alerter::SAVE_SILENCE, |s: Arc<Shared>, r| async move { api::save_silence(&s, r).await })
        .handle(alerter::DELETE_SILENCE, |s: Arc<Shared>, r| async move { api::delete_silence(&s, r).await })
        .handle(alerter::LIST_MAINTENANCE, |s: Arc<Shared>, r| async move { api::list_maintenance(&s, r).await })
        .handle(alerter::SAVE_MAINTENANCE, |s: Arc<Shared>, r| async move { api::save_maintenance(&s, r).await })
        .handle(alerter::DELETE_MAINTENANCE, |s: Arc<Shared>, r| async move { api::delete_maintenance(&s, r).await })
}
