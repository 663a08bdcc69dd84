//! Rendering an AgentPool's worker config and children, and computing its status, without a
//! cluster.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use tradeplane_contract::config as runtime;

use super::config::{self, WorkerConfigProblem};
use super::names;
use super::render::{self, Inputs};
use super::scale::{Autoscaled, Scale};
use super::status::{self, Blocker, Observation, Workload};
use super::validate::validate;
use crate::api::agent_pool::{AgentPool, AgentPoolStatus};
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::test_support::{condition, pod_hash};

fn pool(extra: serde_json::Value) -> AgentPool {
    let mut spec = json!({
        "agents": [
            {"role": "technical", "providers": ["openai"], "model": "gpt-4o-mini", "fallback": "Rules", "method": "Trend"},
            {"role": "quant", "providers": ["rules"], "method": "Momentum"},
        ],
        "providers": [
            {"name": "openai", "kind": "OpenAICompatible", "baseURL": "https://api.openai.com/v1",
             "apiKeySecretRef": {"name": "llm-keys", "key": "openai"}},
            {"name": "rules", "kind": "Rules"},
        ],
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "AgentPool",
        "metadata": {"name": "research", "namespace": "desk", "uid": "uid-7", "generation": 2,
                     "labels": {"team": "quant", "argocd.argoproj.io/instance": "x"}},
        "spec": spec,
    }))
    .unwrap()
}

fn children_with_keys(pool: &AgentPool, key: &[u8]) -> render::Children {
    let valid = validate(pool, "desk", "runtime:test").unwrap();
    render::render(
        pool,
        &Inputs {
            valid: &valid,
            keys: BTreeMap::from([("provider-openai".to_string(), key.to_vec())]),
        },
    )
    .unwrap()
}

fn children(pool: &AgentPool) -> render::Children {
    children_with_keys(pool, b"sk-test")
}

#[test]
fn the_worker_config_serves_the_pool_analysts_and_passes_the_runtime_checks() {
    let config = config::render(&pool(json!({"maxInFlightPerReplica": 3})), "desk").unwrap();
    assert_eq!(config.identity.name, "research");
    assert_eq!(config.identity.namespace, "desk");
    assert!(config.symbols.is_empty());
    assert_eq!(config.server.max_in_flight, 3);
    assert_eq!(config.server.listen, "0.0.0.0:8080");
    let roles: Vec<&str> = config.analysts.iter().map(|a| a.role.as_str()).collect();
    assert_eq!(roles, ["technical", "quant"]);
    assert_eq!(
        config.providers.len(),
        1,
        "Rules providers are not LLM providers"
    );
    assert_eq!(
        config.providers[0].api_key_file.as_deref(),
        Some(std::path::Path::new(
            "/etc/tradeplane/credentials/provider-openai"
        ))
    );
    config
        .validate_for(runtime::ConfigPurpose::AgentPool)
        .unwrap();
    // The default in-flight limit is the runtime's.
    let default = config::render(&pool(json!({})), "desk").unwrap();
    assert_eq!(default.server.max_in_flight, 8);
}

#[test]
fn a_seat_naming_an_undefined_provider_is_a_config_problem_not_a_panic() {
    let bad = pool(json!({"agents": [{"role": "x", "providers": ["missing"], "method": "Trend"}]}));
    let problem = config::render(&bad, "desk").unwrap_err();
    assert!(matches!(problem, WorkerConfigProblem::Spec(_)), "{problem}");
    assert!(problem.to_string().contains("missing"));
}

#[test]
fn a_config_the_runtime_would_refuse_is_reported_with_the_field() {
    let bad = pool(json!({"agents": [
        {"role": "same", "providers": ["rules"], "method": "Trend"},
        {"role": "same", "providers": ["rules"], "method": "Momentum"},
    ]}));
    let problem = config::render(&bad, "desk").unwrap_err();
    assert!(matches!(problem, WorkerConfigProblem::Invalid { .. }));
    assert!(
        problem.to_string().contains("analysts[1].role"),
        "{problem}"
    );
}

#[test]
fn the_deployment_runs_the_worker_mode_hardened_and_mounts_config_and_keys() {
    let c = children(&pool(json!({"replicas": 2})));
    let deployment = &c.deployment;
    assert_eq!(deployment.metadata.name.as_deref(), Some("research-agents"));
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.as_ref().unwrap();
    let container = &pod.containers[0];
    assert_eq!(
        container.args.as_deref().unwrap(),
        ["worker", "--config", "/etc/tradeplane/config/config.yaml"]
    );
    assert_eq!(container.image.as_deref(), Some("runtime:test"));
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(
        security
            .capabilities
            .as_ref()
            .unwrap()
            .drop
            .as_deref()
            .unwrap(),
        ["ALL"]
    );
    let pod_security = pod.security_context.as_ref().unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(
        pod_security.seccomp_profile.as_ref().unwrap().type_,
        "RuntimeDefault"
    );
    let mounts: Vec<(&str, &str)> = container
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert!(mounts.contains(&("config", "/etc/tradeplane/config")));
    assert!(mounts.contains(&("credentials", "/etc/tradeplane/credentials")));
    let volumes = pod.volumes.as_ref().unwrap();
    let secret_of = |volume: &str| {
        volumes
            .iter()
            .find(|v| v.name == volume)
            .unwrap()
            .secret
            .as_ref()
            .unwrap()
            .secret_name
            .clone()
            .unwrap()
    };
    assert_eq!(secret_of("config"), c.config.metadata.name.clone().unwrap());
    assert_eq!(
        secret_of("credentials"),
        c.keys.metadata.name.clone().unwrap()
    );
    assert_eq!(
        c.keys.data.as_ref().unwrap()["provider-openai"].0,
        b"sk-test".to_vec()
    );
    // The config names the key file and never holds the key.
    let config_yaml =
        String::from_utf8(c.config.data.as_ref().unwrap()["config.yaml"].0.clone()).unwrap();
    assert!(!config_yaml.contains("sk-test"));
    assert!(config_yaml.contains("/etc/tradeplane/credentials/provider-openai"));
}

#[test]
fn children_are_owned_labelled_from_the_allow_list_and_selected_stably() {
    let c = children(&pool(json!({})));
    let owner = &c.service.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("AgentPool", "uid-7")
    );
    assert_eq!(owner.controller, Some(true));
    let labels = c.deployment.metadata.labels.as_ref().unwrap();
    assert_eq!(labels.get("team").map(String::as_str), Some("quant"));
    assert!(!labels.contains_key("argocd.argoproj.io/instance"));
    assert_eq!(
        labels.get("tradeplane.io/agent-pool").map(String::as_str),
        Some("research")
    );
    let service = c.service.spec.as_ref().unwrap();
    assert_eq!(c.service.metadata.name.as_deref(), Some("research-agents"));
    assert_eq!(service.ports.as_ref().unwrap()[0].port, 8080);
    let selector = service.selector.as_ref().unwrap();
    assert_eq!(
        Some(selector),
        c.deployment
            .spec
            .as_ref()
            .unwrap()
            .selector
            .match_labels
            .as_ref()
    );
    assert_eq!(
        names::selector("research"),
        "app.kubernetes.io/component=worker,app.kubernetes.io/name=agent-runtime,tradeplane.io/agent-pool=research"
    );
    assert!(c.autoscaler.is_none());
    let pdb = c.disruption_budget.spec.as_ref().unwrap();
    assert_eq!(
        pdb.selector.as_ref().unwrap().match_labels.as_ref(),
        Some(selector)
    );
}

#[test]
fn autoscaling_renders_an_hpa_with_cpu_and_in_flight_metrics_and_leaves_replicas_to_it() {
    let c = children(&pool(json!({"replicas": 5, "autoscaling": {
        "minReplicas": 2, "maxReplicas": 9, "targetCPUUtilizationPercent": 60, "targetInFlightPerReplica": 4}})));
    assert_eq!(c.deployment.spec.as_ref().unwrap().replicas, None);
    let rendered = serde_json::to_value(&c.deployment).unwrap();
    assert!(rendered["spec"].get("replicas").is_none(), "{rendered}");

    let hpa = c.autoscaler.unwrap();
    let spec = hpa.spec;
    assert_eq!(spec.scale_target_ref.kind, "Deployment");
    assert_eq!(spec.scale_target_ref.name, "research-agents");
    assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 9));
    let metrics = spec.metrics.unwrap();
    let cpu = metrics[0].resource.as_ref().unwrap();
    assert_eq!(
        (cpu.name.as_str(), cpu.target.average_utilization),
        ("cpu", Some(60))
    );
    let pods = metrics[1].pods.as_ref().unwrap();
    assert_eq!(pods.metric.name, "tradeplane_worker_inflight_analyses");
    assert_eq!(pods.target.type_, "AverageValue");
    assert_eq!(pods.target.average_value.as_ref().unwrap().0, "4");
}

#[test]
fn without_an_in_flight_target_the_hpa_scales_on_cpu_at_the_default() {
    let c = children(&pool(json!({"autoscaling": {"maxReplicas": 3}})));
    let spec = c.autoscaler.unwrap().spec;
    assert_eq!(spec.min_replicas, Some(1));
    let metrics = spec.metrics.unwrap();
    assert_eq!(metrics.len(), 1);
    assert_eq!(
        metrics[0]
            .resource
            .as_ref()
            .unwrap()
            .target
            .average_utilization,
        Some(70)
    );
}

#[test]
fn a_rotated_key_or_a_config_change_rolls_the_pods_and_nothing_else_does() {
    let p = pool(json!({}));
    let base = pod_hash(&children(&p).deployment);
    assert_eq!(base, pod_hash(&children(&p).deployment));
    assert_ne!(
        base,
        pod_hash(&children_with_keys(&p, b"sk-rotated").deployment)
    );
    let changed = pool(json!({"maxInFlightPerReplica": 2}));
    assert_ne!(base, pod_hash(&children(&changed).deployment));
    // Scaling is not a reason to restart the workers.
    let scaled = pool(json!({"replicas": 4}));
    assert_eq!(base, pod_hash(&children(&scaled).deployment));
}

fn observe(
    previous: Option<&AgentPoolStatus>,
    blocker: Option<Blocker>,
    workload: Workload,
    now: i64,
) -> AgentPoolStatus {
    status::compute(
        &Observation {
            generation: Some(2),
            previous,
            blocker,
            workload,
            autoscaler_desired: None,
            spec_replicas: Some(2),
            selector: names::selector("research"),
            bound_strategies: vec!["momo".to_string()],
            spend: Vec::new(),
            alerts: None,
        },
        Timestamp::from_second(1_800_000_000 + now).unwrap(),
    )
    .0
}

fn workers(ready: i32) -> Workload {
    Workload::Workers {
        desired: 2,
        replicas: 2,
        ready,
        updated: 2,
        current: true,
    }
}

#[test]
fn ready_workers_make_the_pool_ready_and_the_same_observation_writes_nothing_new() {
    let first = observe(None, None, workers(2), 0);
    assert_eq!(
        condition(&first.conditions, "Ready"),
        ("True", "WorkersReady")
    );
    assert_eq!(condition(&first.conditions, "Reconciling").0, "False");
    assert_eq!(condition(&first.conditions, "Stalled").0, "False");
    assert_eq!(first.phase.as_deref(), Some("Ready"));
    assert_eq!(
        (first.replicas, first.ready_replicas, first.desired_replicas),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(first.selector, Some(names::selector("research")));
    assert_eq!(first.bound_strategies, ["momo"]);
    assert_eq!(first.bound_strategy_count, Some(1));
    assert_eq!(first.observed_generation, Some(2));

    let again = observe(Some(&first), None, workers(2), 60);
    assert_eq!(again, first);
}

#[test]
fn a_rollout_in_progress_is_reconciling_not_stalled() {
    let status = observe(None, None, workers(1), 0);
    assert_eq!(condition(&status.conditions, "Ready").0, "False");
    assert_eq!(condition(&status.conditions, "Reconciling").0, "True");
    assert_eq!(condition(&status.conditions, "Stalled").0, "False");
    assert_eq!(status.phase.as_deref(), Some("Degraded"));
    let scaling = observe(
        None,
        None,
        Workload::Workers {
            desired: 3,
            replicas: 2,
            ready: 2,
            updated: 2,
            current: true,
        },
        0,
    );
    assert_eq!(scaling.phase.as_deref(), Some("Scaling"));
}

#[test]
fn a_missing_key_secret_stalls_and_keeps_the_last_seen_counts() {
    let running = observe(None, None, workers(2), 0);
    let blocker = Blocker {
        reason: "SecretNotFound",
        message: "providers[openai].apiKeySecretRef: Secret llm-keys not found".to_string(),
    };
    let status = observe(Some(&running), Some(blocker), Workload::Unknown, 10);
    assert_eq!(
        condition(&status.conditions, "Ready"),
        ("False", "SecretNotFound")
    );
    assert_eq!(
        condition(&status.conditions, "Stalled"),
        ("True", "SecretNotFound")
    );
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(status.ready_replicas, Some(2));
    assert_eq!(status.selector, Some(names::selector("research")));
}

#[test]
fn bound_strategies_are_those_using_the_pool_sorted() {
    let strategy = |name: &str, pool: Option<&str>| -> TradingStrategy {
        let mut spec = json!({"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}});
        if let Some(pool) = pool {
            spec["agentPoolRef"] = json!({"name": pool});
        }
        serde_json::from_value(json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "metadata": {"name": name, "namespace": "desk"}, "spec": spec,
        }))
        .unwrap()
    };
    let all = [
        strategy("b", Some("research")),
        strategy("c", None),
        strategy("a", Some("research")),
        strategy("d", Some("other")),
    ];
    assert_eq!(status::bound_strategies("research", &all), ["a", "b"]);
}

#[test]
fn the_workers_reach_only_their_ledger_which_bounds_the_pool_overshoot() {
    let pool = pool(json!({
        "autoscaling": {"maxReplicas": 4},
        "providers": [
            {"name": "openai", "kind": "OpenAICompatible", "baseURL": "https://api.openai.com/v1",
             "dailyBudgetUSD": 20.0},
            {"name": "rules", "kind": "Rules"},
        ],
    }));
    let config = config::render(&pool, "desk").unwrap();
    let ledger = config.spend_ledger.clone().unwrap();
    assert_eq!(ledger.config_map, "research-agents-llm-ledger");
    // 1 % of the budget shared by the most replicas the pool may run.
    assert!((ledger.publish_every_usd - 20.0 / 400.0).abs() < 1e-12);
    config
        .validate_for(runtime::ConfigPurpose::AgentPool)
        .unwrap();

    let children = children(&pool);
    assert_eq!(
        children.ledger.metadata.name.as_deref(),
        Some(ledger.config_map.as_str())
    );
    assert!(
        children.ledger.data.is_none(),
        "the operator never writes the replicas' keys"
    );
    let rules = children.role.rules.clone().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].resources.as_deref(),
        Some(&["configmaps".to_string()][..])
    );
    assert_eq!(
        rules[0].resource_names.as_deref(),
        Some(&[ledger.config_map.clone()][..])
    );
    assert_eq!(rules[0].verbs, ["get", "patch"]);
    let subjects = children.role_binding.subjects.clone().unwrap();
    assert_eq!(subjects[0].name, ledger.config_map);
    assert_eq!(subjects[0].namespace.as_deref(), Some("desk"));
    let pod = children.deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some(ledger.config_map.as_str())
    );
    assert_eq!(pod.automount_service_account_token, Some(true));
    let env = pod.containers[0].env.clone().unwrap();
    assert!(env.iter().any(|e| e.name == "POD_NAME"));
}

#[test]
fn status_sums_every_replica_of_today_and_says_when_the_budget_is_spent() {
    let pool = pool(json!({"providers": [
        {"name": "openai", "kind": "OpenAICompatible", "baseURL": "https://api.openai.com/v1",
         "dailyBudgetUSD": 1.0},
        {"name": "rules", "kind": "Rules"},
    ]}));
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let ledger = |a: f64, b: f64| {
        BTreeMap::from([
            (
                "w-a".to_string(),
                format!(r#"{{"day":"2026-12-01","spentUsd":{{"openai":{a}}}}}"#),
            ),
            (
                "w-b".to_string(),
                format!(r#"{{"day":"2026-12-01","spentUsd":{{"openai":{b}}}}}"#),
            ),
            (
                "w-old".to_string(),
                r#"{"day":"2026-11-30","spentUsd":{"openai":5}}"#.to_string(),
            ),
        ])
    };
    let observe_spend = |spend, previous: Option<&AgentPoolStatus>| {
        status::compute(
            &Observation {
                generation: Some(2),
                previous,
                blocker: None,
                workload: workers(2),
                autoscaler_desired: None,
                spec_replicas: Some(2),
                selector: names::selector("research"),
                bound_strategies: Vec::new(),
                spend,
                alerts: None,
            },
            Timestamp::from_second(1_800_000_000).unwrap(),
        )
        .0
    };
    let within = observe_spend(status::provider_spend(&pool, &ledger(0.25, 0.5), day), None);
    assert_eq!(within.provider_spend[0].spent_usd, 0.75);
    assert_eq!(within.provider_spend[0].budget_usd, Some(1.0));
    assert_eq!(
        within.spend_summary.as_deref(),
        Some("openai=$0.75/$1.00 rules=$0.00")
    );
    assert_eq!(
        condition(&within.conditions, "BudgetExhausted"),
        ("False", "WithinBudget")
    );

    let spent = observe_spend(
        status::provider_spend(&pool, &ledger(0.5, 0.6), day),
        Some(&within),
    );
    assert_eq!(
        condition(&spent.conditions, "BudgetExhausted"),
        ("True", "DailyBudgetSpent")
    );
    let message = &spent
        .conditions
        .iter()
        .find(|c| c.type_ == "BudgetExhausted")
        .unwrap()
        .message;
    assert!(message.contains("openai spent $1.10 of $1.00"), "{message}");
}

#[test]
fn the_pool_scale_is_read_once_with_its_defaults() {
    let unset = Scale::of(&pool(json!({})).spec);
    assert_eq!(unset, Scale::Fixed(1));
    assert!(unset.wants_workers());
    let asleep = Scale::of(&pool(json!({"replicas": 0})).spec);
    assert_eq!(
        (asleep.fixed(), asleep.wants_workers(), asleep.most()),
        (Some(0), false, 1)
    );

    // With autoscaling, `replicas` is ignored: the autoscaler owns the count.
    let autoscaled =
        Scale::of(&pool(json!({"replicas": 5, "autoscaling": {"maxReplicas": 4}})).spec);
    assert_eq!(
        autoscaled,
        Scale::Autoscaled(Autoscaled {
            min_replicas: 1,
            max_replicas: 4,
            target_cpu_percent: 70,
            target_in_flight: None,
        })
    );
    assert_eq!((autoscaled.fixed(), autoscaled.most()), (None, 4));
    assert!(autoscaled.wants_workers());

    let rendered = children(&pool(
        json!({"replicas": 5, "autoscaling": {"maxReplicas": 4}}),
    ));
    assert_eq!(rendered.deployment.spec.as_ref().unwrap().replicas, None);
    let hpa = rendered.autoscaler.expect("an autoscaler").spec;
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(1), 4));
}

#[test]
fn the_validated_pool_carries_its_image_or_the_operators() {
    let default = validate(&pool(json!({})), "desk", "runtime:test").unwrap();
    assert_eq!(default.image, "runtime:test");
    let own = validate(
        &pool(json!({"image": "registry.example/rt:2"})),
        "desk",
        "runtime:test",
    );
    assert_eq!(own.unwrap().image, "registry.example/rt:2");
}
