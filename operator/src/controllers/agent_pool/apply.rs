//! The apply step of a pool: makes every rendered child exist as rendered (Secrets first, so
//! new pods find what they mount) and reads back how the workers roll out.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::Api;

use super::KIND;
use super::names;
use super::render::Children;
use super::status::{self, Workload};
use crate::controllers::{Context, Error, children};

/// What applying the children left behind, for the status.
#[derive(Default)]
pub struct Applied {
    pub workload: Workload,
    pub autoscaler_desired: Option<i32>,
}

/// The worker Deployment as it runs, when the children could not be rendered.
pub async fn live_workload(
    context: &Context,
    namespace: &str,
    name: &str,
) -> Result<Workload, Error> {
    let deployments: Api<Deployment> = Api::namespaced(context.client.clone(), namespace);
    let workload = names::names(name).workload;
    let live = deployments
        .get_opt(&workload)
        .await
        .map_err(|source| Error::apply::<Deployment>(&workload, source))?;
    Ok(live
        .map(|deployment| Workload::from_deployment(&deployment))
        .unwrap_or_default())
}

/// Applies every rendered child that differs from the live one, and deletes the autoscaler
/// when autoscaling is off. Secrets first, so new pods find what they mount.
pub async fn apply_children(
    context: &Context,
    namespace: &str,
    name: &str,
    rendered: Children,
) -> Result<Applied, Error> {
    let client = &context.client;
    let cache = &context.children;
    let Children {
        config,
        keys,
        deployment,
        service,
        disruption_budget,
        autoscaler,
        ledger,
        account,
        role,
        role_binding,
    } = rendered;
    // The ledger and the identity before the pods that use them.
    let mut changed = vec![
        children::ensure_known(client, cache, KIND, namespace, ledger).await?,
        children::ensure_known(client, cache, KIND, namespace, account).await?,
        children::ensure_known(client, cache, KIND, namespace, role).await?,
        children::ensure_known(client, cache, KIND, namespace, role_binding).await?,
        children::ensure_known(client, cache, KIND, namespace, keys).await?,
        children::ensure_known(client, cache, KIND, namespace, config).await?,
        children::ensure_known(client, cache, KIND, namespace, service).await?,
    ];
    let deployment = children::ensure(client, cache, KIND, namespace, deployment).await?;
    changed.push(deployment.changed());
    changed.push(children::ensure_known(client, cache, KIND, namespace, disruption_budget).await?);
    let autoscaler_desired = match autoscaler {
        Some(autoscaler) => {
            let outcome = children::ensure(client, cache, KIND, namespace, autoscaler).await?;
            changed.push(outcome.changed());
            status::autoscaler_desired(outcome.object())
        }
        None => {
            let workload = names::names(name).workload;
            changed.push(
                children::remove_known::<HorizontalPodAutoscaler>(
                    client, cache, KIND, namespace, &workload,
                )
                .await?,
            );
            None
        }
    };
    for _ in changed.iter().filter(|c| **c) {
        context.metrics.write(KIND, "child");
    }
    Ok(Applied {
        workload: Workload::from_deployment(deployment.object()),
        autoscaler_desired,
    })
}
