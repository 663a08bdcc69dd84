//! The runtime's identity: a ServiceAccount whose Role reaches the strategy's own Lease and
//! its own status, nothing else, and that Lease, created by the operator so the Role needs no
//! `create` (which RBAC cannot limit to one name).

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::Names;
use crate::controllers::build::ChildMeta;
use crate::controllers::meta::Component;
use crate::controllers::trading_strategy::config::leader_lease;
use tradeplane_contract::status::SWITCHOVER_ANNOTATION;

pub struct Rbac<'a> {
    meta: &'a ChildMeta<'a>,
    /// The ServiceAccount, Role and RoleBinding share this name.
    account: &'a str,
}

impl<'a> Rbac<'a> {
    pub fn new(meta: &'a ChildMeta<'a>, names: &'a Names) -> Self {
        Self {
            meta,
            account: &names.account,
        }
    }

    pub fn service_account(&self) -> ServiceAccount {
        ServiceAccount {
            metadata: self.meta.child(self.account, Component::Trader),
            automount_service_account_token: Some(true),
            ..ServiceAccount::default()
        }
    }

    pub fn role(&self) -> Role {
        Role {
            metadata: self.meta.child(self.account, Component::Trader),
            rules: Some(runtime_rules(
                self.meta.owner(),
                &leader_lease(self.meta.owner()),
            )),
        }
    }

    pub fn role_binding(&self) -> RoleBinding {
        let metadata = self.meta.child(self.account, Component::Trader);
        let namespace = metadata.namespace.clone();
        RoleBinding {
            metadata,
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_string()),
                kind: "Role".to_string(),
                name: self.account.to_string(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_string(),
                name: self.account.to_string(),
                namespace,
                ..Subject::default()
            }]),
        }
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
        PolicyRule {
            api_groups: Some(vec!["coordination.k8s.io".to_string()]),
            resources: Some(vec!["leases".to_string()]),
            resource_names: Some(vec![lease.to_string()]),
            // watch: a standby hears of a release at once (a watch of one named object,
            // which the API server authorizes by resourceNames through metadata.name).
            verbs: ["get", "watch", "update", "patch"]
                .map(String::from)
                .to_vec(),
            ..PolicyRule::default()
        },
        PolicyRule {
            api_groups: Some(vec!["tradeplane.io".to_string()]),
            resources: Some(vec!["tradingstrategies/status".to_string()]),
            resource_names: Some(vec![strategy.to_string()]),
            verbs: vec!["get".to_string(), "patch".to_string()],
            ..PolicyRule::default()
        },
        // Create only: an Event's name is new each time, so it cannot be limited by name, and
        // the runtime never reads, changes or deletes one.
        PolicyRule {
            api_groups: Some(vec!["events.k8s.io".to_string()]),
            resources: Some(vec!["events".to_string()]),
            verbs: vec!["create".to_string()],
            ..PolicyRule::default()
        },
    ]
}
