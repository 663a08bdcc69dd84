//! Installing the Tradeplane CRDs into the cluster under test.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use crate::wait::wait_for;

/// Installs (or updates) every CRD that `tradeplane_operator::api::crd::all()` generates, by
/// server-side apply, and waits until the API server serves each one.
///
/// Idempotent, and safe for many tests to call at once: each applies the same objects under
/// the same field manager. It installs what the code generates rather than the files in
/// `crds/`, so a test sees the types it was compiled with (a test in the operator crate keeps
/// the files in step).
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(crate::FIELD_MANAGER).force();
    for (_, crd) in tradeplane_operator::api::crd::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(&name, &params, &Patch::Apply(&crd)).await?;
        wait_for(
            &crds,
            &name,
            &format!("CRD {name} to be Established"),
            Duration::from_secs(60),
            |c: Option<&CustomResourceDefinition>| established(c),
        )
        .await?;
    }
    Ok(())
}

fn established(crd: Option<&CustomResourceDefinition>) -> bool {
    crd.and_then(|c| c.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}
