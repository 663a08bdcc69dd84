//! What a shadow revision costs, on a private control plane; printed, not asserted.
//!
//! The rig is the shadow tests' (`e2e::shadow_rig`): the failover rig's two-replica strategy
//! (PostgreSQL journal, the Alpaca stand-in as its broker, replayed bars, a cycle a second),
//! its two live runtimes and, once the operator renders it, the shadow's own runtime, each on
//! its pod's IP so the in-process TradingStrategy controller reads both journals through the
//! API server's service proxy as it would in a cluster. The strategy is set to
//! `rollout: {strategy: Shadow}` — the default analysis: 10 cycles, 90% agreement, a passed
//! shadow waits for a manual promote. It measures:
//! - API requests per second by user — the live runtimes' ServiceAccount, the shadow's, and
//!   the operator — and by verb and resource, from the API server's audit log, over
//!   `TRADEPLANE_BENCH_RATE_SECONDS` (default 30) before any change, and over every stretch in
//!   which a shadow's analysis ran (verdict `Running`), beside a live replica's own rate;
//! - the resident memory of the shadow's runtime beside a live replica's;
//! - the time from the spec patch to the final verdict (`Succeeded` or `Failed`) in
//!   `status.rollout.verdict`, over `TRADEPLANE_BENCH_SHADOW_CHANGES` (default 3) changes of a
//!   quant parameter that agrees with the live revision (each a new shadow: the runtime for
//!   its new pod starts once kwok gives the pod an IP, as a kubelet would start it).
//!
//! The operator's share is told from the bench's own reads by the user agent of its client.
//! The replayed feed lasts about 150 cycles: the defaults fit in it with room to spare.
//!
//! Needs `kubectl` on PATH and root (pod IPs on `lo`); `make bench` runs it with a release
//! runtime (`TRADEPLANE_RUNTIME_BIN`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly on a broken set-up

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use e2e::PrivateCluster;
use e2e::audit::{self, Request, Window};
use e2e::failover_rig::{FailoverRig, STRATEGY};
use e2e::runtime_pods::RuntimePod;
use e2e::shadow_rig::{self, WITHIN, patch_spec, start_shadow, wait_rollout};
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;
use tradeplane_operator::api::TradingStrategy;

/// The user agent of the in-process operator's client: its requests in the audit log.
const OPERATOR_AGENT: &str = "tradeplane-operator (shadow bench)";

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A client of the admin kubeconfig whose requests carry [`OPERATOR_AGENT`].
async fn operator_client(kubeconfig: &Path) -> kube::Client {
    let file = Kubeconfig::read_from(kubeconfig).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .unwrap();
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(OPERATOR_AGENT),
    ));
    kube::Client::try_from(config).unwrap()
}

/// Who sent a request, of the three the bench tells apart.
fn who(request: &Request, namespace: &str) -> Option<&'static str> {
    let account = |name: &str| format!("system:serviceaccount:{namespace}:{name}");
    if request.user == account(&format!("{STRATEGY}-runtime")) {
        Some("live runtimes")
    } else if request.user == account(&format!("{STRATEGY}-shadow-runtime")) {
        Some("shadow runtime")
    } else if request.user_agent == OPERATOR_AGENT {
        Some("operator")
    } else {
        None
    }
}

/// Resident and peak memory of a process in MiB (0 when it is gone).
fn memory_mib(pod: &RuntimePod) -> (f64, f64) {
    let pid = pod.pid().and_then(|p| u32::try_from(p).ok()).unwrap_or(0);
    let (peak, now) = e2e::procfs::memory_kib(pid).unwrap_or_default();
    (now as f64 / 1024.0, peak as f64 / 1024.0)
}

/// One change analysed in a shadow: how long to its verdict, which, and when it ran.
struct Analysed {
    to_verdict: Duration,
    verdict: String,
    cycles_compared: i32,
    running: Window,
    shadow_mib: (f64, f64),
}

/// Patches a quant parameter the live revision agrees with, starts the runtime of the new
/// shadow pod (stopping the one it replaces), and waits for the verdict.
async fn analyse_change(
    rig: &FailoverRig,
    observer: &kube::Client,
    strategies: &Api<TradingStrategy>,
    shadow: &mut Option<RuntimePod>,
    step: u32,
) -> Analysed {
    let previous = strategies
        .get(STRATEGY)
        .await
        .unwrap()
        .status
        .and_then(|s| s.rollout)
        .and_then(|r| r.shadow_revision);
    let confidence = 0.2 + f64::from(step) * 0.0001;
    let spec =
        json!({"decision": {"minConfidence": confidence}, "rollout": {"strategy": "Shadow"}});
    let patched = Instant::now();
    patch_spec(strategies, spec).await.unwrap();
    let replacing = shadow.as_ref().map(|s| s.name.clone());
    if let Some(mut old) = shadow.take() {
        // Its pod goes as the shadow's Deployment is recreated: the kubelet stops it. Dropped
        // before the new one starts, as kwok may give the new pod the same IP, which the old
        // process's drop would take off `lo`.
        old.signal("TERM").unwrap();
        old.wait().await.unwrap();
    }
    *shadow = Some(
        start_shadow(rig, observer, replacing.as_deref())
            .await
            .unwrap(),
    );
    let new = |r: &tradeplane_operator::api::trading_strategy::RolloutStatus| {
        r.shadow_revision.is_some() && r.shadow_revision != previous
    };
    wait_rollout(strategies, WITHIN, |r| {
        new(r) && r.verdict.as_deref() == Some("Running")
    })
    .await
    .unwrap();
    let running_from = Utc::now();
    let judged = wait_rollout(strategies, 2 * WITHIN, |r| {
        new(r) && matches!(r.verdict.as_deref(), Some("Succeeded" | "Failed"))
    })
    .await
    .unwrap();
    let to_verdict = patched.elapsed();
    let running = (running_from, Utc::now());
    let rollout = judged.status.and_then(|s| s.rollout).unwrap_or_default();
    Analysed {
        to_verdict,
        verdict: rollout.verdict.unwrap_or_default(),
        cycles_compared: rollout.cycles_compared.unwrap_or(0),
        running,
        shadow_mib: shadow.as_ref().map(memory_mib).unwrap_or_default(),
    }
}

/// Request rates by user and by `user: verb resource`, before and while shadows ran.
fn print_requests(requests: &[Request], namespace: &str, before: &[Window], during: &[Window]) {
    let by_user = |r: &Request| who(r, namespace).map(str::to_string);
    let by_verb =
        |r: &Request| who(r, namespace).map(|w| format!("{w}: {} {}", r.verb, r.resource));
    let (users_before, users_during) = (
        audit::rates(requests, before, by_user),
        audit::rates(requests, during, by_user),
    );
    let (verbs_before, verbs_during) = (
        audit::rates(requests, before, by_verb),
        audit::rates(requests, during, by_verb),
    );
    let rate = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    println!(
        "  API requests/s by user        {:>10} {:>14} {:>8}",
        "before", "shadow running", "extra"
    );
    for user in ["live runtimes", "shadow runtime", "operator"] {
        let (b, d) = (rate(&users_before, user), rate(&users_during, user));
        println!("    {user:<28} {b:>10.2} {d:>14.2} {:>+8.2}", d - b);
    }
    println!("  … by verb and resource");
    let keys: BTreeSet<&String> = verbs_before.keys().chain(verbs_during.keys()).collect();
    for key in keys {
        let (b, d) = (rate(&verbs_before, key), rate(&verbs_during, key));
        if b >= 0.005 || d >= 0.005 {
            println!("    {key:<52} {b:>6.2} {d:>8.2} {:>+8.2}", d - b);
        }
    }
    let extra = |user: &str| rate(&users_during, user) - rate(&users_before, user);
    let shadow = extra("operator") + extra("shadow runtime");
    let replica = rate(&users_before, "live runtimes") / 2.0;
    println!(
        "  a shadow adds {shadow:.2} requests/s (the operator's and the shadow runtime's) = \
         {:.1}× one live replica ({replica:.2}/s, the mean of the two)",
        shadow / replica.max(f64::EPSILON)
    );
    let reads = "operator: get services/proxy";
    println!(
        "  of which the operator's reads of the two journals (get services/proxy) {:.2}/s",
        rate(&verbs_during, reads) - rate(&verbs_before, reads)
    );
}

/// Median, min and max.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let (Some(min), Some(max)) = (samples.first(), samples.last()) else {
        return "no samples".into();
    };
    format!(
        "median {:.1} s   min {:.1} s   max {:.1} s   (n = {})",
        samples[(samples.len() - 1) / 2].as_secs_f64(),
        min.as_secs_f64(),
        max.as_secs_f64(),
        samples.len()
    )
}

/// The measurements, with the live replicas trading throughout.
async fn measure(rig: &FailoverRig, observer: &kube::Client, live: &[RuntimePod], audit: &Path) {
    let seconds = env_count("TRADEPLANE_BENCH_RATE_SECONDS", 30) as u64;
    let changes = env_count("TRADEPLANE_BENCH_SHADOW_CHANGES", 3) as u32;
    let strategies: Api<TradingStrategy> = Api::namespaced(observer.clone(), &rig.namespace.name);
    eprintln!("== API requests without a shadow ({seconds} s)");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let from = Utc::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let before = [(from, Utc::now())];
    let mut shadow = None;
    let mut analysed = Vec::new();
    for step in 1..=changes {
        eprintln!("== change {step} of {changes}: a shadow with the default analysis");
        let change = analyse_change(rig, observer, &strategies, &mut shadow, step).await;
        eprintln!(
            "  {} after {:.1?}, {} cycles compared",
            change.verdict, change.to_verdict, change.cycles_compared
        );
        analysed.push(change);
    }
    let live_mib: Vec<(f64, f64)> = live.iter().map(memory_mib).collect();
    let requests = audit::read(audit).unwrap();
    let during: Vec<Window> = analysed.iter().map(|a| a.running).collect();
    let running_seconds: f64 = during.iter().map(|(f, t)| (*t - *f).as_seconds_f64()).sum();

    println!(
        "shadow (2 live replicas, a cycle a second on replayed bars, the default analysis; \
         {seconds} s before, {running_seconds:.0} s of {changes} analyses running)"
    );
    print_requests(&requests, &rig.namespace.name, &before, &during);
    for (i, a) in analysed.iter().enumerate() {
        println!(
            "  shadow {} runtime RSS {:>6.1} MiB (peak {:.1})   verdict {} over {} cycles",
            i + 1,
            a.shadow_mib.0,
            a.shadow_mib.1,
            a.verdict,
            a.cycles_compared
        );
    }
    for (pod, (now, peak)) in live.iter().zip(&live_mib) {
        println!(
            "  live replica {:<24} RSS {now:>6.1} MiB (peak {peak:.1})",
            pod.name
        );
    }
    println!(
        "  spec patch → final verdict  {}   (floor: 10 cycles of 1 s; the shadow's runtime \
         started as its pod got an IP)",
        summary(analysed.iter().map(|a| a.to_verdict).collect())
    );
    drop(shadow);
}

#[tokio::main]
async fn main() {
    eprintln!("== shadow: a private control plane with an audit log");
    let cluster =
        PrivateCluster::start_audited("etcd,apiserver,controller-manager,scheduler,kwok").unwrap();
    let observer = cluster.client().await.unwrap();
    let operator = operator_client(&cluster.kubeconfig()).await;
    let (rig, live, journal) =
        shadow_rig::trading_rig(&operator, &cluster.kubeconfig(), "bench-shadow")
            .await
            .unwrap();
    let audit_log = cluster.audit_log();
    tokio::select! {
        () = shadow_rig::track_replay_prices(&rig, &journal) => unreachable!("it never ends"),
        () = measure(&rig, &observer, &live, &audit_log) => {}
    }
    rig.teardown(live).await.unwrap();
    drop(cluster);
}
