//! How many workers a pool runs, with the defaults of `spec.replicas` and `spec.autoscaling`
//! applied: a leaf module, so the Deployment, the autoscaler, the alerts, the status and the
//! spend ledger (`config`) all read the count from one place ([`Scale::of`]).

use crate::api::agent_pool::AgentPoolSpec;

/// Workers when `spec.replicas` is unset.
pub const DEFAULT_REPLICAS: i32 = 1;
/// The autoscaler's floor when `spec.autoscaling.minReplicas` is unset.
pub const DEFAULT_MIN_REPLICAS: i32 = 1;
/// Average CPU utilisation the autoscaler aims for when the pool does not say.
pub const DEFAULT_TARGET_CPU_PERCENT: i32 = 70;

/// How many workers the pool runs, and who decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// `spec.replicas`: the Deployment's count is the operator's.
    Fixed(i32),
    /// `spec.autoscaling`: a HorizontalPodAutoscaler owns the Deployment's count.
    Autoscaled(Autoscaled),
}

/// `spec.autoscaling` with its defaults applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Autoscaled {
    pub min_replicas: i32,
    pub max_replicas: i32,
    pub target_cpu_percent: i32,
    /// Analyses in flight per worker to aim for, when the pool scales on them too.
    pub target_in_flight: Option<i32>,
}

impl Scale {
    /// The pool's scale, its defaults applied.
    pub fn of(spec: &AgentPoolSpec) -> Self {
        match &spec.autoscaling {
            None => Scale::Fixed(spec.replicas.unwrap_or(DEFAULT_REPLICAS)),
            Some(autoscaling) => Scale::Autoscaled(Autoscaled {
                min_replicas: autoscaling.min_replicas.unwrap_or(DEFAULT_MIN_REPLICAS),
                max_replicas: autoscaling.max_replicas,
                target_cpu_percent: autoscaling
                    .target_cpu_utilization_percent
                    .unwrap_or(DEFAULT_TARGET_CPU_PERCENT),
                target_in_flight: autoscaling.target_in_flight_per_replica,
            }),
        }
    }

    /// The count the operator sets on the Deployment; `None` when the autoscaler owns it
    /// (setting one then would make every reconcile undo the autoscaler).
    pub fn fixed(self) -> Option<i32> {
        match self {
            Scale::Fixed(replicas) => Some(replicas),
            Scale::Autoscaled(_) => None,
        }
    }

    /// The most workers the pool may run at once (at least one, for the ledger's share).
    pub fn most(self) -> i32 {
        match self {
            Scale::Fixed(replicas) => replicas,
            Scale::Autoscaled(autoscaled) => autoscaled.max_replicas,
        }
        .max(1)
    }

    /// Whether the pool asks for any worker: `replicas: 0` without autoscaling is a pool put
    /// to sleep, not one that lost its workers.
    pub fn wants_workers(self) -> bool {
        self.fixed().is_none_or(|replicas| replicas > 0)
    }
}
