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
use std::time::{Duration, Instant};

use agent_runtime::journal::{Journal, synthetic};
use e2e::journal_pod::{create_strategy_and_pod, serve, shm_dir, wait_for_endpoints};
use e2e::runtime_pods::PodAddress;
use e2e::{PrivateCluster, TestNamespace, cli, install_crds};

const ROWS: u64 = 1_000_000;
const RUNS: usize = 30;
const STRATEGY: &str = "bench";

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
    let pod_ip = create_strategy_and_pod(&client, &namespace, STRATEGY).await;
    let _address = PodAddress::add(&pod_ip).unwrap();
    serve(journal.clone(), &namespace.name, STRATEGY, &pod_ip).await;
    wait_for_endpoints(&namespace, STRATEGY).await;

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
