//! `rules.preview`: which instances a condition holds for now, on each of
//! the tenant's hosts' latest data as the collector has it (its owner).
//! Network rates need two snapshots and are unknown here, so a condition on
//! them previews nothing; offline hosts are evaluated with
//! `host.status == 'offline'` and their last data.

use std::time::Duration;

use futures::StreamExt;
use vigil_bus::messages::{
    CheckRule, ContainerMetrics, CustomMetric, GetHost, HostStatus, ListHosts, PreviewMatch, RulePreview, ServiceMetrics,
};
use vigil_bus::subjects::collector;
use vigil_bus::ServiceError;

use crate::condition::{self, Facts, HostFacts, Scope};
use crate::rules;
use crate::Shared;

/// Most hosts one preview evaluates.
pub const MAX_HOSTS: usize = 500;
/// Hosts read from the collector at once.
const CONCURRENT: usize = 16;

pub(crate) async fn preview(shared: &Shared, request: CheckRule) -> Result<RulePreview, ServiceError> {
    vigil_bus::validate("tenant", &request.tenant_id)
        .map_err(|error| ServiceError::new(vigil_bus::ErrorCode::BadRequest, error.to_string()))?;
    let checked = rules::check(&request.condition, request.clear.as_ref(), None)?;
    let condition = checked.condition;
    let scope = condition.scope();
    let hosts =
        vigil_bus::rpc::request(&shared.nats, collector::LIST_HOSTS, &ListHosts { tenant_id: request.tenant_id.clone() }).await?;
    let evaluated = hosts.len().min(MAX_HOSTS);
    let wants_custom = request.condition.contains("custom");
    let per_host: Vec<Result<Vec<PreviewMatch>, ServiceError>> = futures::stream::iter(hosts.into_iter().take(MAX_HOSTS))
        .map(|host| {
            let condition = &condition;
            async move {
                let get = GetHost { tenant_id: host.tenant_id.clone(), host_id: host.id.clone() };
                let nats = &shared.nats;
                let latest = within(vigil_bus::rpc::request(nats, collector::METRICS_LATEST, &get)).await?;
                let Some(point) = latest else { return Ok(Vec::new()) };
                let containers: Vec<ContainerMetrics> = if scope == Scope::Container {
                    within(vigil_bus::rpc::request(nats, collector::HOST_CONTAINERS, &get))
                        .await?
                        .into_iter()
                        .map(|record| record.metrics)
                        .collect()
                } else {
                    Vec::new()
                };
                let services: Vec<ServiceMetrics> = if scope == Scope::Service {
                    within(vigil_bus::rpc::request(nats, collector::HOST_SERVICES, &get))
                        .await?
                        .into_iter()
                        .map(|record| record.metrics)
                        .collect()
                } else {
                    Vec::new()
                };
                let custom: Vec<CustomMetric> = if wants_custom {
                    within(vigil_bus::rpc::request(nats, collector::CUSTOM_LATEST, &get))
                        .await?
                        .into_iter()
                        .map(|p| CustomMetric { name: p.name, kind: p.kind, value: p.value, error: p.error })
                        .collect()
                } else {
                    Vec::new()
                };
                let online = host.status != HostStatus::Offline;
                let mut matches = Vec::new();
                for item in condition::items(scope, &point.host, &containers, &services) {
                    let label = item.label().map(str::to_owned);
                    let facts = Facts {
                        host: HostFacts {
                            id: &host.id,
                            name: &host.name,
                            online,
                            metrics: Some(&point.host),
                            rx_rate: None,
                            tx_rate: None,
                            custom: &custom,
                        },
                        item,
                    };
                    if condition.evaluate(&facts) == Some(true) {
                        matches.push(PreviewMatch {
                            host_id: host.id.clone(),
                            host_name: host.name.clone(),
                            label,
                            value: condition.value(&facts).map(|value| value.to_string()),
                            timestamp: Some(point.timestamp),
                        });
                    }
                }
                Ok(matches)
            }
        })
        .buffer_unordered(CONCURRENT)
        .collect()
        .await;
    let mut matches = Vec::new();
    for result in per_host {
        matches.extend(result?);
    }
    matches.sort_by(|a, b| (&a.host_name, &a.label).cmp(&(&b.host_name, &b.label)));
    Ok(RulePreview { scope: rules::scope_name(scope).to_owned(), hosts_evaluated: evaluated as u32, matches })
}

/// A collector answer within 5 s.
async fn within<T>(request: impl std::future::Future<Output = Result<T, ServiceError>>) -> Result<T, ServiceError> {
    tokio::time::timeout(Duration::from_secs(5), request).await.map_err(|_| {
        ServiceError::new(vigil_bus::ErrorCode::Unavailable, "the collector did not answer within 5s; retry later")
    })?
}
