//! The last step of every reconcile: write the operator's part of the status if it changed,
//! publish an Event per condition that changed, and — unless the reconcile is still failing —
//! forget the object's failures so its next error is retried soon.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};

use super::children::ChildKind;
use super::conditions::{self, Observed};
use super::{Context, Error, FIELD_MANAGER};
use crate::api::common::condition_types::{RECONCILING, STALLED};

/// What a reconcile computed for the status of `object`.
pub struct Report<'a, K, S> {
    pub object: &'a K,
    /// The operator's part of the status as computed now.
    pub status: S,
    /// The operator's part of the status as it stands (only these fields are compared, so the
    /// runtime's fields never cause a write).
    pub previous: Option<S>,
    /// The conditions as they stand, to tell which changed.
    pub previous_conditions: &'a [Condition],
    /// The conditions as observed now.
    pub observed: &'a [Observed],
    /// The Events' action, e.g. `Reconcile`.
    pub action: &'static str,
    /// `false` while the reconcile keeps failing transiently in a way it reports itself (a
    /// broker that does not answer): the backoff then keeps growing.
    pub succeeded: bool,
}

/// Writes, publishes and resets as the module docs say.
pub async fn finish<K, S>(context: &Context, report: Report<'_, K, S>) -> Result<(), Error>
where
    K: ChildKind,
    S: serde::Serialize + PartialEq,
{
    let object = report.object;
    if report.previous.as_ref() != Some(&report.status) {
        let namespace = object.meta().namespace.clone().unwrap_or_default();
        let name = object.meta().name.clone().unwrap_or_default();
        write_status::<K>(context, &namespace, &name, &report.status).await?;
    }
    publish_transitions(
        context,
        &object.object_ref(&()),
        report.action,
        report.previous_conditions,
        report.observed,
    )
    .await;
    if report.succeeded {
        context.reset_backoff(object);
    }
    Ok(())
}

/// Writes the operator's part of an object's status by server-side apply on the status
/// subresource. Fields another manager owns (the runtime's) are left alone.
pub async fn write_status<K>(
    context: &Context,
    namespace: &str,
    name: &str,
    status: &impl serde::Serialize,
) -> Result<(), Error>
where
    K: ChildKind,
{
    let api: Api<K> = Api::namespaced(context.client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(name, &params, &Patch::Apply(&patch))
        .await
        .map_err(|source| Error::Status { source })?;
    context.metrics.write(&K::kind(&()), "status");
    Ok(())
}

/// Publishes one Event per condition that changed. Reconciling and Stalled mirror Ready, so
/// they get none of their own. The Event's note is a sentence: the condition and its message.
pub async fn publish_transitions(
    context: &Context,
    regarding: &k8s_openapi::api::core::v1::ObjectReference,
    action: &str,
    previous: &[Condition],
    observed: &[Observed],
) {
    for transition in conditions::transitions(previous, observed) {
        if transition.type_ == RECONCILING || transition.type_ == STALLED {
            continue;
        }
        let note = format!("{}: {}", transition.type_, transition.message);
        context
            .publish(
                regarding,
                transition.is_warning(),
                transition.reason,
                action,
                note,
            )
            .await;
    }
}
