//! What Argo CD does to a cluster, done by the tests: a sync is a server-side apply under
//! Argo CD's field manager with its tracking label and annotation on the object; its
//! server-side diff is the same apply as a dry run; a resource action is a patch by Argo CD's
//! server. And the questions the tests ask afterwards: which objects the operator created
//! (following owner references down to pods), whether they carry Argo CD's marks, and which
//! fields each field manager owns.

use std::collections::BTreeSet;

use anyhow::Context;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use serde_json::{Value, json};

/// The field manager of Argo CD's server-side apply sync.
pub const ARGOCD_MANAGER: &str = "argocd-controller";
/// The field manager of Argo CD's server when it runs a resource action.
pub const ARGOCD_SERVER: &str = "argocd-server";
/// The label Argo CD's label tracking puts on what it syncs.
pub const TRACKING_LABEL: &str = "app.kubernetes.io/instance";
/// The annotation Argo CD's annotation tracking puts on what it syncs.
pub const TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";

fn field<'a>(manifest: &'a Value, pointer: &str) -> anyhow::Result<&'a str> {
    manifest
        .pointer(pointer)
        .and_then(Value::as_str)
        .with_context(|| format!("manifest without {pointer}"))
}

/// `manifest` as Argo CD applies it for the Application `app` in `namespace`: with the
/// tracking label and the tracking annotation.
pub fn tracked(mut manifest: Value, app: &str, namespace: &str) -> anyhow::Result<Value> {
    let api_version = field(&manifest, "/apiVersion")?;
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let id = format!(
        "{app}:{group}/{}:{namespace}/{}",
        field(&manifest, "/kind")?,
        field(&manifest, "/metadata/name")?
    );
    let metadata = manifest["metadata"]
        .as_object_mut()
        .context("manifest without metadata")?;
    for (map, key, value) in [
        ("labels", TRACKING_LABEL, app.to_string()),
        ("annotations", TRACKING_ANNOTATION, id),
    ] {
        metadata
            .entry(map)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .with_context(|| format!("metadata.{map} is not a map"))?
            .insert(key.into(), json!(value));
    }
    Ok(manifest)
}

/// The API of the kind `manifest` is, in `namespace`.
async fn api_for(
    client: &Client,
    namespace: &str,
    manifest: &Value,
) -> anyhow::Result<Api<DynamicObject>> {
    let api_version = field(manifest, "/apiVersion")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, field(manifest, "/kind")?);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("discovering {api_version}"))?;
    Ok(Api::namespaced_with(client.clone(), namespace, &resource))
}

/// Server-side apply of `manifest` as `manager`, forcing conflicts as Argo CD does, with
/// strict field validation (an unknown field is an error, as with `kubectl apply`). With
/// `dry_run` it is what Argo CD's server-side diff asks: what would the object be after a
/// sync.
pub async fn apply_as(
    client: &Client,
    namespace: &str,
    manifest: &Value,
    manager: &str,
    dry_run: bool,
) -> anyhow::Result<Value> {
    let api = api_for(client, namespace, manifest).await?;
    let mut params = PatchParams::apply(manager).force().validation_strict();
    params.dry_run = dry_run;
    let name = field(manifest, "/metadata/name")?;
    let applied = api
        .patch(name, &params, &Patch::Apply(manifest))
        .await
        .with_context(|| format!("applying {} {name}", manifest["kind"]))?;
    Ok(serde_json::to_value(applied)?)
}

/// The live object `manifest` describes, as the API server serves it.
pub async fn live(client: &Client, namespace: &str, manifest: &Value) -> anyhow::Result<Value> {
    let api = api_for(client, namespace, manifest).await?;
    let name = field(manifest, "/metadata/name")?;
    let object = api
        .get(name)
        .await
        .with_context(|| format!("reading {} {name}", manifest["kind"]))?;
    Ok(serde_json::to_value(object)?)
}

/// The JSON merge patch (RFC 7386) that turns `old` into `new`: what Argo CD's server sends
/// after a resource action's Lua returned `new` for the live object `old`.
pub fn merge_patch(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(before), Value::Object(after)) => {
            let mut patch = serde_json::Map::new();
            for (key, value) in after {
                match before.get(key) {
                    Some(previous) if previous == value => {}
                    Some(previous) => {
                        patch.insert(key.clone(), merge_patch(previous, value));
                    }
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in before.keys().filter(|k| !after.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        (_, new) => new.clone(),
    }
}

/// Runs a resource action as Argo CD's server does: `new` is what the action's Lua returned
/// for the live object `old`; their difference is patched under Argo CD's server's name.
pub async fn patch_action_result(
    client: &Client,
    namespace: &str,
    old: &Value,
    new: &Value,
) -> anyhow::Result<Value> {
    let api = api_for(client, namespace, old).await?;
    let name = field(old, "/metadata/name")?;
    let params = PatchParams {
        field_manager: Some(ARGOCD_SERVER.into()),
        ..PatchParams::default()
    };
    let patched = api
        .patch(name, &params, &Patch::Merge(merge_patch(old, new)))
        .await
        .with_context(|| format!("patching {} {name}", old["kind"]))?;
    Ok(serde_json::to_value(patched)?)
}

/// An object without what every write changes, for comparing a dry run with the live one.
pub fn comparable(mut object: Value) -> Value {
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.remove("managedFields");
        metadata.remove("resourceVersion");
    }
    object
}

async fn list_into<K>(
    client: &Client,
    namespace: &str,
    kind: &str,
    into: &mut Vec<Value>,
) -> anyhow::Result<()>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let listed = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing {kind}"))?;
    for item in listed.items {
        let mut value = serde_json::to_value(item)?;
        value["kind"] = json!(kind);
        into.push(value);
    }
    Ok(())
}

/// Every object in `namespace` of a kind the operator creates, or the cluster creates from
/// those (ReplicaSets, Pods), as JSON with its `kind`.
pub async fn everything(client: &Client, namespace: &str) -> anyhow::Result<Vec<Value>> {
    let mut found = Vec::new();
    let into = &mut found;
    list_into::<Secret>(client, namespace, "Secret", into).await?;
    list_into::<ConfigMap>(client, namespace, "ConfigMap", into).await?;
    list_into::<Deployment>(client, namespace, "Deployment", into).await?;
    list_into::<ReplicaSet>(client, namespace, "ReplicaSet", into).await?;
    list_into::<Pod>(client, namespace, "Pod", into).await?;
    list_into::<Service>(client, namespace, "Service", into).await?;
    list_into::<PersistentVolumeClaim>(client, namespace, "PersistentVolumeClaim", into).await?;
    list_into::<PodDisruptionBudget>(client, namespace, "PodDisruptionBudget", into).await?;
    list_into::<ServiceAccount>(client, namespace, "ServiceAccount", into).await?;
    list_into::<Role>(client, namespace, "Role", into).await?;
    list_into::<RoleBinding>(client, namespace, "RoleBinding", into).await?;
    list_into::<Lease>(client, namespace, "Lease", into).await?;
    list_into::<CronJob>(client, namespace, "CronJob", into).await?;
    list_into::<HorizontalPodAutoscaler>(client, namespace, "HorizontalPodAutoscaler", into)
        .await?;
    Ok(found)
}

/// The objects among `objects` owned by one of `owners` (uids), directly or through other
/// owned objects (a Deployment's ReplicaSets and their Pods).
pub fn descendants(objects: &[Value], owners: &BTreeSet<String>) -> Vec<Value> {
    let mut owners = owners.clone();
    let mut found: Vec<Value> = Vec::new();
    loop {
        let before = found.len();
        for object in objects {
            let uid = object["metadata"]["uid"].as_str().unwrap_or_default();
            if owners.contains(uid) {
                continue;
            }
            let owned = object["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r["uid"].as_str().is_some_and(|u| owners.contains(u)))
                });
            if owned {
                owners.insert(uid.to_string());
                found.push(object.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// Where an object, or a pod template in it, carries Argo CD's tracking label or annotation.
pub fn tracking_marks(object: &Value) -> Vec<String> {
    let mut marks = Vec::new();
    for (place, metadata) in [
        ("metadata", &object["metadata"]),
        (
            "spec.template.metadata",
            &object["spec"]["template"]["metadata"],
        ),
        (
            "spec.jobTemplate.spec.template.metadata",
            &object["spec"]["jobTemplate"]["spec"]["template"]["metadata"],
        ),
    ] {
        if metadata["labels"].get(TRACKING_LABEL).is_some() {
            marks.push(format!("{place}.labels[{TRACKING_LABEL}]"));
        }
        if metadata["annotations"].get(TRACKING_ANNOTATION).is_some() {
            marks.push(format!("{place}.annotations[{TRACKING_ANNOTATION}]"));
        }
    }
    marks
}

/// For each of `manager`'s managedFields entries: its subresource (empty for the main
/// resource) and the top-level fields it covers (`f:spec`, `f:status`, ...).
pub fn owned_by(object: &Value, manager: &str) -> Vec<(String, Vec<String>)> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["manager"] == manager)
        .map(|entry| {
            let subresource = entry["subresource"].as_str().unwrap_or("").to_string();
            let fields = entry["fieldsV1"]
                .as_object()
                .map(|f| f.keys().cloned().collect())
                .unwrap_or_default();
            (subresource, fields)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_holds_what_changed_and_nulls_what_went() {
        let old =
            json!({"spec": {"a": 1, "b": {"c": 2, "d": 3}, "gone": true}, "status": {"x": 1}});
        let new =
            json!({"spec": {"a": 1, "b": {"c": 2, "d": 4}, "added": "now"}, "status": {"x": 1}});
        assert_eq!(
            merge_patch(&old, &new),
            json!({"spec": {"b": {"d": 4}, "added": "now", "gone": null}})
        );
    }
}
