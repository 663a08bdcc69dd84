//! The AgentPool controller against the real control plane, started in-process for the
//! test's namespace: the children appear as rendered and owned, follow the spec and the key
//! Secret, come back when deleted, wait for a missing key Secret, scale through the scale
//! subresource, and hand the replica count to a HorizontalPodAutoscaler when autoscaling.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::time::Duration;

use e2e::children::pod_inputs_hash;
use e2e::conditions::{self, has_condition};
use e2e::fixtures::{apply_as_user, pool_controller};
use e2e::{wait_deleted, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Event, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use tradeplane_operator::api::agent_pool::AgentPool;
use tradeplane_operator::api::trading_strategy::TradingStrategy;
use tradeplane_operator::controllers::FIELD_MANAGER;

const WAIT: Duration = Duration::from_secs(30);
const POOL: &str = "research";
const WORKERS: &str = "research-agents";

fn pool(extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({
        "agents": [
            {"role": "technical", "providers": ["local"], "model": "llama3", "fallback": "Rules", "method": "Trend"},
            {"role": "quant", "providers": ["rules"], "method": "Momentum"},
        ],
        "providers": [
            {"name": "local", "kind": "OpenAICompatible", "baseURL": "http://llm.invalid/v1",
             "apiKeySecretRef": {"name": "llm-keys", "key": "local"}},
            {"name": "rules", "kind": "Rules"},
        ],
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "AgentPool",
        "metadata": {"name": POOL, "labels": {"team": "quant", "argocd.argoproj.io/instance": "x"}},
        "spec": spec,
    })
}

fn key_secret(value: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "llm-keys"},
        "stringData": {"local": value},
    })
}

fn replicas(deployment: Option<&Deployment>) -> Option<i32> {
    deployment
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas)
}

/// Whether the operator's server-side apply of `deployment` sets `spec.replicas`.
fn operator_applies_replicas(deployment: &Deployment) -> bool {
    deployment
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .any(|entry| {
            entry.manager.as_deref() == Some(FIELD_MANAGER)
                && entry.operation.as_deref() == Some("Apply")
                && entry.fields_v1.as_ref().is_some_and(|f| {
                    f.0.get("f:spec")
                        .and_then(|s| s.get("f:replicas"))
                        .is_some()
                })
        })
}

fn secret_text(secret: &Secret, key: &str) -> String {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_children_appear_owned_follow_the_spec_and_the_key_and_come_back_when_deleted() {
    let (ns, running) = pool_controller("ap-children").await.unwrap();
    let pools: Api<AgentPool> = ns.api();
    let secrets: Api<Secret> = ns.api();
    let deployments: Api<Deployment> = ns.api();
    let services: Api<Service> = ns.api();
    apply_as_user(&secrets, "llm-keys", key_secret("sk-first"))
        .await
        .unwrap();
    apply_as_user(&pools, POOL, pool(json!({"replicas": 2})))
        .await
        .unwrap();

    let deployment = wait_for(
        &deployments,
        WORKERS,
        "the worker Deployment",
        WAIT,
        |d: Option<&Deployment>| d.is_some(),
    )
    .await
    .unwrap();
    let live_pool = pools.get(POOL).await.unwrap();
    let owner = &deployment.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(owner.kind, "AgentPool");
    assert_eq!(Some(&owner.uid), live_pool.metadata.uid.as_ref());
    assert_eq!(owner.controller, Some(true));
    let labels = deployment.metadata.labels.clone().unwrap();
    assert_eq!(labels.get("team").map(String::as_str), Some("quant"));
    assert!(!labels.contains_key("argocd.argoproj.io/instance"));
    let spec = deployment.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let container = &spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        container.args.as_deref().unwrap(),
        ["worker", "--config", "/etc/tradeplane/config/config.yaml"]
    );

    let service = services.get(WORKERS).await.unwrap();
    assert_eq!(
        service.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port,
        8080
    );
    assert_eq!(
        service.metadata.owner_references.as_ref().unwrap()[0].uid,
        owner.uid
    );
    // Applied right after the Deployment.
    let budgets: Api<PodDisruptionBudget> = ns.api();
    let budget = wait_for(
        &budgets,
        WORKERS,
        "the PodDisruptionBudget",
        WAIT,
        |b: Option<&PodDisruptionBudget>| b.is_some(),
    )
    .await
    .unwrap();
    assert_eq!(
        budget.spec.unwrap().selector.unwrap().match_labels,
        spec.selector.match_labels
    );
    let keys = secrets.get("research-agents-keys").await.unwrap();
    assert_eq!(secret_text(&keys, "provider-local"), "sk-first");
    let config = secrets.get("research-agents-config").await.unwrap();
    let config_yaml = secret_text(&config, "config.yaml");
    assert!(config_yaml.contains("maxInFlight: 8"), "{config_yaml}");
    assert!(!config_yaml.contains("sk-first"));
    let autoscalers: Api<HorizontalPodAutoscaler> = ns.api();
    assert!(autoscalers.get_opt(WORKERS).await.unwrap().is_none());

    // kwok runs the pods, so the pool becomes ready with its selector for the scale subresource.
    let ready = wait_for(
        &pools,
        POOL,
        "a ready pool",
        Duration::from_secs(90),
        |p: Option<&AgentPool>| has_condition(p, "Ready", "True", "WorkersReady"),
    )
    .await
    .unwrap();
    let status = ready.status.unwrap();
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.desired_replicas
        ),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(
        status.selector.as_deref(),
        Some(
            "app.kubernetes.io/component=worker,app.kubernetes.io/name=agent-runtime,tradeplane.io/agent-pool=research"
        )
    );

    // A spec change reaches the config and rolls the pods.
    let first_hash = pod_inputs_hash(&deployment);
    apply_as_user(
        &pools,
        POOL,
        pool(json!({"replicas": 2, "maxInFlightPerReplica": 3})),
    )
    .await
    .unwrap();
    let rolled = wait_for(
        &deployments,
        WORKERS,
        "a new pod template",
        WAIT,
        |d: Option<&Deployment>| d.is_some_and(|d| pod_inputs_hash(d) != first_hash),
    )
    .await
    .unwrap();
    let config = secrets.get("research-agents-config").await.unwrap();
    assert!(secret_text(&config, "config.yaml").contains("maxInFlight: 3"));

    // So does a rotated key, noticed through the watch on the user's Secret.
    let second_hash = pod_inputs_hash(&rolled);
    apply_as_user(&secrets, "llm-keys", key_secret("sk-second"))
        .await
        .unwrap();
    wait_for(
        &deployments,
        WORKERS,
        "pods rolled for the new key",
        WAIT,
        |d: Option<&Deployment>| d.is_some_and(|d| pod_inputs_hash(d) != second_hash),
    )
    .await
    .unwrap();
    let keys = secrets.get("research-agents-keys").await.unwrap();
    assert_eq!(secret_text(&keys, "provider-local"), "sk-second");

    // Deleted by hand, restored within seconds.
    services
        .delete(WORKERS, &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        &services,
        WORKERS,
        "the Service restored",
        Duration::from_secs(10),
        |s: Option<&Service>| {
            s.is_some_and(|s| {
                s.metadata.uid != service.metadata.uid && s.metadata.deletion_timestamp.is_none()
            })
        },
    )
    .await
    .unwrap();
    let before = deployments.get(WORKERS).await.unwrap();
    deployments
        .delete(WORKERS, &DeleteParams::foreground())
        .await
        .unwrap();
    wait_for(
        &deployments,
        WORKERS,
        "the Deployment restored",
        Duration::from_secs(20),
        |d: Option<&Deployment>| {
            d.is_some_and(|d| {
                d.metadata.uid != before.metadata.uid && d.metadata.deletion_timestamp.is_none()
            })
        },
    )
    .await
    .unwrap();

    // A hand edit of a rendered field is undone.
    deployments
        .patch(
            WORKERS,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"revisionHistoryLimit": 1}})),
        )
        .await
        .unwrap();
    wait_for(
        &deployments,
        WORKERS,
        "the edit undone",
        WAIT,
        |d: Option<&Deployment>| {
            d.and_then(|d| d.spec.as_ref())
                .and_then(|s| s.revision_history_limit)
                == Some(5)
        },
    )
    .await
    .unwrap();

    // Strategies that use the pool are listed.
    let strategies: Api<TradingStrategy> = ns.api();
    apply_as_user(
        &strategies,
        "momo",
        json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy", "metadata": {"name": "momo"},
            "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}, "agentPoolRef": {"name": POOL}},
        }),
    )
.await
.unwrap();
    wait_for(
        &pools,
        POOL,
        "one bound strategy",
        WAIT,
        |p: Option<&AgentPool>| {
            p.and_then(|p| p.status.as_ref()).is_some_and(|s| {
                s.bound_strategies == ["momo"] && s.bound_strategy_count == Some(1)
            })
        },
    )
    .await
    .unwrap();

    running.stop().await.unwrap();
    ns.delete().await.unwrap();
}

#[tokio::test]
async fn a_missing_key_secret_is_a_condition_and_an_event_until_it_is_created() {
    let (ns, running) = pool_controller("ap-secret").await.unwrap();
    let client = ns.client().clone();
    let pools: Api<AgentPool> = ns.api();
    apply_as_user(&pools, POOL, pool(json!({}))).await.unwrap();
    let blocked = wait_for(
        &pools,
        POOL,
        "SecretNotFound",
        WAIT,
        |p: Option<&AgentPool>| {
            has_condition(p, "Ready", "False", "SecretNotFound")
                && has_condition(p, "Stalled", "True", "SecretNotFound")
        },
    )
    .await
    .unwrap();
    let message = conditions::message(&blocked, "Ready");
    assert!(
        message.contains("llm-keys") && message.contains("providers[local]"),
        "{message}"
    );
    let deployments: Api<Deployment> = ns.api();
    assert!(deployments.get_opt(WORKERS).await.unwrap().is_none());

    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .any(|e| {
                e.involved_object.name.as_deref() == Some(POOL)
                    && e.reason.as_deref() == Some("SecretNotFound")
                    && e.type_.as_deref() == Some("Warning")
            });
        if found {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no SecretNotFound Event"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let secrets: Api<Secret> = ns.api();
    apply_as_user(&secrets, "llm-keys", key_secret("sk-late"))
        .await
        .unwrap();
    wait_for(
        &pools,
        POOL,
        "a ready pool",
        Duration::from_secs(90),
        |p: Option<&AgentPool>| {
            has_condition(p, "Ready", "True", "WorkersReady")
                && has_condition(p, "Stalled", "False", "Reconciled")
        },
    )
    .await
    .unwrap();

    running.stop().await.unwrap();
    ns.delete().await.unwrap();
}

#[tokio::test]
async fn scaling_goes_through_the_scale_subresource_and_autoscaling_hands_replicas_to_the_hpa() {
    let (ns, running) = pool_controller("ap-scale").await.unwrap();
    let pools: Api<AgentPool> = ns.api();
    let secrets: Api<Secret> = ns.api();
    let deployments: Api<Deployment> = ns.api();
    let autoscalers: Api<HorizontalPodAutoscaler> = ns.api();
    apply_as_user(&secrets, "llm-keys", key_secret("sk"))
        .await
        .unwrap();
    apply_as_user(&pools, POOL, pool(json!({}))).await.unwrap();
    wait_for(
        &deployments,
        WORKERS,
        "one replica",
        WAIT,
        |d: Option<&Deployment>| replicas(d) == Some(1),
    )
    .await
    .unwrap();
    wait_for(
        &pools,
        POOL,
        "the selector in status",
        WAIT,
        |p: Option<&AgentPool>| {
            p.and_then(|p| p.status.as_ref())
                .is_some_and(|s| s.selector.is_some())
        },
    )
    .await
    .unwrap();

    // What `kubectl scale agentpool research --replicas=3` does.
    pools
        .patch_scale(
            POOL,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    wait_for(
        &deployments,
        WORKERS,
        "three replicas",
        WAIT,
        |d: Option<&Deployment>| replicas(d) == Some(3),
    )
    .await
    .unwrap();
    wait_for(
        &pools,
        POOL,
        "three desired in status",
        WAIT,
        |p: Option<&AgentPool>| {
            p.and_then(|p| p.status.as_ref())
                .is_some_and(|s| s.desired_replicas == Some(3))
        },
    )
    .await
    .unwrap();
    assert!(operator_applies_replicas(
        &deployments.get(WORKERS).await.unwrap()
    ));
    let scale = pools.get_scale(POOL).await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(3));
    assert_eq!(
        scale
            .status
            .map(|s| s.selector.unwrap_or_default())
            .as_deref(),
        Some(
            "app.kubernetes.io/component=worker,app.kubernetes.io/name=agent-runtime,tradeplane.io/agent-pool=research"
        )
    );

    // Autoscaling on: an HPA on CPU and in-flight analyses, and the operator no longer applies
    // the Deployment's replicas.
    apply_as_user(
        &pools,
        POOL,
        pool(json!({"replicas": 3, "autoscaling": {
            "minReplicas": 4, "maxReplicas": 6, "targetCPUUtilizationPercent": 60, "targetInFlightPerReplica": 4}})),
    )
.await
.unwrap();
    let hpa = wait_for(
        &autoscalers,
        WORKERS,
        "the HPA",
        WAIT,
        |h: Option<&HorizontalPodAutoscaler>| h.is_some(),
    )
    .await
    .unwrap();
    let spec = hpa.spec;
    assert_eq!(spec.scale_target_ref.name, WORKERS);
    assert_eq!((spec.min_replicas, spec.max_replicas), (Some(4), 6));
    let metrics = spec.metrics.unwrap();
    assert!(metrics.iter().any(|m| {
        m.resource
            .as_ref()
            .is_some_and(|r| r.name == "cpu" && r.target.average_utilization == Some(60))
    }));
    assert!(metrics.iter().any(|m| m.pods.as_ref().is_some_and(|p| {
        p.metric.name == "tradeplane_worker_inflight_analyses"
            && p.target.average_value.as_ref().map(|q| q.0.as_str()) == Some("4")
    })));
    let released = wait_for(
        &deployments,
        WORKERS,
        "replicas released to the HPA",
        WAIT,
        |d: Option<&Deployment>| d.is_some_and(|d| !operator_applies_replicas(d)),
    )
    .await
    .unwrap();
    assert!(released.spec.as_ref().unwrap().template.spec.is_some());
    // The count is now the autoscaler's: at least its minimum, above spec.replicas (3) — and
    // it stays there, though the operator reconciles on every change of the Deployment.
    wait_for(
        &deployments,
        WORKERS,
        "the HPA's replica count",
        Duration::from_secs(90),
        |d: Option<&Deployment>| replicas(d).is_some_and(|n| (4..=6).contains(&n)),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!((4..=6).contains(&replicas(Some(&deployments.get(WORKERS).await.unwrap())).unwrap()));

    // Autoscaling off again: the HPA goes and spec.replicas applies once more.
    apply_as_user(&pools, POOL, pool(json!({"replicas": 4})))
        .await
        .unwrap();
    wait_deleted(&autoscalers, WORKERS, "the HPA removed", WAIT)
        .await
        .unwrap();
    wait_for(
        &deployments,
        WORKERS,
        "four replicas",
        WAIT,
        |d: Option<&Deployment>| replicas(d) == Some(4),
    )
    .await
    .unwrap();

    running.stop().await.unwrap();
    ns.delete().await.unwrap();
}
