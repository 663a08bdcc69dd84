//! The names and labels of a strategy's children: a leaf every step of the pipeline reads
//! (render, backup, leadership, apply) so that none of them has to import another for a name.

pub use crate::api::names::{STRATEGY_LABEL, STRATEGY_SERVICE_PORT, leader_lease};
use crate::controllers::meta::child_name;

/// Names of the children, so the reconcile can find and delete them.
pub struct Names {
    pub config: String,
    pub credentials: String,
    pub account: String,
    pub service: String,
    pub journal: String,
    pub deployment: String,
    pub cycle: String,
    /// The journal readers' Role and RoleBinding (`spec.journalReaders`).
    pub readers: String,
}

pub fn names(strategy: &str) -> Names {
    Names {
        config: child_name(strategy, "config"),
        credentials: child_name(strategy, "credentials"),
        account: child_name(strategy, "runtime"),
        service: crate::api::names::strategy_service(strategy),
        journal: child_name(strategy, "journal"),
        deployment: child_name(strategy, "trader"),
        cycle: child_name(strategy, "cycle"),
        readers: child_name(strategy, "journal-readers"),
    }
}
