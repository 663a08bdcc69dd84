//! The failover rig as a Shadow strategy: its two live runtimes on their pod IPs (so the
//! operator reads their journal through the API server's service proxy, as in a cluster),
//! the shadow's own runtime once the operator renders its pod, and the waits on
//! `status.rollout` — what the shadow tests and the shadow bench share.

use std::path::Path;
use std::time::{Duration, Instant};

use agent_runtime::journal::Journal;
use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;
use tradeplane_operator::api::TradingStrategy;
use tradeplane_operator::api::trading_strategy::RolloutStatus;

use crate::failover_rig::{FailoverRig, Feed, STRATEGY, last_run, next_run};
use crate::runtime_pods::{RuntimePod, StrategyPods};

/// How long each step may take: a pod addressed, a shadow started, a verdict reached.
pub const WITHIN: Duration = Duration::from_secs(60);

/// Merges `spec` into the strategy's spec.
pub async fn patch_spec(
    strategies: &Api<TradingStrategy>,
    spec: serde_json::Value,
) -> anyhow::Result<()> {
    let patch = Patch::Merge(json!({"spec": spec}));
    strategies
        .patch(STRATEGY, &PatchParams::default(), &patch)
        .await?;
    Ok(())
}

/// The pods of one component of the strategy (`trader` or `shadow`), by name, leaving out
/// the ones being deleted.
pub async fn pods_of(pods: &Api<Pod>, component: &str) -> anyhow::Result<Vec<String>> {
    let selector =
        format!("tradeplane.io/strategy={STRATEGY},app.kubernetes.io/component={component}");
    Ok(pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name)
        .collect())
}

/// Starts the runtime of pod `name` once kwok gave the pod its IP.
pub async fn start_when_addressed(
    pods: &StrategyPods,
    client: &kube::Client,
    name: &str,
) -> anyhow::Result<RuntimePod> {
    let deadline = Instant::now() + WITHIN;
    loop {
        match pods.start_on_pod_ip(client, name).await {
            Ok(pod) => return Ok(pod),
            Err(error) if Instant::now() < deadline => {
                eprintln!("pod {name}: {error}; trying again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(error) => return Err(error.context(format!("pod {name}"))),
        }
    }
}

/// What the shadow's pods share: `<strategy>-shadow`'s config and credentials, each pod's
/// directory under `shadow/` of the rig's.
pub fn shadow_pods(rig: &FailoverRig) -> StrategyPods {
    StrategyPods {
        namespace: rig.namespace.name.clone(),
        strategy: format!("{STRATEGY}-shadow"),
        admin_kubeconfig: rig.pods.admin_kubeconfig.clone(),
        binary: rig.binary.clone(),
        root: rig.pods.root.join("shadow"),
    }
}

/// Starts the shadow's runtime once its pod — another than `replacing`, the pod of a shadow
/// before it — exists and has an IP.
pub async fn start_shadow(
    rig: &FailoverRig,
    client: &kube::Client,
    replacing: Option<&str>,
) -> anyhow::Result<RuntimePod> {
    let pods: Api<Pod> = rig.namespace.api();
    let deadline = Instant::now() + WITHIN;
    loop {
        let found = pods_of(&pods, "shadow").await?;
        if let Some(name) = found.iter().find(|n| Some(n.as_str()) != replacing) {
            return start_when_addressed(&shadow_pods(rig), client, name).await;
        }
        if Instant::now() > deadline {
            bail!("no new shadow pod within {WITHIN:?} (only {found:?})");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until `status.rollout` satisfies `done`; the strategy then.
pub async fn wait_rollout<F>(
    strategies: &Api<TradingStrategy>,
    within: Duration,
    done: F,
) -> anyhow::Result<TradingStrategy>
where
    F: Fn(&RolloutStatus) -> bool,
{
    let deadline = Instant::now() + within;
    loop {
        let strategy = strategies.get(STRATEGY).await?;
        let rollout = strategy.status.as_ref().and_then(|s| s.rollout.clone());
        if rollout.as_ref().is_some_and(&done) {
            return Ok(strategy);
        }
        if Instant::now() > deadline {
            bail!("status.rollout did not come to it within {within:?}: {rollout:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `status.rollout.verdict` is `verdict`; the strategy then.
pub async fn wait_verdict(
    strategies: &Api<TradingStrategy>,
    verdict: &str,
    within: Duration,
) -> anyhow::Result<TradingStrategy> {
    wait_rollout(strategies, within, |r| {
        r.verdict.as_deref() == Some(verdict)
    })
    .await
    .with_context(|| format!("waiting for the verdict {verdict}"))
}

/// The rig on a replayed feed with its two live runtimes on their pod IPs, leading and
/// having run a cycle: the rig, the runtimes and the live journal.
pub async fn trading_rig(
    client: &kube::Client,
    admin_kubeconfig: &Path,
    prefix: &str,
) -> anyhow::Result<(FailoverRig, Vec<RuntimePod>, Journal)> {
    let rig = FailoverRig::start(client, admin_kubeconfig, prefix, Feed::Replay).await?;
    let mut pods = Vec::new();
    for name in rig.pod_names().await? {
        pods.push(start_when_addressed(&rig.pods, client, &name).await?);
    }
    let journal = rig.journal().await?;
    rig.new_holder(None, WITHIN).await?;
    next_run(&journal, None, WITHIN).await?;
    Ok((rig, pods, journal))
}

/// Keeps the stand-in's fill prices at the closes the live pods last decided on; never
/// returns. The stand-in fills at a price of its own; left at one far from the replayed bars,
/// every live fill would be a gain or loss the shadow's paper fills (at the bars' prices)
/// never see, and sizes, which follow equity, would drift apart for no reason of the
/// revision's.
pub async fn track_replay_prices(rig: &FailoverRig, journal: &Journal) {
    loop {
        if let Ok(Some(last)) = last_run(journal).await {
            for decision in journal.decisions(&last.cycle_id).await.unwrap_or_default() {
                if let Some(window) = decision.window {
                    rig.broker.set_price(&window.symbol, window.last_close);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
