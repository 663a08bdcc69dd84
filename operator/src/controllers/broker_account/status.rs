//! A BrokerAccount's status, computed from what the reconcile saw. Pure, so that "a
//! reconcile that learns nothing new writes nothing" and "no credential reaches the status"
//! are tested without a cluster.
//!
//! The whole status belongs to the operator (no runtime writes it), so the computed status is
//! compared with the live one as a whole.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::verify::{Outcome, Problem};
use crate::api::broker_account::condition_types::CREDENTIALS_VALID;
use crate::api::broker_account::{BrokerAccountStatus, Environment};
use crate::api::common::condition_types::{READY, RECONCILING, STALLED};
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::conditions::{Observed, settle};

/// Where the credentials stand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check<'a> {
    /// The Paper broker: simulated inside each runtime, nothing to verify.
    NotRequired,
    /// The credentials could not be read; the broker was not asked.
    Unreadable(Problem),
    /// The broker's last answer, received at `at`.
    Answered { outcome: &'a Outcome, at: Timestamp },
}

impl Check<'_> {
    /// The broker could not be asked or did not answer usefully, and will be asked again soon.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Answered { outcome, .. } if outcome.is_transient())
    }
}

/// What the reconcile observed.
pub struct Observation<'a> {
    pub generation: Option<i64>,
    pub previous: Option<&'a BrokerAccountStatus>,
    pub check: Check<'a>,
    /// Names of the strategies that reference the account (see [`bound_strategies`]).
    pub bound_strategies: Vec<String>,
    /// The environment in effect (`spec.environment`, Paper when unset).
    pub environment: Environment,
    /// For the Paper broker: the bound strategies' equity together (see [`paper_equity`]).
    pub paper_equity: Option<String>,
}

/// The strategies among `strategies` that reference the account `account`, sorted by name.
pub fn bound_strategies(account: &str, strategies: &[TradingStrategy]) -> Vec<String> {
    let mut names: Vec<String> = strategies
        .iter()
        .filter(|s| s.spec.broker_account_ref.name == account)
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The equity of a Paper account: the simulated broker keeps one book per strategy, so the
/// account holds what the books of the strategies bound to it hold together, as their
/// runtimes last reported it. `None` until one of them has reported; a value that is not a
/// number (the runtime writes decimal strings) is left out rather than guessed.
pub fn paper_equity(account: &str, strategies: &[TradingStrategy]) -> Option<String> {
    let reported: Vec<f64> = strategies
        .iter()
        .filter(|s| s.spec.broker_account_ref.name == account)
        .filter_map(|s| s.status.as_ref()?.equity.as_deref()?.parse::<f64>().ok())
        .filter(|equity| equity.is_finite())
        .collect();
    (!reported.is_empty()).then(|| format!("{:.2}", reported.iter().sum::<f64>()))
}

/// The status, and the conditions as observed (for Events on transitions).
pub fn compute(
    observation: &Observation<'_>,
    now: Timestamp,
) -> (BrokerAccountStatus, Vec<Observed>) {
    let previous = observation.previous.cloned().unwrap_or_default();
    let (observed, phase) = credential_conditions(&observation.check, &previous);
    let (last_verified_time, equity) = last_verified(observation, &previous);
    let conditions = settle(&previous.conditions, &observed, observation.generation, now);
    let count = i32::try_from(observation.bound_strategies.len()).unwrap_or(i32::MAX);
    let status = BrokerAccountStatus {
        observed_generation: observation.generation,
        phase: Some(phase.to_string()),
        conditions,
        environment: Some(environment_name(observation.environment).to_string()),
        last_verified_time,
        equity,
        bound_strategies: observation.bound_strategies.clone(),
        bound_strategy_count: Some(count),
    };
    (status, observed)
}

/// `lastVerifiedTime` and `equity`. They describe the last time the broker accepted the
/// credentials, so they are kept from the previous status unless this reconcile learned
/// better; the Paper broker has no credentials, and its equity is its strategies' books.
fn last_verified(
    observation: &Observation<'_>,
    previous: &BrokerAccountStatus,
) -> (Option<Time>, Option<String>) {
    match &observation.check {
        Check::NotRequired => (None, observation.paper_equity.clone()),
        Check::Answered {
            outcome: Outcome::Accepted { equity, .. },
            at,
        } => (Some(Time(*at)), equity.clone()),
        Check::Unreadable(_) | Check::Answered { .. } => {
            (previous.last_verified_time.clone(), previous.equity.clone())
        }
    }
}

/// `CredentialsValid`, `Ready`, `Reconciling`, `Stalled` and the phase, from where the
/// credentials stand.
fn credential_conditions(
    check: &Check<'_>,
    previous: &BrokerAccountStatus,
) -> (Vec<Observed>, &'static str) {
    match check {
        Check::NotRequired => paper_account(),
        Check::Unreadable(problem) => credentials_invalid(problem.reason, &problem.message),
        Check::Answered { outcome, .. } => match outcome {
            Outcome::Accepted { blocked, .. } => accepted(blocked.as_deref()),
            Outcome::Rejected { message } => credentials_invalid("CredentialsRejected", message),
            Outcome::Unexpected { message } => credentials_invalid("UnexpectedResponse", message),
            Outcome::Unreachable { message } => {
                let had_verdict = previous
                    .conditions
                    .iter()
                    .any(|c| c.type_ == CREDENTIALS_VALID);
                broker_unreachable(message, had_verdict)
            }
        },
    }
}

/// The Paper broker: nothing to verify, ready at once.
fn paper_account() -> (Vec<Observed>, &'static str) {
    let mut observed = vec![
        Observed::new(
            CREDENTIALS_VALID,
            true,
            "NotRequired",
            "the Paper broker needs no credentials",
        ),
        Observed::new(
            READY,
            true,
            "PaperAccount",
            "simulated fills inside each strategy's runtime",
        ),
    ];
    settled(&mut observed);
    (observed, "Ready")
}

/// The broker accepted the credentials; the account is ready unless the broker says it
/// cannot trade (`blocked` says why), which only the user can change.
fn accepted(blocked: Option<&str>) -> (Vec<Observed>, &'static str) {
    let mut observed = vec![Observed::new(
        CREDENTIALS_VALID,
        true,
        "Verified",
        "the broker accepted the credentials",
    )];
    match blocked {
        None => {
            observed.push(Observed::new(
                READY,
                true,
                "Verified",
                "the broker accepted the credentials and the account can trade",
            ));
            settled(&mut observed);
            (observed, "Ready")
        }
        Some(why) => {
            stalled(&mut observed, "AccountBlocked", why);
            (observed, "Failed")
        }
    }
}

/// The credentials are unusable (unreadable, refused, or met with an answer that is not an
/// account): stalled under the same reason until the user changes something.
fn credentials_invalid(reason: &'static str, message: &str) -> (Vec<Observed>, &'static str) {
    let mut observed = vec![Observed::new(CREDENTIALS_VALID, false, reason, message)];
    stalled(&mut observed, reason, message);
    (observed, "Failed")
}

/// The broker did not answer: retried with backoff. Not hearing from the broker says
/// nothing about the credentials, so a verdict already given (`had_verdict`) stands (settle
/// keeps conditions not observed here).
fn broker_unreachable(message: &str, had_verdict: bool) -> (Vec<Observed>, &'static str) {
    let mut observed = Vec::new();
    if !had_verdict {
        observed.push(Observed::new(
            CREDENTIALS_VALID,
            false,
            "BrokerUnreachable",
            message,
        ));
    }
    observed.extend([
        Observed::new(READY, false, "BrokerUnreachable", message),
        Observed::new(
            RECONCILING,
            true,
            "BrokerUnreachable",
            "retrying the broker with backoff",
        ),
        Observed::new(STALLED, false, "Retrying", ""),
    ]);
    (observed, "Verifying")
}

fn environment_name(environment: Environment) -> &'static str {
    match environment {
        Environment::Paper => "Paper",
        Environment::Live => "Live",
    }
}

/// Ready is observed; the kstatus pair says there is nothing left to do.
fn settled(observed: &mut Vec<Observed>) {
    observed.extend([
        Observed::new(RECONCILING, false, "Reconciled", ""),
        Observed::new(STALLED, false, "Reconciled", ""),
    ]);
}

/// Not ready until the user changes something: Ready false, Stalled true.
fn stalled(observed: &mut Vec<Observed>, reason: &'static str, message: &str) {
    observed.extend([
        Observed::new(READY, false, reason, message.to_string()),
        Observed::new(
            RECONCILING,
            false,
            reason,
            "waiting for the spec or the Secret to change",
        ),
        Observed::new(STALLED, true, reason, message.to_string()),
    ]);
}
