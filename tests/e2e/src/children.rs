//! Reading the children the operator rendered, as the tests that watch them roll do.

use k8s_openapi::api::apps::v1::Deployment;

/// The pod template's `tradeplane.io/inputs-hash`: what changes when the pods must roll. A
/// panic (the test's failure) when the Deployment has none, since the operator always sets it.
pub fn pod_inputs_hash(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get("tradeplane.io/inputs-hash").cloned())
        .unwrap_or_else(|| {
            panic!(
                "no tradeplane.io/inputs-hash on the pod template of {:?}",
                deployment.metadata.name
            )
        })
}
