//! Operator benchmarks on private local control planes; figures printed, nothing asserted.
//!
//! For each N (default 100, 1000 and 5000; `TRADEPLANE_BENCH_SIZES=100,1000` overrides):
//! - the time for N TradingStrategies to reach Ready through the operator, next to the time a
//!   plain client takes to create the same children (rendered by the same pure functions) and
//!   see their Deployments available, each on a fresh control plane of the same size; the
//!   plain client runs before and after the operator, and the mean of the two is compared
//!   (above N = 1000 only before; `TRADEPLANE_BENCH_PLAIN_RUNS=0|1|2` overrides);
//! - the writes and API requests of a full no-op resync (a restarted operator reconciling N
//!   strategies that need nothing), per reconcile;
//! - the operator's resident memory (peak and now) with N strategies, and per strategy over
//!   its memory with none; the time a restarted operator takes to converge again;
//! - where that memory goes: each cache the operator keeps, weighed in this process by the heap
//!   bytes it holds (`memory`), beside the full-object caches it does not keep.
//!
//! The operator processes inherit `GLIBC_TUNABLES`: `make bench` sets the chart's
//! (`glibcTunables`), so the figures are those of the operator as deployed; the value is
//! printed with them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly on a broken set-up

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e::{OperatorProcess, PrivateCluster, install_crds};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde_json::json;
use tradeplane_operator::api::{BrokerAccount, TradingStrategy};
use tradeplane_operator::controllers::trading_strategy::render;
use tradeplane_operator::controllers::trading_strategy::validate::validate;

#[path = "reconcile_parts/memory.rs"]
mod memory;

const CONCURRENCY: usize = 16;
const BINARY: &str = env!("CARGO_BIN_EXE_tradeplane-operator");

/// The operator binary the bench runs: this build's, or `TRADEPLANE_BENCH_OPERATOR` (another
/// build's, to compare two versions of the operator under the same bench and load).
fn operator_binary() -> std::path::PathBuf {
    std::env::var_os("TRADEPLANE_BENCH_OPERATOR").map_or_else(|| BINARY.into(), Into::into)
}

fn account() -> BrokerAccount {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "paper"}, "spec": {"broker": "Paper"},
    }))
    .unwrap()
}

fn strategy(i: usize) -> TradingStrategy {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": format!("s{i:04}")},
        "spec": {"symbols": ["AAPL", "MSFT"], "brokerAccountRef": {"name": "paper"}},
    }))
    .unwrap()
}

async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let accounts: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        name,
        &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ServiceAccount>(&()),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while accounts.get_opt("default").await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "no default ServiceAccount in {name}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn ready_count(api: &Api<TradingStrategy>) -> usize {
    api.list(&ListParams::default())
        .await
        .map(|list| {
            list.items
                .iter()
                .filter(|s| {
                    s.status.as_ref().is_some_and(|st| {
                        st.conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True")
                    })
                })
                .count()
        })
        .unwrap_or(0)
}

async fn available_count(api: &Api<Deployment>) -> usize {
    api.list(&ListParams::default())
        .await
        .map(|list| {
            list.items
                .iter()
                .filter(|d| {
                    d.status
                        .as_ref()
                        .and_then(|s| s.available_replicas)
                        .unwrap_or(0)
                        >= 1
                })
                .count()
        })
        .unwrap_or(0)
}

/// The API server's own count of writes (POST, PUT, PATCH, DELETE) to the kinds a
/// TradingStrategy owns or is, from its /metrics, per `VERB resource[/subresource]`. Leases are
/// left out: kwok renews the fake nodes' Leases all the time, and the operator's own leader
/// Lease is not a child write. The counter does not say who wrote: status writes of the
/// cluster's own controllers (the deployment, disruption and volume controllers) are in it.
async fn server_writes(client: &Client) -> BTreeMap<String, f64> {
    const KINDS: &[&str] = &[
        "tradingstrategies",
        "deployments",
        "secrets",
        "services",
        "persistentvolumeclaims",
        "cronjobs",
        "poddisruptionbudgets",
        "serviceaccounts",
        "roles",
        "rolebindings",
    ];
    let label = |line: &str, name: &str| -> String {
        line.split(&format!(",{name}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_string()
    };
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(request).await.unwrap();
    let mut counts = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let (verb, resource) = (label(line, "verb"), label(line, "resource"));
        if !["POST", "PUT", "PATCH", "DELETE"].contains(&verb.as_str())
            || !KINDS.contains(&resource.as_str())
        {
            continue;
        }
        let subresource = label(line, "subresource");
        let key = if subresource.is_empty() {
            format!("{verb} {resource}")
        } else {
            format!("{verb} {resource}/{subresource}")
        };
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *counts.entry(key).or_insert(0.0) += value;
    }
    counts
}

/// What changed between two readings of [`server_writes`].
fn writes_between(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(key, value)| (key.clone(), value - before.get(key).copied().unwrap_or(0.0)))
        .filter(|(_, delta)| *delta > 0.0)
        .collect()
}

/// What a plain client does to get the same result: create every child of N strategies
/// (owned by real TradingStrategy objects, so the comparison includes the same objects) and
/// wait until their Deployments are available.
async fn raw_client(client: &Client, n: usize) -> Duration {
    let ns = "bench-raw";
    namespace(client, ns).await;
    let accounts: Api<BrokerAccount> = Api::namespaced(client.clone(), ns);
    accounts
        .create(&PostParams::default(), &account())
        .await
        .unwrap();
    let strategies: Api<TradingStrategy> = Api::namespaced(client.clone(), ns);
    // The owners exist before the clock starts: only the children are timed.
    let owners: Vec<TradingStrategy> = stream::iter(0..n)
        .map(|i| {
            let strategies = strategies.clone();
            async move {
                strategies
                    .create(&PostParams::default(), &strategy(i))
                    .await
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await
        .unwrap();
    let account = {
        let mut a = account();
        a.metadata.namespace = Some(ns.into());
        a
    };
    let started = Instant::now();
    stream::iter(owners)
        .map(|owner| {
            let client = client.clone();
            let account = account.clone();
            async move {
                let valid = validate(&owner, &account, ns, "agent-runtime:bench").unwrap();
                let inputs = render::Inputs {
                    valid: &valid,
                    credentials: BTreeMap::new(),
                };
                let c = render::render(&owner, &inputs).unwrap();
                let pp = PostParams::default();
                macro_rules! create {
                    ($object:expr) => {{
                        let object = $object;
                        api_for(&client, &object)
                            .create(&pp, &object)
                            .await
                            .unwrap();
                    }};
                }
                create!(c.service_account);
                create!(c.role);
                create!(c.role_binding);
                create!(c.lease);
                create!(c.config);
                create!(c.credentials);
                create!(c.service);
                create!(c.journal.unwrap());
                create!(c.deployment.unwrap());
                create!(c.disruption_budget.unwrap());
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let mut last_report = Instant::now();
    loop {
        let available = available_count(&deployments).await;
        if available >= n {
            break;
        }
        // The same progress lines as the operator's run, to compare the two curves.
        if last_report.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "  … {available}/{n} available after {:.0?}",
                started.elapsed()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    started.elapsed()
}

fn api_for<K>(client: &Client, _object: &K) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    Api::namespaced(client.clone(), "bench-raw")
}

async fn strategy_reconciles(operator: &OperatorProcess) -> f64 {
    operator
        .metric_where(
            "tradeplane_operator_reconciles_total",
            "kind=\"TradingStrategy\"",
        )
        .await
}

/// Waits until the operator has run `reconciles` reconciles in all and has nothing queued or
/// running.
async fn wait_idle(operator: &OperatorProcess, reconciles: f64) {
    let strategies = "kind=\"TradingStrategy\"";
    operator
        .wait_metric_where(
            "tradeplane_operator_reconciles_total",
            strategies,
            Duration::from_secs(600),
            |v| v >= reconciles,
        )
        .await
        .unwrap();
    for gauge in [
        "tradeplane_operator_queue_depth",
        "tradeplane_operator_reconciles_in_flight",
    ] {
        operator
            .wait_metric_where(gauge, strategies, Duration::from_secs(120), |v| v == 0.0)
            .await
            .unwrap();
    }
}

struct OperatorRun {
    ready_reconciles: f64,
    ready_requests: f64,
    /// The same requests per HTTP method.
    ready_by_method: Vec<(&'static str, f64)>,
    server_writes: BTreeMap<String, f64>,
    to_ready: Duration,
    resync_writes: f64,
    resync_requests: f64,
    resync_reconciles: f64,
    warm_reconciles: f64,
    warm_gets: f64,
    warm_writes: f64,
    /// RSS (KiB) of the operator leading with no strategies yet, its watches listed.
    baseline_kib: u64,
    /// Peak and current RSS (KiB) after creating N strategies and reaching Ready.
    memory: (u64, u64),
    /// RSS (KiB) of the restarted operator once it converged.
    resync_kib: u64,
    /// From the restarted operator's start to every strategy reconciled and nothing queued.
    restart_to_converged: Duration,
    weights: memory::Weights,
}

async fn through_operator(client: &Client, kubeconfig: &Path, n: usize) -> OperatorRun {
    let ns = "bench-operator";
    namespace(client, ns).await;
    let accounts: Api<BrokerAccount> = Api::namespaced(client.clone(), ns);
    accounts
        .create(&PostParams::default(), &account())
        .await
        .unwrap();
    let operator =
        OperatorProcess::start(&operator_binary(), Some(kubeconfig), ns, "bench").unwrap();
    operator
        .wait_metric("tradeplane_operator_leader", Duration::from_secs(60), |v| {
            v == 1.0
        })
        .await
        .unwrap();
    // Its watches list an empty namespace in well under this.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let baseline_kib = operator.memory_kib().map_or(0, |(_, now)| now);

    let strategies: Api<TradingStrategy> = Api::namespaced(client.clone(), ns);
    let started = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let strategies = strategies.clone();
            async move {
                strategies
                    .create(&PostParams::default(), &strategy(i))
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut last_report = Instant::now();
    loop {
        let ready = ready_count(&strategies).await;
        if ready >= n {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(15) {
            let rss = operator.memory_kib().map_or(0, |(_, now)| now / 1024);
            eprintln!(
                "  … {ready}/{n} Ready after {:.0?}, operator RSS {rss} MiB",
                started.elapsed()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let to_ready = started.elapsed();
    let ready_reconciles = operator
        .metric("tradeplane_operator_reconciles_total")
        .await;
    let ready_requests = operator
        .metric("tradeplane_operator_api_requests_total")
        .await;
    let mut ready_by_method = Vec::new();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let label = format!("method=\"{method}\"");
        let count = operator
            .metric_where("tradeplane_operator_api_requests_total", &label)
            .await;
        ready_by_method.push((method, count));
    }
    // Let the status echoes settle, then measure memory and restart for a clean resync.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let memory = operator.memory_kib().unwrap_or((0, 0));
    operator.terminate().await.unwrap();
    drop(operator);

    let server_writes_before = server_writes(client).await;
    let restarted = Instant::now();
    let resync =
        OperatorProcess::start(&operator_binary(), Some(kubeconfig), ns, "bench-resync").unwrap();
    resync
        .wait_metric("tradeplane_operator_leader", Duration::from_secs(60), |v| {
            v == 1.0
        })
        .await
        .unwrap();
    wait_idle(&resync, n as f64).await;
    let restart_to_converged = restarted.elapsed();
    let resync_kib = resync.memory_kib().map_or(0, |(_, now)| now);
    let resync_writes = resync
        .metric("tradeplane_operator_child_writes_total")
        .await;
    let resync_reconciles = resync.metric("tradeplane_operator_reconciles_total").await;
    // Reads (GET: lists, watches, gets) of the controllers; the leader Lease's own GET/PUT
    // every few seconds are a handful on top.
    let resync_requests = resync
        .metric_where("tradeplane_operator_api_requests_total", "method=\"GET\"")
        .await;
    let server_writes = writes_between(&server_writes_before, &server_writes(client).await);

    // A warm no-op pass: every strategy nudged (an annotation nothing renders from) so each is
    // reconciled once more by an operator that has already verified its children.
    // wait_idle counts the strategies' reconciles only (the account's are a few on top).
    let (gets_before, writes_before, reconciles_before) = (
        resync_requests,
        resync_writes,
        strategy_reconciles(&resync).await,
    );
    stream::iter(0..n)
        .map(|i| {
            let strategies = strategies.clone();
            async move {
                let nudge =
                    json!({"metadata": {"annotations": {"bench.tradeplane.io/nudge": "1"}}});
                strategies
                    .patch(
                        &format!("s{i:04}"),
                        &PatchParams::default(),
                        &Patch::Merge(&nudge),
                    )
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    wait_idle(&resync, reconciles_before + n as f64).await;
    let warm_reconciles = strategy_reconciles(&resync).await - reconciles_before;
    let warm_gets = resync
        .metric_where("tradeplane_operator_api_requests_total", "method=\"GET\"")
        .await
        - gets_before;
    let warm_writes = resync
        .metric("tradeplane_operator_child_writes_total")
        .await
        - writes_before;
    resync.terminate().await.unwrap();
    let weights = memory::weigh_caches(client, ns, n).await;
    OperatorRun {
        ready_reconciles,
        ready_requests,
        ready_by_method,
        server_writes,
        to_ready,
        resync_writes,
        resync_requests,
        resync_reconciles,
        warm_reconciles,
        warm_gets,
        warm_writes,
        baseline_kib,
        memory,
        resync_kib,
        restart_to_converged,
        weights,
    }
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("TRADEPLANE_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000,5000".to_string())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for n in sizes {
        let bench_started = Instant::now();
        // Each side gets a control plane of its own, fresh, so that neither inherits the
        // other's leftovers (volumes still being deleted, a larger etcd, busy controllers).
        let fresh_cluster = || async {
            // `volumes`: a SQLite strategy's journal claim must be bound before its pod runs.
            let cluster = PrivateCluster::start_with_nodes(
                "etcd,apiserver,controller-manager,scheduler,kwok,volumes",
                n / 100 + 2,
            )
            .unwrap();
            let client = cluster.client().await.unwrap();
            install_crds(&client).await.unwrap();
            (cluster, client)
        };
        // The plain client runs before and after the operator: the machine's speed drifts
        // between runs minutes apart, and the mean of the two cancels a steady drift.
        let plain_run = |when: &'static str| {
            let fresh_cluster = &fresh_cluster;
            async move {
                eprintln!("== N = {n}: the plain client ({when}), on a fresh control plane");
                let (cluster, client) = fresh_cluster().await;
                let raw = raw_client(&client, n).await;
                eprintln!(
                    "  plain client: children of {n} strategies created and available in {raw:.1?}"
                );
                drop(cluster);
                raw
            }
        };
        let runs = plain_runs(n);
        let raw_before = if runs >= 1 {
            Some(plain_run("before the operator").await)
        } else {
            None
        };
        eprintln!("== N = {n}: the operator, on a fresh control plane");
        let (cluster, client) = fresh_cluster().await;
        let run = through_operator(&client, &cluster.kubeconfig(), n).await;
        drop(cluster);
        let raw_after = if runs >= 2 {
            Some(plain_run("after the operator").await)
        } else {
            None
        };
        println!("N = {n}");
        println!(
            "  operator's GLIBC_TUNABLES          {}",
            std::env::var("GLIBC_TUNABLES").unwrap_or_else(|_| "unset (glibc's defaults)".into())
        );
        println!(
            "  time to Ready (operator)          {:>8.1?}  ({:.1} strategies/s)",
            run.to_ready,
            n as f64 / run.to_ready.as_secs_f64()
        );
        println!(
            "  on the way: {:.1} reconciles and {:.1} API requests per strategy (the plain client: 10 creates)",
            run.ready_reconciles / n as f64,
            run.ready_requests / n as f64
        );
        println!(
            "    API requests per strategy by method: {}",
            run.ready_by_method
                .iter()
                .map(|(method, count)| format!("{method} {:.1}", count / n as f64))
                .collect::<Vec<_>>()
                .join(", ")
        );
        print_rate(&run, raw_before, raw_after);
        println!(
            "  writes in a no-op resync          {:>8}    over {} reconciles (goal 0)",
            run.resync_writes + 0.0,
            run.resync_reconciles
        );
        println!(
            "  API server's count of writes to those kinds meanwhile, by anyone: {}",
            if run.server_writes.is_empty() {
                "none".to_string()
            } else {
                run.server_writes
                    .iter()
                    .map(|(key, n)| format!("{key} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        println!(
            "  GET requests per no-op reconcile  {:>8.1}    after a restart (nothing verified yet)",
            run.resync_requests / run.resync_reconciles.max(1.0)
        );
        println!(
            "  … and once children are verified {:>8.1}    ({} writes over {} reconciles)",
            run.warm_gets / run.warm_reconciles.max(1.0),
            run.warm_writes,
            run.warm_reconciles
        );
        print_memory(n, &run);
        eprintln!("== N = {n}: done in {:.0?}", bench_started.elapsed());
    }
}

/// How many times the plain client runs for N: `TRADEPLANE_BENCH_PLAIN_RUNS` (0, 1 or 2), by
/// default twice (before and after the operator) up to 1000 strategies and once (before)
/// above, where each run takes the better part of an hour on a small machine.
fn plain_runs(n: usize) -> usize {
    std::env::var("TRADEPLANE_BENCH_PLAIN_RUNS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(if n <= 1000 { 2 } else { 1 })
}

fn print_rate(run: &OperatorRun, before: Option<Duration>, after: Option<Duration>) {
    let (raw, how) = match (before, after) {
        (Some(b), Some(a)) => (
            (b + a) / 2,
            format!("mean of {b:.1?} before and {a:.1?} after"),
        ),
        (Some(b), None) => (b, "one run, before the operator".to_string()),
        _ => {
            println!("  same children, plain client       not run (TRADEPLANE_BENCH_PLAIN_RUNS=0)");
            return;
        }
    };
    println!("  same children, plain client       {raw:>8.1?}  ({how})");
    println!(
        "  operator rate / plain-client rate {:>8.2}   (goal ≥ 0.95)",
        raw.as_secs_f64() / run.to_ready.as_secs_f64()
    );
}

fn print_memory(n: usize, run: &OperatorRun) {
    let per_strategy = |kib: u64| (kib.saturating_sub(run.baseline_kib)) as f64 / n as f64;
    println!(
        "  restart → converged again         {:>8.1?}  ({:.0} strategies/s)",
        run.restart_to_converged,
        n as f64 / run.restart_to_converged.as_secs_f64()
    );
    println!(
        "  operator RSS: no strategies {} MiB; after creating N peak {} / now {} MiB; restarted {} MiB",
        run.baseline_kib / 1024,
        run.memory.0 / 1024,
        run.memory.1 / 1024,
        run.resync_kib / 1024
    );
    println!(
        "  RSS per strategy                  {:>8.1} KiB after creating N, {:.1} KiB restarted (goal ≤ 24)",
        per_strategy(run.memory.1),
        per_strategy(run.resync_kib)
    );
    let kib = |bytes: i64| bytes as f64 / 1024.0 / n as f64;
    println!(
        "  where it goes, KiB per strategy (heap bytes each cache holds, weighed in the bench):"
    );
    for row in &run.weights.kept {
        println!("    {:<52} {:>6.2}", row.what, kib(row.bytes));
    }
    let kept: i64 = run.weights.kept.iter().map(|r| r.bytes).sum();
    let restarted = per_strategy(run.resync_kib);
    println!("    {:<52} {:>6.2}", "caches in all", kib(kept));
    println!(
        "    (a TradingStrategy value is {} bytes before any heap it points to)",
        std::mem::size_of::<TradingStrategy>()
    );
    println!(
        "    {:<52} {:>6.2}",
        "the rest of the restarted RSS (allocator, queues, runtime)",
        restarted - kib(kept)
    );
    let total = |rows: &[memory::Row]| rows.iter().map(|r| r.bytes).sum::<i64>();
    let listed = |rows: &[memory::Row]| {
        rows.iter()
            .map(|r| format!("{} {:.2}", r.what, kib(r.bytes)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  not kept: full child objects, as Controller::owns would cache them: {:.2} KiB per strategy ({})",
        kib(total(&run.weights.full_children)),
        listed(&run.weights.full_children)
    );
    println!(
        "  not kept: metadata-only child stores: {:.2} KiB per strategy ({})",
        kib(total(&run.weights.metadata_children)),
        listed(&run.weights.metadata_children)
    );
}
