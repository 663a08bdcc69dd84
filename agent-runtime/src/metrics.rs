//! Prometheus metrics of the runtime, served at `/metrics`.
//!
//! One registry per process (not the global default), so tests and benches can build as many
//! runtimes as they like without "duplicate metric" errors. Names are the contract with the
//! operator's PrometheusRule and the dashboards: change them only together.

use std::sync::{Arc, OnceLock};

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramTimer, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::Action;

/// The kill switches, as `kill_switch_tripped{switch}` names them (`risk::Trip::as_str`).
pub const KILL_SWITCHES: [&str; 2] = ["max_drawdown", "max_daily_loss"];

/// The broker calls `broker_errors_total{operation}` counts; all shown from the start, so a
/// `rate()` over them works before the first failure.
pub const BROKER_OPERATIONS: [&str; 5] = ["reconcile", "settle", "clock", "account", "submit"];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Whether cycles are timed into `cycle_duration` (see [`Metrics::unserved`]).
    times_cycles: bool,
    /// Cycles finished, by outcome (`ok`, `error`, `skipped`).
    pub cycles: IntCounterVec,
    /// Seconds one cycle took, all symbols.
    pub cycle_duration: Histogram,
    /// Decisions by action (`buy`, `sell`, `hold`).
    pub decisions: IntCounterVec,
    /// Orders by outcome (`filled`, `accepted`, `rejected`, `pending`, `error`, ...).
    pub orders: IntCounterVec,
    /// Fills journalled, by when they were learnt of: `placement` (in the broker's answer to
    /// the order) or `follow_up` (a later look at an order still open).
    pub fills: IntCounterVec,
    /// Differences between the journal's positions and the broker's, corrected to the
    /// broker's, by symbol. Each one is also journalled and reported as a Warning Event.
    pub position_corrections: IntCounterVec,
    /// Risk refusals and clips by reason (`halted`, `order_notional`, ...).
    pub risk_rejections: IntCounterVec,
    /// Account equity in US dollars (both brokers account in dollars).
    pub equity: Gauge,
    pub cash: Gauge,
    /// Drawdown from the equity peak, 0–1.
    pub drawdown: Gauge,
    /// Equity minus the first equity seen this UTC day (the max-daily-loss kill switch's
    /// figure), in US dollars; negative is a loss.
    pub daily_pnl: Gauge,
    /// 1 while a kill switch (`max_drawdown`, `max_daily_loss`) holds trading halted.
    pub kill_switch: IntGaugeVec,
    /// 1 when the broker answered the last call, 0 when it failed.
    pub broker_up: IntGauge,
    /// Broker calls that failed, by operation (`reconcile`, `clock`, `account`, `submit`).
    pub broker_errors: IntCounterVec,
    /// 1 while this process holds the leader lease.
    pub leader: IntGauge,
    /// 1 for the role this process plays now (`leader` or `standby`), 0 for the other.
    pub role: IntGaugeVec,
    /// 0 Active, 1 Reducing, 2 Halted.
    pub trading_state: IntGauge,
    /// Unix time of the slot of the last completed cycle (the scheduled time; a replay's bar).
    pub last_cycle_timestamp: Gauge,
    /// Market data fetches that failed, by kind.
    pub market_data_errors: IntCounterVec,
    /// The labelled series every cycle touches, looked up once.
    pub hot: Hot,
}

/// Series of the vectors above that every cycle updates, resolved once: a label lookup
/// hashes the labels and takes a lock, several times per cycle, which a backtest of a
/// million bars pays a million times. The same series, so `/metrics` shows the same.
#[derive(Clone)]
pub struct Hot {
    cycles_ok: IntCounter,
    cycles_error: IntCounter,
    /// `decisions_total` by action, resolved at its first use so a series appears only
    /// once a decision of that action was made, as before.
    decisions: Arc<[OnceLock<IntCounter>; 3]>,
    decisions_vec: IntCounterVec,
    pub fills_placement: IntCounter,
    pub fills_follow_up: IntCounter,
    /// `kill_switch_tripped`, in [`KILL_SWITCHES`] order.
    pub kill_switches: [IntGauge; 2],
}

impl Hot {
    fn new(
        cycles: &IntCounterVec,
        decisions: &IntCounterVec,
        fills: &IntCounterVec,
        kill_switch: &IntGaugeVec,
    ) -> Self {
        Self {
            cycles_ok: cycles.with_label_values(&["ok"]),
            cycles_error: cycles.with_label_values(&["error"]),
            decisions: Arc::new(Default::default()),
            decisions_vec: decisions.clone(),
            fills_placement: fills.with_label_values(&["placement"]),
            fills_follow_up: fills.with_label_values(&["follow_up"]),
            kill_switches: KILL_SWITCHES.map(|s| kill_switch.with_label_values(&[s])),
        }
    }

    /// `cycles_total{outcome="ok"}` or `{outcome="error"}`.
    pub fn cycle(&self, ok: bool) -> &IntCounter {
        if ok {
            &self.cycles_ok
        } else {
            &self.cycles_error
        }
    }

    /// `decisions_total{action}`.
    pub fn decision(&self, action: Action) -> &IntCounter {
        let index = match action {
            Action::Buy => 0,
            Action::Sell => 1,
            Action::Hold => 2,
        };
        self.decisions[index]
            .get_or_init(|| self.decisions_vec.with_label_values(&[action.as_str()]))
    }
}

impl Metrics {
    /// Registers every metric, each with its name and help next to it. Long on purpose: it is
    /// a table (one entry per metric, read top to bottom against `docs/metrics.md`), and
    /// splitting it would only scatter the names.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("tradeplane".into()), None)?;
        let counter_vec =
            |name: &str, help: &str, label: &str| -> Result<IntCounterVec, prometheus::Error> {
                let metric = IntCounterVec::new(Opts::new(name, help), &[label])?;
                registry.register(Box::new(metric.clone()))?;
                Ok(metric)
            };
        let gauge = |name: &str, help: &str| -> Result<Gauge, prometheus::Error> {
            let metric = Gauge::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let int_gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let metric = IntGauge::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let cycle_duration = Histogram::with_opts(
            HistogramOpts::new(
                "cycle_duration_seconds",
                "Duration of one cycle over all symbols",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0,
            ]),
        )?;
        registry.register(Box::new(cycle_duration.clone()))?;
        let cycles = counter_vec("cycles_total", "Cycles finished, by outcome", "outcome")?;
        let decisions = counter_vec("decisions_total", "Decisions, by action", "action")?;
        let fills = counter_vec(
            "fills_total",
            "Fills journalled, by when they were learnt of",
            "learnt",
        )?;
        let kill_switch = {
            let metric = IntGaugeVec::new(
                Opts::new(
                    "kill_switch_tripped",
                    "1 while the kill switch (max_drawdown, max_daily_loss) holds trading halted",
                ),
                &["switch"],
            )?;
            registry.register(Box::new(metric.clone()))?;
            for switch in KILL_SWITCHES {
                metric.with_label_values(&[switch]).set(0);
            }
            metric
        };
        let hot = Hot::new(&cycles, &decisions, &fills, &kill_switch);
        let metrics = Self {
            cycles,
            cycle_duration,
            decisions,
            orders: counter_vec("orders_total", "Orders, by outcome", "outcome")?,
            fills,
            position_corrections: counter_vec(
                "position_corrections_total",
                "Journal positions corrected to the broker's, by symbol",
                "symbol",
            )?,
            risk_rejections: counter_vec(
                "risk_rejections_total",
                "Orders refused or clipped by risk, by reason",
                "reason",
            )?,
            equity: gauge("equity_usd", "Account equity in US dollars")?,
            cash: gauge("cash_usd", "Account cash in US dollars")?,
            drawdown: gauge("drawdown_ratio", "Drawdown from the equity peak (0-1)")?,
            daily_pnl: gauge(
                "daily_pnl_usd",
                "Equity minus the first equity seen this UTC day, in US dollars",
            )?,
            kill_switch,
            broker_up: int_gauge("broker_up", "1 when the broker answered the last call")?,
            broker_errors: {
                let metric = counter_vec(
                    "broker_errors_total",
                    "Broker calls that failed, by operation",
                    "operation",
                )?;
                for operation in BROKER_OPERATIONS {
                    metric.with_label_values(&[operation]);
                }
                metric
            },
            leader: int_gauge("leader", "1 while this process is the leader")?,
            role: {
                let metric = IntGaugeVec::new(
                    Opts::new(
                        "role",
                        "1 for the role this process plays now: leader or standby",
                    ),
                    &["role"],
                )?;
                registry.register(Box::new(metric.clone()))?;
                metric
            },
            trading_state: int_gauge("trading_state", "0 Active, 1 Reducing, 2 Halted")?,
            last_cycle_timestamp: gauge(
                "last_completed_cycle_timestamp_seconds",
                "Unix time of the slot of the last completed cycle",
            )?,
            market_data_errors: counter_vec(
                "market_data_errors_total",
                "Failed market data fetches, by kind",
                "kind",
            )?,
            registry,
            times_cycles: true,
            hot,
        };
        // Shown at zero from the start, so rules on a ratio or a rate() have both sides.
        for outcome in ["ok", "error"] {
            metrics.cycles.with_label_values(&[outcome]);
        }
        for outcome in ["filled", "rejected"] {
            metrics.orders.with_label_values(&[outcome]);
        }
        for learnt in ["placement", "follow_up"] {
            metrics.fills.with_label_values(&[learnt]);
        }
        for reason in crate::domain::risk::RejectReason::ALL {
            metrics
                .risk_rejections
                .with_label_values(&[reason.as_str()]);
        }
        for kind in crate::market::MarketDataError::KINDS {
            metrics.market_data_errors.with_label_values(&[kind]);
        }
        Ok(metrics)
    }

    /// These metrics for a registry nobody scrapes — a backtest's, whose figures come from
    /// its equity curve and fills. Every metric is kept as live but the cycle duration: the
    /// one that reads the clock, twice a cycle, which is about a twelfth of a backtest bar's
    /// time on a virtual machine's clock, for a histogram nobody would see.
    pub fn unserved(mut self) -> Self {
        self.times_cycles = false;
        self
    }

    /// A timer for one cycle, to observe into `cycle_duration` when it ends; `None` for
    /// [`unserved`](Self::unserved) metrics.
    pub fn cycle_timer(&self) -> Option<HistogramTimer> {
        self.times_cycles.then(|| self.cycle_duration.start_timer())
    }

    /// Text exposition format for `/metrics`.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(%err, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records whether the broker answered a call of `operation`.
    pub fn broker_answered(&self, operation: &str, ok: bool) {
        self.broker_up.set(i64::from(ok));
        if !ok {
            self.broker_errors.with_label_values(&[operation]).inc();
        }
    }

    /// A counter that starts at zero but is visible, so alerts on `rate()` work from the start.
    pub fn touch(counter: &IntCounterVec, labels: &[&str]) -> IntCounter {
        counter.with_label_values(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    /// Served metrics time every cycle; unserved ones time none and keep the rest.
    #[test]
    fn only_served_metrics_time_cycles() -> Result<(), prometheus::Error> {
        let served = Metrics::new()?;
        if let Some(timer) = served.cycle_timer() {
            timer.observe_duration();
        }
        assert_eq!(served.cycle_duration.get_sample_count(), 1);

        let unserved = Metrics::new()?.unserved();
        assert!(unserved.cycle_timer().is_none());
        assert_eq!(unserved.cycle_duration.get_sample_count(), 0);
        unserved.hot.cycle(true).inc();
        assert!(
            unserved
                .render()
                .contains("tradeplane_cycles_total{outcome=\"ok\"} 1")
        );
        Ok(())
    }
}
