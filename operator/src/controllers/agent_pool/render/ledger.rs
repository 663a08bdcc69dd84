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
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding};

use crate::controllers::agent_pool::names::Names;
use crate::controllers::meta::Component;
use crate::controllers::resources::ChildMeta;
use crate::controllers::resources::rbac::{Identity, rule};

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
        self.identity().service_account()
    }

    pub fn role(&self) -> Role {
        self.identity().role(worker_rules(&self.names.ledger))
    }

    pub fn role_binding(&self) -> RoleBinding {
        self.identity().role_binding()
    }

    /// The workers' identity shares the ledger's name.
    fn identity(&self) -> Identity<'_> {
        Identity {
            meta: self.meta,
            name: &self.names.ledger,
            component: Component::Worker,
        }
    }
}

/// A worker may read and patch its pool's ledger ConfigMap, nothing else.
pub fn worker_rules(ledger: &str) -> Vec<PolicyRule> {
    vec![rule("", "configmaps", Some(ledger), &["get", "patch"])]
}
