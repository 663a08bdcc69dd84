//! `suspend`, `resume`, `restart`, `switchover`: each writes one field of the spec the API
//! already has (a JSON merge patch, as the user), then waits until the operator says in the
//! status that it has handled it. Success is reported only then: a patch the API server took
//! is not yet an action done.
//!
//! What "handled" means is per action: suspend — the status describes the new generation and
//! its phase is `Halted`; resume — it describes the new generation and is not `Halted`;
//! restart and switchover — `status.lastRestartAt` / `lastSwitchoverAt` equal the value
//! written (the spec fields are nonces: a new value asks again).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use tradeplane_api::TradingStrategy;

use crate::cli::ActionArgs;
use crate::cluster::Target;
use crate::error::Error;

/// The field manager of the plugin's patches, so `managedFields` shows who asked.
pub const FIELD_MANAGER: &str = "kubectl-tradeplane";
pub const POLL_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Suspend,
    Resume,
    Restart,
    Switchover,
}

impl Action {
    fn describe(self) -> &'static str {
        match self {
            Action::Suspend => "the suspension (phase Halted)",
            Action::Resume => "the resumption",
            Action::Restart => "the restart (status.lastRestartAt)",
            Action::Switchover => "the switchover (status.lastSwitchoverAt)",
        }
    }
}

/// Refuses what cannot work before writing anything.
pub fn precheck(action: Action, strategy: &TradingStrategy) -> Result<(), Error> {
    let name = strategy.metadata.name.clone().unwrap_or_default();
    match action {
        Action::Switchover if strategy.spec.replicas.unwrap_or(1) < 2 => {
            Err(Error::NotApplicable(format!(
                "switchover needs a standby, and '{name}' runs {} replica(s); set \
                 spec.replicas to 2 or more (with a Postgres journal) first",
                strategy.spec.replicas.unwrap_or(1)
            )))
        }
        _ => Ok(()),
    }
}

/// The merge patch that asks for the action; `stamp` is the nonce of restart and switchover.
pub fn patch(action: Action, stamp: &str) -> Value {
    match action {
        Action::Suspend => json!({"spec": {"suspend": true}}),
        // null removes the field: the default (not suspended) is back, and the spec reads as
        // the user wrote it before suspending.
        Action::Resume => json!({"spec": {"suspend": null}}),
        Action::Restart => json!({"spec": {"restartAt": stamp}}),
        Action::Switchover => json!({"spec": {"switchoverAt": stamp}}),
    }
}

/// Whether the status shows the action handled, for the spec of `generation`.
pub fn confirmed(action: Action, strategy: &TradingStrategy, generation: i64, stamp: &str) -> bool {
    let Some(status) = strategy.status.as_ref() else {
        return false;
    };
    let observed = status.observed_generation.unwrap_or(0) >= generation;
    let halted = status.phase.as_deref() == Some("Halted");
    match action {
        Action::Suspend => observed && halted,
        Action::Resume => observed && !halted,
        Action::Restart => status.last_restart_at.as_deref() == Some(stamp),
        Action::Switchover => status.last_switchover_at.as_deref() == Some(stamp),
    }
}

/// One line of what the status says now, for the progress line and the timeout.
pub fn last_seen(strategy: &TradingStrategy) -> String {
    let status = strategy.status.clone().unwrap_or_default();
    format!(
        "phase {}, observedGeneration {} of {}, leader {}",
        status.phase.as_deref().unwrap_or("-"),
        status.observed_generation.unwrap_or(0),
        strategy.metadata.generation.unwrap_or(0),
        status.leader.as_deref().unwrap_or("none")
    )
}

pub async fn run(
    target: &Target,
    action: Action,
    args: &ActionArgs,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let before = target.strategy(&args.name).await?;
    precheck(action, &before)?;
    let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let api = target.api::<TradingStrategy>();
    let patched = api
        .patch(&args.name, &params, &Patch::Merge(patch(action, &stamp)))
        .await
        .map_err(|e| Error::from_kube(e, "patch", "tradingstrategies", &target.namespace))?;
    let generation = patched.metadata.generation.unwrap_or(0);

    let started = Instant::now();
    let progress = std::io::stderr().is_terminal();
    let mut current = patched;
    loop {
        if confirmed(action, &current, generation, &stamp) {
            if progress {
                eprint!("\r\x1b[K");
            }
            return report(
                action,
                &args.name,
                &before,
                &current,
                started.elapsed(),
                out,
            );
        }
        if started.elapsed() >= args.timeout {
            if progress {
                eprintln!();
            }
            return Err(Error::Timeout {
                strategy: args.name.clone(),
                what: action.describe().to_string(),
                waited: args.timeout,
                last_seen: last_seen(&current),
                hint: timeout_hint(action, &current),
            });
        }
        if progress {
            eprint!(
                "\r\x1b[Kwaiting for the operator to confirm {} … {}s ({})",
                action.describe(),
                started.elapsed().as_secs(),
                last_seen(&current)
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
        current = target.strategy(&args.name).await?;
    }
}

fn timeout_hint(action: Action, strategy: &TradingStrategy) -> String {
    let supervised = strategy
        .spec
        .upgrade
        .as_ref()
        .and_then(|u| u.policy)
        .is_some_and(|p| p == tradeplane_api::trading_strategy::UpgradePolicy::Supervised);
    match action {
        Action::Restart if supervised => {
            "; the upgrade policy is Supervised, so the restart waits for a maintenance window"
                .into()
        }
        Action::Switchover => "; a switchover needs a Ready standby to take the Lease".into(),
        _ => String::new(),
    }
}

fn report(
    action: Action,
    name: &str,
    before: &TradingStrategy,
    after: &TradingStrategy,
    took: Duration,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let leader = |s: &TradingStrategy| {
        s.status
            .as_ref()
            .and_then(|s| s.leader.clone())
            .unwrap_or_else(|| "none".into())
    };
    let secs = took.as_secs();
    let text = match action {
        Action::Suspend => format!("strategy '{name}' suspended: trading Halted ({secs}s)"),
        Action::Resume => format!(
            "strategy '{name}' resumed: phase {} ({secs}s)",
            after
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "-".into())
        ),
        Action::Restart => format!("strategy '{name}' restarted ({secs}s)"),
        Action::Switchover => format!(
            "strategy '{name}' switched over: leader {} → {} ({secs}s)",
            leader(before),
            leader(after)
        ),
    };
    writeln!(out, "{text}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::status::tests_fixtures::strategy;

    #[test]
    fn each_action_writes_its_own_field() {
        assert_eq!(patch(Action::Suspend, "t")["spec"]["suspend"], true);
        assert_eq!(patch(Action::Resume, "t")["spec"]["suspend"], Value::Null);
        assert_eq!(patch(Action::Restart, "t1")["spec"]["restartAt"], "t1");
        assert_eq!(
            patch(Action::Switchover, "t1")["spec"]["switchoverAt"],
            "t1"
        );
    }

    #[test]
    fn success_waits_for_the_status_of_the_new_generation() {
        let mut s = strategy();
        // observedGeneration 3, phase Trading.
        assert!(!confirmed(Action::Suspend, &s, 4, "t"));
        if let Some(status) = s.status.as_mut() {
            status.observed_generation = Some(4);
            status.phase = Some("Halted".into());
        }
        assert!(confirmed(Action::Suspend, &s, 4, "t"));
        assert!(!confirmed(Action::Resume, &s, 4, "t"));
        assert!(!confirmed(Action::Restart, &s, 4, "t"));
        if let Some(status) = s.status.as_mut() {
            status.last_restart_at = Some("t".into());
        }
        assert!(confirmed(Action::Restart, &s, 4, "t"));
        assert!(!confirmed(Action::Restart, &s, 4, "t2"));
    }

    #[test]
    fn switchover_is_refused_without_a_standby() {
        let mut s = strategy();
        assert!(precheck(Action::Switchover, &s).is_ok());
        s.spec.replicas = None;
        let error = precheck(Action::Switchover, &s)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("set spec.replicas to 2 or more"), "{error}");
        assert!(precheck(Action::Restart, &s).is_ok());
    }
}
