//! A strategy whose journal API is the runtime's own HTTP server on a large synthetic
//! journal, reachable through the API server's service proxy as a trader's is: a
//! TradingStrategy, its metrics Service (as the operator renders them) and one trader Pod on
//! a kwok node, with the runtime's server listening on the IP kwok gave the pod (put on `lo`
//! by the caller, `runtime_pods::PodAddress`). What the plugin and dashboard benches read.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench set-up: a failure stops it loudly

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_runtime::api::JournalApi;
use agent_runtime::config::Identity;
use agent_runtime::journal::Journal;
use agent_runtime::metrics::Metrics;
use agent_runtime::server::{Health, router_with_api};
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use tradeplane_operator::api::names::{STRATEGY_LABEL, STRATEGY_SERVICE_PORT, strategy_service};

use crate::{TestNamespace, wait_for};

/// The port the runtime's server listens on, as a trader's `http` port.
pub const PORT: u16 = 8080;

/// Where a bench's journal file goes: memory when there is /dev/shm.
pub fn shm_dir() -> PathBuf {
    if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    }
}

/// The journal API as a trader serves it, on the pod's address.
pub async fn serve(journal: Journal, namespace: &str, strategy: &str, pod_ip: &str) {
    let metrics = Metrics::new().unwrap();
    let api = JournalApi {
        journal,
        identity: Identity {
            namespace: namespace.into(),
            name: strategy.into(),
        },
        metrics: metrics.clone(),
        pnl_baseline: None,
    };
    let listener = tokio::net::TcpListener::bind((pod_ip, PORT)).await.unwrap();
    let app = router_with_api(
        Arc::new(Health::new(Duration::from_secs(60))),
        metrics,
        Some(api),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
}

/// The strategy, its metrics Service and a trader Pod on the kwok node, which kwok runs and
/// marks Ready; the pod's IP.
pub async fn create_strategy_and_pod(
    client: &kube::Client,
    namespace: &TestNamespace,
    strategy: &str,
) -> String {
    let mut labels = serde_json::Map::new();
    labels.insert(STRATEGY_LABEL.to_string(), json!(strategy));
    for object in [
        json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
               "metadata": {"name": strategy},
               "spec": {"symbols": ["AAPL", "MSFT"], "brokerAccountRef": {"name": "paper"},
                        "journal": {"backend": "Sqlite"}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": strategy_service(strategy)},
               "spec": {"selector": labels,
                        "ports": [{"name": STRATEGY_SERVICE_PORT, "port": PORT, "targetPort": "http"}]}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": format!("{strategy}-trader-0"), "labels": labels},
               "spec": {"containers": [{"name": "agent-runtime", "image": "agent-runtime:bench",
                                        "ports": [{"name": "http", "containerPort": PORT}]}]}}),
    ] {
        apply(client, &namespace.name, object).await;
    }
    let pods: Api<Pod> = namespace.api();
    let has_ip = |found: Option<&Pod>| {
        found
            .and_then(|p| p.status.as_ref())
            .is_some_and(|s| s.pod_ip.is_some())
    };
    let pod = wait_for(
        &pods,
        &format!("{strategy}-trader-0"),
        "an IP from kwok",
        Duration::from_secs(60),
        has_ip,
    )
    .await
    .unwrap();
    pod.status.and_then(|s| s.pod_ip).unwrap()
}

/// Waits until the controller manager has put the pod into the Service's Endpoints.
pub async fn wait_for_endpoints(namespace: &TestNamespace, strategy: &str) {
    let endpoints: Api<Endpoints> = namespace.api();
    let has_address = |found: Option<&Endpoints>| {
        found
            .and_then(|e| e.subsets.as_ref())
            .is_some_and(|subsets| subsets.iter().any(|s| s.addresses.is_some()))
    };
    wait_for(
        &endpoints,
        &strategy_service(strategy),
        "an address in the Service's Endpoints",
        Duration::from_secs(60),
        has_address,
    )
    .await
    .unwrap();
}

/// Server-side apply of one object, as the bench's field manager.
pub async fn apply(client: &kube::Client, namespace: &str, value: Value) {
    let object: kube::api::DynamicObject = serde_json::from_value(value).unwrap();
    let gvk = kube::api::GroupVersionKind::try_from(object.types.as_ref().unwrap()).unwrap();
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &resource);
    api.patch(
        object.metadata.name.as_deref().unwrap(),
        &PatchParams::apply("plugin-bench").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap();
}
