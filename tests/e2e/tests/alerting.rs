//! Alert wiring against a real control plane: the strategy and pool controllers, in-process,
//! with and without the prometheus-operator's CRDs (tests/e2e/crds/monitoring/).
//!
//! CRDs are cluster-wide, and other tests share the cluster `make test` starts (the chart's
//! own monitoring templates look for these kinds), so the whole sequence runs in one test on
//! a private control plane: without the CRDs the resources say `AlertsConfigured=False`
//! (`CRDNotInstalled`) with a Warning Event and reconcile calmly on; once the CRDs are
//! installed — the controllers still running — the PrometheusRule and PodMonitor appear,
//! owned, labelled and selecting the runtime pods; a same-named object someone else made is
//! reported and left alone; turning alerting off deletes only the operator's own objects.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::time::Duration;

use e2e::conditions::{self, has_condition};
use e2e::{InProcessController, PrivateCluster, TestNamespace, install_crds, repo_root, wait_for};
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tradeplane_operator::api::agent_pool::AgentPool;
use tradeplane_operator::api::trading_strategy::TradingStrategy;
use tradeplane_operator::controllers::{agent_pool, trading_strategy};

const WAIT: Duration = Duration::from_secs(60);

fn monitoring(kind: &str) -> ApiResource {
    let plural = format!("{}s", kind.to_lowercase());
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", kind),
        &plural,
    )
}

async fn apply<K>(api: &Api<K>, name: &str, object: serde_json::Value)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply("e2e-user").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap();
}

fn strategy(alerting: bool) -> serde_json::Value {
    json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "momo"},
        "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"},
            "alerting": {"enabled": alerting, "labels": {"release": "prometheus"},
                "alertLabels": {"team": "quant"}}},
    })
}

fn pool(name: &str, alerting: bool) -> serde_json::Value {
    json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "AgentPool",
        "metadata": {"name": name},
        "spec": {
            "agents": [{"role": "quant", "providers": ["rules"], "method": "Momentum"}],
            "providers": [{"name": "rules", "kind": "Rules"}],
            "alerting": {"enabled": alerting},
        },
    })
}

async fn strategy_alerts(
    api: &Api<TradingStrategy>,
    status: &'static str,
    reason: &'static str,
) -> TradingStrategy {
    wait_for(
        api,
        "momo",
        &format!("AlertsConfigured={status} ({reason})"),
        WAIT,
        move |s: Option<&TradingStrategy>| has_condition(s, "AlertsConfigured", status, reason),
    )
    .await
    .unwrap()
}

async fn pool_alerts(
    api: &Api<AgentPool>,
    name: &str,
    status: &'static str,
    reason: &'static str,
) -> AgentPool {
    wait_for(
        api,
        name,
        &format!("{name} AlertsConfigured={status} ({reason})"),
        WAIT,
        move |p: Option<&AgentPool>| has_condition(p, "AlertsConfigured", status, reason),
    )
    .await
    .unwrap()
}

/// Polls until the object exists (`present`) or is gone.
async fn wait_object(api: &Api<DynamicObject>, name: &str, present: bool) -> Option<DynamicObject> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let live = api.get_opt(name).await.unwrap();
        if live.is_some() == present {
            return live;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} still {} after {WAIT:?}",
            if present { "missing" } else { "present" }
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn install_monitoring_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for file in ["prometheusrules.yaml", "podmonitors.yaml"] {
        let path = repo_root().join("tests/e2e/crds/monitoring").join(file);
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = crd.name_any();
        crds.create(&PostParams::default(), &crd).await.unwrap();
        wait_for(
            &crds,
            &name,
            "Established",
            WAIT,
            |c: Option<&CustomResourceDefinition>| {
                c.and_then(|c| c.status.as_ref())
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    })
            },
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn alerts_wait_for_the_monitoring_crds_then_appear_owned_and_go_when_turned_off() {
    // The controller-manager makes the namespace's default ServiceAccount; no scheduler or
    // nodes: the runtime pods need not run for their monitoring objects to be written.
    let cluster = PrivateCluster::start("etcd,apiserver,controller-manager").unwrap();
    let client = cluster.client().await.unwrap();
    install_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "alerting").await.unwrap();
    let strategies_controller =
        InProcessController::start(&client, &ns.name, |context, ns, shutdown| async move {
            trading_strategy::run(context, Some(&ns), shutdown).await
        })
        .unwrap();
    let pools_controller =
        InProcessController::start(&client, &ns.name, |context, ns, shutdown| async move {
            agent_pool::run(context, Some(&ns), shutdown).await
        })
        .unwrap();
    let strategies: Api<TradingStrategy> = ns.api();
    let pools: Api<AgentPool> = ns.api();

    // Without the CRDs: the condition and one Warning Event, and no error loop.
    apply(&strategies, "momo", strategy(true)).await;
    apply(&pools, "research", pool("research", true)).await;
    let waiting = strategy_alerts(&strategies, "False", "CRDNotInstalled").await;
    pool_alerts(&pools, "research", "False", "CRDNotInstalled").await;
    let message = conditions::message(&waiting, "AlertsConfigured");
    assert!(
        message.contains("PrometheusRule") && message.contains("monitoring.coreos.com/v1"),
        "{message}"
    );
    let events: Api<Event> = ns.api();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .any(|e| {
            e.involved_object.name.as_deref() == Some("momo")
                && e.reason.as_deref() == Some("CRDNotInstalled")
                && e.type_.as_deref() == Some("Warning")
        })
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no CRDNotInstalled Warning Event"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let before = strategies_controller.metrics.render();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = strategies_controller.metrics.render();
    let errors = "tradeplane_operator_reconcile_errors_total";
    assert_eq!(counter(&after, errors), 0, "no reconcile failed: {after}");
    let reconciles = counter(&after, "tradeplane_operator_reconciles_total")
        - counter(&before, "tradeplane_operator_reconciles_total");
    // A look every 15 s for the CRDs, not a loop.
    assert!(
        (1..=4).contains(&reconciles),
        "{reconciles} reconciles in 20 s while waiting for the CRDs"
    );
    assert_eq!(counter(&pools_controller.metrics.render(), errors), 0);

    // The CRDs arrive while the controllers run: the objects appear without a restart.
    install_monitoring_crds(&client).await;
    let rules = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &ns.name,
        &monitoring("PrometheusRule"),
    );
    let monitors =
        Api::<DynamicObject>::namespaced_with(client.clone(), &ns.name, &monitoring("PodMonitor"));
    let rule = wait_object(&rules, "momo-alerts", true).await.unwrap();
    let monitor = wait_object(&monitors, "momo-metrics", true).await.unwrap();
    let owner = strategies.get("momo").await.unwrap();
    for object in [&rule, &monitor] {
        let reference = &object.owner_references()[0];
        assert_eq!(reference.kind, "TradingStrategy");
        assert_eq!(Some(&reference.uid), owner.metadata.uid.as_ref());
        assert_eq!(reference.controller, Some(true));
        assert_eq!(
            object.labels()["release"],
            "prometheus",
            "for the ruleSelector"
        );
        assert_eq!(object.labels()["tradeplane.io/strategy"], "momo");
    }
    assert_eq!(
        monitor.data["spec"]["selector"]["matchLabels"],
        json!({"app.kubernetes.io/name": "agent-runtime", "tradeplane.io/strategy": "momo"})
    );
    assert_eq!(
        monitor.data["spec"]["podMetricsEndpoints"][0]["port"],
        "http"
    );
    let group = &rule.data["spec"]["groups"][0];
    let alerts: Vec<&str> = group["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    assert!(
        alerts.contains(&"TradingStrategyKillSwitch")
            && alerts.contains(&"TradingStrategyNoLeader"),
        "{alerts:?}"
    );
    let expr = group["rules"][0]["expr"].as_str().unwrap();
    assert!(
        expr.contains(&format!("namespace=\"{}\",strategy=\"momo\"", ns.name)),
        "{expr}"
    );
    assert_eq!(group["rules"][0]["labels"]["team"], "quant");
    strategy_alerts(&strategies, "True", "Configured").await;

    let pool_rule = wait_object(&rules, "research-alerts", true).await.unwrap();
    wait_object(&monitors, "research-metrics", true).await;
    assert_eq!(pool_rule.owner_references()[0].kind, "AgentPool");
    pool_alerts(&pools, "research", "True", "Configured").await;

    // A same-named object someone else made is reported and never taken over.
    let foreign = json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": {"name": "other-alerts", "labels": {"made-by": "someone-else"}},
        "spec": {"groups": [{"name": "theirs", "rules": [{"alert": "Theirs", "expr": "vector(1)"}]}]},
    });
    let foreign: DynamicObject = serde_json::from_value(foreign).unwrap();
    rules
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
    apply(&pools, "other", pool("other", true)).await;
    pool_alerts(&pools, "other", "False", "NameTaken").await;
    let theirs = rules.get("other-alerts").await.unwrap();
    assert!(theirs.owner_references().is_empty());
    assert_eq!(theirs.data["spec"]["groups"][0]["name"], "theirs");

    // Alerting off: the operator's objects go, the foreign one stays.
    apply(&strategies, "momo", strategy(false)).await;
    wait_object(&rules, "momo-alerts", false).await;
    wait_object(&monitors, "momo-metrics", false).await;
    strategy_alerts(&strategies, "True", "AlertingDisabled").await;
    apply(&pools, "other", pool("other", false)).await;
    pool_alerts(&pools, "other", "True", "AlertingDisabled").await;
    assert!(
        rules.get_opt("other-alerts").await.unwrap().is_some(),
        "not ours to delete"
    );
    assert!(
        rules.get_opt("research-alerts").await.unwrap().is_some(),
        "the other pool keeps its rules"
    );

    strategies_controller.stop().await.unwrap();
    pools_controller.stop().await.unwrap();
}
