//! A strategy's alerts and the scrape of its runtime pods, from `spec.alerting`: pure, so the
//! unit tests below and `promtool` (the `alert-rules` bin writes these rule files) check
//! them without a cluster.
//!
//! The expressions read the runtime's series as `docs/metrics.md` lists them. Values that
//! several replicas report are taken from the leader (`tradeplane_leader == 1`) or combined
//! with `max`, so a hot standby's idle gauges neither raise nor hide an alert. Alerts that
//! cannot mean anything for this spec are not rendered: no cycle or leader alerts for cron
//! schedules (their pods are short-lived), no spend alert without a budget, no backup alert
//! without a running schedule.

use chrono::{DateTime, TimeZone, Utc};
use tradeplane_contract::cron::parse_cron;

use crate::api::alerting::{AlertingSpec, Severity};
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::meta::{Component, selector_labels};
use crate::controllers::resources::ChildMeta;
use crate::controllers::resources::monitoring::{self, Defaults, Monitoring, Owner, Rule, metrics};
use crate::controllers::trading_strategy::names::STRATEGY_LABEL;

/// The default interval between cycles (`schedule.intervalSeconds`).
const DEFAULT_INTERVAL_SECONDS: u64 = 60;

/// Whether the strategy asks for alerts.
pub fn enabled(strategy: &TradingStrategy) -> bool {
    strategy
        .spec
        .alerting
        .as_ref()
        .is_some_and(|a| a.common.enabled == Some(true))
}

/// The names of the PrometheusRule and the PodMonitor.
pub fn names(strategy: &str) -> (String, String) {
    monitoring::names(strategy)
}

/// The PrometheusRule and PodMonitor, or `None` when alerting is off.
pub fn render(strategy: &TradingStrategy) -> Option<Monitoring> {
    let alerting = strategy
        .spec
        .alerting
        .as_ref()
        .filter(|_| enabled(strategy))?;
    let meta = ChildMeta::new(strategy, STRATEGY_LABEL);
    let namespace = strategy.metadata.namespace.as_deref().unwrap_or_default();
    let owner = Owner {
        namespace,
        label: "strategy",
        name: meta.owner(),
        common: &alerting.common,
    };
    let rules = rules(strategy, alerting, &owner);
    let selector = {
        let mut labels = selector_labels(STRATEGY_LABEL, meta.owner(), Component::Trader);
        // Cycle pods too, while they run; the trader's component label would exclude them.
        labels.remove("app.kubernetes.io/component");
        labels
    };
    Some(monitoring::assemble(
        &meta,
        &owner,
        Component::Trader,
        &selector,
        &rules,
    ))
}

/// Every alert the spec asks for, in a fixed order.
///
/// Long on purpose: a table of rules, one entry per alert, each beside the condition under
/// which it is rendered; split up, a reader would lose the order the rule file has.
pub fn rules(strategy: &TradingStrategy, alerting: &AlertingSpec, owner: &Owner<'_>) -> Vec<Rule> {
    use metrics::*;
    let spec = &strategy.spec;
    let by = owner.by();
    let series = |metric: &str, extra: &str| owner.series(metric, extra);
    // The leader's copy of a per-pod series.
    let leader_only = |metric: &str| {
        format!(
            "({} and on (namespace, pod) ({} == 1))",
            series(metric, ""),
            series(LEADER, "")
        )
    };
    let cron = spec.schedule.as_ref().and_then(|s| s.cron.as_deref());
    let interval = spec
        .schedule
        .as_ref()
        .and_then(|s| s.interval_seconds)
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(DEFAULT_INTERVAL_SECONDS);
    let mut rules = Vec::new();
    let mut push = |rule: Option<Rule>| rules.extend(rule);

    push(owner.rule(
        "TradingStrategyDrawdown",
        alerting.drawdown.as_ref(),
        defaults(5.0, "1m", Severity::Warning),
        "equity is further below its peak than allowed (percent)",
        |t| format!("max by ({by}) ({}) * 100 > {t}", series(DRAWDOWN, "")),
    ));
    push(owner.rule(
        "TradingStrategyDailyLoss",
        alerting.daily_loss.as_ref(),
        defaults(3.0, "1m", Severity::Critical),
        "today's loss is larger than allowed (percent of the day's starting equity)",
        |t| {
            // The day started at equity minus today's P&L.
            let (pnl, equity) = (leader_only(DAILY_PNL), leader_only(EQUITY));
            format!("max by ({by}) (-100 * {pnl} / ({equity} - {pnl})) > {t}")
        },
    ));
    push(owner.rule(
        "TradingStrategyOrderRejections",
        alerting.order_rejections.as_ref(),
        defaults(20.0, "5m", Severity::Warning),
        "too many orders are rejected (percent over 15 minutes)",
        |t| {
            format!(
                "sum by ({by}) (rate({}[15m])) / sum by ({by}) (rate({}[15m])) * 100 > {t}",
                series(ORDERS, "outcome=\"rejected\""),
                series(ORDERS, "outcome!=\"not_leader\""),
            )
        },
    ));
    if cron.is_none() {
        // Completed or skipped (market closed): either way the runtime is cycling. A window of
        // at least two minutes holds several scrapes; a runtime that never completed one
        // fires too, once its counter has been scraped for the whole window.
        push(owner.rule(
            "TradingStrategyNoCycle",
            alerting.no_cycle.as_ref(),
            defaults(3.0, "0s", Severity::Critical),
            "no cycle completed for longer than allowed",
            |t| {
                let window = (t.max(1.0) as u64).saturating_mul(interval).max(120);
                let cycles = series(CYCLES, "outcome=~\"ok|skipped\"");
                // `offset`: only once the strategy has been scraped for the whole window.
                format!(
                    "sum by ({by}) (increase({cycles}[{window}s])) == 0 and on ({by}) sum by ({by}) ({cycles} offset {window}s)"
                )
            },
        ));
    }
    push(owner.rule(
        "TradingStrategyBrokerUnreachable",
        alerting.broker_unreachable.as_ref(),
        defaults(0.0, "2m", Severity::Critical),
        "the runtime cannot reach its broker",
        |_| format!("min by ({by}) ({}) == 0", leader_only(BROKER_UP)),
    ));
    push(owner.rule(
        "TradingStrategyLLMErrors",
        alerting.llm_errors.as_ref(),
        defaults(10.0, "10m", Severity::Warning),
        "too many LLM calls fail (percent over 10 minutes)",
        |t| {
            let calls = format!("outcome!~\"{LLM_NOT_CALLED}\"");
            let failed = format!("outcome!~\"ok|{LLM_NOT_CALLED}\"");
            format!(
                "sum by ({by}) (rate({}[10m])) / sum by ({by}) (rate({}[10m])) * 100 > {t}",
                series(LLM_CALLS, &failed),
                series(LLM_CALLS, &calls),
            )
        },
    ));
    if let Some(budget) = spec.llm_daily_budget_usd.filter(|b| *b > 0.0) {
        push(owner.rule(
            "TradingStrategyLLMSpend",
            alerting.llm_spend.as_ref(),
            defaults(80.0, "0s", Severity::Warning),
            "today's LLM spend is close to the daily budget (US dollars)",
            |t| {
                format!(
                    "sum by ({by}) (max by ({by}, provider) ({})) >= {}",
                    series(LLM_SPENT_TODAY, ""),
                    round(budget * t / 100.0)
                )
            },
        ));
    }
    push(owner.rule(
        "TradingStrategyKillSwitch",
        alerting.kill_switch.as_ref(),
        defaults(0.0, "0s", Severity::Critical),
        "a kill switch (max_drawdown or max_daily_loss) halted trading",
        |_| format!("max by ({by}, switch) ({}) == 1", leader_only(KILL_SWITCH)),
    ));
    if cron.is_none() {
        push(owner.rule(
            "TradingStrategyNoLeader",
            alerting.no_leader.as_ref(),
            defaults(0.0, "1m", Severity::Critical),
            "no runtime replica holds the leader Lease, so nothing trades",
            |_| {
                format!(
                    "sum by ({by}) ({}) < 1 or absent({})",
                    series(LEADER, ""),
                    series(LEADER, "")
                )
            },
        ));
    }
    if let Some(gap) = backup_gap_seconds(strategy) {
        let settings = alerting.backup_too_old.as_ref();
        push(owner.rule(
            "TradingStrategyBackupTooOld",
            settings,
            defaults(1.0, "10m", Severity::Warning),
            "the last successful backup is older than the schedule allows (seconds)",
            |t| {
                let last = format!(
                    "{LAST_BACKUP}{{strategy_namespace=\"{}\",strategy=\"{}\"}}",
                    owner.namespace, owner.name
                );
                format!(
                    "time() - max by (strategy_namespace, strategy) ({last}) > {}",
                    gap.saturating_mul(t.max(1.0) as u64 + 1)
                )
            },
        ));
    }
    rules
}

fn defaults(threshold: f64, for_: &'static str, severity: Severity) -> Defaults {
    Defaults {
        threshold,
        for_,
        severity,
    }
}

/// Dollars to the cent, so a budget of 10 at 80 % reads `8`, not `8.000000000000002`.
fn round(dollars: f64) -> f64 {
    (dollars * 100.0).round() / 100.0
}

/// The longest time between two scheduled backups, in seconds (plus an hour for daylight
/// saving shifts), when backups run on a schedule. Computed from a fixed start over two years
/// of occurrences so the rendering stays a pure function of the spec.
pub fn backup_gap_seconds(strategy: &TradingStrategy) -> Option<u64> {
    let backup = strategy.spec.backup.as_ref()?;
    if backup.suspend == Some(true) {
        return None;
    }
    let schedule = parse_cron(backup.schedule.as_deref()?).ok()?;
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single()?;
    let end = start + chrono::Duration::days(800);
    let mut previous: Option<DateTime<Utc>> = None;
    let mut longest = 0i64;
    for at in schedule.after(&start).take(100_000) {
        if at > end {
            break;
        }
        if let Some(previous) = previous {
            longest = longest.max((at - previous).num_seconds());
        }
        previous = Some(at);
    }
    u64::try_from(longest)
        .ok()
        .filter(|s| *s > 0)
        .map(|s| s + 3600)
}

#[cfg(test)]
#[path = "alerts_tests.rs"]
mod tests;
