//! The names the operator gives a strategy's children, as the plugin needs them: the Service
//! in front of the runtime (and its port name), the leader Lease, the pods' labels.
//!
//! The naming rule itself is `tradeplane_api::names`, the one the operator names them by.

pub use tradeplane_api::names::{
    STRATEGY_LABEL, STRATEGY_SERVICE_PORT as SERVICE_PORT_NAME, leader_lease,
};

/// The label that says which part of the system a pod is.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// The Service in front of the strategy's runtime pods.
pub fn service(strategy: &str) -> String {
    tradeplane_api::names::strategy_service(strategy)
}

/// The label selector of the strategy's trader pods.
pub fn trader_pods(strategy: &str) -> String {
    format!("{STRATEGY_LABEL}={strategy},{COMPONENT_LABEL}=trader")
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
