//! An AgentPool's status, computed from what the reconcile saw. Pure, so that "a reconcile
//! that learns nothing new writes nothing" is tested without a cluster.
//!
//! The whole status belongs to the operator. `replicas` and `selector` are what the scale
//! subresource reads (`kubectl scale`, and any autoscaler pointed at the pool itself).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::jiff::Timestamp;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use tradeplane_contract::config::ledger::{entries, spend_on};

use crate::api::agent_pool::{AgentPool, AgentPoolStatus, ProviderSpend};
use crate::api::common::condition_types::{BUDGET_EXHAUSTED, READY};
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::conditions::{Observed, Warns, settle};
use crate::controllers::rollout::{self, PodWords, Rollout};

pub use crate::controllers::error::Blocker;

/// How the worker Deployment stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Workload {
    /// No Deployment (not rendered yet: blocked before it).
    #[default]
    Unknown,
    Workers {
        /// The Deployment's replica count (set by the operator, or by the autoscaler).
        desired: i32,
        /// Pods that exist, old and new.
        replicas: i32,
        ready: i32,
        updated: i32,
        /// The Deployment controller has seen the latest spec.
        current: bool,
    },
}

impl Workload {
    pub fn from_deployment(deployment: &Deployment) -> Self {
        let Rollout {
            desired,
            ready,
            updated,
            current,
        } = Rollout::of(deployment);
        let replicas = deployment
            .status
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(0);
        Self::Workers {
            desired,
            replicas,
            ready,
            updated,
            current,
        }
    }
}

/// What the reconcile observed.
pub struct Observation<'a> {
    pub generation: Option<i64>,
    pub previous: Option<&'a AgentPoolStatus>,
    pub blocker: Option<Blocker>,
    pub workload: Workload,
    /// The autoscaler's wish, when autoscaling is on and it has computed one.
    pub autoscaler_desired: Option<i32>,
    /// `spec.replicas` (default 1), when autoscaling is off.
    pub spec_replicas: Option<i32>,
    /// The worker pods' label selector (see `render::selector`).
    pub selector: String,
    pub bound_strategies: Vec<String>,
    /// Each provider's pool-wide spend today (see [`provider_spend`]).
    pub spend: Vec<ProviderSpend>,
    /// `AlertsConfigured`, when alerting was ever asked for (see `controllers::monitoring`).
    pub alerts: Option<Observed>,
}

/// Whether the status carries `AlertsConfigured`: then it is kept up to date even after
/// `spec.alerting` is removed.
pub fn mentions_alerts(status: Option<&AgentPoolStatus>) -> bool {
    status.is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == crate::controllers::monitoring::ALERTS_CONFIGURED)
    })
}

/// Every provider of `pool` with today's spend from the ledger's `data` (0 when none yet).
pub fn provider_spend(
    pool: &AgentPool,
    ledger: &BTreeMap<String, String>,
    day: NaiveDate,
) -> Vec<ProviderSpend> {
    let spent = spend_on(&entries(ledger), day, |_| true);
    pool.spec
        .providers
        .iter()
        .map(|provider| ProviderSpend {
            provider: provider.name.clone(),
            day: day.to_string(),
            // Cents are what a reader compares; rounding keeps tiny float noise from
            // rewriting the status.
            spent_usd: (spent.get(&provider.name).copied().unwrap_or(0.0) * 1e6).round() / 1e6,
            budget_usd: provider.daily_budget_usd,
        })
        .collect()
}

/// The `BudgetExhausted` condition: true while any provider's budget is spent.
fn budget_condition(spend: &[ProviderSpend]) -> Observed {
    let spent: Vec<String> = spend
        .iter()
        .filter(|s| s.budget_usd.is_some_and(|budget| s.spent_usd >= budget))
        .map(|s| {
            format!(
                "{} spent ${:.2} of ${:.2} on {}",
                s.provider,
                s.spent_usd,
                s.budget_usd.unwrap_or_default(),
                s.day
            )
        })
        .collect();
    if spent.is_empty() {
        Observed::new(
            BUDGET_EXHAUSTED,
            false,
            "WithinBudget",
            "every provider is within its daily budget",
        )
        .warns(Warns::WhenTrue)
    } else {
        Observed::new(
            BUDGET_EXHAUSTED,
            true,
            "DailyBudgetSpent",
            format!("{}; calls fail closed until 00:00 UTC", spent.join("; ")),
        )
        .warns(Warns::WhenTrue)
    }
}

/// `kubectl get ap`'s Spend column.
fn spend_summary(spend: &[ProviderSpend]) -> Option<String> {
    (!spend.is_empty()).then(|| {
        spend
            .iter()
            .map(|s| match s.budget_usd {
                Some(budget) => format!("{}=${:.2}/${budget:.2}", s.provider, s.spent_usd),
                None => format!("{}=${:.2}", s.provider, s.spent_usd),
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// The autoscaler's desired count, if it has computed one.
pub fn autoscaler_desired(autoscaler: &HorizontalPodAutoscaler) -> Option<i32> {
    autoscaler.status.as_ref().map(|s| s.desired_replicas)
}

/// The strategies among `strategies` that use the pool `pool`, sorted by name.
pub fn bound_strategies(pool: &str, strategies: &[TradingStrategy]) -> Vec<String> {
    let mut names: Vec<String> = strategies
        .iter()
        .filter(|s| {
            s.spec
                .agent_pool_ref
                .as_ref()
                .is_some_and(|r| r.name == pool)
        })
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The status, and the conditions as observed (for Events on transitions).
pub fn compute(observation: &Observation<'_>, now: Timestamp) -> (AgentPoolStatus, Vec<Observed>) {
    let previous = observation.previous.cloned().unwrap_or_default();
    let (readiness, phase) = readiness(&observation.blocker, &observation.workload);
    let mut observed = readiness.to_vec();
    if observation.spend.iter().any(|s| s.budget_usd.is_some()) {
        observed.push(budget_condition(&observation.spend));
    }
    observed.extend(observation.alerts.clone());
    let conditions = settle(&previous.conditions, &observed, observation.generation, now);

    let (replicas, ready_replicas, deployed) = match &observation.workload {
        Workload::Workers {
            desired,
            replicas,
            ready,
            ..
        } => (Some(*replicas), Some(*ready), Some(*desired)),
        // Nothing known: keep what was last seen rather than report an empty pool.
        Workload::Unknown => (previous.replicas, previous.ready_replicas, None),
    };
    let desired_replicas = observation
        .autoscaler_desired
        .or(observation.spec_replicas)
        .or(deployed)
        .or(previous.desired_replicas);
    let count = i32::try_from(observation.bound_strategies.len()).unwrap_or(i32::MAX);
    let status = AgentPoolStatus {
        observed_generation: observation.generation,
        conditions,
        phase: Some(phase.to_string()),
        replicas,
        ready_replicas,
        desired_replicas,
        selector: Some(observation.selector.clone()),
        bound_strategies: observation.bound_strategies.clone(),
        bound_strategy_count: Some(count),
        provider_spend: observation.spend.clone(),
        spend_summary: spend_summary(&observation.spend),
    };
    (status, observed)
}

/// How the workers are named in the conditions.
const WORKER_PODS: PodWords = PodWords {
    ready_reason: "WorkersReady",
    pods: "workers",
    waiting: "waiting for the worker pods",
};

/// `Ready`, `Reconciling`, `Stalled` and the phase, from what blocks the pool and how its
/// workers roll out.
fn readiness(blocker: &Option<Blocker>, workload: &Workload) -> ([Observed; 3], &'static str) {
    match (blocker, workload) {
        (Some(blocker), _) => (rollout::blocked(blocker), "Failed"),
        (None, Workload::Unknown) => (rollout::rendering(), "Pending"),
        (None, Workload::Workers { desired: 0, .. }) => (
            rollout::settled(Observed::new(
                READY,
                false,
                "ScaledToZero",
                "the pool has no worker replicas and cannot serve analyses",
            )),
            "Pending",
        ),
        (
            None,
            Workload::Workers {
                desired,
                replicas,
                ready,
                updated,
                current,
            },
        ) => {
            let rollout = Rollout {
                desired: *desired,
                ready: *ready,
                updated: *updated,
                current: *current,
            };
            // Pods still being replaced or added, rather than new pods failing to get ready.
            let moving = !*current || updated < desired || replicas != desired;
            let phase = match (rollout.rolled_out(), *ready, moving) {
                (true, _, _) => "Ready",
                (false, 0, _) => "Pending",
                (false, _, true) => "Scaling",
                (false, _, false) => "Degraded",
            };
            let not_ready = if moving {
                "RolloutInProgress"
            } else {
                "WorkersNotReady"
            };
            (
                rollout::conditions(&rollout, &WORKER_PODS, not_ready),
                phase,
            )
        }
    }
}
