//! The names the operator gives a resource's children, and the ones a client needs to find
//! them (the kubectl plugin reads a strategy's Service and Lease by these names). One rule for
//! both, so a client can never look for a name the operator did not give.

use sha2::{Digest, Sha256};

/// The label naming the owning strategy on every child of a TradingStrategy.
pub const STRATEGY_LABEL: &str = "tradeplane.io/strategy";
/// The port of a strategy's Service in front of the runtime's HTTP port (probes, metrics,
/// the journal API).
pub const STRATEGY_SERVICE_PORT: &str = "http-metrics";

/// A child's name: the owner's name and a suffix, kept within the 63 characters a Service
/// or label value allows by shortening the owner part and adding a hash of it.
pub fn child_name(owner: &str, suffix: &str) -> String {
    let full = format!("{owner}-{suffix}");
    if full.len() <= 63 {
        return full;
    }
    let keep = 63 - suffix.len() - 1 - 9;
    let head = owner
        .get(..keep.min(owner.len()))
        .unwrap_or(owner)
        .trim_end_matches('-');
    format!("{head}-{}-{suffix}", owner_hash(owner))
}

/// 8 hex digits of the SHA-256 of the length-prefixed owner name.
fn owner_hash(owner: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update((owner.len() as u64).to_be_bytes());
    hasher.update(owner.as_bytes());
    hasher
        .finalize()
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The Service in front of a strategy's runtime pods.
pub fn strategy_service(strategy: &str) -> String {
    child_name(strategy, "metrics")
}

/// The Lease a strategy's replicas elect their leader with.
pub fn leader_lease(strategy: &str) -> String {
    child_name(strategy, "leader")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_owner_is_shortened_with_a_hash_to_63_characters() {
        assert_eq!(child_name("momo", "metrics"), "momo-metrics");
        let long = "a".repeat(70);
        let name = child_name(&long, "metrics");
        assert_eq!(name.len(), 63, "{name}");
        assert!(name.ends_with("-metrics"));
        assert_ne!(name, child_name(&format!("{long}b"), "metrics"));
    }
}
