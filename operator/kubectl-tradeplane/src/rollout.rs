//! `rollout NAME`, `promote NAME`, `abort NAME`: a `Shadow` strategy's analysis, and the two
//! annotations the operator acts on (`tradeplane.io/promote-shadow` and
//! `tradeplane.io/abort-shadow`, each naming the shadow's revision so it never acts on a
//! later one). As for every action, success is reported only once the operator's status
//! says it has handled the annotation.

use std::io::Write;
use std::time::Instant;

use clap::Args;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tradeplane_api::TradingStrategy;
use tradeplane_api::trading_strategy::RolloutStatus;
use tradeplane_contract::journal_api::{CycleDetail, CycleView, Page};

use crate::actions::{FIELD_MANAGER, POLL_EVERY};
use crate::cli::{OutputFormat, parse_duration};
use crate::cluster::Target;
use crate::error::Error;
use crate::output::{style, write_as};
use crate::proxy::RuntimeProxy;
use crate::render::rollout::{Decisions, RolloutView, differences, screen};

pub const PROMOTE_ANNOTATION: &str = "tradeplane.io/promote-shadow";
pub const ABORT_ANNOTATION: &str = "tradeplane.io/abort-shadow";
/// How the operator's status begins the reason of a shadow a user aborted.
pub const ABORTED_BY_USER: &str = "aborted by the user";

#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// The TradingStrategy.
    pub name: String,
    /// How many of the shadow's newest cycles to compare side by side, 1-100.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub cycles: u32,
    /// Print the status and the differences as data instead of the screen.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct ShadowActionArgs {
    /// The TradingStrategy.
    pub name: String,
    /// How long to wait for the operator to confirm, e.g. `2m`.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShadowAction {
    Promote,
    Abort,
}

impl ShadowAction {
    fn annotation(self) -> &'static str {
        match self {
            Self::Promote => PROMOTE_ANNOTATION,
            Self::Abort => ABORT_ANNOTATION,
        }
    }
}

/// The shadow's revision the action applies to, or why it cannot apply.
pub fn precheck(action: ShadowAction, strategy: &TradingStrategy) -> Result<String, Error> {
    let name = strategy.metadata.name.clone().unwrap_or_default();
    let rollout = rollout_of(strategy).unwrap_or_default();
    let verdict = rollout.verdict.as_deref().unwrap_or("");
    let revision = rollout.shadow_revision.clone().unwrap_or_default();
    let reason = rollout.reason.as_deref().unwrap_or("");
    let refuse = |why: String| Err(Error::NotApplicable(why));
    match (action, verdict) {
        (_, "") => refuse(format!(
            "'{name}' has no shadow analysis (spec.rollout.strategy Shadow and a new \
             decision revision start one); see `kubectl tradeplane rollout {name}`"
        )),
        (ShadowAction::Promote, "Succeeded")
        | (ShadowAction::Abort, "Seeding" | "Running")
        | (ShadowAction::Abort, "Succeeded") => Ok(revision),
        (ShadowAction::Promote, "Seeding" | "Running") => refuse(format!(
            "the shadow of revision {revision} of '{name}' has not passed yet ({verdict}: \
             {reason}); promote it once `kubectl tradeplane rollout {name}` says Succeeded"
        )),
        (_, "Failed") => refuse(format!(
            "revision {revision} of '{name}' is already refused ({reason}); the live pods keep \
             theirs until the spec changes"
        )),
        (_, "Promoted") => refuse(format!(
            "revision {revision} of '{name}' is already promoted and runs live"
        )),
        (_, other) => refuse(format!(
            "the shadow of '{name}' stands at '{other}', which this plugin does not know"
        )),
    }
}

/// Whether the status shows the action on `revision` handled: a promote once the live pods
/// run it (or the promotion of it is reported), an abort once it is refused by the user.
pub fn confirmed(action: ShadowAction, strategy: &TradingStrategy, revision: &str) -> bool {
    let Some(r) = rollout_of(strategy) else {
        return false;
    };
    let verdict = r.verdict.as_deref();
    match action {
        ShadowAction::Promote => {
            r.live_revision.as_deref() == Some(revision)
                || (r.shadow_revision.as_deref() == Some(revision) && verdict == Some("Promoted"))
        }
        ShadowAction::Abort => {
            r.shadow_revision.as_deref() == Some(revision)
                && verdict == Some("Failed")
                && r.reason
                    .as_deref()
                    .is_some_and(|s| s.starts_with(ABORTED_BY_USER))
        }
    }
}

fn rollout_of(strategy: &TradingStrategy) -> Option<RolloutStatus> {
    strategy.status.as_ref().and_then(|s| s.rollout.clone())
}

pub async fn act(
    target: &Target,
    action: ShadowAction,
    args: &ShadowActionArgs,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let before = target.strategy(&args.name).await?;
    let revision = precheck(action, &before)?;
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let patch = json!({"metadata": {"annotations": {action.annotation(): revision}}});
    target
        .api::<TradingStrategy>()
        .patch(&args.name, &params, &Patch::Merge(patch))
        .await
        .map_err(|e| Error::from_kube(e, "patch", "tradingstrategies", &target.namespace))?;
    let started = Instant::now();
    loop {
        let current = target.strategy(&args.name).await?;
        if confirmed(action, &current, &revision) {
            let secs = started.elapsed().as_secs();
            let text = match action {
                ShadowAction::Promote => format!(
                    "strategy '{}': revision {revision} promoted, the live pods run it ({secs}s)",
                    args.name
                ),
                ShadowAction::Abort => format!(
                    "strategy '{}': shadow of revision {revision} aborted, the live pods keep \
                     {} ({secs}s)",
                    args.name,
                    rollout_of(&current)
                        .and_then(|r| r.live_revision)
                        .unwrap_or_else(|| "theirs".into())
                ),
            };
            writeln!(out, "{text}")?;
            return Ok(());
        }
        if started.elapsed() >= args.timeout {
            let r = rollout_of(&current).unwrap_or_default();
            return Err(Error::Timeout {
                strategy: args.name.clone(),
                what: match action {
                    ShadowAction::Promote => format!("the promotion of revision {revision}"),
                    ShadowAction::Abort => format!("the abort of revision {revision}'s shadow"),
                },
                waited: args.timeout,
                last_seen: format!(
                    "verdict {}, live revision {}",
                    r.verdict.as_deref().unwrap_or("-"),
                    r.live_revision.as_deref().unwrap_or("-")
                ),
                hint: "; a promotion under a Supervised upgrade policy waits for a maintenance \
                       window"
                    .into(),
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

pub async fn show(target: &Target, args: &RolloutArgs, out: &mut dyn Write) -> Result<(), Error> {
    let strategy = target.strategy(&args.name).await?;
    let rollout = rollout_of(&strategy);
    let running = rollout
        .as_ref()
        .and_then(|r| r.verdict.as_deref())
        .is_some_and(|v| matches!(v, "Running" | "Succeeded"));
    let decisions = if running {
        match side_by_side(target, &args.name, args.cycles).await {
            Ok(decisions) => decisions,
            Err(error) => Decisions::Unread {
                reason: error.to_string(),
            },
        }
    } else {
        Decisions::Unread {
            reason: "no shadow runs now, and its journal went with it; the operator's tally \
                     above (first disagreement) is what remains"
                .into(),
        }
    };
    let view = RolloutView {
        strategy: args.name.clone(),
        rollout,
        decisions,
    };
    match args.output {
        Some(format) => write_as(out, format, &view),
        None => Ok(write!(out, "{}", screen(&view, style()))?),
    }
}

/// Reads the shadow's newest completed cycles and the live pods' runs of the same cycle ids
/// (the shadow journals each decision under the live cycle id it shadows), both through the
/// service proxy as the user: the live via the strategy's Service, the shadow via
/// `<name>-shadow`.
async fn side_by_side(target: &Target, name: &str, cycles: u32) -> Result<Decisions, Error> {
    let live = RuntimeProxy::new(target.client.clone(), &target.namespace, name);
    let mut shadow = live.clone();
    shadow.service = tradeplane_api::names::child_name(name, "shadow");
    let page: Page<CycleView> = shadow.get(&format!("cycles?limit={cycles}")).await?;
    let mut compared = 0;
    let mut found = Vec::new();
    for cycle in page.items.iter().filter(|c| c.status == "completed") {
        let theirs: CycleDetail = match live.get(&format!("cycles/{}", cycle.id)).await {
            Ok(detail) => detail,
            // The live pods have not journalled it (yet): nothing to compare with.
            Err(Error::RuntimeRefused { status: 404, .. }) => continue,
            Err(error) => return Err(error),
        };
        if theirs.cycle.status != "completed" {
            continue;
        }
        let ours: CycleDetail = shadow.get(&format!("cycles/{}", cycle.id)).await?;
        compared += 1;
        found.extend(differences(&theirs, &ours));
    }
    Ok(Decisions::Journals {
        compared,
        differences: found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::status::tests_fixtures::strategy;

    fn at(verdict: &str, reason: &str, live: &str) -> TradingStrategy {
        let mut s = strategy();
        if let Some(status) = s.status.as_mut() {
            status.rollout = Some(RolloutStatus {
                live_revision: Some(live.into()),
                shadow_revision: Some("new".into()),
                verdict: Some(verdict.into()),
                reason: Some(reason.into()),
                ..RolloutStatus::default()
            });
        }
        s
    }

    fn refusal(action: ShadowAction, s: &TradingStrategy) -> String {
        precheck(action, s)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn promote_needs_a_passed_shadow_and_abort_a_live_one() {
        let passed = at("Succeeded", "ok", "old");
        assert_eq!(
            precheck(ShadowAction::Promote, &passed).ok().as_deref(),
            Some("new")
        );
        assert_eq!(
            precheck(ShadowAction::Abort, &passed).ok().as_deref(),
            Some("new")
        );
        let running = at("Running", "2 of 10 cycles", "old");
        assert!(refusal(ShadowAction::Promote, &running).contains("has not passed yet"));
        assert!(precheck(ShadowAction::Abort, &running).is_ok());
        let failed = at("Failed", "agreement 0.20", "old");
        assert!(refusal(ShadowAction::Promote, &failed).contains("already refused"));
        assert!(refusal(ShadowAction::Abort, &failed).contains("already refused"));
        assert!(refusal(ShadowAction::Promote, &strategy()).contains("no shadow analysis"));
    }

    #[test]
    fn each_action_is_confirmed_only_by_what_the_operator_writes_for_it() {
        let revision = "new";
        let passed = at("Succeeded", "ok", "old");
        assert!(!confirmed(ShadowAction::Promote, &passed, revision));
        assert!(!confirmed(ShadowAction::Abort, &passed, revision));
        assert!(confirmed(
            ShadowAction::Promote,
            &at("Promoted", "runs live", "new"),
            revision
        ));
        assert!(confirmed(
            ShadowAction::Promote,
            &at("Succeeded", "ok", "new"),
            revision
        ));
        let aborted = at("Failed", "aborted by the user (annotation)", "old");
        assert!(confirmed(ShadowAction::Abort, &aborted, revision));
        assert!(
            !confirmed(
                ShadowAction::Abort,
                &at("Failed", "agreement 0.2", "old"),
                revision
            ),
            "a failed analysis is not the user's abort"
        );
        assert!(!confirmed(ShadowAction::Abort, &aborted, "other"));
    }
}
