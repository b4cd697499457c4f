//! Every metric the service exports, in one place, named `nic_ledger_<what>_<unit>[_total]` after
//! the Prometheus conventions, with bounded label values (routes are the route table's templates,
//! event types the catalog's, projections the read models' six checkpoint names). `/metrics`
//! renders them in the Prometheus text format. The HTTP edge counts requests and live clients; the
//! command runner counts appends.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Latency buckets, in seconds: from a cached read to a slow rebuild page.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_request_duration: HistogramVec,
    pub events_appended: IntCounterVec,
    pub append_duration: HistogramVec,
    pub projection_lag: IntGaugeVec,
    pub live_clients: IntGauge,
    pub store_errors: IntCounterVec,
    pub read_held_back: Gauge,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "nic_ledger_http_requests_total",
                "HTTP requests answered, by route template, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_request_duration = HistogramVec::new(
            HistogramOpts::new(
                "nic_ledger_http_request_duration_seconds",
                "Time to answer an HTTP request, by route template and method.",
            )
            .buckets(LATENCY_BUCKETS_SECONDS.to_vec()),
            &["route", "method"],
        )
        .expect("valid metric");
        let events_appended = IntCounterVec::new(
            Opts::new(
                "nic_ledger_events_appended_total",
                "Events appended to the log, by event type.",
            ),
            &["event_type"],
        )
        .expect("valid metric");
        let append_duration = HistogramVec::new(
            HistogramOpts::new(
                "nic_ledger_append_duration_seconds",
                "Time of one append to the store, by outcome.",
            )
            .buckets(LATENCY_BUCKETS_SECONDS.to_vec()),
            &["outcome"],
        )
        .expect("valid metric");
        let projection_lag = IntGaugeVec::new(
            Opts::new(
                "nic_ledger_projection_lag_events",
                "Events the projection has yet to apply: head position minus its checkpoint.",
            ),
            &["projection"],
        )
        .expect("valid metric");
        let live_clients = IntGauge::new(
            "nic_ledger_live_clients",
            "Clients connected to a live (server-sent events) stream.",
        )
        .expect("valid metric");
        let store_errors = IntCounterVec::new(
            Opts::new(
                "nic_ledger_store_errors_total",
                "Store operations that failed (not refusals: the database did not answer).",
            ),
            &["operation"],
        )
        .expect("valid metric");
        let read_held_back = Gauge::new(
            "nic_ledger_store_read_held_back_seconds",
            "How long committed events have waited for an earlier append of this store still in \
             flight before readers may see them (PostgreSQL). A few milliseconds is normal.",
        )
        .expect("valid metric");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_request_duration.clone()),
            Box::new(events_appended.clone()),
            Box::new(append_duration.clone()),
            Box::new(projection_lag.clone()),
            Box::new(live_clients.clone()),
            Box::new(store_errors.clone()),
            Box::new(read_held_back.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self {
            registry,
            http_requests,
            http_request_duration,
            events_appended,
            append_duration,
            projection_lag,
            live_clients,
            store_errors,
            read_held_back,
        }
    }

    /// The Prometheus text format of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding does not fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// Counts an append's events by type and times it by outcome.
pub fn record_append(
    outcome: &Result<nic_store::AppendOutcome, nic_store::StoreError>,
    events: &[nic_events::NicEvent],
    took: std::time::Duration,
) {
    let m = metrics();
    let label = match outcome {
        Ok(o) if o.duplicate => "duplicate",
        Ok(_) => "appended",
        Err(nic_store::StoreError::WrongExpectedVersion { .. }) => "conflict",
        Err(_) => "error",
    };
    m.append_duration
        .with_label_values(&[label])
        .observe(took.as_secs_f64());
    if label == "appended" {
        for e in events {
            m.events_appended.with_label_values(&[e.event_type()]).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_renders_with_its_conventional_name() {
        let m = metrics();
        m.events_appended
            .with_label_values(&["PdsaCyclePlanned"])
            .inc();
        m.http_requests
            .with_label_values(&["/api/v1/networks", "GET", "200"])
            .inc();
        m.projection_lag.with_label_values(&["timeline"]).set(3);
        let text = m.render();
        for name in [
            "nic_ledger_events_appended_total{event_type=\"PdsaCyclePlanned\"} ",
            "nic_ledger_http_requests_total{",
            "nic_ledger_projection_lag_events{projection=\"timeline\"} 3",
            "# TYPE nic_ledger_live_clients gauge",
        ] {
            assert!(text.contains(name), "{name} in:\n{text}");
        }
    }
}
