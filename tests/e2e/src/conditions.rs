//! Reading the conditions of the Tradeplane kinds, the way the tests wait for them and
//! check them: one definition for every test, whichever kind it looks at.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use tradeplane_operator::api::{AgentPool, Backtest, BrokerAccount, TradingStrategy};

/// A kind whose status carries a list of conditions.
pub trait Conditioned {
    /// The conditions of the status; none while there is no status.
    fn conditions(&self) -> &[Condition];
}

impl Conditioned for TradingStrategy {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

impl Conditioned for Backtest {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

impl Conditioned for AgentPool {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

impl Conditioned for BrokerAccount {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

/// The condition `type_` of `object`, when there is an object and it has that condition
/// (`object` is an `Option` because that is what [`crate::wait_for`] hands its predicates).
pub fn condition<'a, K: Conditioned>(object: Option<&'a K>, type_: &str) -> Option<&'a Condition> {
    object?.conditions().iter().find(|c| c.type_ == type_)
}

/// The `(status, reason)` of condition `type_`, to compare with a pair.
pub fn status_reason<'a, K: Conditioned>(
    object: Option<&'a K>,
    type_: &str,
) -> Option<(&'a str, &'a str)> {
    condition(object, type_).map(|c| (c.status.as_str(), c.reason.as_str()))
}

/// Whether condition `type_` of `object` has this status and reason.
pub fn has_condition<K: Conditioned>(
    object: Option<&K>,
    type_: &str,
    status: &str,
    reason: &str,
) -> bool {
    status_reason(object, type_) == Some((status, reason))
}

/// Whether `object`'s `Ready` condition is `True`.
pub fn is_ready<K: Conditioned>(object: Option<&K>) -> bool {
    condition(object, "Ready").is_some_and(|c| c.status == "True")
}

/// The message of condition `type_`; a panic (the test's failure) when it is missing.
pub fn message<'a, K: Conditioned>(object: &'a K, type_: &str) -> &'a str {
    match condition(Some(object), type_) {
        Some(c) => &c.message,
        None => panic!("no {type_} condition in {:?}", object.conditions()),
    }
}

/// The core/v1 Events in `namespace` about the object `name`, as `kubectl describe` lists
/// them: where the controllers' condition transitions and warnings are read back.
pub async fn events_about(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<k8s_openapi::api::core::v1::Event>, kube::Error> {
    let events: kube::Api<k8s_openapi::api::core::v1::Event> =
        kube::Api::namespaced(client.clone(), namespace);
    let listed = events.list(&kube::api::ListParams::default()).await?;
    Ok(listed
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect())
}
