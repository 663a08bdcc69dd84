//! The names and labels of a strategy's children: a leaf every step of the pipeline reads
//! (render, backup, leadership, apply) so that none of them has to import another for a name.

use crate::controllers::meta::child_name;

/// The label naming the owning strategy on every child.
pub const STRATEGY_LABEL: &str = "tradeplane.io/strategy";

/// Names of the children, so the reconcile can find and delete them.
pub struct Names {
    pub config: String,
    pub credentials: String,
    pub account: String,
    pub service: String,
    pub journal: String,
    pub deployment: String,
    pub cycle: String,
}

pub fn names(strategy: &str) -> Names {
    Names {
        config: child_name(strategy, "config"),
        credentials: child_name(strategy, "credentials"),
        account: child_name(strategy, "runtime"),
        service: child_name(strategy, "metrics"),
        journal: child_name(strategy, "journal"),
        deployment: child_name(strategy, "trader"),
        cycle: child_name(strategy, "cycle"),
    }
}

/// The Lease the strategy's replicas elect their leader with.
pub fn leader_lease(strategy: &str) -> String {
    child_name(strategy, "leader")
}
