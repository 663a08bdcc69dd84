//! The TradingStrategy controller against the real control plane: children with owners,
//! self-healing, rolling on change, bad references reported and recovered, suspend, garbage
//! collection, and a reconcile that changes nothing writing nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::time::Duration;

use e2e::children::pod_inputs_hash;
use e2e::conditions::{self, condition, has_condition, is_ready, status_reason};
use e2e::fixtures::{paper_account, strategy_controller};
use e2e::{TestNamespace, wait_deleted, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::Role;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tradeplane_operator::api::{BrokerAccount, TradingStrategy};

const WAIT: Duration = Duration::from_secs(60);

fn strategy(name: &str, account: &str) -> TradingStrategy {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": name},
        "spec": {"symbols": ["AAPL", "MSFT"], "brokerAccountRef": {"name": account}},
    }))
    .unwrap()
}

/// Waits for an Event with this reason and type in the namespace (Events are published
/// right after the status write, so they may trail it by a moment).
async fn wait_for_event(namespace: &TestNamespace, reason: &str, type_: &str) {
    let events: Api<Event> = namespace.api();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let all = events.list(&ListParams::default()).await.unwrap().items;
        if all
            .iter()
            .any(|e| e.reason.as_deref() == Some(reason) && e.type_.as_deref() == Some(type_))
        {
            return;
        }
        let seen: Vec<_> = all
            .iter()
            .map(|e| (e.reason.clone(), e.type_.clone()))
            .collect();
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {type_} Event {reason}; saw {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create<K>(api: &Api<K>, object: &K)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), object).await.unwrap();
}

#[tokio::test]
async fn a_paper_strategy_gets_owned_children_runs_and_becomes_ready() {
    let (namespace, controller) = strategy_controller("ts-ready").await.unwrap();
    create(&namespace.api::<BrokerAccount>(), &paper_account().unwrap()).await;
    let strategies = namespace.api::<TradingStrategy>();
    create(&strategies, &strategy("momo", "paper")).await;

    let done = wait_for(
        &strategies,
        "momo",
        "the strategy to be Ready",
        WAIT,
        |t: Option<&TradingStrategy>| is_ready(t),
    )
    .await
    .unwrap();
    let status = done.status.clone().unwrap();
    assert_eq!(status.observed_generation, done.metadata.generation);
    // Nothing has vouched for the account yet (no BrokerAccount controller runs here).
    assert_eq!(status.phase.as_deref(), Some("Degraded"));
    assert_eq!(
        status_reason(Some(&done), "BrokerReady"),
        Some(("False", "BrokerAccountNotReady"))
    );
    assert_eq!(status.mode.as_deref(), Some("Paper"));
    assert_eq!(
        (status.ready_replicas, status.desired_replicas),
        (Some(1), Some(1))
    );
    assert!(status.desired_revision.is_some());
    for type_ in ["Reconciling", "Stalled"] {
        assert_eq!(
            status
                .conditions
                .iter()
                .find(|c| c.type_ == type_)
                .unwrap()
                .status,
            "False",
            "{type_}"
        );
    }

    let uid = done.metadata.uid.unwrap();
    let deployment = namespace
        .api::<Deployment>()
        .get("momo-trader")
        .await
        .unwrap();
    let config = namespace.api::<Secret>().get("momo-config").await.unwrap();
    let service = namespace
        .api::<Service>()
        .get("momo-metrics")
        .await
        .unwrap();
    let journal = namespace
        .api::<PersistentVolumeClaim>()
        .get("momo-journal")
        .await
        .unwrap();
    let lease = namespace.api::<Lease>().get("momo-leader").await.unwrap();
    let role = namespace.api::<Role>().get("momo-runtime").await.unwrap();
    for meta in [
        &deployment.metadata,
        &config.metadata,
        &service.metadata,
        &journal.metadata,
        &lease.metadata,
        &role.metadata,
    ] {
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("TradingStrategy", uid.as_str())
        );
    }
    let yaml = String::from_utf8(config.data.unwrap()["config.yaml"].0.clone()).unwrap();
    assert!(
        yaml.contains("apiVersion: runtime.tradeplane.io/v1alpha1"),
        "{yaml}"
    );
    assert!(yaml.contains("- AAPL"), "{yaml}");
    assert!(deployment.status.unwrap().available_replicas == Some(1));

    wait_for_event(&namespace, "TraderReady", "Normal").await;

    // The account's Ready condition, as its controller would write it, reaches the strategy
    // through the BrokerAccount watch.
    let accounts = namespace.api::<BrokerAccount>();
    let ready_status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Verified",
        "message": "paper account", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    accounts
        .patch_status(
            "paper",
            &PatchParams::default(),
            &Patch::Merge(ready_status),
        )
        .await
        .unwrap();
    let trading = wait_for(
        &strategies,
        "momo",
        "phase Trading",
        WAIT,
        |t: Option<&TradingStrategy>| {
            t.and_then(|t| t.status.as_ref())
                .and_then(|s| s.phase.as_deref())
                == Some("Trading")
        },
    )
    .await
    .unwrap();
    assert_eq!(
        status_reason(Some(&trading), "BrokerReady"),
        Some(("True", "BrokerAccountReady"))
    );

    controller.stop().await.unwrap();
    namespace.delete().await.unwrap();
}

#[tokio::test]
async fn a_child_deleted_or_edited_by_hand_is_put_back_and_a_spec_change_rolls_the_pods() {
    let (namespace, controller) = strategy_controller("ts-heal").await.unwrap();
    create(&namespace.api::<BrokerAccount>(), &paper_account().unwrap()).await;
    let strategies = namespace.api::<TradingStrategy>();
    create(&strategies, &strategy("heal", "paper")).await;
    wait_for(
        &strategies,
        "heal",
        "Ready",
        WAIT,
        |t: Option<&TradingStrategy>| is_ready(t),
    )
    .await
    .unwrap();

    let secrets = namespace.api::<Secret>();
    secrets
        .delete("heal-config", &DeleteParams::default())
        .await
        .unwrap();
    wait_deleted(
        &secrets,
        "heal-config",
        "the deletion",
        Duration::from_secs(10),
    )
    .await
    .ok();
    wait_for(
        &secrets,
        "heal-config",
        "the config Secret to be restored",
        Duration::from_secs(20),
        |x: Option<&Secret>| x.is_some(),
    )
    .await
    .unwrap();

    let deployments = namespace.api::<Deployment>();
    deployments
        .patch(
            "heal-trader",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    wait_for(
        &deployments,
        "heal-trader",
        "replicas put back to 1",
        Duration::from_secs(20),
        |d: Option<&Deployment>| {
            d.and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas) == Some(1)
        },
    )
    .await
    .unwrap();

    // A child the operator does not re-read while its watch reports no change: an edit is a
    // change, so it is read again and put back.
    let roles = namespace.api::<Role>();
    let rules_before = roles.get("heal-runtime").await.unwrap().rules;
    roles
        .patch(
            "heal-runtime",
            &PatchParams::default(),
            &Patch::Merge(json!({"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]})),
        )
        .await
        .unwrap();
    wait_for(
        &roles,
        "heal-runtime",
        "the Role's rules put back",
        Duration::from_secs(20),
        |r: Option<&Role>| r.is_some_and(|r| r.rules == rules_before),
    )
    .await
    .unwrap();

    let before = pod_inputs_hash(&deployments.get("heal-trader").await.unwrap());
    strategies
        .patch(
            "heal",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"risk": {"stopLossPercent": 4.0}}})),
        )
        .await
        .unwrap();
    let rolled = wait_for(
        &deployments,
        "heal-trader",
        "a new pod template",
        WAIT,
        |d: Option<&Deployment>| d.is_some_and(|d| pod_inputs_hash(d) != before),
    )
    .await
    .unwrap();
    assert_ne!(pod_inputs_hash(&rolled), before);
    let config = secrets.get("heal-config").await.unwrap();
    let yaml = String::from_utf8(config.data.unwrap()["config.yaml"].0.clone()).unwrap();
    assert!(yaml.contains("stopLoss: 0.04"), "{yaml}");

    controller.stop().await.unwrap();
    namespace.delete().await.unwrap();
}

#[tokio::test]
async fn a_missing_broker_account_is_a_condition_and_an_event_until_it_exists() {
    let (namespace, controller) = strategy_controller("ts-ref").await.unwrap();
    let strategies = namespace.api::<TradingStrategy>();
    create(&strategies, &strategy("orphan", "nowhere")).await;
    let blocked = wait_for(
        &strategies,
        "orphan",
        "BrokerAccountNotFound",
        WAIT,
        |t: Option<&TradingStrategy>| has_condition(t, "Ready", "False", "BrokerAccountNotFound"),
    )
    .await
    .unwrap();
    assert_eq!(condition(Some(&blocked), "Stalled").unwrap().status, "True");
    let message = conditions::message(&blocked, "Ready");
    assert!(message.contains("nowhere"), "{message}");
    assert!(
        namespace
            .api::<Deployment>()
            .get_opt("orphan-trader")
            .await
            .unwrap()
            .is_none()
    );
    wait_for_event(&namespace, "BrokerAccountNotFound", "Warning").await;

    let mut account = paper_account().unwrap();
    account.metadata.name = Some("nowhere".into());
    create(&namespace.api::<BrokerAccount>(), &account).await;
    wait_for(
        &strategies,
        "orphan",
        "Ready once the account exists",
        WAIT,
        |t: Option<&TradingStrategy>| is_ready(t),
    )
    .await
    .unwrap();

    controller.stop().await.unwrap();
    namespace.delete().await.unwrap();
}

#[tokio::test]
async fn suspend_halts_through_the_config_and_a_rotated_credential_rolls_the_pods() {
    let (namespace, controller) = strategy_controller("ts-halt").await.unwrap();
    let secrets = namespace.api::<Secret>();
    let keys: Secret = serde_json::from_value(json!({
        "metadata": {"name": "alpaca-keys"},
        "stringData": {"APCA_API_KEY_ID": "PKFIRST", "APCA_API_SECRET_KEY": "first-secret"},
    }))
    .unwrap();
    create(&secrets, &keys).await;
    let account: BrokerAccount = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "alpaca"},
        "spec": {"broker": "Alpaca", "endpoint": "http://127.0.0.1:9", "credentialsSecretRef": {"name": "alpaca-keys"}},
    }))
    .unwrap();
    create(&namespace.api::<BrokerAccount>(), &account).await;
    let strategies = namespace.api::<TradingStrategy>();
    create(&strategies, &strategy("halt", "alpaca")).await;
    wait_for(
        &strategies,
        "halt",
        "Ready",
        WAIT,
        |t: Option<&TradingStrategy>| is_ready(t),
    )
    .await
    .unwrap();

    let copied = secrets.get("halt-credentials").await.unwrap().data.unwrap();
    assert_eq!(copied["broker-key-id"].0, b"PKFIRST");
    let deployments = namespace.api::<Deployment>();
    let before = pod_inputs_hash(&deployments.get("halt-trader").await.unwrap());

    secrets
        .patch(
            "alpaca-keys",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"APCA_API_SECRET_KEY": "rotated-secret"}})),
        )
        .await
        .unwrap();
    wait_for(
        &deployments,
        "halt-trader",
        "pods rolled for the new key",
        WAIT,
        |d: Option<&Deployment>| d.is_some_and(|d| pod_inputs_hash(d) != before),
    )
    .await
    .unwrap();

    strategies
        .patch(
            "halt",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap();
    let halted = wait_for(
        &strategies,
        "halt",
        "phase Halted",
        WAIT,
        |t: Option<&TradingStrategy>| {
            t.and_then(|t| t.status.as_ref())
                .and_then(|s| s.phase.as_deref())
                == Some("Halted")
        },
    )
    .await
    .unwrap();
    assert_eq!(
        halted.status.unwrap().observed_generation,
        halted.metadata.generation
    );
    let yaml = String::from_utf8(
        secrets.get("halt-config").await.unwrap().data.unwrap()["config.yaml"]
            .0
            .clone(),
    )
    .unwrap();
    assert!(yaml.contains("tradingState: Halted"), "{yaml}");
    assert!(
        !yaml.contains("rotated-secret") && !yaml.contains("PKFIRST"),
        "no key material in the config: {yaml}"
    );
    // Pods stay up for inspection.
    assert_eq!(
        deployments
            .get("halt-trader")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(1)
    );

    controller.stop().await.unwrap();
    namespace.delete().await.unwrap();
}

#[tokio::test]
async fn a_reconcile_that_learns_nothing_writes_nothing_and_deleting_the_strategy_collects_its_children()
 {
    let (namespace, controller) = strategy_controller("ts-noop").await.unwrap();
    create(&namespace.api::<BrokerAccount>(), &paper_account().unwrap()).await;
    let strategies = namespace.api::<TradingStrategy>();
    create(&strategies, &strategy("quiet", "paper")).await;
    wait_for(
        &strategies,
        "quiet",
        "Ready",
        WAIT,
        |t: Option<&TradingStrategy>| is_ready(t),
    )
    .await
    .unwrap();
    // Let the last status write and its echo settle.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let writes = |text: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with("tradeplane_operator_child_writes_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let reconciles = |text: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with("tradeplane_operator_reconciles_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let before = controller.metrics.render();
    // A label change is a watch event without a new generation: it triggers a reconcile
    // that has nothing to do.
    strategies
        .patch(
            "quiet",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"poke": "1"}}})),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while reconciles(&controller.metrics.render()) <= reconciles(&before) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the label change did not trigger a reconcile"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = controller.metrics.render();
    assert_eq!(
        writes(&after),
        writes(&before),
        "a no-op reconcile wrote:\n{after}"
    );

    strategies
        .delete("quiet", &DeleteParams::foreground())
        .await
        .unwrap();
    let deployments = namespace.api::<Deployment>();
    wait_deleted(
        &deployments,
        "quiet-trader",
        "the Deployment to be collected",
        WAIT,
    )
    .await
    .unwrap();
    wait_deleted(
        &namespace.api::<Secret>(),
        "quiet-config",
        "the config Secret to be collected",
        WAIT,
    )
    .await
    .unwrap();

    controller.stop().await.unwrap();
    namespace.delete().await.unwrap();
}
