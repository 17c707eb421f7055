//! Every subject name on the bus. Callers pass ids that went through
//! [`crate::ids::validate`]; the builders check it again in debug builds.

use crate::messages::HostEventKind;

/// All metrics snapshots: `metrics.<tenant>.<host>`.
pub const METRICS_ALL: &str = "metrics.>";
/// All host lifecycle events: `hosts.<tenant>.<host>.<event>`.
pub const HOSTS_ALL: &str = "hosts.>";

fn checked<'a>(kind: &'static str, id: &'a str) -> &'a str {
    debug_assert!(crate::ids::validate(kind, id).is_ok(), "unvalidated {kind} id {id:?} in a subject");
    id
}

/// Subject of one agent snapshot.
pub fn metrics(tenant_id: &str, host_id: &str) -> String {
    format!("metrics.{}.{}", checked("tenant", tenant_id), checked("host", host_id))
}

/// Every snapshot of one tenant (what a tenant's integrators subscribe to).
pub fn metrics_of_tenant(tenant_id: &str) -> String {
    format!("metrics.{}.>", checked("tenant", tenant_id))
}

/// `(tenant, host)` of a metrics subject, or `None` if it is not one.
pub fn parse_metrics(subject: &str) -> Option<(&str, &str)> {
    let mut tokens = subject.split('.');
    match (tokens.next(), tokens.next(), tokens.next(), tokens.next()) {
        (Some("metrics"), Some(tenant), Some(host), None) => Some((tenant, host)),
        _ => None,
    }
}

/// Every dead letter: `deadletter.<original subject>`.
pub const DEAD_LETTER_ALL: &str = "deadletter.>";

/// Where a message that can never be stored is kept, with why: its original
/// subject under `deadletter.` (`metrics.acme.h1` → `deadletter.metrics.acme.h1`),
/// so a tenant's dead letters stay under its own tokens.
pub fn dead_letter(original_subject: &str) -> String {
    format!("deadletter.{original_subject}")
}

/// Subject of a host lifecycle event.
pub fn host_event(tenant_id: &str, host_id: &str, event: HostEventKind) -> String {
    format!("hosts.{}.{}.{}", checked("tenant", tenant_id), checked("host", host_id), event.as_str())
}

/// NATS service discovery: every instance of service `name` answers a request
/// here (`$SRV.PING.<name>`), which is how `vigil` health-checks services.
pub fn service_ping(name: &str) -> String {
    format!("$SRV.PING.{name}")
}

/// A request/reply endpoint of a service, served with the async-nats
/// `service` API (discoverable through `$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Group the endpoint is added to, e.g. `vigil.collector`.
    pub group: &'static str,
    /// Endpoint name inside the group, e.g. `hosts.list`.
    pub name: &'static str,
}

impl Endpoint {
    /// Full subject a client sends its request to.
    pub fn subject(&self) -> String {
        format!("{}.{}", self.group, self.name)
    }
}

/// The collector's endpoints: it owns `hosts` and the `metrics_*` tables.
pub mod collector {
    use super::Endpoint;

    pub const SERVICE_NAME: &str = "collector";
    pub const GROUP: &str = "vigil.collector";
    /// Queue group shared by every collector instance.
    pub const QUEUE_GROUP: &str = "collector";

    /// `RegisterHost` → `HostRecord`.
    pub const REGISTER_HOST: Endpoint = Endpoint { group: GROUP, name: "hosts.register" };
    /// `ListHosts` → `Vec<HostRecord>`.
    pub const LIST_HOSTS: Endpoint = Endpoint { group: GROUP, name: "hosts.list" };
    /// `GetHost` → `HostRecord`.
    pub const GET_HOST: Endpoint = Endpoint { group: GROUP, name: "hosts.get" };
    /// `MetricsRange` → `Vec<MetricsPoint>`.
    pub const METRICS_RANGE: Endpoint = Endpoint { group: GROUP, name: "metrics.range" };
    /// `MetricsLatest` → `Option<MetricsPoint>`.
    pub const METRICS_LATEST: Endpoint = Endpoint { group: GROUP, name: "metrics.latest" };
    /// `HourlyRange` → `Vec<HourlyPoint>`.
    pub const METRICS_HOURLY: Endpoint = Endpoint { group: GROUP, name: "metrics.hourly" };

    /// `HostContainers` → `Vec<ContainerRecord>`: the host's latest snapshot.
    pub const HOST_CONTAINERS: Endpoint = Endpoint { group: GROUP, name: "containers.host" };
    /// `ListContainers` → `Vec<ContainerRecord>`: every host's latest snapshot.
    pub const LIST_CONTAINERS: Endpoint = Endpoint { group: GROUP, name: "containers.list" };
    /// `GetContainer` → `ContainerRecord`.
    pub const GET_CONTAINER: Endpoint = Endpoint { group: GROUP, name: "containers.get" };
    /// `ContainerRange` → `Vec<ContainerPoint>`.
    pub const CONTAINER_RANGE: Endpoint = Endpoint { group: GROUP, name: "containers.range" };
    /// `HostServices` → `Vec<ServiceRecord>`: the host's latest snapshot.
    pub const HOST_SERVICES: Endpoint = Endpoint { group: GROUP, name: "services.host" };
    /// `CustomRange` → `Vec<CustomPoint>`.
    pub const CUSTOM_RANGE: Endpoint = Endpoint { group: GROUP, name: "custom.range" };
    /// `CustomLatest` → `Vec<CustomPoint>`: the newest point of each name.
    pub const CUSTOM_LATEST: Endpoint = Endpoint { group: GROUP, name: "custom.latest" };

    pub const ALL: [Endpoint; 13] = [
        REGISTER_HOST,
        LIST_HOSTS,
        GET_HOST,
        METRICS_RANGE,
        METRICS_LATEST,
        METRICS_HOURLY,
        HOST_CONTAINERS,
        LIST_CONTAINERS,
        GET_CONTAINER,
        CONTAINER_RANGE,
        HOST_SERVICES,
        CUSTOM_RANGE,
        CUSTOM_LATEST,
    ];
}

/// Name the gateway registers under with the `service` API (health checks).
pub mod gateway {
    pub const SERVICE_NAME: &str = "gateway";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_subject_round_trips() {
        let subject = metrics("acme", "host-1");
        assert_eq!(subject, "metrics.acme.host-1");
        assert_eq!(parse_metrics(&subject), Some(("acme", "host-1")));
        assert_eq!(parse_metrics("metrics.acme"), None);
        assert_eq!(parse_metrics("metrics.a.b.c"), None);
        assert_eq!(parse_metrics("hosts.a.b"), None);
    }

    #[test]
    fn dead_letter_keeps_the_original_subject() {
        assert_eq!(dead_letter("metrics.acme.h1"), "deadletter.metrics.acme.h1");
    }

    #[test]
    fn endpoint_subjects_are_distinct() {
        let subjects: std::collections::HashSet<String> = collector::ALL.iter().map(Endpoint::subject).collect();
        assert_eq!(subjects.len(), collector::ALL.len());
        assert_eq!(collector::LIST_HOSTS.subject(), "vigil.collector.hosts.list");
    }
}
