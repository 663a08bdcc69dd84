//! Rendering a TradingStrategy's children, without a cluster.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;
use tradeplane_contract::config as runtime;

use super::config;
use super::render::{self, Inputs};
use super::validate::validate;
use crate::api::broker_account::BrokerAccount;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::runtime_config::ConfigProblem;
use crate::controllers::test_support;

fn strategy(spec: serde_json::Value) -> TradingStrategy {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1",
        "kind": "TradingStrategy",
        "metadata": {"name": "momo", "namespace": "desk", "uid": "uid-1", "labels": {"team": "quant", "argocd.argoproj.io/instance": "x"}},
        "spec": spec,
    }))
    .unwrap()
}

fn base_spec() -> serde_json::Value {
    json!({"symbols": ["AAPL", "MSFT"], "brokerAccountRef": {"name": "paper"}})
}

fn paper_account() -> BrokerAccount {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "paper", "namespace": "desk"},
        "spec": {"broker": "Paper", "paper": {"startingCash": 50000.0, "commissionBps": 1.0}},
    }))
    .unwrap()
}

fn alpaca_account(environment: &str, acknowledged: bool) -> BrokerAccount {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "alpaca", "namespace": "desk"},
        "spec": {"broker": "Alpaca", "environment": environment, "liveTradingAcknowledged": acknowledged,
                 "credentialsSecretRef": {"name": "alpaca-keys"},
                 "limits": {"maxOrderNotional": 5000.0, "allowedSymbols": ["AAPL", "TSLA"]}},
    }))
    .unwrap()
}

fn children(strategy: &TradingStrategy, account: &BrokerAccount) -> render::Children {
    let valid = validate(strategy, account, "desk", "runtime:test").unwrap();
    render::render(
        strategy,
        &Inputs {
            valid: &valid,
            credentials: BTreeMap::from([("broker-key-id".to_string(), b"id".to_vec())]),
        },
    )
    .unwrap()
}

#[test]
fn a_paper_strategy_gets_the_default_quant_seats_a_sqlite_journal_and_leader_election() {
    let config = config::render(&strategy(base_spec()), &paper_account(), "desk").unwrap();
    assert_eq!(config.identity.name, "momo");
    assert_eq!(config.identity.namespace, "desk");
    let roles: Vec<&str> = config.analysts.iter().map(|a| a.role.as_str()).collect();
    assert_eq!(roles, ["trend", "momentum", "mean-reversion", "volatility"]);
    assert!(
        matches!(config.broker, runtime::BrokerConfig::Paper { starting_cash, commission_bps, .. } if starting_cash == 50000.0 && commission_bps == 1.0)
    );
    assert!(matches!(
        config.journal,
        runtime::JournalConfig::Sqlite { .. }
    ));
    assert_eq!(config.leader_election.unwrap().lease_name, "momo-leader");
    assert_eq!(config.trading_state, runtime::TradingState::Active);
}

#[test]
fn suspend_halts_trading_whatever_the_trading_state_says() {
    let mut spec = base_spec();
    spec["suspend"] = json!(true);
    spec["tradingState"] = json!("Active");
    let config = config::render(&strategy(spec), &paper_account(), "desk").unwrap();
    assert_eq!(config.trading_state, runtime::TradingState::Halted);
}

#[test]
fn the_order_policy_reaches_the_runtime_config() {
    let defaults = config::render(
        &strategy(base_spec()),
        &alpaca_account("Paper", true),
        "desk",
    )
    .unwrap();
    assert_eq!(defaults.orders, runtime::OrderPolicy::default());
    assert!(matches!(
        defaults.broker,
        runtime::BrokerConfig::Alpaca {
            time_in_force: runtime::TimeInForce::Day,
            ..
        }
    ));
    let mut spec = base_spec();
    spec["orders"] = json!({"timeInForce": "GoodTillCanceled", "cancelAfterSeconds": 90});
    let config = config::render(&strategy(spec), &alpaca_account("Paper", true), "desk").unwrap();
    assert_eq!(config.orders.cancel_after_seconds, Some(90));
    assert!(matches!(
        config.broker,
        runtime::BrokerConfig::Alpaca {
            time_in_force: runtime::TimeInForce::Gtc,
            ..
        }
    ));
}

#[test]
fn live_needs_alpaca_live_and_the_acknowledgement_and_account_limits_tighten_the_strategy() {
    let mut spec = base_spec();
    spec["risk"] = json!({"maxOrderNotional": 9000.0, "maxDrawdownPercent": 12.5});
    let s = strategy(spec);
    let config = config::render(&s, &alpaca_account("Live", true), "desk").unwrap();
    match &config.broker {
        runtime::BrokerConfig::Alpaca {
            live,
            base_url,
            key_id_file,
            ..
        } => {
            assert!(*live);
            assert_eq!(base_url, "https://api.alpaca.markets");
            assert!(key_id_file.ends_with("broker-key-id"));
        }
        other => panic!("expected Alpaca, got {other:?}"),
    }
    assert_eq!(config.risk.max_order_notional, Some(5000.0));
    assert_eq!(config.risk.max_drawdown, Some(0.125));
    assert_eq!(config.risk.allowed_symbols, ["AAPL"]);

    let unacknowledged = config::render(&s, &alpaca_account("Live", false), "desk").unwrap();
    assert!(matches!(
        unacknowledged.broker,
        runtime::BrokerConfig::Alpaca { live: false, .. }
    ));
    let paper = config::render(&s, &alpaca_account("Paper", true), "desk").unwrap();
    assert!(
        matches!(paper.broker, runtime::BrokerConfig::Alpaca { live: false, ref base_url, .. } if base_url == "https://paper-api.alpaca.markets")
    );
}

#[test]
fn input_problems_the_schema_cannot_see_are_reported_not_rendered() {
    let mut spec = base_spec();
    spec["symbols"] = json!(["MSFT"]);
    let problem =
        config::render(&strategy(spec), &alpaca_account("Paper", false), "desk").unwrap_err();
    assert!(
        matches!(problem, ConfigProblem::NoSymbolAllowed { .. }),
        "{problem}"
    );
    let message = problem.to_string();
    assert!(
        message.contains("MSFT") && message.contains("limits.allowedSymbols"),
        "{message}"
    );

    let mut spec = base_spec();
    spec["providers"] = json!([{"name": "rules", "kind": "Rules"}]);
    spec["analysts"] = json!([{"role": "technical", "providers": ["rules"]}]);
    let problem = config::render(&strategy(spec), &paper_account(), "desk").unwrap_err();
    assert_eq!(
        problem,
        ConfigProblem::RulesAnalystWithoutMethod {
            role: "technical".into()
        }
    );

    let mut spec = base_spec();
    spec["marketData"] = json!({"source": "Broker"});
    let problem = config::render(&strategy(spec), &paper_account(), "desk").unwrap_err();
    assert!(matches!(
        problem,
        ConfigProblem::BrokerMarketDataOnPaper { .. }
    ));
    let message = problem.to_string();
    assert!(message.contains("marketData.source"), "{message}");
}

#[test]
fn llm_seats_name_key_files_never_keys_and_fall_back_as_asked() {
    let mut spec = base_spec();
    spec["providers"] = json!([
        {"name": "openai", "kind": "OpenAICompatible", "baseURL": "https://api.openai.com/v1", "apiKeySecretRef": {"name": "llm", "key": "token"}, "dailyBudgetUSD": 5.0},
        {"name": "rules", "kind": "Rules"}
    ]);
    spec["analysts"] = json!([{"role": "news", "providers": ["openai", "rules"], "model": "gpt-4o-mini", "method": "Momentum", "fallback": "Rules"}]);
    let config = config::render(&strategy(spec), &paper_account(), "desk").unwrap();
    assert_eq!(config.providers.len(), 1);
    assert_eq!(
        config.providers[0].api_key_file.as_deref(),
        Some(std::path::Path::new(
            "/etc/tradeplane/credentials/provider-openai"
        ))
    );
    assert_eq!(config.providers[0].daily_budget_usd, Some(5.0));
    match &config.analysts[0].kind {
        runtime::AnalystKind::Llm {
            providers,
            model,
            fallback,
            ..
        } => {
            assert_eq!(providers, &["openai"]);
            assert_eq!(model, "gpt-4o-mini");
            assert_eq!(
                fallback,
                &runtime::LlmFallback::Quant {
                    method: runtime::QuantMethod::Momentum
                }
            );
        }
        other => panic!("expected an LLM seat, got {other:?}"),
    }
    let yaml = serde_yaml::to_string(&config).unwrap();
    assert!(
        !yaml.contains("token"),
        "the config must not carry key material: {yaml}"
    );
}

#[test]
fn recording_llm_answers_reaches_the_runtime_config_and_its_validation() {
    let mut spec = base_spec();
    spec["providers"] = json!([{"name": "openai", "kind": "OpenAICompatible", "baseURL": "https://api.openai.com/v1"}]);
    spec["analysts"] = json!([{"role": "news", "providers": ["openai"], "model": "gpt-4o-mini"}]);
    let config = config::render(&strategy(spec.clone()), &paper_account(), "desk").unwrap();
    assert!(!config.llm.record, "off unless asked");
    spec["recordLLMAnswers"] = json!(true);
    let config = config::render(&strategy(spec), &paper_account(), "desk").unwrap();
    assert!(config.llm.record);
    // The runtime accepts what was rendered: the seat is an LLM seat.
    assert!(config.validate().is_ok(), "{:?}", config.validate());
}

#[test]
fn a_strategy_using_an_agent_pool_calls_its_service_and_runs_no_seats_itself() {
    let mut spec = base_spec();
    spec["agentPoolRef"] = json!({"name": "research"});
    let config = config::render(&strategy(spec), &paper_account(), "desk").unwrap();
    assert!(config.analysts.is_empty());
    assert_eq!(
        config.agent_pool.unwrap().url,
        "http://research-agents.desk.svc:8080"
    );
}

#[test]
fn every_child_is_owned_labelled_and_the_trader_pod_is_locked_down() {
    let c = children(&strategy(base_spec()), &paper_account());
    let deployment = c.deployment.as_ref().unwrap();
    for meta in [
        &c.config.metadata,
        &c.credentials.metadata,
        &c.service.metadata,
        &deployment.metadata,
        &c.role.metadata,
        &c.lease.metadata,
    ] {
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("TradingStrategy", "momo", Some(true))
        );
        let labels = meta.labels.as_ref().unwrap();
        assert_eq!(labels["tradeplane.io/strategy"], "momo");
        assert_eq!(labels["team"], "quant");
        assert!(!labels.contains_key("argocd.argoproj.io/instance"));
    }
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(
        spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("Recreate")
    );
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("momo-runtime"));
    assert_eq!(
        pod.security_context.as_ref().unwrap().run_as_non_root,
        Some(true)
    );
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("runtime:test"));
    assert_eq!(container.args.as_ref().unwrap()[0], "trader");
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert!(pod.volumes.as_ref().unwrap().iter().any(|v| {
        v.persistent_volume_claim
            .as_ref()
            .is_some_and(|p| p.claim_name == "momo-journal")
    }));
    assert!(c.journal.is_some());
    assert!(c.cycle.is_none());
    // One pod: the budget must not block drains.
    let pdb = c.disruption_budget.as_ref().unwrap().spec.as_ref().unwrap();
    assert!(pdb.min_available.is_none() && pdb.max_unavailable.is_some());
}

#[test]
fn the_runtime_role_reaches_only_its_own_lease_and_status() {
    let c = children(&strategy(base_spec()), &paper_account());
    let rules = c.role.rules.as_ref().unwrap();
    assert_eq!(rules.len(), 3);
    for rule in &rules[..2] {
        let names = rule.resource_names.as_ref().unwrap();
        assert_eq!(names.len(), 1, "{rule:?}");
        assert!(
            !rule
                .verbs
                .iter()
                .any(|v| v == "create" || v == "delete" || v == "list"),
            "{rule:?}"
        );
    }
    assert_eq!(rules[0].resource_names.as_ref().unwrap()[0], "momo-leader");
    // watch only on the one named Lease (the API server allows it only for a watch selecting
    // that name): a standby hears of a release at once. The status is never watched.
    assert_eq!(rules[0].verbs, ["get", "watch", "update", "patch"]);
    assert_eq!(rules[1].verbs, ["get", "patch"]);
    // Events: created (a position correction's Warning), never read, changed or deleted.
    assert_eq!(rules[2].api_groups.as_ref().unwrap(), &["events.k8s.io"]);
    assert_eq!(rules[2].resources.as_ref().unwrap(), &["events"]);
    assert_eq!(rules[2].verbs, ["create"]);
    assert_eq!(c.lease.metadata.name.as_deref(), Some("momo-leader"));
}

#[test]
fn a_config_or_credential_change_or_a_restart_request_changes_the_pod_template() {
    let account = paper_account();
    let base = children(&strategy(base_spec()), &account);
    let same = children(&strategy(base_spec()), &account);
    assert_eq!(
        pod_hash(&base),
        pod_hash(&same),
        "rendering must be deterministic"
    );

    let mut changed = base_spec();
    changed["risk"] = json!({"stopLossPercent": 5.0});
    assert_ne!(
        pod_hash(&base),
        pod_hash(&children(&strategy(changed), &account))
    );

    let s = strategy(base_spec());
    let valid = validate(&s, &account, "desk", "runtime:test").unwrap();
    let rotated = render::render(
        &s,
        &Inputs {
            valid: &valid,
            credentials: BTreeMap::from([("broker-key-id".to_string(), b"rotated".to_vec())]),
        },
    )
    .unwrap();
    assert_ne!(pod_hash(&base), pod_hash(&rotated));

    let mut restart = base_spec();
    restart["restartAt"] = json!("2026-11-23T10:00:00Z");
    let restarted = children(&strategy(restart), &account);
    let annotations = restarted
        .deployment
        .unwrap()
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap();
    assert_eq!(
        annotations["tradeplane.io/restart-at"],
        "2026-11-23T10:00:00Z"
    );
}

#[test]
fn cron_mode_runs_cycles_as_a_cronjob_that_suspend_stops() {
    let mut spec = base_spec();
    spec["schedule"] = json!({"cron": "*/5 9-16 * * 1-5", "timeZone": "America/New_York"});
    spec["suspend"] = json!(true);
    let c = children(&strategy(spec), &paper_account());
    assert!(c.deployment.is_none() && c.disruption_budget.is_none());
    let cycle = c.cycle.unwrap().spec;
    assert_eq!(cycle.schedule, "*/5 9-16 * * 1-5");
    assert_eq!(cycle.time_zone.as_deref(), Some("America/New_York"));
    assert_eq!(cycle.suspend, Some(true));
    assert_eq!(cycle.concurrency_policy.as_deref(), Some("Forbid"));
    let pod = cycle.job_template.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.containers[0].args.as_ref().unwrap()[0], "cycle");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
}

#[test]
fn hot_standby_with_postgres_rolls_with_a_surge_keeps_one_pod_in_drains_and_has_no_volume() {
    let mut spec = base_spec();
    spec["replicas"] = json!(2);
    spec["journal"] =
        json!({"backend": "Postgres", "postgres": {"urlSecretRef": {"name": "pg", "key": "url"}}});
    spec["backup"] = json!({"schedule": "0 2 * * *", "destination": {"volume": {}}});
    let c = children(&strategy(spec), &paper_account());
    let modes = c.pod_modes();
    assert!(c.journal.is_none());
    let deployment = c.deployment.unwrap().spec.unwrap();
    assert_eq!(deployment.replicas, Some(2));
    let rollout = deployment.strategy.unwrap();
    assert_eq!(rollout.type_.as_deref(), Some("RollingUpdate"));
    // Surge one, never fewer ready pods than asked for: the standby-to-be comes up first.
    let rolling = rollout.rolling_update.unwrap();
    assert_eq!(rolling.max_surge, Some(IntOrString::Int(1)));
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));
    let pdb = c.disruption_budget.unwrap().spec.unwrap();
    assert!(pdb.min_available.is_some());
    // Only the trader: the backup CronJob's pods are listed apart (`container_args`).
    assert!(
        modes
            .iter()
            .all(|(mode, _)| *mode == tradeplane_contract::command::PodMode::Trader)
    );
}

#[test]
fn failover_timings_reach_the_runtime_and_default_to_its_own() {
    let defaults = config::render(&strategy(base_spec()), &paper_account(), "desk")
        .unwrap()
        .leader_election
        .unwrap();
    assert_eq!(
        (
            defaults.lease_duration_seconds,
            defaults.renew_deadline_seconds,
            defaults.retry_period_seconds
        ),
        (4, 3, 1)
    );
    let mut spec = base_spec();
    spec["failover"] = json!({"leaseDurationSeconds": 10, "renewDeadlineSeconds": 7});
    let set = config::render(&strategy(spec), &paper_account(), "desk")
        .unwrap()
        .leader_election
        .unwrap();
    assert_eq!(
        (
            set.lease_duration_seconds,
            set.renew_deadline_seconds,
            set.retry_period_seconds
        ),
        (10, 7, 3)
    );
    // A longer lease alone is renewed less often in proportion: a fifth of the requests.
    let mut spec = base_spec();
    spec["failover"] = json!({"leaseDurationSeconds": 15});
    let long = config::render(&strategy(spec), &paper_account(), "desk")
        .unwrap()
        .leader_election
        .unwrap();
    assert_eq!(
        (
            long.lease_duration_seconds,
            long.renew_deadline_seconds,
            long.retry_period_seconds
        ),
        (15, 10, 5)
    );
}

#[test]
fn switchover_at_goes_on_the_lease_and_the_lease_spec_stays_the_runtimes() {
    let mut spec = base_spec();
    spec["switchoverAt"] = json!("2026-12-01T20:00:00Z");
    let lease = children(&strategy(spec), &paper_account()).lease;
    assert!(lease.spec.is_none());
    assert_eq!(
        lease.metadata.annotations.unwrap()[tradeplane_contract::status::SWITCHOVER_ANNOTATION],
        "2026-12-01T20:00:00Z"
    );
    let without = children(&strategy(base_spec()), &paper_account()).lease;
    assert!(
        !without
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key(tradeplane_contract::status::SWITCHOVER_ANNOTATION)
    );
}

#[test]
fn the_revision_changes_with_the_image_and_the_inputs_but_not_between_renderings() {
    let revision = |spec: serde_json::Value| {
        let c = children(&strategy(spec), &paper_account());
        let template = c.deployment.unwrap().spec.unwrap().template;
        super::pods::revision(&template).unwrap().to_string()
    };
    let base = revision(base_spec());
    assert_eq!(base, revision(base_spec()));
    let mut image = base_spec();
    image["image"] = json!("runtime:v2");
    assert_ne!(base, revision(image));
    let mut restart = base_spec();
    restart["restartAt"] = json!("now");
    assert_ne!(base, revision(restart));
}

/// The inputs hash of the trader's pods.
fn pod_hash(children: &render::Children) -> String {
    test_support::pod_hash(children.deployment.as_ref().expect("a trader Deployment"))
}

#[test]
fn the_validated_strategy_applies_replicas_and_image_defaults_once() {
    let account = paper_account();
    let unset = validate(&strategy(base_spec()), &account, "desk", "runtime:test").unwrap();
    assert_eq!((unset.replicas, unset.image.as_str()), (1, "runtime:test"));
    let mut spec = base_spec();
    spec["replicas"] = json!(2);
    spec["image"] = json!("registry.example/rt:2");
    let set = validate(&strategy(spec.clone()), &account, "desk", "runtime:test").unwrap();
    assert_eq!(
        (set.replicas, set.image.as_str()),
        (2, "registry.example/rt:2")
    );

    let rendered = children(&strategy(spec), &account);
    let deployment = rendered.deployment.expect("a trader");
    let pod = deployment.spec.as_ref().unwrap();
    assert_eq!(pod.replicas, Some(2));
    let image = pod.template.spec.as_ref().unwrap().containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("registry.example/rt:2"));
}
