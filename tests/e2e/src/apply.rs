//! Applying manifests the way users do: `kubectl apply --server-side --validate=strict`.

use anyhow::{Context, bail};
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::{GroupVersionKind, Status};
use kube::{Api, Client};
use serde_json::Value;

/// The field manager of everything the tests write.
pub const FIELD_MANAGER: &str = "tradeplane-e2e";

/// Applies one manifest (of any kind the API server serves) into `namespace` by server-side
/// apply with `fieldValidation=Strict`, so unknown and duplicate fields are errors.
///
/// The outer error is a problem of the test itself (a manifest without a kind or name, an
/// unreachable API server); the inner one is the API server refusing the object, with the
/// `Status` it answered.
pub async fn apply_strict(
    client: &Client,
    namespace: &str,
    manifest: &Value,
) -> anyhow::Result<Result<DynamicObject, Box<Status>>> {
    let api_version = manifest["apiVersion"]
        .as_str()
        .context("manifest without apiVersion")?;
    let kind = manifest["kind"].as_str().context("manifest without kind")?;
    let name = manifest["metadata"]["name"]
        .as_str()
        .context("manifest without metadata.name")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("discovering {api_version} {kind}"))?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let params = PatchParams::apply(FIELD_MANAGER).validation_strict();
    match api.patch(name, &params, &Patch::Apply(manifest)).await {
        Ok(object) => Ok(Ok(object)),
        Err(kube::Error::Api(status)) => Ok(Err(status)),
        Err(other) => Err(other).with_context(|| format!("applying {kind} {name}")),
    }
}

/// The documents of a (multi-document) YAML text, without empty ones.
pub fn yaml_documents(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(document)?;
        match value {
            Value::Null => {}
            Value::Object(_) => documents.push(value),
            other => bail!("a YAML document that is not an object: {other}"),
        }
    }
    Ok(documents)
}
