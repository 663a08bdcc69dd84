//! The operator binary as a process against the real control plane: leader election between
//! two replicas, and a SIGKILL in the middle of reconciling followed by a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::Path;
use std::time::Duration;

use e2e::conditions::is_ready;
use e2e::fixtures::paper_account;
use e2e::{OperatorProcess, TestNamespace, install_crds, shared_client, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use serde_json::json;
use tradeplane_operator::api::{BrokerAccount, TradingStrategy};

const WAIT: Duration = Duration::from_secs(90);

fn start(namespace: &str, identity: &str) -> OperatorProcess {
    OperatorProcess::start(
        Path::new(env!("CARGO_BIN_EXE_tradeplane-operator")),
        None,
        namespace,
        identity,
    )
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

#[tokio::test]
async fn of_two_replicas_only_the_leader_reconciles_and_a_standby_takes_over_on_shutdown() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, "op-ha").await.unwrap();
    let first = start(&namespace.name, "first");
    first
        .wait_metric("tradeplane_operator_leader", WAIT, |v| v == 1.0)
        .await
        .unwrap();
    let second = start(&namespace.name, "second");
    // Give the standby time to try the Lease and fail.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(second.metric("tradeplane_operator_leader").await, 0.0);

    namespace
        .api::<BrokerAccount>()
        .create(&PostParams::default(), &paper_account().unwrap())
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
        |s: Option<&TradingStrategy>| is_ready(s),
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
    first.terminate().await.unwrap();
    let started = tokio::time::Instant::now();
    second
        .wait_metric("tradeplane_operator_leader", WAIT, |v| v == 1.0)
        .await
        .unwrap();
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
        .create(&PostParams::default(), &paper_account().unwrap())
        .await
        .unwrap();
    let operator = start(&namespace.name, "doomed");
    operator
        .wait_metric("tradeplane_operator_leader", WAIT, |v| v == 1.0)
        .await
        .unwrap();

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
        .wait_metric("tradeplane_operator_child_writes_total", WAIT, |v| v > 0.0)
        .await
        .unwrap();
    operator.kill_hard().await.unwrap();

    let restarted = start(&namespace.name, "restarted");
    for name in &names {
        wait_for(
            &strategies,
            name,
            "Ready after the restart",
            WAIT,
            |s: Option<&TradingStrategy>| is_ready(s),
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

#[tokio::test]
async fn a_hundred_strategies_applied_at_once_all_become_ready() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, "op-many").await.unwrap();
    namespace
        .api::<BrokerAccount>()
        .create(&PostParams::default(), &paper_account().unwrap())
        .await
        .unwrap();
    let operator = start(&namespace.name, "many");
    operator
        .wait_metric("tradeplane_operator_leader", WAIT, |v| v == 1.0)
        .await
        .unwrap();

    let strategies = namespace.api::<TradingStrategy>();
    let creates = (0..100).map(|i| {
        let strategies = strategies.clone();
        async move {
            strategies
                .create(&PostParams::default(), &strategy(&format!("m{i:03}")))
                .await
                .unwrap()
        }
    });
    futures::future::join_all(creates).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let (mut most_in_flight, mut deepest_queue) = (0.0_f64, 0.0_f64);
    loop {
        let kind = "kind=\"TradingStrategy\"";
        most_in_flight = most_in_flight.max(
            operator
                .metric_where("tradeplane_operator_reconciles_in_flight", kind)
                .await,
        );
        deepest_queue = deepest_queue.max(
            operator
                .metric_where("tradeplane_operator_queue_depth", kind)
                .await,
        );
        let items = strategies.list(&ListParams::default()).await.unwrap().items;
        let ready = items.iter().filter(|s| is_ready(Some(*s))).count();
        if ready == 100 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ready}/100 Ready after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A burst of 100 waits in the queue instead of running 100 reconciles at once.
    assert!(
        most_in_flight <= 16.0,
        "{most_in_flight} reconciles ran at once; the default concurrency is 16"
    );
    assert!(
        deepest_queue > 0.0,
        "the queue-depth gauge never rose during a burst of 100"
    );
    operator
        .wait_metric_where(
            "tradeplane_operator_queue_depth",
            "kind=\"TradingStrategy\"",
            WAIT,
            |v| v == 0.0,
        )
        .await
        .unwrap();
    assert_eq!(
        operator
            .metric("tradeplane_operator_reconcile_errors_total")
            .await,
        0.0,
        "reconciles failed on the way"
    );
    namespace.delete().await.unwrap();
}
