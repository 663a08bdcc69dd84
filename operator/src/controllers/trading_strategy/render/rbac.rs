//! The runtime's identity: a ServiceAccount whose Role reaches the strategy's own Lease and
//! its own status, nothing else, and that Lease, created by the operator so the Role needs no
//! `create` (which RBAC cannot limit to one name).

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding};

use crate::controllers::meta::Component;
use crate::controllers::resources::ChildMeta;
use crate::controllers::resources::rbac::{Identity, rule, strategy_status_rule};
use crate::controllers::trading_strategy::names::Names;
use crate::controllers::trading_strategy::names::leader_lease;
use tradeplane_contract::status::SWITCHOVER_ANNOTATION;

pub struct Rbac<'a> {
    meta: &'a ChildMeta<'a>,
    identity: Identity<'a>,
}

impl<'a> Rbac<'a> {
    pub fn new(meta: &'a ChildMeta<'a>, names: &'a Names) -> Self {
        Self {
            meta,
            identity: Identity {
                meta,
                name: &names.account,
                component: Component::Trader,
            },
        }
    }

    pub fn service_account(&self) -> ServiceAccount {
        self.identity.service_account()
    }

    pub fn role(&self) -> Role {
        self.identity.role(runtime_rules(
            self.meta.owner(),
            &leader_lease(self.meta.owner()),
        ))
    }

    pub fn role_binding(&self) -> RoleBinding {
        self.identity.role_binding()
    }
    /// The runtime writes its spec; the operator never does. `switchover_at` (the spec's)
    /// goes on as [`SWITCHOVER_ANNOTATION`]: a value the leader has not handled makes it hand
    /// the Lease to a ready standby.
    pub fn lease(&self, switchover_at: Option<&str>) -> Lease {
        let mut metadata = self
            .meta
            .child(&leader_lease(self.meta.owner()), Component::Trader);
        if let Some(at) = switchover_at {
            metadata
                .annotations
                .get_or_insert_default()
                .insert(SWITCHOVER_ANNOTATION.to_string(), at.to_string());
        }
        Lease {
            metadata,
            spec: None,
        }
    }
}

/// The runtime may touch its own Lease and its own strategy's status, and create Events (a
/// Warning when the journal's position had to be corrected to the broker's), nothing else.
pub fn runtime_rules(strategy: &str, lease: &str) -> Vec<PolicyRule> {
    vec![
        // watch: a standby hears of a release at once (a watch of one named object, which
        // the API server authorizes by resourceNames through metadata.name).
        rule(
            "coordination.k8s.io",
            "leases",
            Some(lease),
            &["get", "watch", "update", "patch"],
        ),
        strategy_status_rule(strategy),
        // Create only: an Event's name is new each time, so it cannot be limited by name, and
        // the runtime never reads, changes or deletes one.
        rule("events.k8s.io", "events", None, &["create"]),
    ]
}
