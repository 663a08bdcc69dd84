//! Failover figures on a private control plane; printed, not asserted (but a decision placed
//! twice, a slot run by two leaders, or an order the journal and the broker disagree on makes
//! the bench exit non-zero).
//!
//! The rig is the failover tests' (`e2e::failover_rig`): a two-replica strategy on a real
//! PostgreSQL journal and an Alpaca stand-in that refuses a repeated client order id, its pods
//! played by `agent-runtime trader` processes with the strategy's own ServiceAccount token,
//! trading the stand-in's live market data on a one-second schedule with the default Lease
//! timings. It measures:
//! - failover after SIGKILL of the leader, `TRADEPLANE_BENCH_KILLS` times (default 100), each
//!   at a random moment once the standby is ready, with the market's trend turned before
//!   each so the leader has orders to place around it: the time until the standby holds the
//!   Lease, and until the journal shows the first cycle it ran (median, p95, max; goal p95 ≤
//!   6 s);
//! - graceful handover after SIGTERM, `TRADEPLANE_BENCH_HANDOVERS` times (default 10), each at
//!   a random moment: the time until the standby holds the Lease (goal ≤ 1 s), and until its
//!   first cycle;
//! - duplicates: client order ids the broker received more than once (must be 0), slots run
//!   by two leaders, orders the journal and the broker disagree on, and slots of the schedule
//!   neither run nor journalled missed;
//! - API requests per second spent on Leases and on the strategy's status subresource, by
//!   verb, from the API server's own `apiserver_request_total` over
//!   `TRADEPLANE_BENCH_RATE_SECONDS` (default 60) of steady trading, minus the same interval
//!   before any runtime ran (the cluster's own Leases — kwok's nodes, the controller manager,
//!   the scheduler — are in both): at the default Lease timings, and again after the strategy
//!   is set to `failover.leaseDurationSeconds: 15` (both processes restarted on the config
//!   the operator renders for it), side by side with the goals (≤ 1.1 and ≤ 0.3 a second).
//!
//! Needs `kubectl` on PATH (`make bench` puts tests/cluster/build.sh's directory there).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly on a broken set-up

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use agent_runtime::journal::{CycleStatus, Journal};
use chrono::{DateTime, Utc};
use e2e::PrivateCluster;
use e2e::failover_rig::{FailoverRig, Feed, by_name, last_run, next_run, slots_run_twice};
use e2e::runtime_pods::RuntimePod;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use rand::Rng;
use tradeplane_operator::api::TradingStrategy;

/// Seconds between slots of the bench strategy's live schedule.
const INTERVAL: i64 = 1;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The API server's request counters for Leases and for TradingStrategy status, per
/// `VERB resource[/subresource]`, summed over the other labels (code, scope, component …).
async fn lease_and_status_requests(client: &Client) -> BTreeMap<String, f64> {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(request).await.unwrap();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let labels: BTreeMap<&str, &str> = labels
            .split("\",")
            .filter_map(|pair| pair.split_once("=\""))
            .map(|(k, v)| (k, v.trim_end_matches('"')))
            .collect();
        let get = |key: &str| labels.get(key).copied().unwrap_or_default();
        let key = match (get("resource"), get("subresource")) {
            ("leases", "") => format!("{} leases", get("verb")),
            ("tradingstrategies", "status") => format!("{} tradingstrategies/status", get("verb")),
            _ => continue,
        };
        *counts.entry(key).or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
    }
    counts
}

/// Requests per second per key over `seconds` from now.
async fn request_rate(client: &Client, seconds: u64) -> BTreeMap<String, f64> {
    let before = lease_and_status_requests(client).await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = lease_and_status_requests(client).await;
    after
        .iter()
        .map(|(key, n)| {
            let delta = n - before.get(key).copied().unwrap_or(0.0);
            (key.clone(), delta / seconds as f64)
        })
        .collect()
}

/// Sets the strategy's Lease to 15 s, waits for the operator to render it into the runtime's
/// config, and restarts both processes on it (as a rollout would): new pods, same names.
async fn to_long_lease(rig: &FailoverRig, pods: &mut Vec<RuntimePod>) {
    let strategies: Api<TradingStrategy> = rig.namespace.api();
    let patch = serde_json::json!({"spec": {"failover": {"leaseDurationSeconds": 15}}});
    strategies
        .patch(
            e2e::failover_rig::STRATEGY,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = rig.namespace.api();
    let name = format!("{}-config", e2e::failover_rig::STRATEGY);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let secret = secrets.get(&name).await.unwrap();
        let text = secret
            .data
            .and_then(|d| d.get("config.yaml").map(|v| v.0.clone()))
            .unwrap_or_default();
        let config: serde_yaml::Value = serde_yaml::from_slice(&text).unwrap_or_default();
        if config["leaderElection"]["leaseDurationSeconds"].as_u64() == Some(15) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the operator never rendered the 15-s Lease"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for pod in pods.iter_mut() {
        pod.signal("TERM").unwrap();
        pod.wait().await.unwrap();
    }
    let names: Vec<String> = pods.iter().map(|p| p.name.clone()).collect();
    pods.clear();
    for name in names {
        pods.push(rig.pods.start(&rig.client, &name).await.unwrap());
    }
    both_ready(pods).await;
    rig.new_holder(None, Duration::from_secs(60)).await.unwrap();
}

/// The rates of two runs side by side, less the rate without runtimes, with their totals.
fn print_rates(idle: &BTreeMap<String, f64>, runs: [&BTreeMap<String, f64>; 2]) {
    println!(
        "API requests per second for one 2-replica strategy (trading − no runtime)\n  \
         {:<36} {:>12} {:>12}",
        "verb resource", "Lease 4 s", "Lease 15 s"
    );
    let keys: std::collections::BTreeSet<&String> =
        runs.iter().flat_map(|run| run.keys()).collect();
    let extra = |run: &BTreeMap<String, f64>, key: &String| {
        run.get(key).copied().unwrap_or(0.0) - idle.get(key).copied().unwrap_or(0.0)
    };
    let mut totals = [0.0, 0.0];
    for key in keys {
        let [a, b] = [extra(runs[0], key), extra(runs[1], key)];
        totals[0] += a;
        totals[1] += b;
        if a.abs() >= 0.005 || b.abs() >= 0.005 {
            println!("  {key:<36} {a:>12.2} {b:>12.2}");
        }
    }
    println!(
        "  {:<36} {:>12.2} {:>12.2}   (goals ≤ 1.1 and ≤ 0.3)",
        "all of them, per strategy", totals[0], totals[1]
    );
}

/// Median, p95 and max (nearest rank).
fn summary(mut samples: Vec<Duration>) -> String {
    if samples.is_empty() {
        return "no samples".into();
    }
    samples.sort();
    let rank =
        |p: f64| samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    format!(
        "median {:>6.2} s   p95 {:>6.2} s   max {:>6.2} s   (n = {})",
        rank(0.5).as_secs_f64(),
        rank(0.95).as_secs_f64(),
        samples[samples.len() - 1].as_secs_f64(),
        samples.len()
    )
}

/// Waits until both processes are ready: the leader and a hot standby.
async fn both_ready(pods: &[RuntimePod]) {
    for pod in pods {
        pod.wait_ready(Duration::from_secs(60)).await.unwrap();
    }
}

/// Takes `signal` to the leader once; how long until the other holds the Lease, and until
/// the journal shows a cycle it ran. The signalled process is restarted, as the kubelet does.
async fn take_down(
    rig: &FailoverRig,
    journal: &Journal,
    pods: &mut [RuntimePod],
    signal: &str,
) -> (Duration, Duration) {
    let leader = rig.holder().await.expect("nobody leads");
    let process = by_name(pods, &leader).unwrap();
    process.signal(signal).unwrap();
    let at = Instant::now();
    // Read after the signal: a cycle the old leader journalled before dying is not the new one's.
    let before = last_run(journal).await.unwrap().map(|c| c.cycle_id);
    rig.new_holder(Some(&leader), Duration::from_secs(60))
        .await
        .unwrap();
    let leased = at.elapsed();
    next_run(journal, before.as_deref(), Duration::from_secs(60))
        .await
        .unwrap();
    let trading = at.elapsed();
    let process = by_name(pods, &leader).unwrap();
    let code = process.wait().await.unwrap();
    if signal == "TERM" && code != Some(0) {
        eprintln!(
            "  {leader} exited with {code:?} after SIGTERM:\n{}",
            process.log()
        );
    }
    process.restart(&rig.binary).unwrap();
    (leased, trading)
}

/// Slots of the schedule between the first and the last journalled cycle that are in the
/// journal neither as run nor as missed.
async fn unaccounted_slots(journal: &Journal) -> Vec<DateTime<Utc>> {
    let cycles = journal.cycles().await.unwrap();
    let times: std::collections::BTreeSet<i64> =
        cycles.iter().map(|c| c.started_at.timestamp()).collect();
    let (Some(first), Some(last)) = (times.first(), times.last()) else {
        return Vec::new();
    };
    (*first..=*last)
        .step_by(INTERVAL as usize)
        .filter(|t| !times.contains(t))
        .filter_map(|t| DateTime::from_timestamp(t, 0))
        .collect()
}

#[tokio::main]
async fn main() {
    let kills = env_count("TRADEPLANE_BENCH_KILLS", 100);
    let handovers = env_count("TRADEPLANE_BENCH_HANDOVERS", 10);
    let rate_seconds = env_count("TRADEPLANE_BENCH_RATE_SECONDS", 60) as u64;
    eprintln!("== failover: a private control plane");
    let cluster =
        PrivateCluster::start("etcd,apiserver,controller-manager,scheduler,kwok").unwrap();
    let client = cluster.client().await.unwrap();
    let rig = FailoverRig::start(
        &client,
        &cluster.kubeconfig(),
        "bench-failover",
        Feed::Live {
            interval_seconds: INTERVAL as u32,
        },
    )
    .await
    .unwrap();
    rig.pod_names().await.unwrap();
    eprintln!("== API requests without runtimes ({rate_seconds} s)");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = request_rate(&client, rate_seconds).await;
    let (mut pods, journal, _) = rig.start_trading().await.unwrap();
    both_ready(&pods).await;
    eprintln!("== API requests while trading ({rate_seconds} s)");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let trading = request_rate(&client, rate_seconds).await;

    eprintln!("== {kills} kills of the leader");
    let (mut kill_leased, mut kill_trading) = (Vec::new(), Vec::new());
    for i in 0..kills {
        both_ready(&pods).await;
        // The trend turns at every kill: the leader sells or buys back on it, so orders are
        // in flight around the kills and a takeover has some to get right.
        rig.set_trend(i % 2 == 1);
        let wait = rand::rng().random_range(500..2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let (leased, trading) = take_down(&rig, &journal, &mut pods, "KILL").await;
        kill_leased.push(leased);
        kill_trading.push(trading);
        if (i + 1) % 10 == 0 {
            eprintln!("  … {} kills, the last taken over in {trading:.2?}", i + 1);
        }
    }
    eprintln!("== {handovers} SIGTERM handovers");
    let (mut term_leased, mut term_trading) = (Vec::new(), Vec::new());
    for _ in 0..handovers {
        both_ready(&pods).await;
        // At a random moment: a fixed delay after readiness would fall at the same point of
        // the standby's look at the Lease every time.
        let wait = rand::rng().random_range(1000..2000);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let (leased, trading) = take_down(&rig, &journal, &mut pods, "TERM").await;
        term_leased.push(leased);
        term_trading.push(trading);
    }
    eprintln!("== API requests with leaseDurationSeconds: 15 ({rate_seconds} s)");
    to_long_lease(&rig, &mut pods).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let long_lease = request_rate(&client, rate_seconds).await;
    for pod in &pods {
        let _ = pod.signal("TERM");
    }

    let twice = rig.sent_twice();
    let run_twice = slots_run_twice(&journal).await.unwrap();
    let disagreements = rig.disagreements(&journal).await.unwrap();
    let never_sent = rig.never_sent(&journal).await.unwrap();
    let unaccounted = unaccounted_slots(&journal).await;
    let cycles = journal.cycles().await.unwrap();
    let missed = cycles
        .iter()
        .filter(|c| c.status == CycleStatus::Missed)
        .count();
    let orders = rig.sent().len();

    println!("failover (2 replicas, default Lease timings, a cycle a second on a live feed)");
    println!(
        "  SIGKILL → standby holds the Lease    {}",
        summary(kill_leased)
    );
    println!(
        "  SIGKILL → its first cycle            {}   (goal p95 ≤ 6 s)",
        summary(kill_trading)
    );
    println!(
        "  SIGTERM → standby holds the Lease    {}   (goal ≤ 1 s)",
        summary(term_leased)
    );
    println!(
        "  SIGTERM → its first cycle            {}",
        summary(term_trading)
    );
    println!(
        "  client order ids sent twice          {:>6}   (must be 0; {orders} sent in all)",
        twice.len()
    );
    println!(
        "  slots run by two leaders             {:>6}",
        run_twice.len()
    );
    println!(
        "  journal/broker disagreements         {:>6}   {disagreements:?}",
        disagreements.len()
    );
    println!(
        "  journalled, killed before sending    {:>6}   (closed by the next leader)",
        never_sent.len()
    );
    println!(
        "  slots neither run nor missed         {:>6}   ({} cycles journalled, {missed} missed)",
        unaccounted.len(),
        cycles.len()
    );
    print_rates(&idle, [&trading, &long_lease]);
    if !twice.is_empty() || !run_twice.is_empty() || !disagreements.is_empty() {
        eprintln!(
            "sent twice: {twice:?}\nslots run twice: {run_twice:?}\n\
             journal/broker disagreements: {disagreements:#?}"
        );
        std::process::exit(1);
    }
    drop(pods);
    rig.teardown(Vec::new()).await.unwrap();
    drop(cluster);
}
