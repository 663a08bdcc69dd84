//! The runtime side of a fleet on one API server: real `agent-runtime trader` processes, one
//! per strategy, on a private control plane; printed, not asserted.
//!
//! `TRADEPLANE_BENCH_FLEET` (default `10,25,50`) strategies, added in steps, each with one
//! replica, a one-second live schedule on the quant analysts, the Alpaca stand-in's market
//! data and a SQLite journal; the TradingStrategy controller runs in-process and renders each
//! one's config, ServiceAccount, Role and Lease; each process is a pod of its strategy as the
//! failover rig plays them (its own ServiceAccount token). The chart's API Priority and
//! Fairness objects are installed, so the runtimes' requests are also counted by flow. At each
//! step, over `TRADEPLANE_BENCH_RATE_SECONDS` (default 60) of steady trading:
//! - API requests per second by verb and resource, from the API server's own
//!   `apiserver_request_total` for Leases and strategy status, less the same interval before
//!   any runtime ran; in all and per strategy (Events are left out: the in-process operator's
//!   event recorder writes them too; the runtimes' flow below has the runtimes' own);
//! - every request of the runtimes' ServiceAccounts, from
//!   `apiserver_flowcontrol_dispatched_requests_total` of the runtimes' FlowSchema;
//! - the API server's CPU (user + system time of the kube-apiserver process from /proc).
//!
//! Then an extrapolation to 1,000 and 10,000 strategies from the per-strategy figures.
//!
//! Needs `kubectl` and `helm` on PATH (`make bench` puts tests/cluster/build.sh's directory
//! there). `TRADEPLANE_RUNTIME_BIN` names the runtime binary (`make bench` builds a release one).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly on a broken set-up

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use e2e::failover_rig::daily_bars;
use e2e::runtime_pods::{RuntimePod, StrategyPods};
use e2e::{InProcessController, PrivateCluster, TestNamespace, apply_strict, cli};
use kube::Client;
use serde_json::json;
use standins::alpaca::AlpacaStandin;
use tradeplane_operator::controllers::trading_strategy;

/// The chart's release name: the FlowSchemas are `fleet-tradeplane-operator` and `-runtimes`.
const RELEASE: &str = "fleet";
const RUNTIMES_FLOW: &str = "fleet-tradeplane-runtimes";

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

/// The counters read at one moment: requests by `VERB resource`, the runtimes' flow, and the
/// API server's CPU seconds.
#[derive(Clone, Debug, Default)]
struct Reading {
    requests: BTreeMap<String, f64>,
    runtimes_flow: f64,
    apiserver_cpu: f64,
    at: Option<Instant>,
}

fn labels(line: &str, metric: &str) -> Option<(BTreeMap<String, String>, f64)> {
    let rest = line.strip_prefix(metric)?.strip_prefix('{')?;
    let (labels, value) = rest.rsplit_once("} ")?;
    let labels = labels
        .split("\",")
        .filter_map(|pair| pair.split_once("=\""))
        .map(|(k, v)| (k.to_string(), v.trim_end_matches('"').to_string()))
        .collect();
    Some((labels, value.parse().ok()?))
}

/// User + system CPU seconds of process `pid` so far (/proc/<pid>/stat, in clock ticks of
/// 1/100 s, the kernel's USER_HZ on Linux).
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces; the fields after it are fixed.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

async fn read(client: &Client, apiserver: i32) -> Reading {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(request).await.unwrap();
    let mut reading = Reading {
        apiserver_cpu: cpu_seconds(apiserver),
        at: Some(Instant::now()),
        ..Reading::default()
    };
    for line in text.lines() {
        if let Some((l, value)) = labels(line, "apiserver_request_total") {
            let get = |k: &str| l.get(k).map(String::as_str).unwrap_or_default();
            let key = match (get("resource"), get("subresource")) {
                ("leases", "") => format!("{} leases", get("verb")),
                ("tradingstrategies", "status") => {
                    format!("{} tradingstrategies/status", get("verb"))
                }
                _ => continue,
            };
            *reading.requests.entry(key).or_insert(0.0) += value;
        } else if let Some((l, value)) =
            labels(line, "apiserver_flowcontrol_dispatched_requests_total")
            && l.get("flow_schema").map(String::as_str) == Some(RUNTIMES_FLOW)
        {
            reading.runtimes_flow += value;
        }
    }
    reading
}

/// Per-second rates between two readings.
struct Rates {
    requests: BTreeMap<String, f64>,
    runtimes_flow: f64,
    apiserver_cores: f64,
}

fn rates(before: &Reading, after: &Reading) -> Rates {
    let seconds = after
        .at
        .unwrap()
        .duration_since(before.at.unwrap())
        .as_secs_f64();
    Rates {
        requests: after
            .requests
            .iter()
            .map(|(k, n)| {
                (
                    k.clone(),
                    (n - before.requests.get(k).unwrap_or(&0.0)) / seconds,
                )
            })
            .collect(),
        runtimes_flow: (after.runtimes_flow - before.runtimes_flow) / seconds,
        apiserver_cores: (after.apiserver_cpu - before.apiserver_cpu) / seconds,
    }
}

async fn measure(client: &Client, apiserver: i32, seconds: u64) -> Rates {
    let before = read(client, apiserver).await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    rates(&before, &read(client, apiserver).await)
}

/// The chart's FlowSchemas and priority levels, as `helm template` renders them.
async fn install_flow_control(kubeconfig: &std::path::Path) {
    let chart = e2e::repo_root().join("charts/tradeplane");
    let args = [
        "template",
        RELEASE,
        &chart.to_string_lossy(),
        "-n",
        "tradeplane",
        "--show-only",
        "templates/flowcontrol.yaml",
    ];
    let rendered = cli::run_ok("helm", &args, None).await.unwrap();
    let kubeconfig = kubeconfig.to_string_lossy();
    let args = ["--kubeconfig", &kubeconfig, "apply", "-f", "-"];
    cli::run_ok("kubectl", &args, Some(&rendered))
        .await
        .unwrap();
}

/// The account, its credentials, and strategies `from..to`.
async fn add_strategies(client: &Client, ns: &str, broker: &AlpacaStandin, from: usize, to: usize) {
    if from == 0 {
        for manifest in [
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "alpaca"},
                   "stringData": {"APCA_API_KEY_ID": "key-id", "APCA_API_SECRET_KEY": "secret-key"}}),
            json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
                   "metadata": {"name": "alpaca"},
                   "spec": {"broker": "Alpaca", "environment": "Paper", "endpoint": broker.base_url(),
                            "credentialsSecretRef": {"name": "alpaca"}}}),
        ] {
            apply_strict(client, ns, &manifest).await.unwrap().unwrap();
        }
    }
    for i in from..to {
        let strategy = json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "metadata": {"name": format!("s{i:03}")},
            "spec": {"symbols": ["AAPL", "MSFT"], "brokerAccountRef": {"name": "alpaca"},
                     "replicas": 1, "risk": {"positionSizePercent": 5},
                     "decision": {"minConfidence": 0.2},
                     "schedule": {"intervalSeconds": 1}, "marketData": {"source": "Broker"}}});
        apply_strict(client, ns, &strategy).await.unwrap().unwrap();
    }
}

/// Starts the process of strategy `i` once the operator rendered its config.
async fn start_runtime(client: &Client, pods: &StrategyPods, i: usize) -> RuntimePod {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match pods.start(client, &format!("s{i:03}-0")).await {
            Ok(pod) => return pod,
            // The operator has not rendered its config Secret yet.
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => panic!("strategy s{i:03}: {error:#}"),
        }
    }
}

fn print_step(n: usize, idle: &Rates, step: &Rates) {
    println!("{n} strategies (1 replica each, a cycle a second)");
    let mut total = 0.0;
    for (key, rate) in &step.requests {
        let extra = rate - idle.requests.get(key).copied().unwrap_or(0.0);
        if extra.abs() >= 0.005 {
            println!(
                "  {key:<34} {extra:>8.2}/s   {:>6.3}/s per strategy",
                extra / n as f64
            );
        }
        total += extra;
    }
    let per = total / n as f64;
    println!(
        "  {:<34} {total:>8.2}/s   {per:>6.3}/s per strategy   (goal ≤ 1.1)",
        "Leases + status"
    );
    println!(
        "  {:<34} {:>8.2}/s   {:>6.3}/s per strategy",
        "runtimes' flow (every request)",
        step.runtimes_flow,
        step.runtimes_flow / n as f64
    );
    let cores = step.apiserver_cores - idle.apiserver_cores;
    println!(
        "  kube-apiserver CPU                 {:>8.3} cores ({:.3} idle)   {:>6.2} ms/s per strategy",
        step.apiserver_cores,
        idle.apiserver_cores,
        cores / n as f64 * 1000.0
    );
    for fleet in [1_000.0, 10_000.0] {
        println!(
            "  → at {fleet:>6} strategies: {:>8.0} requests/s, {:>5.1} API server cores (linear)",
            per * fleet,
            cores / n as f64 * fleet
        );
    }
}

#[tokio::main]
async fn main() {
    let steps = env_list("TRADEPLANE_BENCH_FLEET", &[10, 25, 50]);
    let seconds = std::env::var("TRADEPLANE_BENCH_RATE_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    eprintln!("== fleet_runtime: a private control plane");
    let cluster =
        PrivateCluster::start("etcd,apiserver,controller-manager,scheduler,kwok").unwrap();
    let client = cluster.client().await.unwrap();
    let apiserver = cluster.pid("apiserver").unwrap();
    e2e::install_crds(&client).await.unwrap();
    install_flow_control(&cluster.kubeconfig()).await;
    let namespace = TestNamespace::create(&client, "fleet").await.unwrap();
    let ns = namespace.name.clone();
    let broker = AlpacaStandin::start("key-id", "secret-key").await.unwrap();
    for symbol in ["AAPL", "MSFT"] {
        broker.set_price(symbol, 100.0);
        broker.set_bars(symbol, daily_bars(120, true));
    }
    let controller = InProcessController::start(&client, &ns, |context, ns, shutdown| async move {
        trading_strategy::run(context, Some(&ns), shutdown).await
    })
    .unwrap();
    let binary = match std::env::var_os("TRADEPLANE_RUNTIME_BIN") {
        Some(path) => PathBuf::from(path),
        None => cli::runtime_binary().await.unwrap(),
    };
    let root = std::env::temp_dir().join(format!("tp-fleet-{ns}"));
    eprintln!("== API requests without runtimes ({seconds} s)");
    let idle = measure(&client, apiserver, seconds).await;

    let mut running: Vec<RuntimePod> = Vec::new();
    for &n in &steps {
        let from = running.len();
        if n <= from {
            continue;
        }
        eprintln!("== {n} strategies: starting {} runtimes", n - from);
        add_strategies(&client, &ns, &broker, from, n).await;
        for i in from..n {
            let strategy = StrategyPods {
                root: root.clone(),
                namespace: ns.clone(),
                strategy: format!("s{i:03}"),
                admin_kubeconfig: cluster.kubeconfig(),
                binary: binary.clone(),
            };
            running.push(start_runtime(&client, &strategy, i).await);
        }
        for pod in &running {
            pod.wait_ready(Duration::from_secs(180)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        eprintln!("== {n} strategies: measuring ({seconds} s)");
        let step = measure(&client, apiserver, seconds).await;
        print_step(n, &idle, &step);
    }
    for pod in &running {
        let _ = pod.signal("TERM");
    }
    drop(running);
    controller.stop().await.unwrap();
    broker.stop().await;
    let _ = std::fs::remove_dir_all(&root);
    namespace.delete().await.unwrap();
    drop(cluster);
}
