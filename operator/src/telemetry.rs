//! The operator's Prometheus metrics. One registry, served at `/metrics`.

use std::time::Instant;

use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    reconciles: ReconcileSeries,
    traffic: ApiTraffic,
    leader: IntGauge,
    last_backup: GaugeVec,
    shadow_agreement: GaugeVec,
}

/// How the reconcile loops run, per kind: reconciles started, failed, timed, running now,
/// and changes waiting for one.
struct ReconcileSeries {
    started: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGaugeVec,
    queue_depth: IntGaugeVec,
}

/// What the operator sends to the Kubernetes API: the children and statuses it writes, and
/// every request.
struct ApiTraffic {
    writes: IntCounterVec,
    requests: IntCounterVec,
}

/// Registers `metric` and hands it back, to be kept for updating.
fn registered<M>(registry: &Registry, metric: M) -> Result<M, prometheus::Error>
where
    M: Collector + Clone + 'static,
{
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl ReconcileSeries {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let started = IntCounterVec::new(
            Opts::new(
                "tradeplane_operator_reconciles_total",
                "Reconciles started, per kind.",
            ),
            &["kind"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "tradeplane_operator_reconcile_errors_total",
                "Reconciles that ended in a transient error and were requeued, per kind and failed step (ResolveFailed, RenderFailed, ApplyFailed, StatusWriteFailed, NoNamespace, BrokerUnreachable).",
            ),
            &["kind", "error"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "tradeplane_operator_reconcile_duration_seconds",
                "Time a reconcile took, per kind.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["kind"],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "tradeplane_operator_reconciles_in_flight",
                "Reconciles running now, per kind (at most the --concurrency flag).",
            ),
            &["kind"],
        )?;
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "tradeplane_operator_queue_depth",
                "Objects with a change no reconcile has picked up yet, per kind.",
            ),
            &["kind"],
        )?;
        Ok(Self {
            started: registered(registry, started)?,
            errors: registered(registry, errors)?,
            duration: registered(registry, duration)?,
            in_flight: registered(registry, in_flight)?,
            queue_depth: registered(registry, queue_depth)?,
        })
    }
}

impl ApiTraffic {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let writes = IntCounterVec::new(
            Opts::new(
                "tradeplane_operator_child_writes_total",
                "Children created or updated (server-side apply) and statuses written, per kind of owner.",
            ),
            &["kind", "what"],
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "tradeplane_operator_api_requests_total",
                "Requests this process sent to the Kubernetes API, per HTTP method (GET is a read or a watch; POST, PUT, PATCH, DELETE are writes).",
            ),
            &["method"],
        )?;
        Ok(Self {
            writes: registered(registry, writes)?,
            requests: registered(registry, requests)?,
        })
    }
}

impl Metrics {
    /// Registers every metric `docs/metrics.md` lists for the operator. Fails only on a
    /// programming error (a duplicate name), which start-up reports.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let reconciles = ReconcileSeries::register(&registry)?;
        let traffic = ApiTraffic::register(&registry)?;
        let leader = IntGauge::new(
            "tradeplane_operator_leader",
            "1 while this replica holds the leader Lease and reconciles, else 0.",
        )?;
        // Backups run in short-lived pods Prometheus rarely sees; the operator reads their
        // record from the strategy's status. Not `namespace`: scraping sets that to the
        // operator's own.
        let last_backup = GaugeVec::new(
            Opts::new(
                "tradeplane_operator_last_backup_timestamp_seconds",
                "Unix time of a strategy's last successful backup (its status.lastBackup), per strategy_namespace and strategy.",
            ),
            &["strategy_namespace", "strategy"],
        )?;
        let shadow_agreement = GaugeVec::new(
            Opts::new(
                "tradeplane_operator_shadow_agreement_ratio",
                "Fraction of compared cycles in which a strategy's shadow decided as its live pods (its status.rollout.agreement), per strategy_namespace and strategy; no series without a shadow analysis.",
            ),
            &["strategy_namespace", "strategy"],
        )?;
        Ok(Self {
            leader: registered(&registry, leader)?,
            last_backup: registered(&registry, last_backup)?,
            shadow_agreement: registered(&registry, shadow_agreement)?,
            registry,
            reconciles,
            traffic,
        })
    }

    /// Counts a reconcile of `kind` and times it until the guard is dropped.
    pub fn reconcile_started(&self, kind: &str) -> ReconcileTimer<'_> {
        self.reconciles.started.with_label_values(&[kind]).inc();
        self.reconciles.in_flight.with_label_values(&[kind]).inc();
        ReconcileTimer {
            metrics: self,
            kind: kind.to_string(),
            started: Instant::now(),
        }
    }

    pub fn set_queue_depth(&self, kind: &str, depth: usize) {
        self.reconciles
            .queue_depth
            .with_label_values(&[kind])
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Counts a reconcile of `kind` that failed transiently; `error` is the failed step's
    /// stable reason (`Error::reason`).
    pub fn reconcile_error(&self, kind: &str, error: &str) {
        self.reconciles
            .errors
            .with_label_values(&[kind, error])
            .inc();
    }

    /// Counts one write: `what` is `child` or `status`.
    pub fn write(&self, kind: &str, what: &str) {
        self.traffic.writes.with_label_values(&[kind, what]).inc();
    }

    /// Counts one request to the Kubernetes API (called from the client's middleware).
    pub fn api_request(&self, method: &str) {
        self.traffic.requests.with_label_values(&[method]).inc();
    }

    /// Records the last successful backup of a strategy (`None`: forget the strategy).
    pub fn set_last_backup(&self, namespace: &str, strategy: &str, at: Option<f64>) {
        match at {
            Some(at) => self
                .last_backup
                .with_label_values(&[namespace, strategy])
                .set(at),
            None => {
                let _ = self.last_backup.remove_label_values(&[namespace, strategy]);
            }
        }
    }

    /// Records the agreement of a strategy's shadow analysis (`None`: no analysis).
    pub fn set_shadow_agreement(&self, namespace: &str, strategy: &str, agreement: Option<f64>) {
        match agreement {
            Some(agreement) => self
                .shadow_agreement
                .with_label_values(&[namespace, strategy])
                .set(agreement),
            None => {
                let _ = self
                    .shadow_agreement
                    .remove_label_values(&[namespace, strategy]);
            }
        }
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(%error, "could not encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// Ends a reconcile's timing when dropped, whichever way the reconcile returns.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    kind: String,
    started: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .reconciles
            .duration
            .with_label_values(&[&self.kind])
            .observe(self.started.elapsed().as_secs_f64());
        self.metrics
            .reconciles
            .in_flight
            .with_label_values(&[&self.kind])
            .dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconcile_is_counted_timed_and_leaves_the_in_flight_gauge_at_zero() {
        let metrics = Metrics::new().unwrap();
        {
            let _timer = metrics.reconcile_started("TradingStrategy");
            assert!(
                metrics.render().contains(
                    "tradeplane_operator_reconciles_in_flight{kind=\"TradingStrategy\"} 1"
                )
            );
        }
        metrics.write("TradingStrategy", "status");
        let text = metrics.render();
        assert!(
            text.contains("tradeplane_operator_reconciles_total{kind=\"TradingStrategy\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tradeplane_operator_reconciles_in_flight{kind=\"TradingStrategy\"} 0")
        );
        assert!(text.contains(
            "tradeplane_operator_reconcile_duration_seconds_count{kind=\"TradingStrategy\"} 1"
        ));
        assert!(text.contains(
            "tradeplane_operator_child_writes_total{kind=\"TradingStrategy\",what=\"status\"} 1"
        ));
    }
}
