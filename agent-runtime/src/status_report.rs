//! The leader's part of the strategy's status: last cycle, last decision, equity, P&L, open
//! positions and the trading state in force, as the contract's `RuntimeStatus`.
//!
//! Written by server-side apply on the status subresource under the runtime's own field
//! manager, so the operator's writes (under another manager) never remove these fields and
//! these never touch the operator's. At most once per cycle, and only when a value changed;
//! only the leader calls it. A failed write is logged and tried again after the next cycle:
//! the status is a view, the journal is the record.
//!
//! What a person acts on — the last decision, the open positions, the trading state — is
//! written in the cycle it changes. What changes in nearly every cycle — `lastCycleTime` at
//! one-second cycles, equity and P&L on a live feed — is refreshed at most every
//! [`STATUS_REFRESH`]: written each cycle, it alone would be one request per second per
//! strategy (a fleet of thousands would spend most of its API server on it). So `kubectl get`'s
//! Last Cycle column reads up to [`STATUS_REFRESH`] plus a cycle on a healthy strategy; a
//! stalled one ages past that. Liveness that alerts rely on comes from the runtime's metrics
//! (`tradeplane_last_completed_cycle_timestamp_seconds`), not from the status.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use tradeplane_contract::config::TradingState;
use tradeplane_contract::status::{DecisionSummary, RUNTIME_FIELD_MANAGER, RuntimeStatus};

use crate::cycle::CycleReport;
use crate::domain::Action;

/// How often, at most, a status whose only changes are `lastCycleTime`, equity and P&L is
/// written.
pub const STATUS_REFRESH: Duration = Duration::from_secs(30);

/// Writes one strategy's runtime status, and the Warning Events the runtime raises about it.
pub struct StatusReporter {
    api: Api<DynamicObject>,
    events: Api<Event>,
    namespace: String,
    name: String,
    /// What was last written, and when, so an unchanged status is not sent again and one
    /// that only ages is sent at most every [`STATUS_REFRESH`].
    last: Mutex<Option<(RuntimeStatus, Instant)>>,
    /// The last decision that was not a hold, kept across cycles that only hold.
    last_decision: Mutex<Option<DecisionSummary>>,
}

impl StatusReporter {
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            events: Api::namespaced(client.clone(), namespace),
            api: Api::namespaced_with(client, namespace, &strategy_resource()),
            namespace: namespace.to_string(),
            name: name.to_string(),
            last: Mutex::new(None),
            last_decision: Mutex::new(None),
        }
    }

    /// Reports a cycle; `baseline` is the equity P&L is measured from.
    pub async fn report(
        &self,
        report: &CycleReport,
        finished: DateTime<Utc>,
        baseline: f64,
        state: TradingState,
    ) {
        let decision = latest_decision(report, finished);
        let decision = {
            let mut kept = lock(&self.last_decision);
            if decision.is_some() {
                kept.clone_from(&decision);
            }
            kept.clone()
        };
        let status = runtime_status(report, finished, baseline, state, decision);
        let now = Instant::now();
        let due = {
            let last = lock(&self.last);
            let last = last.as_ref().map(|(s, at)| (s, now.duration_since(*at)));
            write_due(last, &status)
        };
        if !due {
            return;
        }
        let patch = serde_json::json!({
            "apiVersion": "tradeplane.io/v1alpha1",
            "kind": "TradingStrategy",
            "status": status,
        });
        // Forced: these fields are the runtime's by contract, whoever set them last.
        let params = PatchParams::apply(RUNTIME_FIELD_MANAGER).force();
        match self
            .api
            .patch_status(&self.name, &params, &Patch::Apply(&patch))
            .await
        {
            Ok(_) => *lock(&self.last) = Some((status, now)),
            Err(error) => {
                tracing::warn!(%error, "cannot write the runtime's status; trying again after the next cycle")
            }
        }
    }
}

impl StatusReporter {
    /// A Warning Event on the strategy for each journal position corrected to the broker's in
    /// this cycle: a difference the runtime could not account for (a trade made outside it, a
    /// fill the broker never reported on an order) is something a person should look at.
    pub async fn warn_corrections(&self, report: &CycleReport) {
        for correction in &report.corrections {
            let event = warning_event(
                &self.namespace,
                &self.name,
                "PositionCorrected",
                &format!("cycle {}: {correction}", report.cycle_id),
                Timestamp::now(),
            );
            if let Err(error) = self.events.create(&PostParams::default(), &event).await {
                tracing::warn!(%error, "cannot create the PositionCorrected Warning Event");
            }
        }
    }
}

/// An events.k8s.io Warning about the strategy `namespace/name`. Pure.
pub fn warning_event(
    namespace: &str,
    name: &str,
    reason: &str,
    note: &str,
    at: Timestamp,
) -> Event {
    let instance = std::env::var("HOSTNAME").unwrap_or_else(|_| "agent-runtime".into());
    Event {
        metadata: ObjectMeta {
            // The API server masks a trailing '-' when it checks a generated name; a '.' it
            // would refuse.
            generate_name: Some(format!("{name}-")),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(at)),
        type_: Some("Warning".into()),
        reason: Some(reason.into()),
        action: Some("Reconcile".into()),
        // The API server refuses a note longer than 1 kB.
        note: Some(note.chars().take(1000).collect()),
        reporting_controller: Some(EVENT_REPORTER.into()),
        reporting_instance: Some(instance),
        regarding: Some(ObjectReference {
            api_version: Some("tradeplane.io/v1alpha1".into()),
            kind: Some("TradingStrategy".into()),
            namespace: Some(namespace.to_string()),
            name: Some(name.to_string()),
            ..ObjectReference::default()
        }),
        ..Event::default()
    }
}

/// The `reportingController` of the runtime's Events.
pub const EVENT_REPORTER: &str = "tradeplane.io/agent-runtime";

/// The TradingStrategy kind, for a dynamic client: the runtime does not link the operator's
/// API types.
pub fn strategy_resource() -> ApiResource {
    ApiResource {
        group: "tradeplane.io".into(),
        version: "v1alpha1".into(),
        api_version: "tradeplane.io/v1alpha1".into(),
        kind: "TradingStrategy".into(),
        plural: "tradingstrategies".into(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether `next` is to be written, given the status last written and how long ago. Pure.
pub fn write_due(last: Option<(&RuntimeStatus, Duration)>, next: &RuntimeStatus) -> bool {
    let Some((last, age)) = last else {
        return true;
    };
    if last == next {
        return false;
    }
    let acted_on = last.last_decision != next.last_decision
        || last.open_positions != next.open_positions
        || last.trading_state != next.trading_state;
    acted_on || age >= STATUS_REFRESH
}

/// The status a cycle reports. Pure.
pub fn runtime_status(
    report: &CycleReport,
    finished: DateTime<Utc>,
    baseline: f64,
    state: TradingState,
    last_decision: Option<DecisionSummary>,
) -> RuntimeStatus {
    let equity = report.account.equity;
    let open = report
        .account
        .positions
        .iter()
        .filter(|p| p.quantity != 0.0)
        .count();
    RuntimeStatus {
        last_cycle_time: Some(finished.to_rfc3339_opts(SecondsFormat::Secs, true)),
        last_decision,
        equity: Some(format!("{equity:.2}")),
        profit_and_loss: Some(profit_and_loss(equity, baseline)),
        open_positions: Some(i32::try_from(open).unwrap_or(i32::MAX)),
        trading_state: Some(state),
    }
}

/// `+1520.40 (+1.52%)`; the percentage is left out when there is no baseline to divide by.
pub fn profit_and_loss(equity: f64, baseline: f64) -> String {
    let pnl = equity - baseline;
    if baseline > 0.0 {
        format!("{pnl:+.2} ({:+.2}%)", pnl / baseline * 100.0)
    } else {
        format!("{pnl:+.2}")
    }
}

/// The cycle's last decision that was not a hold, in one line.
fn latest_decision(report: &CycleReport, at: DateTime<Utc>) -> Option<DecisionSummary> {
    report
        .decisions
        .iter()
        .rev()
        .find(|d| d.action != Action::Hold)
        .map(|d| DecisionSummary {
            summary: format!(
                "{} {} to {} @ {:.2}",
                d.action.as_str().to_uppercase(),
                d.symbol,
                d.target_quantity,
                d.confidence
            ),
            time: at.to_rfc3339_opts(SecondsFormat::Secs, true),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle::ports::AccountState;
    use crate::domain::{Decision, Position};

    fn decision(symbol: &str, action: Action, target: f64, confidence: f64) -> Decision {
        Decision {
            symbol: symbol.into(),
            action,
            target_quantity: target,
            confidence,
            rationale: String::new(),
            reports: Vec::new(),
        }
    }

    fn report(decisions: Vec<Decision>, equity: f64, positions: Vec<Position>) -> CycleReport {
        CycleReport {
            cycle_id: "c".into(),
            decisions,
            orders_sent: 0,
            orders_filled: 0,
            rejections: 0,
            account: AccountState {
                cash: 0.0,
                equity,
                positions,
            },
            drawdown: 0.0,
            ..CycleReport::default()
        }
    }

    #[test]
    fn a_position_correction_is_a_warning_about_the_strategy() {
        let event = warning_event(
            "trading",
            "momo",
            "PositionCorrected",
            "cycle c: AAPL: journal had 42 units, broker has 40; journal corrected",
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(event.reason.as_deref(), Some("PositionCorrected"));
        assert_eq!(event.metadata.namespace.as_deref(), Some("trading"));
        assert_eq!(event.metadata.generate_name.as_deref(), Some("momo-"));
        let regarding = event.regarding.unwrap();
        assert_eq!(
            (regarding.kind.as_deref(), regarding.name.as_deref()),
            (Some("TradingStrategy"), Some("momo"))
        );
        assert_eq!(event.reporting_controller.as_deref(), Some(EVENT_REPORTER));
        assert!(event.note.unwrap().contains("broker has 40"));
        // The API server refuses longer notes.
        let long = warning_event("t", "m", "R", &"x".repeat(5000), Timestamp::UNIX_EPOCH);
        assert_eq!(long.note.unwrap().len(), 1000);
    }

    #[test]
    fn a_status_that_only_ages_is_written_at_most_every_refresh_period() {
        let at = |time: &str| {
            DateTime::parse_from_rfc3339(time)
                .unwrap()
                .with_timezone(&Utc)
        };
        let cycle = |equity: f64| report(vec![], equity, vec![]);
        let first = runtime_status(
            &cycle(100.0),
            at("2026-12-01T14:30:00Z"),
            100.0,
            TradingState::Active,
            None,
        );
        assert!(write_due(None, &first), "the first status is written");
        let second = Duration::from_secs(1);
        assert!(!write_due(Some((&first, second)), &first), "unchanged");
        // The next cycle: a new time and equity, nothing acted on.
        let aged = runtime_status(
            &cycle(101.0),
            at("2026-12-01T14:30:01Z"),
            100.0,
            TradingState::Active,
            None,
        );
        assert!(!write_due(Some((&first, second)), &aged));
        assert!(!write_due(Some((&first, STATUS_REFRESH - second)), &aged));
        assert!(write_due(Some((&first, STATUS_REFRESH)), &aged));
        // A decision, a position opened or closed, or a new trading state: at once.
        let decided = DecisionSummary {
            summary: "BUY AAPL to 3 @ 0.70".into(),
            time: "2026-12-01T14:30:01Z".into(),
        };
        let mut acted = aged.clone();
        acted.last_decision = Some(decided);
        assert!(write_due(Some((&first, second)), &acted));
        let mut acted = aged.clone();
        acted.open_positions = Some(1);
        assert!(write_due(Some((&first, second)), &acted));
        let mut acted = aged;
        acted.trading_state = Some(TradingState::Halted);
        assert!(write_due(Some((&first, second)), &acted));
    }

    #[test]
    fn profit_and_loss_has_a_sign_and_a_percentage() {
        assert_eq!(profit_and_loss(101_520.40, 100_000.0), "+1520.40 (+1.52%)");
        assert_eq!(profit_and_loss(99_000.0, 100_000.0), "-1000.00 (-1.00%)");
        assert_eq!(profit_and_loss(5.0, 0.0), "+5.00");
    }

    #[test]
    fn a_cycle_reports_equity_positions_and_its_last_trade_decision() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T14:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let position = |symbol: &str, quantity: f64| Position {
            symbol: symbol.into(),
            quantity,
            average_price: 1.0,
        };
        let cycle = report(
            vec![
                decision("AAPL", Action::Buy, 12.0, 0.72),
                decision("MSFT", Action::Hold, 0.0, 0.1),
            ],
            100_250.0,
            vec![position("AAPL", 12.0), position("MSFT", 0.0)],
        );
        let last = latest_decision(&cycle, at);
        let status = runtime_status(&cycle, at, 100_000.0, TradingState::Active, last);
        assert_eq!(
            status.last_cycle_time.as_deref(),
            Some("2026-12-01T14:30:00Z")
        );
        assert_eq!(status.equity.as_deref(), Some("100250.00"));
        assert_eq!(status.profit_and_loss.as_deref(), Some("+250.00 (+0.25%)"));
        assert_eq!(status.open_positions, Some(1));
        assert_eq!(
            status.last_decision.map(|d| d.summary).as_deref(),
            Some("BUY AAPL to 12 @ 0.72")
        );
        let holds = report(vec![decision("AAPL", Action::Hold, 12.0, 0.1)], 1.0, vec![]);
        assert_eq!(latest_decision(&holds, at), None);
    }
}
