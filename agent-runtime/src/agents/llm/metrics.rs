//! Prometheus metrics of LLM calls, registered in a registry the caller owns.
//!
//! The runtime's registry carries the `tradeplane` prefix (see [`crate::metrics`]), so the
//! names here are unprefixed: `tradeplane_llm_calls_total` and so on once registered there.
//! Passing the registry in (no global default) keeps tests isolated from each other.
//! Labels are bounded by configuration: provider names and roles come from the config, and
//! outcomes from a fixed list.

use prometheus::{
    CounterVec, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
};

/// Outcomes of `llm_calls_total`: `ok`, `malformed`, `rate_limited`, `server_error`,
/// `timeout`, `transport_error`, `refused`, `bad_response`, `budget_exhausted`, `held`
/// (the gate would open only after the seat's deadline).
#[derive(Clone, Debug)]
pub struct LlmMetrics {
    /// Calls by provider, role and outcome (one per HTTP attempt, plus budget refusals).
    pub calls: IntCounterVec,
    /// Tokens billed, by provider, role and direction (`in` = prompt, `out` = completion).
    pub tokens: IntCounterVec,
    /// Dollars spent, by provider and role.
    pub cost_usd: CounterVec,
    /// Seconds per HTTP attempt, by provider and role.
    pub latency: HistogramVec,
    /// Dollars left in today's budget, by provider (absent for providers without a budget).
    pub budget_remaining_usd: GaugeVec,
    /// Dollars spent today, by provider, as the budget counts it (a pool: every replica).
    pub spent_today_usd: GaugeVec,
    /// The provider's daily budget in dollars (absent for providers without a budget).
    pub budget_usd: GaugeVec,
    /// Reports a seat made from its fallback, by role and fallback (`hold`, `quant:trend`, ...).
    pub fallbacks: IntCounterVec,
}

impl LlmMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self {
            calls: IntCounterVec::new(
                Opts::new(
                    "llm_calls_total",
                    "LLM calls by provider, role and outcome.",
                ),
                &["provider", "role", "outcome"],
            )?,
            tokens: IntCounterVec::new(
                Opts::new(
                    "llm_tokens_total",
                    "LLM tokens billed, by direction (in, out).",
                ),
                &["provider", "role", "direction"],
            )?,
            cost_usd: CounterVec::new(
                Opts::new("llm_cost_usd_total", "LLM spend in US dollars."),
                &["provider", "role"],
            )?,
            latency: HistogramVec::new(
                HistogramOpts::new("llm_call_duration_seconds", "Seconds per LLM HTTP call.")
                    .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0]),
                &["provider", "role"],
            )?,
            budget_remaining_usd: GaugeVec::new(
                Opts::new(
                    "llm_budget_remaining_usd",
                    "US dollars left in the provider's budget for the current UTC day.",
                ),
                &["provider"],
            )?,
            spent_today_usd: GaugeVec::new(
                Opts::new(
                    "llm_spent_today_usd",
                    "US dollars spent on the provider in the current UTC day (pool-wide in a worker).",
                ),
                &["provider"],
            )?,
            budget_usd: GaugeVec::new(
                Opts::new(
                    "llm_budget_usd",
                    "The provider's budget in US dollars per UTC day.",
                ),
                &["provider"],
            )?,
            fallbacks: IntCounterVec::new(
                Opts::new(
                    "llm_fallbacks_total",
                    "Reports an LLM seat made from its fallback instead of a model.",
                ),
                &["role", "fallback"],
            )?,
        };
        registry.register(Box::new(metrics.calls.clone()))?;
        registry.register(Box::new(metrics.tokens.clone()))?;
        registry.register(Box::new(metrics.cost_usd.clone()))?;
        registry.register(Box::new(metrics.latency.clone()))?;
        registry.register(Box::new(metrics.budget_remaining_usd.clone()))?;
        registry.register(Box::new(metrics.spent_today_usd.clone()))?;
        registry.register(Box::new(metrics.budget_usd.clone()))?;
        registry.register(Box::new(metrics.fallbacks.clone()))?;
        Ok(metrics)
    }
}
