//! The journal readers' Role and RoleBinding (`spec.journalReaders`).
//!
//! The journal API is reached through the API server's service proxy, which RBAC guards as
//! `get` on `services/proxy`. The API server checks that request against the URL's name
//! segment as it is written: the plugin asks for `<service>:<port name>`, so the resource
//! name `momo-metrics:http-metrics` allows exactly that port of that Service, and neither
//! `momo-metrics` (the Service's first port) nor `https:momo-metrics:…` (another scheme).
//! Measured with a real API server (tests/e2e/tests/plugin_ops.rs); `services/proxy`
//! without a name would reach every Service in the namespace, so it is never granted here.
//!
//! A strategy whose rollout is `Shadow` also has `<name>-shadow` while an analysis runs, whose
//! journal `kubectl tradeplane rollout` shows beside the live one; its port is granted too,
//! but only to such a strategy: a Direct one never has a shadow to read.

use k8s_openapi::api::rbac::v1::{Role, RoleBinding, RoleRef, Subject};

use crate::api::trading_strategy::{JournalReaders, RolloutStrategy, TradingStrategy};
use crate::controllers::meta::Component;
use crate::controllers::resources::ChildMeta;
use crate::controllers::resources::rbac::rule;
use crate::controllers::trading_strategy::names::{Names, STRATEGY_SERVICE_PORT};
use crate::controllers::trading_strategy::shadow::names::ShadowNames;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The one resource name the readers' Role grants: the Service's runtime port, as the
/// service proxy URL names it.
pub fn proxy_resource_name(service: &str) -> String {
    format!("{service}:{STRATEGY_SERVICE_PORT}")
}

/// The Role and its RoleBinding, or `None` (both must not exist) when nobody is listed.
pub fn readers(
    strategy: &TradingStrategy,
    meta: &ChildMeta<'_>,
    names: &Names,
) -> Option<(Role, RoleBinding)> {
    let readers = strategy
        .spec
        .journal_readers
        .as_ref()
        .filter(|r| !r.is_empty())?;
    let metadata = meta.child(&names.readers, Component::Trader);
    let namespace = metadata.namespace.clone();
    let mut proxy = rule(
        "",
        "services/proxy",
        Some(&proxy_resource_name(&names.service)),
        &["get"],
    );
    if shadowed(strategy) {
        let shadow = ShadowNames::of(meta.owner());
        proxy
            .resource_names
            .get_or_insert_default()
            .push(proxy_resource_name(&shadow.service));
    }
    let role = Role {
        metadata: metadata.clone(),
        rules: Some(vec![proxy]),
    };
    let binding = RoleBinding {
        metadata,
        role_ref: RoleRef {
            api_group: Some(RBAC_GROUP.to_string()),
            kind: "Role".to_string(),
            name: names.readers.clone(),
        },
        subjects: Some(subjects(readers, namespace)),
    };
    Some((role, binding))
}

/// Whether the strategy's new revisions are analysed in a shadow (`spec.rollout.strategy:
/// Shadow`).
fn shadowed(strategy: &TradingStrategy) -> bool {
    strategy
        .spec
        .rollout
        .as_ref()
        .and_then(|r| r.strategy)
        .is_some_and(|s| s == RolloutStrategy::Shadow)
}

/// Groups, then users, then ServiceAccounts of the strategy's namespace, each in the order
/// listed.
fn subjects(readers: &JournalReaders, namespace: Option<String>) -> Vec<Subject> {
    let person = |kind: &str, name: &String| Subject {
        api_group: Some(RBAC_GROUP.to_string()),
        kind: kind.to_string(),
        name: name.clone(),
        namespace: None,
    };
    let groups = readers.groups.iter().map(|g| person("Group", g));
    let users = readers.users.iter().map(|u| person("User", u));
    let accounts = readers.service_accounts.iter().map(|name| Subject {
        api_group: None,
        kind: "ServiceAccount".to_string(),
        name: name.clone(),
        namespace: namespace.clone(),
    });
    groups.chain(users).chain(accounts).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::trading_strategy::names::{STRATEGY_LABEL, names};
    use serde_json::json;

    fn strategy(readers: serde_json::Value, rollout: serde_json::Value) -> TradingStrategy {
        serde_json::from_value(json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "metadata": {"name": "momo", "namespace": "desk", "uid": "u-1"},
            "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"},
                     "journalReaders": readers, "rollout": rollout},
        }))
        .unwrap()
    }

    fn render_with(
        listed: serde_json::Value,
        rollout: serde_json::Value,
    ) -> Option<(Role, RoleBinding)> {
        let strategy = strategy(listed, rollout);
        let meta = ChildMeta::new(&strategy, STRATEGY_LABEL);
        readers(&strategy, &meta, &names("momo"))
    }

    fn render(listed: serde_json::Value) -> Option<(Role, RoleBinding)> {
        render_with(listed, json!(null))
    }

    fn proxied(role: Role) -> Vec<String> {
        role.rules.unwrap()[0].resource_names.clone().unwrap()
    }

    #[test]
    fn a_shadowed_strategys_readers_also_reach_the_shadows_runtime_port() {
        let listed = json!({"users": ["ann@example.com"]});
        let (role, _) = render_with(listed.clone(), json!({"strategy": "Shadow"})).unwrap();
        assert_eq!(
            proxied(role),
            ["momo-metrics:http-metrics", "momo-shadow:http-metrics"]
        );
        // Direct, said or by default: there is never a shadow, so nothing of it is granted.
        for rollout in [json!({"strategy": "Direct"}), json!({}), json!(null)] {
            let (role, _) = render_with(listed.clone(), rollout.clone()).unwrap();
            assert_eq!(proxied(role), ["momo-metrics:http-metrics"], "{rollout}");
        }
    }

    #[test]
    fn the_role_reaches_only_the_runtime_port_of_this_strategys_service() {
        let (role, binding) = render(json!({"groups": ["desk-traders"]})).unwrap();
        assert_eq!(role.metadata.name.as_deref(), Some("momo-journal-readers"));
        assert_eq!(
            serde_json::to_value(role.rules.unwrap()).unwrap(),
            json!([{"apiGroups": [""], "resources": ["services/proxy"],
                    "resourceNames": ["momo-metrics:http-metrics"], "verbs": ["get"]}])
        );
        assert_eq!(binding.role_ref.name, "momo-journal-readers");
        assert_eq!(binding.role_ref.kind, "Role");
        let owner = &role.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("TradingStrategy", "u-1")
        );
    }

    #[test]
    fn every_listed_subject_is_bound_with_its_kind() {
        let (_, binding) = render(json!({
            "groups": ["g1", "g2"], "users": ["ann@example.com"], "serviceAccounts": ["dash"]
        }))
        .unwrap();
        let subjects: Vec<(String, String, Option<String>)> = binding
            .subjects
            .unwrap()
            .into_iter()
            .map(|s| (s.kind, s.name, s.namespace))
            .collect();
        let s = |k: &str, n: &str, ns: Option<&str>| (k.into(), n.into(), ns.map(Into::into));
        assert_eq!(
            subjects,
            vec![
                s("Group", "g1", None),
                s("Group", "g2", None),
                s("User", "ann@example.com", None),
                s("ServiceAccount", "dash", Some("desk")),
            ]
        );
    }

    #[test]
    fn nobody_listed_means_no_role_and_no_binding() {
        assert!(render(json!(null)).is_none());
        assert!(render(json!({})).is_none());
        assert!(render(json!({"groups": [], "users": []})).is_none());
    }
}
