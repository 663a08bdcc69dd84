//! What the controllers' unit tests read off rendered children and computed statuses, written
//! once for the three kinds.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::controllers::meta::INPUTS_HASH_ANNOTATION;

/// The hash of the config and credentials a Deployment's pods were rendered from.
pub fn pod_hash(deployment: &Deployment) -> String {
    let template = &deployment.spec.as_ref().expect("a spec").template;
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .expect("pod template annotations");
    annotations[INPUTS_HASH_ANNOTATION].clone()
}

/// The (status, reason) of the condition `type_`; panics naming the list when it is missing.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> (&'a str, &'a str) {
    let c = conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {conditions:?}"));
    (c.status.as_str(), c.reason.as_str())
}
