//! The names of a strategy's shadow children, and the annotations that drive a promotion.

use crate::controllers::meta::child_name;

/// Annotation on the TradingStrategy: a user's manual promote of a shadow that succeeded
/// (`onSuccess: Wait`). Its value is the shadow's revision (`status.rollout.shadowRevision`),
/// so a promote meant for one revision never promotes a later one.
pub const PROMOTE_ANNOTATION: &str = "tradeplane.io/promote-shadow";

/// Annotation on the TradingStrategy: a user's manual abort of the shadow of a revision
/// (running or passed). Its value is that revision, as for the promote: the shadow is
/// removed, the live pods keep theirs, and the revision stays refused until the spec asks
/// for another.
pub const ABORT_ANNOTATION: &str = "tradeplane.io/abort-shadow";

/// Annotation on the trader Deployment (not its pod template, so adding it rolls no pod):
/// the decision revision its pods run (see `revision::decision_revision`).
pub const DECISION_REVISION_ANNOTATION: &str = "tradeplane.io/decision-revision";

/// The shadow's children: `<name>-shadow` (Deployment and Service), its config and
/// credentials Secrets, and its ServiceAccount.
pub struct ShadowNames {
    pub deployment: String,
    pub service: String,
    pub config: String,
    pub credentials: String,
    pub account: String,
}

impl ShadowNames {
    pub fn of(strategy: &str) -> Self {
        let base = child_name(strategy, "shadow");
        Self {
            deployment: base.clone(),
            service: base.clone(),
            config: child_name(&base, "config"),
            credentials: child_name(&base, "credentials"),
            account: child_name(&base, "runtime"),
        }
    }
}
