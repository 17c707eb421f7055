//! Host names for messages (`{{host.name}}`): snapshots carry ids only, the
//! collector owns `hosts`. Asked once per host and kept for
//! [`NAME_TTL`] (a renamed host shows its new name after that); when the
//! collector does not answer, the host id stands in and is asked again
//! next time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use vigil_bus::messages::GetHost;
use vigil_bus::subjects::collector;

/// How long a host name is kept.
pub const NAME_TTL: Duration = Duration::from_secs(600);
/// Names asked of the collector at once.
const CONCURRENT: usize = 32;

pub struct HostNames {
    nats: async_nats::Client,
    cache: Mutex<HashMap<String, (String, Instant)>>,
}

impl HostNames {
    pub fn new(nats: async_nats::Client) -> HostNames {
        HostNames { nats, cache: Mutex::new(HashMap::new()) }
    }

    /// The name of each `(tenant, host)`, keyed by host id.
    pub async fn names(&self, hosts: &[(&str, &str)]) -> HashMap<String, String> {
        let mut names = HashMap::with_capacity(hosts.len());
        let mut missing = Vec::new();
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for (tenant, host) in hosts {
                match cache.get(*host) {
                    Some((name, at)) if at.elapsed() < NAME_TTL => {
                        names.insert((*host).to_owned(), name.clone());
                    }
                    _ => missing.push(((*tenant).to_owned(), (*host).to_owned())),
                }
            }
        }
        let asked: Vec<(String, Option<String>)> = futures::stream::iter(missing)
            .map(|(tenant, host)| async move {
                let request = GetHost { tenant_id: tenant, host_id: host.clone() };
                let answer = tokio::time::timeout(Duration::from_secs(2), vigil_bus::rpc::request(&self.nats, collector::GET_HOST, &request)).await;
                match answer {
                    Ok(Ok(record)) => (host, Some(record.name)),
                    Ok(Err(error)) => {
                        tracing::warn!(host = %host, error = %error, "cannot read the host's name from the collector; using its id");
                        (host, None)
                    }
                    Err(_) => {
                        tracing::warn!(host = %host, "the collector did not tell the host's name within 2s; using its id");
                        (host, None)
                    }
                }
            })
            .buffer_unordered(CONCURRENT)
            .collect()
            .await;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        for (host, name) in asked {
            match name {
                Some(name) => {
                    cache.insert(host.clone(), (name.clone(), Instant::now()));
                    names.insert(host, name);
                }
                None => {
                    names.insert(host.clone(), host);
                }
            }
        }
        names
    }
}
