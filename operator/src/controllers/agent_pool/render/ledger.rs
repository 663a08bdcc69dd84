//! The workers' identity and their shared spend ledger: a ConfigMap the operator creates
//! (empty: the operator never writes its `data`), and a ServiceAccount whose Role reaches that
//! one ConfigMap — `get` to read the pool's spend, `patch` to server-side-apply the replica's
//! own key — and nothing else.
//!
//! Why one pre-created object and not one per replica: RBAC cannot limit `create` to a name,
//! and replica names (pod names) are not known in advance, so per-replica objects would need
//! `create` and `patch` on every ConfigMap of the namespace — other applications' included.
//! One named object keeps the grant to that object; server-side apply with a field manager
//! per replica keeps the replicas from overwriting each other's keys. What RBAC cannot
//! prevent is a replica patching another replica's key; the replicas run the same code under
//! the same identity, so that trust boundary is the pool, not the pod.

use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::Names;
use crate::controllers::build::ChildMeta;
use crate::controllers::meta::Component;

pub struct Ledger<'a> {
    pub meta: &'a ChildMeta<'a>,
    pub names: &'a Names,
}

impl Ledger<'_> {
    /// Created without `data`: each replica owns its own key, by server-side apply.
    pub fn config_map(&self) -> ConfigMap {
        ConfigMap {
            metadata: self.meta.child(&self.names.ledger, Component::Worker),
            ..ConfigMap::default()
        }
    }

    pub fn service_account(&self) -> ServiceAccount {
        ServiceAccount {
            metadata: self.meta.child(&self.names.ledger, Component::Worker),
            automount_service_account_token: Some(true),
            ..ServiceAccount::default()
        }
    }

    pub fn role(&self) -> Role {
        Role {
            metadata: self.meta.child(&self.names.ledger, Component::Worker),
            rules: Some(worker_rules(&self.names.ledger)),
        }
    }

    pub fn role_binding(&self) -> RoleBinding {
        let metadata = self.meta.child(&self.names.ledger, Component::Worker);
        let namespace = metadata.namespace.clone();
        RoleBinding {
            metadata,
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_string()),
                kind: "Role".to_string(),
                name: self.names.ledger.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_string(),
                name: self.names.ledger.clone(),
                namespace,
                ..Subject::default()
            }]),
        }
    }
}

/// A worker may read and patch its pool's ledger ConfigMap, nothing else.
pub fn worker_rules(ledger: &str) -> Vec<PolicyRule> {
    vec![PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["configmaps".to_string()]),
        resource_names: Some(vec![ledger.to_string()]),
        verbs: vec!["get".to_string(), "patch".to_string()],
        ..PolicyRule::default()
    }]
}
