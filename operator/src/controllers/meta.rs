//! Names, labels, annotations and hashes shared by the children of every kind.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// Annotation on every child: the hash of its last rendering (see `children::ensure`).
pub const RENDERED_HASH_ANNOTATION: &str = "tradeplane.io/rendered-hash";
/// Annotation on pod templates: the hash of everything the pods read at start (config,
/// credentials, keys). A change of any of them rolls the pods.
pub const INPUTS_HASH_ANNOTATION: &str = "tradeplane.io/inputs-hash";
/// Annotation on pod templates carrying `spec.restartAt`, so a new value rolls the pods.
pub const RESTART_AT_ANNOTATION: &str = "tradeplane.io/restart-at";

/// Annotation on pod templates: the hash of the rest of the template, i.e. the revision the
/// pods run. Status reports it (current and desired revision), and a Supervised upgrade
/// compares it to tell whether the live template is out of date.
pub const REVISION_ANNOTATION: &str = "tradeplane.io/revision";

pub const MANAGED_BY: &str = "tradeplane-operator";

/// Prefixes and keys of a resource's own labels that its children inherit. An allow-list
/// rather than "everything": GitOps tools put tracking labels on what they sync (Argo CD's
/// `app.kubernetes.io/instance`), and copying those would make the children look like
/// stray parts of the application.
const INHERITED_LABEL_PREFIXES: &[&str] = &["tradeplane.io/"];
const INHERITED_LABEL_KEYS: &[&str] = &["team", "owner", "cost-center", "environment"];

/// The label that says which [`Component`] a child is.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// Which part of the system a child belongs to; becomes `app.kubernetes.io/component`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Trader,
    Cycle,
    Backup,
    Restore,
    Worker,
    Backtest,
    /// A strategy's shadow: a new revision deciding on paper beside the live pods.
    Shadow,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trader => "trader",
            Self::Cycle => "cycle",
            Self::Backup => "backup",
            Self::Restore => "restore",
            Self::Worker => "worker",
            Self::Backtest => "backtest",
            Self::Shadow => "shadow",
        }
    }
}

/// The labels that select a resource's pods of one component. Stable for the life of the
/// resource: a Deployment's selector cannot change.
pub fn selector_labels(
    owner_label: &str,
    owner: &str,
    component: Component,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            "agent-runtime".to_string(),
        ),
        (owner_label.to_string(), owner.to_string()),
        (COMPONENT_LABEL.to_string(), component.as_str().to_string()),
    ])
}

/// The labels of a child: the selector labels, the standard ones, and the inherited ones.
pub fn child_labels(
    owner_label: &str,
    owner: &str,
    component: Component,
    owner_labels: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = owner_labels
        .into_iter()
        .flatten()
        .filter(|(key, _)| {
            INHERITED_LABEL_KEYS.contains(&key.as_str())
                || INHERITED_LABEL_PREFIXES
                    .iter()
                    .any(|prefix| key.starts_with(prefix))
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    labels.extend(selector_labels(owner_label, owner, component));
    labels.insert(
        "app.kubernetes.io/managed-by".to_string(),
        MANAGED_BY.to_string(),
    );
    labels.insert(
        "app.kubernetes.io/part-of".to_string(),
        "tradeplane".to_string(),
    );
    labels
}

/// A short, stable hash of some byte strings (hex, 16 characters). Inputs are length-prefixed
/// so that ("ab", "c") and ("a", "bc") differ.
pub fn content_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub use crate::api::names::child_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allow_listed_labels_are_inherited() {
        let own = BTreeMap::from([
            ("team".to_string(), "quant".to_string()),
            ("tradeplane.io/desk".to_string(), "fx".to_string()),
            (
                "app.kubernetes.io/instance".to_string(),
                "argocd-app".to_string(),
            ),
            ("random".to_string(), "x".to_string()),
        ]);
        let labels = child_labels(
            "tradeplane.io/strategy",
            "s1",
            Component::Trader,
            Some(&own),
        );
        assert_eq!(labels.get("team").map(String::as_str), Some("quant"));
        assert_eq!(
            labels.get("tradeplane.io/desk").map(String::as_str),
            Some("fx")
        );
        assert!(!labels.contains_key("random"));
        assert!(!labels.contains_key("app.kubernetes.io/instance"));
        assert_eq!(
            labels.get("tradeplane.io/strategy").map(String::as_str),
            Some("s1")
        );
        assert_eq!(
            labels.get(COMPONENT_LABEL).map(String::as_str),
            Some("trader")
        );
    }

    #[test]
    fn hashes_are_stable_short_and_boundary_aware() {
        assert_eq!(content_hash(&[b"abc"]), content_hash(&[b"abc"]));
        assert_eq!(content_hash(&[b"abc"]).len(), 16);
        assert_ne!(content_hash(&[b"ab", b"c"]), content_hash(&[b"a", b"bc"]));
    }

    #[test]
    fn long_owner_names_are_shortened_to_63_characters_and_stay_distinct() {
        let a = child_name(&"a".repeat(60), "metrics");
        let b = child_name(&format!("{}b", "a".repeat(59)), "metrics");
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert!(a.ends_with("-metrics"));
        assert_ne!(a, b);
        assert_eq!(child_name("short", "metrics"), "short-metrics");
    }
}
