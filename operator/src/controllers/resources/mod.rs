//! Builders shared by the children of every kind: the metadata every child carries, the
//! Secrets a runtime pod mounts, the Service in front of it, and the hardened runtime pod.
//!
//! Each kind's own builders (`trading_strategy::render`, `agent_pool::render`) compose these;
//! all of them are pure, so the unit tests check children without a cluster.

pub mod monitoring;
pub mod pod;
pub mod rbac;
pub mod secret;
pub mod service;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use super::meta::{Component, child_labels};

/// What every child of one owner has in common: its namespace, the owner reference that
/// garbage-collects it, and labels (the owner's allow-listed ones plus the standard set).
pub struct ChildMeta<'a> {
    owner_label: &'static str,
    owner_name: String,
    namespace: Option<String>,
    owner_labels: Option<&'a BTreeMap<String, String>>,
    owner_reference: OwnerReference,
}

impl<'a> ChildMeta<'a> {
    /// The metadata for children of `owner`, which are labelled `owner_label: <owner name>`.
    pub fn new<K: Resource<DynamicType = ()>>(owner: &'a K, owner_label: &'static str) -> Self {
        Self {
            owner_label,
            owner_name: owner.meta().name.clone().unwrap_or_default(),
            namespace: owner.meta().namespace.clone(),
            owner_labels: owner.meta().labels.as_ref(),
            owner_reference: pod::owner_reference(owner),
        }
    }

    /// The label naming the owner on every child (`tradeplane.io/strategy`, …).
    pub fn owner_label(&self) -> &'static str {
        self.owner_label
    }

    /// The owner's name.
    pub fn owner(&self) -> &str {
        &self.owner_name
    }

    /// The labels of a child (or pod template) of `component`.
    pub fn labels(&self, component: Component) -> BTreeMap<String, String> {
        child_labels(
            self.owner_label,
            &self.owner_name,
            component,
            self.owner_labels,
        )
    }

    /// The metadata of the child `name` of `component`.
    pub fn child(&self, name: &str, component: Component) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: self.namespace.clone(),
            labels: Some(self.labels(component)),
            owner_references: Some(vec![self.owner_reference.clone()]),
            ..ObjectMeta::default()
        }
    }
}
