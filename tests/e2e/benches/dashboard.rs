//! `kubectl tradeplane dashboard` in headless Chromium: first load of the overview with
//! [`STRATEGIES`] strategies (goal ≤ 1 s to the first useful paint), a strategy page whose
//! journal holds [`ROWS`] rows (goal ≤ 1.5 s), bytes transferred on first load (goal
//! ≤ 500 KB) and the console's RSS; printed, not asserted.
//!
//! A private control plane with a kwok node holds the strategies; one of them has a trader
//! Pod whose IP is on `lo`, where the runtime's own HTTP server serves a synthetic SQLite
//! journal (`e2e::journal_pod`, as benches/plugin_status.rs), so the page reads it through
//! the API server's service proxy as it would a real trader's. The others carry a status as
//! the operator writes it. The plugin binary runs as a user runs it (`dashboard --port 0`),
//! and the times are the page's own `performance` marks, from navigation start.
//! `TRADEPLANE_PLUGIN_BIN` names the binary (`make bench` builds the release one).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly on a broken set-up

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use agent_runtime::journal::{Journal, synthetic};
use e2e::browser::Browser;
use e2e::journal_pod::{apply, create_strategy_and_pod, serve, shm_dir, wait_for_endpoints};
use e2e::runtime_pods::PodAddress;
use e2e::{PrivateCluster, TestNamespace, cli, install_crds};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tradeplane_operator::api::TradingStrategy;

const ROWS: u64 = 100_000;
const STRATEGIES: usize = 100;
const RUNS: usize = 5;
const STRATEGY: &str = "bench";

#[tokio::main]
async fn main() {
    let cluster =
        PrivateCluster::start_with_nodes("etcd,apiserver,controller-manager,scheduler,kwok", 1)
            .unwrap();
    let client = cluster.client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, "dashboard-bench")
        .await
        .unwrap();
    let path = shm_dir().join(format!("tp-bench-dashboard-{}.db", std::process::id()));
    synthetic::fill_sqlite(&path, ROWS).await.unwrap();
    let journal = Journal::open_sqlite(&path).await.unwrap();
    let pod_ip = create_strategy_and_pod(&client, &namespace, STRATEGY).await;
    let _address = PodAddress::add(&pod_ip).unwrap();
    serve(journal.clone(), &namespace.name, STRATEGY, &pod_ip).await;
    wait_for_endpoints(&namespace, STRATEGY).await;
    create_others(&client, &namespace).await;

    let binary = match std::env::var_os("TRADEPLANE_PLUGIN_BIN") {
        Some(path) => PathBuf::from(path),
        None => cli::plugin_binary().await.unwrap(),
    };
    let mut console = tokio::process::Command::new(&binary)
        .args([
            "dashboard",
            "--port",
            "0",
            "-n",
            &namespace.name,
            "--kubeconfig",
        ])
        .arg(cluster.kubeconfig())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(console.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap_or_default();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the console prints its URL")
        .to_string();

    let mut browser = Browser::start().await.unwrap();
    let overview = measure(
        &mut browser,
        &url,
        &format!("document.querySelectorAll('tr[data-strategy]').length === {STRATEGIES}"),
        "tp-overview-rows",
    )
    .await;
    let bytes = browser
        .eval(TRANSFERRED)
        .await
        .unwrap()
        .as_f64()
        .unwrap_or(0.0);
    let page = format!("{url}#/s/{}/{STRATEGY}", namespace.name);
    let strategy = measure(&mut browser, &page, "performance.getEntriesByName('tp-strategy-charts').length && performance.getEntriesByName('tp-strategy-timeline').length", "tp-strategy-charts").await;
    let rss = rss_kib(console.id().unwrap_or(0));
    println!(
        "dashboard: overview of {STRATEGIES} strategies, first useful paint: median {:.0} ms, max {:.0} ms over {RUNS} loads (goal ≤ 1000 ms)",
        overview[RUNS / 2],
        overview[RUNS - 1]
    );
    println!(
        "dashboard: strategy page with a journal of {ROWS} cycles, orders, fills and equity snapshots, charts and timeline drawn: median {:.0} ms, max {:.0} ms (goal ≤ 1500 ms)",
        strategy[RUNS / 2],
        strategy[RUNS - 1]
    );
    println!(
        "dashboard: bytes transferred on first load of the overview: {:.0} KB, gzipped (goal ≤ 500 KB compressed)",
        bytes / 1000.0
    );
    println!(
        "dashboard: the console's RSS after these loads: {:.1} MiB",
        rss as f64 / 1024.0
    );

    browser.close().await.unwrap();
    let _ = console.kill().await;
    journal.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Every byte the page's first load took: the document and each resource (the event stream
/// stays open and counts 0).
const TRANSFERRED: &str = "[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].reduce((sum, e) => sum + e.transferSize, 0)";

/// Loads `url` [`RUNS`] times from a blank page; each time the `mark`'s time from navigation
/// start once `ready` holds, sorted.
async fn measure(browser: &mut Browser, url: &str, ready: &str, mark: &str) -> Vec<f64> {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        browser.navigate("about:blank").await.unwrap();
        browser
            .wait_for("location.href === 'about:blank'", Duration::from_secs(10))
            .await
            .unwrap();
        browser.navigate(url).await.unwrap();
        browser
            .wait_for(ready, Duration::from_secs(60))
            .await
            .unwrap();
        let at = browser
            .eval(&format!(
                "performance.getEntriesByName('{mark}')[0].startTime"
            ))
            .await
            .unwrap();
        times.push(at.as_f64().unwrap_or(f64::NAN));
    }
    times.sort_by(f64::total_cmp);
    times
}

/// The other strategies, each with a status as the operator writes it.
async fn create_others(client: &kube::Client, namespace: &TestNamespace) {
    let api: Api<TradingStrategy> = namespace.api();
    for i in 1..STRATEGIES {
        let name = format!("{STRATEGY}-{i:03}");
        let spec = json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "metadata": {"name": name},
            "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}}});
        apply(client, &namespace.name, spec).await;
        let status: Value = json!({"status": {"phase": "Trading", "mode": "Paper",
            "tradingState": "Active", "readyReplicas": 1, "desiredReplicas": 1,
            "leader": format!("{name}-trader-0"), "equity": "100250.00",
            "profitAndLoss": "+250.00 (+0.25%)", "openPositions": 1}});
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
}

fn rss_kib(pid: u32) -> u64 {
    e2e::procfs::memory_kib(pid).map_or(0, |(_, rss)| rss)
}
