//! The names the operator gives a strategy's children, as the plugin needs them: the Service
//! in front of the runtime (and its port name), the leader Lease, the pods' labels.
//!
//! Written again here rather than imported: the plugin must not link the controllers. The
//! rule is the operator's `child_name` (`controllers/meta.rs`): `<owner>-<suffix>` when it
//! fits 63 characters, else a shortened owner plus 8 hex digits of a SHA-256 of it. Not yet
//! cross-checked against the operator's function by a test (a known gap, docs/plugin.md).

use sha2::{Digest, Sha256};

/// The port of the strategy's Service that fronts the runtime's HTTP port.
pub const SERVICE_PORT_NAME: &str = "http-metrics";
/// The label naming the owning strategy on every child.
pub const STRATEGY_LABEL: &str = "tradeplane.io/strategy";
/// The label that says which part of the system a pod is.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// The Service in front of the strategy's runtime pods.
pub fn service(strategy: &str) -> String {
    child_name(strategy, "metrics")
}

/// The Lease the replicas elect their leader with.
pub fn leader_lease(strategy: &str) -> String {
    child_name(strategy, "leader")
}

/// The label selector of the strategy's trader pods.
pub fn trader_pods(strategy: &str) -> String {
    format!("{STRATEGY_LABEL}={strategy},{COMPONENT_LABEL}=trader")
}

fn child_name(owner: &str, suffix: &str) -> String {
    let full = format!("{owner}-{suffix}");
    if full.len() <= 63 {
        return full;
    }
    let mut hasher = Sha256::new();
    hasher.update((owner.len() as u64).to_be_bytes());
    hasher.update(owner.as_bytes());
    let hash: String = hasher
        .finalize()
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let keep = 63 - suffix.len() - 1 - 9;
    let head = owner.get(..keep.min(owner.len())).unwrap_or(owner);
    format!("{}-{hash}-{suffix}", head.trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_the_strategy_and_the_suffix() {
        assert_eq!(service("momo"), "momo-metrics");
        assert_eq!(leader_lease("momo"), "momo-leader");
        assert_eq!(
            trader_pods("momo"),
            "tradeplane.io/strategy=momo,app.kubernetes.io/component=trader"
        );
    }

    #[test]
    fn long_names_are_shortened_to_63_characters_with_a_hash() {
        let long = "a".repeat(70);
        let name = service(&long);
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("-metrics"));
        assert_ne!(service(&long), service(&"b".repeat(70)));
    }
}
