//! Whether a rendered revision may roll onto the live pods, for a `Shadow` strategy; and the
//! `status.rollout` and the conditions that follow from it and the comparison. Pure.

use super::analysis::{Judgement, Tally, Verdict};
use crate::api::trading_strategy::condition_types::{
    SHADOW_FAILED, SHADOW_RUNNING, SHADOW_SUCCEEDED,
};
use crate::api::trading_strategy::{OnSuccess, RolloutStatus};
use crate::controllers::conditions::{Observed, Warns};
use crate::controllers::trading_strategy::upgrade::Pending;
use crate::controllers::trading_strategy::validate::ShadowPolicy;

/// `status.rollout.verdict` values beyond the analysis' own.
pub const SEEDING: &str = "Seeding";
pub const PROMOTED: &str = "Promoted";
/// The start of `status.rollout.reason` for a shadow a user aborted.
pub const ABORTED_BY_USER: &str = "aborted by the user";

/// What becomes of the rendered revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Gate {
    /// It rolls (as the upgrade policy decides): `Direct`, the first rollout, no change of
    /// the decision revision, or a shadow of it that passed and is promoted.
    #[default]
    Roll,
    /// The live pods keep their template; a shadow of the revision decides beside them.
    Shadow,
    /// The live pods keep their template; the revision failed its analysis, no shadow runs.
    Refused,
}

/// Decides the gate. `live` is the decision revision the live Deployment carries (`None`:
/// there is none yet, or it predates decision revisions — then it rolls as before);
/// `promote` is the strategy's promote annotation.
pub fn decide(
    policy: Option<&ShadowPolicy>,
    live: Option<&str>,
    rendered: &str,
    previous: Option<&RolloutStatus>,
    promote: Option<&str>,
) -> Gate {
    let (Some(policy), Some(live)) = (policy, live) else {
        return Gate::Roll;
    };
    if live == rendered {
        return Gate::Roll;
    }
    let verdict = previous
        .filter(|p| p.shadow_revision.as_deref() == Some(rendered))
        .and_then(|p| p.verdict.as_deref());
    match verdict {
        Some(v) if v == Verdict::Failed.as_str() => Gate::Refused,
        Some(v) if v == Verdict::Succeeded.as_str() => {
            if policy.on_success == OnSuccess::Promote || promote == Some(rendered) {
                Gate::Roll
            } else {
                Gate::Shadow
            }
        }
        _ => Gate::Shadow,
    }
}

/// Whether the abort annotation (`abort`) names the rendered revision while the live pods
/// run another: then that revision is refused whatever its analysis says (checked before
/// [`decide`], so an abort wins over a promote of the same revision).
pub fn aborted(live: Option<&str>, rendered: &str, abort: Option<&str>) -> bool {
    live.is_some_and(|live| live != rendered) && abort == Some(rendered)
}

/// What the comparison step found this reconcile.
#[derive(Clone, Debug, PartialEq)]
pub enum Comparison {
    /// Not read: the analysis is over (or no shadow runs).
    Skipped,
    /// The shadow could not start or its journal could not be read yet, and why.
    Waiting { seeding: bool, reason: String },
    /// The tally so far and the verdict it comes to.
    Judged {
        tally: Tally,
        last_cycle: Option<String>,
        judgement: Judgement,
        pnl_difference: Option<f64>,
    },
}

/// The tally `previous` holds for `revision` (nothing for another revision: a new analysis
/// starts from zero).
pub fn previous_tally(previous: Option<&RolloutStatus>, revision: &str) -> (Tally, Option<String>) {
    let Some(p) = previous.filter(|p| p.shadow_revision.as_deref() == Some(revision)) else {
        return (Tally::default(), None);
    };
    let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    let tally = Tally {
        cycles_compared: count(p.cycles_compared),
        cycles_agreed: count(p.cycles_agreed),
        shadow_cycles: count(p.shadow_cycles),
        shadow_errors: count(p.errors),
        first_disagreement: p.first_disagreement.clone(),
        ..Tally::default()
    };
    (tally, p.last_cycle.clone())
}

/// `status.rollout` after this reconcile. `live` is the decision revision the live pods were
/// left on, `rendered` the one the spec asks for.
pub fn rollout_status(
    previous: Option<&RolloutStatus>,
    gate: &Gate,
    live: Option<&str>,
    rendered: &str,
    comparison: Comparison,
) -> RolloutStatus {
    let same = previous
        .filter(|p| p.shadow_revision.as_deref() == Some(rendered))
        .cloned();
    let mut status = match (gate, comparison) {
        (_, Comparison::Waiting { seeding, reason }) => RolloutStatus {
            verdict: Some(
                if seeding {
                    SEEDING
                } else {
                    Verdict::Running.as_str()
                }
                .into(),
            ),
            reason: Some(reason),
            ..same.unwrap_or_default()
        },
        (
            _,
            Comparison::Judged {
                tally,
                last_cycle,
                judgement,
                pnl_difference,
            },
        ) => RolloutStatus {
            verdict: Some(judgement.verdict.as_str().into()),
            reason: Some(judgement.reason),
            cycles_compared: Some(count(tally.cycles_compared)),
            cycles_agreed: Some(count(tally.cycles_agreed)),
            agreement: Some(format!("{:.2}", tally.agreement())),
            pnl_difference: pnl_difference.map(|p| format!("{p:.2}")),
            drawdown: Some(format!("{:.4}", tally.drawdown)),
            shadow_cycles: Some(count(tally.shadow_cycles)),
            errors: Some(count(tally.shadow_errors)),
            // `+ 0.0` turns a sum of nothing (-0.0) into 0.00, not -0.00.
            llm_cost_usd: Some(format!("{:.2}", tally.llm_cost_usd + 0.0)),
            last_cycle,
            first_disagreement: tally.first_disagreement,
            ..RolloutStatus::default()
        },
        (Gate::Roll, Comparison::Skipped) if live == Some(rendered) => match same {
            // The analysed revision now runs live.
            Some(p) if p.verdict.as_deref() == Some(Verdict::Succeeded.as_str()) => RolloutStatus {
                verdict: Some(PROMOTED.into()),
                reason: Some(format!(
                    "revision {rendered} passed its shadow analysis and runs live"
                )),
                ..p
            },
            Some(p) => p,
            None => RolloutStatus::default(),
        },
        // Refused without a failed analysis: only an abort does that (see `aborted`).
        (Gate::Refused, Comparison::Skipped)
            if same.as_ref().and_then(|p| p.verdict.as_deref())
                != Some(Verdict::Failed.as_str()) =>
        {
            RolloutStatus {
                verdict: Some(Verdict::Failed.as_str().into()),
                reason: Some(format!(
                    "{ABORTED_BY_USER} (annotation tradeplane.io/abort-shadow={rendered})"
                )),
                ..same.unwrap_or_default()
            }
        }
        (_, Comparison::Skipped) => same.unwrap_or_default(),
    };
    // A status without a verdict analyses nothing: the live pods run what the spec asks for.
    status.shadow_revision = status.verdict.as_ref().map(|_| rendered.to_string());
    status.live_revision = live.map(str::to_string);
    status
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `ShadowRunning`, `ShadowSucceeded` and `ShadowFailed` of a Shadow strategy.
pub fn conditions(status: &RolloutStatus, on_success: OnSuccess) -> [Observed; 3] {
    let verdict = status.verdict.as_deref().unwrap_or("");
    let reason = status.reason.clone().unwrap_or_default();
    let revision = status.shadow_revision.as_deref().unwrap_or("");
    let running = match verdict {
        SEEDING | "Running" => Observed::new(SHADOW_RUNNING, true, "Analysing", reason.clone()),
        "Succeeded" if on_success == OnSuccess::Wait => Observed::new(
            SHADOW_RUNNING,
            true,
            "AwaitingPromotion",
            format!(
                "revision {revision} passed; annotate tradeplane.io/promote-shadow={revision} to promote it"
            ),
        ),
        "Succeeded" => Observed::new(SHADOW_RUNNING, true, "Promoting", reason.clone()),
        PROMOTED => Observed::new(SHADOW_RUNNING, false, "Promoted", reason.clone()),
        "Failed" => Observed::new(SHADOW_RUNNING, false, "Aborted", reason.clone()),
        _ => Observed::new(
            SHADOW_RUNNING,
            false,
            "NoNewRevision",
            "the live pods run the revision the spec asks for",
        ),
    };
    let succeeded = matches!(verdict, "Succeeded" | PROMOTED);
    let failed = verdict == "Failed";
    let failed_reason = if reason.starts_with(ABORTED_BY_USER) {
        "AbortedByUser"
    } else {
        "AnalysisFailed"
    };
    [
        running.warns(Warns::Never),
        Observed::new(
            SHADOW_SUCCEEDED,
            succeeded,
            if succeeded {
                "AnalysisPassed"
            } else {
                "NotPassed"
            },
            if succeeded {
                reason.clone()
            } else {
                String::new()
            },
        )
        .warns(Warns::Never),
        Observed::new(
            SHADOW_FAILED,
            failed,
            if failed { failed_reason } else { "NotFailed" },
            if failed {
                format!("revision {revision} refused, the live pods keep theirs: {reason}")
            } else {
                String::new()
            },
        )
        .warns(Warns::WhenTrue),
    ]
}

/// The Event a change of `status.rollout` deserves: (warning, reason, note).
pub fn event(
    previous: Option<&RolloutStatus>,
    now: &RolloutStatus,
) -> Option<(bool, &'static str, String)> {
    let before = previous
        .filter(|p| p.shadow_revision == now.shadow_revision)
        .and_then(|p| p.verdict.as_deref());
    let verdict = now.verdict.as_deref()?;
    if before == Some(verdict) {
        return None;
    }
    let revision = now.shadow_revision.as_deref().unwrap_or("");
    let reason = now.reason.clone().unwrap_or_default();
    match verdict {
        SEEDING | "Running" if before.is_none() => Some((
            false,
            "ShadowStarted",
            format!("revision {revision} decides in a shadow beside the live pods"),
        )),
        "Succeeded" => Some((
            false,
            "ShadowSucceeded",
            format!("revision {revision}: {reason}"),
        )),
        "Failed" => Some((
            true,
            "ShadowFailed",
            format!("revision {revision} refused, the live pods keep theirs: {reason}"),
        )),
        PROMOTED => Some((false, "ShadowPromoted", reason)),
        _ => None,
    }
}

/// How soon to look again: no watch reports a cycle journalled, so while a shadow is seeded
/// or analysed the reconcile comes back on its own; a verdict this reconcile came to is
/// acted on at once (the shadow removed, or promoted).
pub fn recheck(gate: &Gate, status: &RolloutStatus, on_success: OnSuccess) -> std::time::Duration {
    let at_once = std::time::Duration::from_secs(1);
    match (gate, status.verdict.as_deref()) {
        (_, Some(SEEDING | "Running")) => ANALYSIS_RECHECK,
        (Gate::Shadow, Some("Failed")) => at_once,
        (Gate::Shadow, Some("Succeeded")) if on_success == OnSuccess::Promote => at_once,
        _ => crate::controllers::RESYNC,
    }
}

/// `UpgradePending` for the rendered pod template `revision` while its decision revision is
/// analysed in a shadow, or once that analysis refused it; `None` once it passed (the
/// upgrade policy decides from there).
pub fn pending(revision: &str, status: &RolloutStatus) -> Option<Pending> {
    let why = status
        .reason
        .clone()
        .unwrap_or_else(|| "starting".to_string());
    let (reason, message) = match status.verdict.as_deref() {
        Some("Failed") => (
            "ShadowRefused",
            format!(
                "revision {revision} is refused by its shadow analysis ({why}); the live pods \
                 keep theirs until the spec changes again"
            ),
        ),
        Some("Succeeded") => (
            "ShadowAwaitingPromotion",
            format!(
                "revision {revision} passed its shadow analysis ({why}); annotate \
                 tradeplane.io/promote-shadow={} to promote it",
                status.shadow_revision.as_deref().unwrap_or("")
            ),
        ),
        _ => (
            "ShadowAnalysis",
            format!(
                "revision {revision} waits while its shadow decides beside the live pods \
                 ({why}); see status.rollout"
            ),
        ),
    };
    Some(Pending {
        revision: revision.to_string(),
        until: None,
        message,
        reason,
    })
}

/// How often a running analysis reads the journals.
pub const ANALYSIS_RECHECK: std::time::Duration = std::time::Duration::from_secs(3);
