//! The `status` screen: everything a user looks at first, in at most 80 columns, sections in
//! the order of the questions (is it running, is it making money, what did it decide, what
//! did it trade, what does it cost, is it backed up, what is wrong).

use chrono::{DateTime, Utc};
use serde::Serialize;
use tradeplane_api::TradingStrategy;
use tradeplane_api::trading_strategy::TradingState;
use tradeplane_contract::journal_api::{
    CycleDetail, FillView, LlmSpendView, OrderView, StrategySummary,
};

use super::{Style, WIDTH, age, first_line, fit_all, money, quantity, when, wrap};

/// Everything `status` gathered; what `-o json|yaml` prints.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub strategy: TradingStrategy,
    pub replicas: Vec<ReplicaView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseView>,
    pub runtime: RuntimeSection,
    pub warnings: Vec<WarningView>,
    /// Parts that could not be read (a permission missing, say), each with the reason.
    pub unavailable: Vec<String>,
}

/// One runtime pod.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaView {
    pub pod: String,
    pub leader: bool,
    pub ready: bool,
    pub restarts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquired_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transitions: Option<i32>,
}

/// What the runtime's journal API answered, or why it could not be asked.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RuntimeSection {
    Answered(Box<RuntimeView>),
    Unavailable(String),
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeView {
    pub summary: StrategySummary,
    /// The last cycles in full, newest first.
    pub cycles: Vec<CycleDetail>,
    pub orders: Vec<OrderView>,
    pub fills: Vec<FillView>,
    pub llm_spend: Vec<LlmSpendView>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WarningView {
    pub reason: String,
    pub message: String,
    pub count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
}

/// The screen, each line at most 80 columns.
pub fn render(view: &StatusView, now: DateTime<Utc>, style: Style) -> String {
    let mut lines = Vec::new();
    overview(view, now, style, &mut lines);
    replicas(view, now, style, &mut lines);
    match &view.runtime {
        RuntimeSection::Answered(runtime) => journal(runtime, now, style, &mut lines),
        RuntimeSection::Unavailable(reason) => {
            lines.push(String::new());
            // Wrapped, never cut: the reason says what to do.
            lines.push(style.warn("Journal unavailable:"));
            lines.extend(
                wrap(reason, WIDTH - 2, "  ")
                    .into_iter()
                    .map(|l| format!("  {l}")),
            );
        }
    }
    backups(view, now, &mut lines);
    problems(view, now, style, &mut lines);
    fit_all(&lines)
}

fn overview(view: &StatusView, now: DateTime<Utc>, style: Style, lines: &mut Vec<String>) {
    let strategy = &view.strategy;
    let status = strategy.status.clone().unwrap_or_default();
    let name = format!(
        "{}/{}",
        strategy.metadata.namespace.as_deref().unwrap_or("?"),
        strategy.metadata.name.as_deref().unwrap_or("?")
    );
    let phase = status.phase.as_deref().unwrap_or("Unknown");
    let phase = match phase {
        "Trading" => style.good(phase),
        "Failed" | "Degraded" | "Halted" => style.bad(phase),
        _ => style.warn(phase),
    };
    lines.push(format!(
        "{}  {name}   phase {phase}   mode {}",
        style.bold("Strategy"),
        status.mode.as_deref().unwrap_or("?")
    ));
    let state = status
        .trading_state
        .map(|s| format!("{s:?}"))
        .unwrap_or_else(|| "?".into());
    let suspended = if strategy.spec.suspend == Some(true) {
        " (suspended)"
    } else {
        ""
    };
    let asked = strategy.spec.trading_state.unwrap_or_default();
    let stricter = match status.trading_state {
        Some(in_force) if in_force != asked && asked != TradingState::Halted => {
            format!(" (spec says {asked:?})")
        }
        _ => String::new(),
    };
    lines.push(format!(
        "Trading   {state}{suspended}{stricter}   replicas {}/{} ready",
        status.ready_replicas.unwrap_or(0),
        status.desired_replicas.unwrap_or(0)
    ));
    let lease = match &view.lease {
        Some(LeaseView {
            renewed_at: Some(renewed),
            ..
        }) => format!("   lease renewed {} ago", age(now, *renewed)),
        _ => String::new(),
    };
    lines.push(format!(
        "Leader    {}{lease}",
        status.leader.as_deref().unwrap_or("none")
    ));
    let revision = match (&status.current_revision, &status.desired_revision) {
        (Some(current), Some(desired)) if current != desired => {
            format!("{current} → {} (rolling or pending)", style.warn(desired))
        }
        (Some(current), _) => current.clone(),
        (None, Some(desired)) => format!("none yet → {desired}"),
        (None, None) => "none yet".into(),
    };
    lines.push(format!("Revision  {revision}"));
}

fn replicas(view: &StatusView, now: DateTime<Utc>, style: Style, lines: &mut Vec<String>) {
    if view.replicas.is_empty() {
        return;
    }
    lines.push(String::new());
    lines.push(style.bold("Replicas"));
    for pod in &view.replicas {
        let role = if pod.leader { "leader " } else { "standby" };
        let ready = if pod.ready {
            style.good("Ready   ")
        } else {
            style.bad("NotReady")
        };
        let started = pod
            .started_at
            .map(|t| age(now, t))
            .unwrap_or_else(|| "-".into());
        lines.push(format!(
            "  {:<40} {role} {ready} restarts {:<3} age {started}",
            pod.pod, pod.restarts
        ));
    }
}

fn journal(runtime: &RuntimeView, now: DateTime<Utc>, style: Style, lines: &mut Vec<String>) {
    let summary = &runtime.summary;
    lines.push(String::new());
    let figure = |v: Option<f64>| v.map(money).unwrap_or_else(|| "-".into());
    let pnl = match summary.profit_and_loss {
        Some(p) if p < 0.0 => style.bad(&money(p)),
        Some(p) => style.good(&format!("+{}", money(p))),
        None => "-".into(),
    };
    let drawdown = summary
        .drawdown
        .map(|d| format!("{:.2}%", d * 100.0))
        .unwrap_or_else(|| "-".into());
    lines.push(format!(
        "{}    equity {}  cash {}  P&L {pnl}  drawdown {drawdown}",
        style.bold("Account"),
        figure(summary.equity),
        figure(summary.cash)
    ));
    let positions: Vec<String> = summary
        .positions
        .iter()
        .filter(|p| p.quantity != 0.0)
        .map(|p| {
            format!(
                "{} {} @ {}",
                p.symbol,
                quantity(p.quantity),
                money(p.average_price)
            )
        })
        .collect();
    lines.push(format!(
        "Positions  {}",
        if positions.is_empty() {
            "none".to_string()
        } else {
            positions.join(" · ")
        }
    ));

    lines.push(String::new());
    lines.push(style.bold("Decisions"));
    if runtime.cycles.is_empty() {
        lines.push("  no cycle yet".into());
    }
    for detail in &runtime.cycles {
        let cycle = &detail.cycle;
        lines.push(format!(
            "  {} {} {}",
            cycle.id,
            cycle.status,
            cycle.summary.as_deref().unwrap_or("")
        ));
        for decision in &detail.decisions {
            let limits = if decision.risk.limits.is_empty() {
                String::new()
            } else {
                format!(" [{}]", decision.risk.limits.join(","))
            };
            lines.push(format!(
                "    {} {} {} conf {:.2}  risk {}{limits}",
                decision.symbol,
                decision.action.to_uppercase(),
                quantity(decision.target_quantity),
                decision.confidence,
                decision.risk.outcome
            ));
            for report in decision.analysts.iter().chain(decision.debate.iter()) {
                lines.push(format!(
                    "      {:<12} {:<8} {:.2} {}",
                    report.role,
                    report.signal,
                    report.confidence,
                    first_line(&report.rationale)
                ));
            }
        }
    }

    lines.push(String::new());
    lines.push(style.bold("Orders"));
    if runtime.orders.is_empty() {
        lines.push("  none".into());
    }
    for order in &runtime.orders {
        lines.push(format!(
            "  {:<16} {:<6} {:<4} {:>10} @ {:>10}  {}",
            when(now, order.created_at),
            order.symbol,
            order.side,
            quantity(order.quantity),
            money(order.reference_price),
            order.status
        ));
    }
    lines.push(style.bold("Fills"));
    if runtime.fills.is_empty() {
        lines.push("  none".into());
    }
    for fill in &runtime.fills {
        lines.push(format!(
            "  {:<16} {:<6} {:<4} {:>10} @ {:>10}  fee {}",
            when(now, fill.filled_at),
            fill.symbol,
            fill.side,
            quantity(fill.quantity),
            money(fill.price),
            money(fill.commission)
        ));
    }
    lines.push(String::new());
    let spend: Vec<String> = runtime
        .llm_spend
        .iter()
        .map(|s| {
            format!(
                "{} {} {} calls ${:.2}",
                s.day, s.provider, s.calls, s.cost_usd
            )
        })
        .collect();
    lines.push(format!(
        "{}  {}",
        style.bold("LLM spend"),
        if spend.is_empty() {
            "none".to_string()
        } else {
            spend.join(" · ")
        }
    ));
}

fn backups(view: &StatusView, now: DateTime<Utc>, lines: &mut Vec<String>) {
    let status = view.strategy.status.clone().unwrap_or_default();
    if view.strategy.spec.backup.is_none() && status.last_backup.is_none() {
        lines.push("Backups    not configured".into());
        return;
    }
    let last = match &status.last_backup {
        Some(backup) => {
            let at = crate::cluster::utc(&backup.completion_time)
                .map(|t| format!(" ({} ago)", age(now, t)))
                .unwrap_or_default();
            format!("last {}{at}", backup.name)
        }
        None => "none yet".into(),
    };
    let next = status
        .next_schedule_time
        .as_ref()
        .and_then(crate::cluster::utc)
        .map(|t| format!("   next in {}", age(t, now)))
        .unwrap_or_else(|| "   no schedule".into());
    lines.push(format!("Backups    {last}{next}"));
    if let Some(failure) = &status.last_backup_failure {
        let at = crate::cluster::utc(&failure.time)
            .map(|t| format!("{} ago", age(now, t)))
            .unwrap_or_default();
        lines.push(format!(
            "  failed {at} ({}): {}",
            failure.job,
            first_line(&failure.message)
        ));
    }
}

/// Conditions in a state that needs attention: `Stalled`/`Reconciling`/`UpgradePending`
/// when True, the others when False or Unknown.
/// Whether a condition is worth a line: most say something good when True; these say
/// something is going on (or wrong) when True, and are fine when False.
fn not_fine(type_: &str, status: &str) -> bool {
    match type_ {
        "Stalled" | "Reconciling" | "UpgradePending" | "FailingOver" => status == "True",
        _ => status != "True",
    }
}

fn problems(view: &StatusView, now: DateTime<Utc>, style: Style, lines: &mut Vec<String>) {
    let status = view.strategy.status.clone().unwrap_or_default();
    let conditions: Vec<_> = status
        .conditions
        .iter()
        .filter(|c| not_fine(&c.type_, &c.status))
        .collect();
    if !conditions.is_empty() {
        lines.push(String::new());
        lines.push(style.bold("Conditions not fine"));
        for condition in conditions {
            lines.push(format!(
                "  {}={} {}: {}",
                condition.type_,
                style.bad(&condition.status),
                condition.reason,
                first_line(&condition.message)
            ));
        }
    }
    if !view.warnings.is_empty() {
        lines.push(String::new());
        lines.push(style.bold("Warning events"));
        for warning in view.warnings.iter().take(5) {
            let seen = warning
                .last_seen
                .map(|t| format!("{} ago", age(now, t)))
                .unwrap_or_default();
            lines.push(format!(
                "  {}x {} {seen}: {}",
                warning.count,
                style.warn(&warning.reason),
                first_line(&warning.message)
            ));
        }
    }
    for note in &view.unavailable {
        let text = format!("Not shown: {note}");
        lines.extend(wrap(&text, WIDTH, "  "));
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub mod tests_fixtures;
