//! `kubectl tradeplane status` end to end on a strategy whose journal holds a million rows;
//! printed, not asserted (goal: ≤ 300 ms on this machine).
//!
//! A private control plane (API server, etcd, the controller manager for the Endpoints, the
//! scheduler and one kwok node) holds a TradingStrategy, its metrics Service and one trader
//! Pod; the IP kwok gives the pod is put on `lo`, and the runtime's own HTTP server
//! (`server::router_with_api`, the journal API a trader serves) listens there on a SQLite
//! journal of [`ROWS`] cycles, orders, fills and equity snapshots (`journal::synthetic`). The plugin binary is then run `RUNS` times as a user runs it, with
//! the cluster's kubeconfig: every run reads the strategy, its pods, Lease and Events from the
//! API server and the journal through the API server's service proxy. A run whose screen does
//! not show the journal's newest cycle stops the bench.
//!
//! `TRADEPLANE_PLUGIN_BIN` names the plugin binary (`make bench` builds the release one);
//! otherwise the one `cargo test --workspace` builds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly on a broken set-up

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_runtime::api::JournalApi;
use agent_runtime::config::Identity;
use agent_runtime::journal::{Journal, synthetic};
use agent_runtime::metrics::Metrics;
use agent_runtime::server::{Health, router_with_api};
use e2e::runtime_pods::PodAddress;
use e2e::{PrivateCluster, TestNamespace, cli, install_crds, wait_for};
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use tradeplane_operator::api::names::{STRATEGY_LABEL, STRATEGY_SERVICE_PORT, strategy_service};

const ROWS: u64 = 1_000_000;
const RUNS: usize = 30;
const STRATEGY: &str = "bench";
const PORT: u16 = 8080;

#[tokio::main]
async fn main() {
    let cluster =
        PrivateCluster::start_with_nodes("etcd,apiserver,controller-manager,scheduler,kwok", 1)
            .unwrap();
    let client = cluster.client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, "plugin-bench")
        .await
        .unwrap();

    let path = shm_dir().join(format!("tp-bench-plugin-status-{}.db", std::process::id()));
    let started = Instant::now();
    synthetic::fill_sqlite(&path, ROWS).await.unwrap();
    println!(
        "plugin status: a journal of {ROWS} cycles, orders, fills and equity snapshots written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let journal = Journal::open_sqlite(&path).await.unwrap();
    let pod_ip = create_strategy_and_pod(&client, &namespace).await;
    let _address = PodAddress::add(&pod_ip).unwrap();
    serve(journal.clone(), &namespace.name, &pod_ip).await;
    wait_for_endpoints(&namespace).await;

    let binary = match std::env::var_os("TRADEPLANE_PLUGIN_BIN") {
        Some(path) => PathBuf::from(path),
        None => cli::plugin_binary().await.unwrap(),
    };
    let newest = format!("c{:09}", ROWS - 1);
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let output = std::process::Command::new(&binary)
            .args(["status", STRATEGY, "-n", &namespace.name, "--kubeconfig"])
            .arg(cluster.kubeconfig())
            .output()
            .unwrap();
        times.push(started.elapsed());
        let screen = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && screen.contains(&newest),
            "the status screen does not show cycle {newest}:\n{screen}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "plugin status end to end over the service proxy, {RUNS} runs at {ROWS} rows: \
         p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms (goal ≤ 300 ms)",
        ms(times[RUNS / 2]),
        ms(times[RUNS * 9 / 10]),
        ms(times[RUNS - 1])
    );
    journal.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn shm_dir() -> PathBuf {
    if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    }
}

/// The journal API as a trader serves it, on the pod's address.
async fn serve(journal: Journal, namespace: &str, pod_ip: &str) {
    let metrics = Metrics::new().unwrap();
    let api = JournalApi {
        journal,
        identity: Identity {
            namespace: namespace.into(),
            name: STRATEGY.into(),
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

/// The strategy, its metrics Service (as the operator renders them) and a trader Pod on the
/// kwok node, which kwok runs and marks Ready; the pod's IP.
async fn create_strategy_and_pod(client: &kube::Client, namespace: &TestNamespace) -> String {
    let mut labels = serde_json::Map::new();
    labels.insert(STRATEGY_LABEL.to_string(), json!(STRATEGY));
    for object in [
        json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
               "metadata": {"name": STRATEGY},
               "spec": {"symbols": ["AAPL", "MSFT"], "brokerAccountRef": {"name": "paper"},
                        "journal": {"backend": "Sqlite"}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": strategy_service(STRATEGY)},
               "spec": {"selector": labels,
                        "ports": [{"name": STRATEGY_SERVICE_PORT, "port": PORT, "targetPort": "http"}]}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": format!("{STRATEGY}-trader-0"), "labels": labels},
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
        &format!("{STRATEGY}-trader-0"),
        "an IP from kwok",
        Duration::from_secs(60),
        has_ip,
    )
    .await
    .unwrap();
    pod.status.and_then(|s| s.pod_ip).unwrap()
}

/// Waits until the controller manager has put the pod into the Service's Endpoints.
async fn wait_for_endpoints(namespace: &TestNamespace) {
    let endpoints: Api<Endpoints> = namespace.api();
    let has_address = |found: Option<&Endpoints>| {
        found
            .and_then(|e| e.subsets.as_ref())
            .is_some_and(|subsets| subsets.iter().any(|s| s.addresses.is_some()))
    };
    wait_for(
        &endpoints,
        &strategy_service(STRATEGY),
        "an address in the Service's Endpoints",
        Duration::from_secs(60),
        has_address,
    )
    .await
    .unwrap();
}

async fn apply(client: &kube::Client, namespace: &str, value: Value) {
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
