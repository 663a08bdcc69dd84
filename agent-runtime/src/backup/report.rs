//! The backup's and the restore's result in the strategy's status: `status.backupReport` and
//! `status.restoreReport`, each written by server-side apply under its own field manager, so
//! the operator's and the trader's writes never remove them (and these never touch theirs).
//! A restore's failure also goes to the container's termination message, which the operator
//! can read from the pod even when the status write failed.

use std::path::Path;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde::Serialize;
use tradeplane_contract::backup::TERMINATION_LOG;

use crate::cluster;
use crate::config::RuntimeConfig;
use crate::status_report::strategy_resource;

/// Writes `report` into `status.<field>` of the config's strategy under `manager`, trying
/// three times. Failures are logged: the backup itself is what matters, and the next run
/// reports again.
pub async fn write<T: Serialize>(
    config: &RuntimeConfig,
    kubeconfig: Option<&Path>,
    manager: &str,
    field: &str,
    report: &T,
) -> bool {
    let client = match cluster::connect(kubeconfig).await {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot reach the API server to report the result");
            return false;
        }
    };
    let identity = &config.identity;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client, &identity.namespace, &strategy_resource());
    let patch = serde_json::json!({
        "apiVersion": "tradeplane.io/v1alpha1",
        "kind": "TradingStrategy",
        "status": { field: report },
    });
    // Forced: the field is this manager's by contract.
    let params = PatchParams::apply(manager).force();
    for attempt in 1..=3 {
        match api
            .patch_status(&identity.name, &params, &Patch::Apply(&patch))
            .await
        {
            Ok(_) => return true,
            Err(error) => {
                tracing::warn!(%error, attempt, field, "cannot write the result to the strategy's status");
                tokio::time::sleep(Duration::from_secs(attempt)).await;
            }
        }
    }
    false
}

/// The termination message, where the kubelet provides its file (in a pod); elsewhere
/// nothing. Never creates the file.
pub fn termination_message(message: &str) {
    let path = Path::new(TERMINATION_LOG);
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
    {
        let _ = std::io::Write::write_all(&mut file, message.as_bytes());
    }
}
