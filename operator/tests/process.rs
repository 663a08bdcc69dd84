//! The operator binary as a process against the real control plane: leader election between
//! two replicas, and a SIGKILL in the middle of reconciling followed by a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::process::Stdio;
use std::time::Duration;

use e2e::{TestNamespace, install_crds, shared_client, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use serde_json::json;
use tokio::process::{Child, Command};
use tradeplane_operator::api::{BrokerAccount, TradingStrategy};

const WAIT: Duration = Duration::from_secs(90);

struct Operator {
    child: Child,
    metrics: String,
}

impl Operator {
    fn start(namespace: &str, identity: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_tradeplane-operator"))
            .args([
                "--namespaces",
                namespace,
                "--lease-namespace",
                namespace,
                "--lease-name",
                "tradeplane-operator",
            ])
            .args([
                "--lease-seconds",
                "4",
                "--log-format",
                "text",
                "--identity",
                identity,
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--runtime-image", "agent-runtime:test"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self {
            child,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
        }
    }

    /// The sum of one metric's samples; 0 when it has none or the process does not answer.
    async fn metric(&self, name: &str) -> f64 {
        let Ok(response) = reqwest::get(&self.metrics).await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn wait_metric(&self, name: &str, what: &str, holds: impl Fn(f64) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.metric(name).await;
            if holds(value) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: {name} is {value}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn terminate(&self) {
        let pid = self.child.id().unwrap();
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .unwrap();
    }

    async fn kill_hard(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

fn paper_account() -> BrokerAccount {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "paper"}, "spec": {"broker": "Paper"},
    }))
    .unwrap()
}

fn strategy(name: &str) -> TradingStrategy {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": name},
        "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}},
    }))
    .unwrap()
}

fn ready(strategy: Option<&TradingStrategy>) -> bool {
    strategy.and_then(|s| s.status.as_ref()).is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

#[tokio::test]
async fn of_two_replicas_only_the_leader_reconciles_and_a_standby_takes_over_on_shutdown() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, "op-ha").await.unwrap();
    let first = Operator::start(&namespace.name, "first");
    first
        .wait_metric(
            "tradeplane_operator_leader",
            "the first replica leads",
            |v| v == 1.0,
        )
        .await;
    let second = Operator::start(&namespace.name, "second");
    // Give the standby time to try the Lease and fail.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(second.metric("tradeplane_operator_leader").await, 0.0);

    namespace
        .api::<BrokerAccount>()
        .create(&PostParams::default(), &paper_account())
        .await
        .unwrap();
    let strategies = namespace.api::<TradingStrategy>();
    strategies
        .create(&PostParams::default(), &strategy("ha"))
        .await
        .unwrap();
    wait_for(
        &strategies,
        "ha",
        "Ready",
        WAIT,
        |s: Option<&TradingStrategy>| ready(s),
    )
    .await
    .unwrap();
    assert!(first.metric("tradeplane_operator_child_writes_total").await > 0.0);
    assert_eq!(
        second.metric("tradeplane_operator_reconciles_total").await,
        0.0,
        "the standby reconciled"
    );
    assert_eq!(
        second
            .metric("tradeplane_operator_child_writes_total")
            .await,
        0.0,
        "the standby wrote"
    );

    // SIGTERM releases the Lease: the standby leads within a renew interval, not a lease period.
    first.terminate().await;
    let started = tokio::time::Instant::now();
    second
        .wait_metric(
            "tradeplane_operator_leader",
            "the standby takes over",
            |v| v == 1.0,
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "takeover took {:?}",
        started.elapsed()
    );
    namespace.delete().await.unwrap();
}

#[tokio::test]
async fn a_sigkill_mid_reconcile_then_a_restart_converges_without_duplicates_or_orphans() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, "op-kill").await.unwrap();
    namespace
        .api::<BrokerAccount>()
        .create(&PostParams::default(), &paper_account())
        .await
        .unwrap();
    let operator = Operator::start(&namespace.name, "doomed");
    operator
        .wait_metric("tradeplane_operator_leader", "leading", |v| v == 1.0)
        .await;

    let strategies = namespace.api::<TradingStrategy>();
    let names: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    for name in &names {
        strategies
            .create(&PostParams::default(), &strategy(name))
            .await
            .unwrap();
    }
    // Kill it as soon as it has started writing children, before it can have finished.
    operator
        .wait_metric(
            "tradeplane_operator_child_writes_total",
            "writing children",
            |v| v > 0.0,
        )
        .await;
    operator.kill_hard().await;

    let restarted = Operator::start(&namespace.name, "restarted");
    for name in &names {
        wait_for(
            &strategies,
            name,
            "Ready after the restart",
            WAIT,
            |s: Option<&TradingStrategy>| ready(s),
        )
        .await
        .unwrap();
    }
    drop(restarted);

    let live: Vec<String> = strategies
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|s| s.uid())
        .collect();
    let selector = ListParams::default().labels("tradeplane.io/strategy");
    let deployments = namespace
        .api::<Deployment>()
        .list(&selector)
        .await
        .unwrap()
        .items;
    let secrets = namespace
        .api::<Secret>()
        .list(&selector)
        .await
        .unwrap()
        .items;
    assert_eq!(
        deployments.len(),
        names.len(),
        "one trader Deployment per strategy"
    );
    assert_eq!(
        secrets.len(),
        2 * names.len(),
        "a config and a credentials Secret per strategy"
    );
    for name in &names {
        let owned = deployments
            .iter()
            .filter(|d| d.labels().get("tradeplane.io/strategy") == Some(name))
            .count();
        assert_eq!(owned, 1, "{name} has {owned} Deployments");
    }
    for child in deployments
        .iter()
        .map(|d| &d.metadata)
        .chain(secrets.iter().map(|s| &s.metadata))
    {
        let owner = &child.owner_references.as_ref().expect("an owner")[0];
        assert!(live.contains(&owner.uid), "{:?} is an orphan", child.name);
    }
    namespace.delete().await.unwrap();
}
