//! The orchestrator's request/reply endpoints (group `vigil.orchestrator`,
//! queue group `orchestrator`): one line per endpoint.

use std::sync::Arc;

use vigil_bus::subjects::orchestrator;
use vigil_runtime::endpoints::EndpointTable;

use crate::{api, Shared};

pub(crate) fn table() -> EndpointTable<Shared> {
    EndpointTable::new(orchestrator::GROUP)
        .handle(orchestrator::LIST, |s: Arc<Shared>, r| async move { api::list(&s, r).await })
        .handle(orchestrator::GET, |s: Arc<Shared>, r| async move { api::get(&s, r).await })
        .handle(orchestrator::SAVE, |s: Arc<Shared>, r| async move { api::save(&s, r).await })
        .handle(orchestrator::DELETE, |s: Arc<Shared>, r| async move { api::delete(&s, r).await })
        .handle(orchestrator::RUN, |s: Arc<Shared>, r| async move { api::run(&s, r).await })
        .handle(orchestrator::LIST_RUNS, |s: Arc<Shared>, r| async move { api::list_runs(&s, r).await })
        .handle(orchestrator::GET_RUN, |s: Arc<Shared>, r| async move { api::get_run(&s, r).await })
        .handle(orchestrator::GET_SETTINGS, |s: Arc<Shared>, r| async move { api::get_settings(&s, r).await })
        .handle(orchestrator::PUT_SETTINGS, |s: Arc<Shared>, r| async move { api::put_settings(&s, r).await })
}
