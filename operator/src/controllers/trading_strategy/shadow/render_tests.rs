use std::collections::BTreeMap;

use serde_json::json;
use tradeplane_contract::config::{self as runtime, SeedPosition};

use super::render::{Seed, ShadowInputs, render, shadow_config};
use super::revision::decision_revision;
use crate::api::broker_account::BrokerAccount;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::trading_strategy::validate::validate;

fn strategy(spec: serde_json::Value) -> TradingStrategy {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "momo", "namespace": "desk", "uid": "uid-1"},
        "spec": spec,
    }))
    .expect("a strategy")
}

/// A strategy on a live Alpaca account, with an LLM seat and a Postgres journal: everything
/// a shadow must not reach.
fn live_strategy() -> (TradingStrategy, BrokerAccount) {
    let strategy = strategy(json!({
        "symbols": ["AAPL"], "brokerAccountRef": {"name": "alpaca"}, "replicas": 2,
        "journal": {"backend": "Postgres", "postgres": {"urlSecretRef": {"name": "j", "key": "url"}}},
        "providers": [{"name": "openai", "kind": "OpenAICompatible",
                       "baseURL": "https://api.openai.com/v1",
                       "apiKeySecretRef": {"name": "llm", "key": "token"}}],
        "analysts": [{"role": "news", "providers": ["openai"], "model": "gpt-4o-mini"}],
    }));
    let account = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "alpaca", "namespace": "desk"},
        "spec": {"broker": "Alpaca", "environment": "Live", "liveTradingAcknowledged": true,
                 "credentialsSecretRef": {"name": "alpaca-keys"}},
    }))
    .expect("an account");
    (strategy, account)
}

fn seed() -> Seed {
    Seed {
        cash: 12_000.0,
        positions: vec![SeedPosition {
            symbol: "AAPL".into(),
            quantity: 7.0,
            average_price: 190.0,
        }],
        resume_after: None,
    }
}

fn credentials() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("broker-key-id".to_string(), b"id".to_vec()),
        ("broker-secret-key".to_string(), b"secret".to_vec()),
        ("journal-url".to_string(), b"postgres://live".to_vec()),
        ("provider-openai".to_string(), b"sk-1".to_vec()),
    ])
}

#[test]
fn a_shadow_of_a_live_strategy_decides_on_a_seeded_paper_account_with_its_own_journal_and_no_lease()
{
    let (strategy, account) = live_strategy();
    let valid = validate(&strategy, &account, "desk", "runtime:test").expect("valid");
    assert!(matches!(
        valid.runtime_config.broker,
        runtime::BrokerConfig::Alpaca { live: true, .. }
    ));
    let config = shadow_config(&valid.runtime_config, "rev-live", &seed()).expect("valid shadow");
    assert_eq!(
        config.broker,
        runtime::BrokerConfig::Paper {
            starting_cash: 12_000.0,
            commission_bps: 0.0,
            slippage_bps: 0.0
        }
    );
    assert_eq!(config.leader_election, None);
    assert_eq!(
        config.journal,
        runtime::JournalConfig::Sqlite {
            path: "/var/lib/tradeplane/journal.db".into()
        }
    );
    let shadow = config.shadow.as_ref().expect("marked a shadow");
    assert_eq!(shadow.live_revision, "rev-live");
    assert_eq!(shadow.seed_positions, seed().positions);
    // The decisions are the new revision's: same symbols, market data and seats.
    assert_eq!(config.symbols, valid.runtime_config.symbols);
    assert_eq!(config.market_data, valid.runtime_config.market_data);
    assert_eq!(config.analysts, valid.runtime_config.analysts);
}

#[test]
fn the_shadow_gets_only_its_providers_keys_no_token_and_pods_the_live_service_does_not_select() {
    let (strategy, account) = live_strategy();
    let valid = validate(&strategy, &account, "desk", "runtime:test").expect("valid");
    let credentials = credentials();
    let children = render(&ShadowInputs {
        strategy: &strategy,
        config: &valid.runtime_config,
        image: "runtime:new",
        credentials: &credentials,
        live_revision: "rev-live",
        seed: &seed(),
    })
    .expect("rendered");
    let keys: Vec<_> = children
        .credentials
        .data
        .iter()
        .flat_map(|d| d.keys())
        .collect();
    assert_eq!(
        keys,
        ["provider-openai"],
        "no broker keys, no live journal URL"
    );
    assert_eq!(
        children.credentials.metadata.name.as_deref(),
        Some("momo-shadow-credentials")
    );
    assert_eq!(
        children.service_account.automount_service_account_token,
        Some(false)
    );
    let deployment = &children.deployment;
    assert_eq!(deployment.metadata.name.as_deref(), Some("momo-shadow"));
    let spec = deployment.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(1));
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    assert_eq!(
        selector
            .get("app.kubernetes.io/component")
            .map(String::as_str),
        Some("shadow"),
        "the live Service, Deployment and disruption budget select component=trader"
    );
    let pod = spec.template.spec.as_ref().expect("pod");
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("momo-shadow-runtime")
    );
    assert_eq!(pod.automount_service_account_token, Some(false));
    let secrets: Vec<_> = pod
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.secret.as_ref()?.secret_name.clone())
        .collect();
    assert_eq!(secrets, ["momo-shadow-config", "momo-shadow-credentials"]);
    assert!(
        pod.volumes
            .iter()
            .flatten()
            .all(|v| v.persistent_volume_claim.is_none()),
        "the live journal volume is not mounted"
    );
    let image = pod.containers[0].image.as_deref();
    assert_eq!(image, Some("runtime:new"));
    let yaml = children
        .config
        .data
        .as_ref()
        .and_then(|d| d.get("config.yaml"))
        .map(|b| String::from_utf8_lossy(&b.0).to_string())
        .unwrap_or_default();
    let parsed = runtime::RuntimeConfig::parse(&yaml, std::path::Path::new("config.yaml"))
        .expect("the runtime loads the shadow's config");
    assert!(parsed.shadow.is_some() && parsed.leader_election.is_none());
    assert!(
        !yaml.contains("api.alpaca.markets") && !yaml.contains("leaderElection"),
        "{yaml}"
    );
}

#[test]
fn the_decision_revision_follows_the_seats_risk_and_image_but_not_the_trading_state() {
    let (strategy_a, account) = live_strategy();
    let config = |spec_patch: serde_json::Value| {
        let mut spec = serde_json::to_value(&strategy_a.spec).expect("spec");
        json_patch(&mut spec, spec_patch);
        let valid = validate(&strategy(spec), &account, "desk", "runtime:test").expect("valid");
        valid.runtime_config
    };
    let base = decision_revision("runtime:1", &config(json!({})));
    assert_eq!(base, decision_revision("runtime:1", &config(json!({}))));
    assert_ne!(base, decision_revision("runtime:2", &config(json!({}))));
    for decisive in [
        json!({"decision": {"minConfidence": 0.7}}),
        json!({"risk": {"positionSizePercent": 3}}),
        json!({"analysts": [{"role": "news", "providers": ["openai"], "model": "gpt-4o"}]}),
    ] {
        assert_ne!(
            base,
            decision_revision("runtime:1", &config(decisive.clone())),
            "{decisive}"
        );
    }
    for other in [
        json!({"tradingState": "Halted"}),
        json!({"suspend": true}),
        json!({"restartAt": "now"}),
        json!({"failover": {"leaseDurationSeconds": 9}}),
    ] {
        assert_eq!(
            base,
            decision_revision("runtime:1", &config(other.clone())),
            "{other}"
        );
    }
}

fn json_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    if let (Some(target), serde_json::Value::Object(patch)) = (target.as_object_mut(), patch) {
        target.extend(patch);
    }
}
