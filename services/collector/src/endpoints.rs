//! The collector's request/reply endpoints (group `vigil.collector`, queue
//! group `collector`, so with several collectors exactly one answers each
//! request): one line per endpoint, served by `vigil_runtime::endpoints`.

use std::sync::Arc;

use vigil_bus::subjects::collector;
use vigil_runtime::endpoints::EndpointTable;

use crate::{downsample, history, hosts, inventory, latest, metrics, Shared};

/// Every endpoint the collector answers, with its handler.
pub(crate) fn table() -> EndpointTable<Shared> {
    EndpointTable::new(collector::GROUP)
        .handle(collector::REGISTER_HOST, |s: Arc<Shared>, r| async move { hosts::register(&s, r).await })
        .handle(collector::LIST_HOSTS, |s: Arc<Shared>, r| async move { hosts::list(&s.pool, r).await })
        .handle(collector::GET_HOST, |s: Arc<Shared>, r| async move { hosts::get(&s.pool, r).await })
        // streamed: rows are encoded and sent as the requester pulls them
        .stream(collector::METRICS_RANGE, |s: Arc<Shared>, nats, r| async move {
            metrics::range(&s.pool, r, vigil_bus::rpc::chunk_limit(&nats)).await
        })
        .handle(collector::METRICS_LATEST, |s: Arc<Shared>, r| async move { metrics::latest(&s.pool, r).await })
        .handle(collector::METRICS_HOURLY, |s: Arc<Shared>, r| async move { downsample::hourly(&s.pool, r).await })
        .handle(collector::METRICS_DAILY, |s: Arc<Shared>, r| async move { downsample::daily(&s.pool, r).await })
        .handle(collector::METRICS_OVERVIEW, |s: Arc<Shared>, r| async move { history::overview(&s.pool, r).await })
        .handle(collector::METRICS_HISTORY, |s: Arc<Shared>, r| async move {
            history::history(&s.pool, &downsample::Retention::of(&s.config), r).await
        })
        .handle(collector::HOST_CONTAINERS, |s: Arc<Shared>, r| async move { inventory::host_containers(&s.pool, r).await })
        .handle(collector::LIST_CONTAINERS, |s: Arc<Shared>, r| async move { inventory::list_containers(&s.pool, r).await })
        .handle(collector::GET_CONTAINER, |s: Arc<Shared>, r| async move { inventory::get_container(&s.pool, r).await })
        .handle(collector::CONTAINER_RANGE, |s: Arc<Shared>, r| async move { inventory::container_range(&s.pool, r).await })
        .handle(collector::HOST_SERVICES, |s: Arc<Shared>, r| async move { inventory::host_services(&s.pool, r).await })
        .handle(collector::CUSTOM_RANGE, |s: Arc<Shared>, r| async move { inventory::custom_range(&s.pool, r).await })
        .handle(collector::CUSTOM_LATEST, |s: Arc<Shared>, r| async move { inventory::custom_latest(&s.pool, r).await })
        .handle(collector::HOSTS_LATEST, |s: Arc<Shared>, r| async move { latest::page(&s.pool, r).await })
}
