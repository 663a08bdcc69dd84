//! The identity a runtime pod runs as: a ServiceAccount, a Role holding exactly the rules that
//! pod needs, and the RoleBinding between the two, all three of one name. The trader's, the
//! backup Job's and the pool workers' identities differ only in name, component and rules, so
//! they are built here once.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::ChildMeta;
use crate::controllers::meta::Component;

/// The ServiceAccount, Role and RoleBinding `name` of one owner's `component`.
pub struct Identity<'a> {
    pub meta: &'a ChildMeta<'a>,
    /// The ServiceAccount, Role and RoleBinding share this name.
    pub name: &'a str,
    pub component: Component,
}

impl Identity<'_> {
    /// The account the pods run as; they read its token to reach the API.
    pub fn service_account(&self) -> ServiceAccount {
        ServiceAccount {
            metadata: self.meta.child(self.name, self.component),
            automount_service_account_token: Some(true),
            ..ServiceAccount::default()
        }
    }

    /// The Role granting `rules`, and nothing else.
    pub fn role(&self, rules: Vec<PolicyRule>) -> Role {
        Role {
            metadata: self.meta.child(self.name, self.component),
            rules: Some(rules),
        }
    }

    /// Binds the Role to the ServiceAccount, in the owner's namespace.
    pub fn role_binding(&self) -> RoleBinding {
        let metadata = self.meta.child(self.name, self.component);
        let namespace = metadata.namespace.clone();
        RoleBinding {
            metadata,
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_string()),
                kind: "Role".to_string(),
                name: self.name.to_string(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_string(),
                name: self.name.to_string(),
                namespace,
                ..Subject::default()
            }]),
        }
    }
}

/// A rule granting `verbs` on `resource` of API group `group`, limited to the object `name`
/// when there is one.
pub fn rule(group: &str, resource: &str, name: Option<&str>, verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(vec![resource.to_string()]),
        resource_names: name.map(|name| vec![name.to_string()]),
        verbs: verbs.iter().map(|verb| (*verb).to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// Reading and patching the status of the TradingStrategy `strategy`: what both the trader
/// and its backup process report through.
pub fn strategy_status_rule(strategy: &str) -> PolicyRule {
    rule(
        "tradeplane.io",
        "tradingstrategies/status",
        Some(strategy),
        &["get", "patch"],
    )
}
