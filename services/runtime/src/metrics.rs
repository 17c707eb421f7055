//! The process-wide registry of the services' own operational metrics
//! (snapshots ingested, consumer lag, notifications sent, request
//! latencies...), kept with the `prometheus-client` crate and served at the
//! gateway's `GET /metrics` (and at `metrics.listen` when set, for a process
//! that runs no gateway).
//!
//! Invariants:
//! - one registry per process: in `vigil up` every service runs in one
//!   process, so one scrape shows them all;
//! - a service registers its metrics once per process, at its first build
//!   ([`registered`]): a service rebuilt by the supervisor keeps counting in
//!   the same series instead of registering a second copy;
//! - every name starts with `vigil_` and holds no tenant data (no tenant,
//!   host or user in any label), so `/metrics` can be served without a
//!   tenant's credential;
//! - the text is the crate's: OpenMetrics when the scraper asks for it
//!   (Prometheus does), else the classic Prometheus text format that
//!   `promtool check metrics` and older scrapers read ([`classic_text`]).

use std::sync::{Mutex, OnceLock};

use prometheus_client::registry::Registry;

pub use prometheus_client;

/// Content type of the OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Registry::with_prefix("vigil")))
}

/// The metrics of `cell`, created and registered by `init` the first time
/// (names get the `vigil_` prefix), the same ones ever after.
pub fn registered<T>(cell: &'static OnceLock<T>, init: impl FnOnce(&mut Registry) -> T) -> &'static T {
    cell.get_or_init(|| {
        let mut registry = registry().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        init(&mut registry)
    })
}

/// True when an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.contains("application/openmetrics-text"))
}

/// The registry's text: OpenMetrics, or the classic format; with its content type.
pub fn encode(openmetrics: bool) -> (String, &'static str) {
    let mut text = String::new();
    {
        let registry = registry().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry) {
            tracing::error!(error = %error, "cannot encode the metrics registry");
        }
    }
    if openmetrics {
        (text, OPENMETRICS_CONTENT_TYPE)
    } else {
        (classic_text(&text), TEXT_CONTENT_TYPE)
    }
}

/// OpenMetrics text as the classic Prometheus format (0.0.4): a counter
/// family `x` whose samples are `x_total` is described as `x_total` (the
/// classic format names a family by its samples), `# UNIT` and `# EOF` are
/// dropped. Samples are unchanged.
pub fn classic_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut counters = std::collections::HashSet::new();
    // first the counter families, whose TYPE line may follow their HELP line
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name.to_owned());
            }
        }
    }
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let described = line
            .strip_prefix("# HELP ")
            .map(|rest| ("# HELP ", rest))
            .or_else(|| line.strip_prefix("# TYPE ").map(|rest| ("# TYPE ", rest)));
        if let Some((kind, rest)) = described {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if counters.contains(name) && !name.ends_with("_total") {
                out.push_str(kind);
                out.push_str(name);
                out.push_str("_total ");
                out.push_str(tail);
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Labels of a durable consumer's series: the service and the consumer.
pub type ConsumerLabels = [(&'static str, String); 2];

/// What every [`crate::batch::BatchLoop`] counts, by service and consumer
/// (the collector's are its snapshots, batches and dead letters).
pub struct ConsumerMetrics {
    pub stored: prometheus_client::metrics::family::Family<ConsumerLabels, prometheus_client::metrics::counter::Counter>,
    pub batches: prometheus_client::metrics::family::Family<ConsumerLabels, prometheus_client::metrics::counter::Counter>,
    pub dead_lettered: prometheus_client::metrics::family::Family<ConsumerLabels, prometheus_client::metrics::counter::Counter>,
    pub pending: prometheus_client::metrics::family::Family<ConsumerLabels, prometheus_client::metrics::gauge::Gauge>,
    pub ack_pending: prometheus_client::metrics::family::Family<ConsumerLabels, prometheus_client::metrics::gauge::Gauge>,
}

/// The consumers' metrics, registered at the first batch loop.
pub fn consumers() -> &'static ConsumerMetrics {
    static CELL: OnceLock<ConsumerMetrics> = OnceLock::new();
    registered(&CELL, |registry| {
        let metrics = ConsumerMetrics {
            stored: Default::default(),
            batches: Default::default(),
            dead_lettered: Default::default(),
            pending: Default::default(),
            ack_pending: Default::default(),
        };
        registry.register(
            "consumer_messages_stored",
            "Messages stored and acked after their transaction committed",
            metrics.stored.clone(),
        );
        registry.register("consumer_batches", "Transactions committed", metrics.batches.clone());
        registry.register(
            "consumer_dead_lettered",
            "Messages refused for good and kept on deadletter.<subject>",
            metrics.dead_lettered.clone(),
        );
        registry.register(
            "consumer_pending_messages",
            "Messages of the stream not yet delivered to the consumer (its lag), read from the consumer info every 5 s",
            metrics.pending.clone(),
        );
        registry.register(
            "consumer_ack_pending_messages",
            "Messages delivered to the consumer and not yet acked, read from the consumer info every 5 s",
            metrics.ack_pending.clone(),
        );
        metrics
    })
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;

    use super::*;

    #[test]
    fn classic_text_names_counter_families_by_their_samples_and_drops_unit_and_eof() {
        let openmetrics = "# HELP vigil_x_snapshots snapshots.\n# TYPE vigil_x_snapshots counter\nvigil_x_snapshots_total 3\n\
            # HELP vigil_x_latency_seconds latency.\n# TYPE vigil_x_latency_seconds gauge\n# UNIT vigil_x_latency_seconds seconds\n\
            vigil_x_latency_seconds 0.5\n# EOF\n";
        assert_eq!(
            classic_text(openmetrics),
            "# HELP vigil_x_snapshots_total snapshots.\n# TYPE vigil_x_snapshots_total counter\nvigil_x_snapshots_total 3\n\
             # HELP vigil_x_latency_seconds latency.\n# TYPE vigil_x_latency_seconds gauge\nvigil_x_latency_seconds 0.5\n"
        );
    }

    #[test]
    fn metrics_are_registered_once_and_encoded_in_both_formats() {
        struct Test {
            counted: Counter,
            gauge: Gauge,
        }
        static CELL: OnceLock<Test> = OnceLock::new();
        let init = |registry: &mut Registry| {
            let test = Test { counted: Counter::default(), gauge: Gauge::default() };
            registry.register("runtime_test_events", "events of the test", test.counted.clone());
            registry.register("runtime_test_level", "level of the test", test.gauge.clone());
            test
        };
        registered(&CELL, init).counted.inc();
        registered(&CELL, init).counted.inc();
        registered(&CELL, init).gauge.set(7);
        let (openmetrics, content_type) = encode(true);
        assert_eq!(content_type, OPENMETRICS_CONTENT_TYPE);
        assert_eq!(openmetrics.matches("# TYPE vigil_runtime_test_events counter").count(), 1, "{openmetrics}");
        assert!(openmetrics.contains("vigil_runtime_test_events_total 2\n"), "{openmetrics}");
        assert!(openmetrics.ends_with("# EOF\n"));
        let (classic, content_type) = encode(false);
        assert_eq!(content_type, TEXT_CONTENT_TYPE);
        assert!(classic.contains("# TYPE vigil_runtime_test_events_total counter\n"), "{classic}");
        assert!(classic.contains("vigil_runtime_test_level 7\n"), "{classic}");
        assert!(!classic.contains("# EOF"));
    }

    #[test]
    fn openmetrics_is_asked_for_by_the_accept_header() {
        assert!(wants_openmetrics(Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(None));
    }
}
