//! The config contract: loading (YAML and JSON, apiVersion, field paths in parse errors) and
//! validation (every rule names its field; all errors come back at once).

use std::path::{Path, PathBuf};

use agent_runtime::config::{ConfigPurpose, LoadError, RuntimeConfig};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn errors_of(config: &RuntimeConfig) -> Vec<String> {
    match config.validate() {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn demo_config_loads_and_validates() {
    let config = RuntimeConfig::load(&fixture("demo.yaml")).unwrap();
    assert_eq!(config.symbols, ["AAPL", "MSFT"]);
    assert_eq!(config.analysts.len(), 4);
}

#[test]
fn json_round_trip_loads_the_same_config() {
    let config = RuntimeConfig::load(&fixture("demo.yaml")).unwrap();
    let json = serde_json::to_string_pretty(&config).unwrap();
    let again = RuntimeConfig::parse(&json, Path::new("demo.json")).unwrap();
    assert_eq!(config, again);
}

#[test]
fn every_broken_field_is_named() {
    let config = RuntimeConfig::read_file(&fixture("invalid.yaml")).unwrap();
    let errors = errors_of(&config);
    let expected = [
        "symbols[1]: \"AAPL\" is listed twice",
        "schedule.timeZone: must be an IANA time zone",
        "schedule.cron: does not parse",
        "analysts[0].providers[1]: no provider named \"missing\" in providers",
        "providers[0].baseUrl: must be an http(s) URL, got \"api.openai.com\"",
        "decision.minConfidence: must be between 0 and 1, got 1.2",
        "risk.maxDrawdown: must be between 0 and 1, got 1.5",
        "risk.allowedSymbols[0]: \"TSLA\" is not one of the strategy's symbols",
        "risk.maxOrdersPerMinute: must be at least 1, got 0",
        "broker.startingCash: must be above 0, got -5",
        "orders.cancelAfterSeconds: must be at least 1, got 0",
    ];
    for want in expected {
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in {errors:#?}"
        );
    }
    // The existing provider passes; nothing else is reported.
    assert!(
        !errors
            .iter()
            .any(|e| e.starts_with("analysts[0].providers[0]")),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
}

#[test]
fn load_refuses_an_invalid_config_with_all_errors() {
    let err = RuntimeConfig::load(&fixture("invalid.yaml")).unwrap_err();
    match err {
        LoadError::Invalid { errors, .. } => {
            assert!(errors.len() > 5, "{errors:#?}");
            // Each refusal names its field, the parser's (the cron, the time zone) included.
            for field in [
                "schedule.cron",
                "schedule.timeZone",
                "decision.minConfidence",
                "risk.maxDrawdown",
                "broker.startingCash",
            ] {
                assert!(
                    errors.iter().any(|e| e.path == field),
                    "no error for {field} in {errors:#?}"
                );
            }
        }
        other => panic!("expected Invalid, got {other}"),
    }
}

#[test]
fn strategy_needs_symbols_and_analysts_but_a_pool_does_not_need_symbols() {
    let yaml = "apiVersion: runtime.tradeplane.io/v1alpha1\nidentity: {namespace: a, name: b}\n";
    let config = RuntimeConfig::parse(yaml, Path::new("x.yaml")).unwrap();
    let errors = errors_of(&config);
    assert!(
        errors.contains(&"symbols: a strategy needs at least one symbol".to_string()),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("analysts: a strategy needs")),
        "{errors:?}"
    );
    let pool_errors = config.validate_for(ConfigPurpose::AgentPool).unwrap_err();
    assert!(
        pool_errors.iter().all(|e| e.path != "symbols"),
        "{pool_errors:?}"
    );
}

#[test]
fn wrong_api_version_is_reported_before_unknown_fields() {
    let yaml =
        "apiVersion: runtime.tradeplane.io/v2\nidentity: {namespace: a, name: b}\nnewField: 1\n";
    let err = RuntimeConfig::parse(yaml, Path::new("x.yaml")).unwrap_err();
    assert!(matches!(err, LoadError::ApiVersion { .. }), "{err}");
    assert!(
        err.to_string().contains("runtime.tradeplane.io/v2"),
        "{err}"
    );
}

#[test]
fn parse_errors_name_the_field_path() {
    let yaml = "apiVersion: runtime.tradeplane.io/v1alpha1\nidentity: {namespace: a, name: b}\nrisk:\n  maxDrawdown: lots\n";
    let err = RuntimeConfig::parse(yaml, Path::new("x.yaml")).unwrap_err();
    match &err {
        LoadError::Field { field, .. } => assert_eq!(field, "risk.maxDrawdown"),
        other => panic!("expected a field error, got {other}"),
    }
    let json = r#"{"apiVersion":"runtime.tradeplane.io/v1alpha1","identity":{"namespace":"a","name":"b"},"risk":{"stopLos":0.1}}"#;
    let err = RuntimeConfig::parse(json, Path::new("x.json")).unwrap_err();
    assert!(err.to_string().contains("risk"), "{err}");
    assert!(err.to_string().contains("stopLos"), "{err}");
}

#[test]
fn broker_market_data_needs_an_alpaca_broker() {
    let yaml = r#"
apiVersion: runtime.tradeplane.io/v1alpha1
identity: {namespace: a, name: b}
symbols: [AAPL]
analysts: [{role: t, kind: quant, method: trend}]
marketData: {source: broker, baseUrl: "https://data.alpaca.markets", timeframe: 2Day}
"#;
    let config = RuntimeConfig::parse(yaml, Path::new("x.yaml")).unwrap();
    let errors = errors_of(&config);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("marketData.timeframe: must be one of")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("marketData.source:")),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn unknown_keys_in_an_analyst_are_still_refused() {
    let yaml = r#"
apiVersion: runtime.tradeplane.io/v1alpha1
identity: {namespace: a, name: b}
symbols: [AAPL]
analysts: [{role: t, kind: quant, method: trend, wieght: 2}]
"#;
    let err = RuntimeConfig::parse(yaml, Path::new("x.yaml")).unwrap_err();
    assert!(err.to_string().contains("wieght"), "{err}");
}

#[test]
fn live_and_paper_alpaca_urls_must_match_the_live_opt_in() {
    let config = |url: &str, live: bool| {
        let yaml = format!(
            "apiVersion: runtime.tradeplane.io/v1alpha1\nidentity: {{namespace: a, name: b}}\n\
             symbols: [AAPL]\nanalysts: [{{role: t, kind: quant, method: trend}}]\n\
             broker: {{kind: alpaca, baseUrl: \"{url}\", live: {live}, \
             keyIdFile: /k, secretKeyFile: /s}}\n"
        );
        RuntimeConfig::parse(&yaml, Path::new("alpaca.yaml")).unwrap()
    };
    let errors = errors_of(&config("https://api.alpaca.markets", false));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("broker.baseUrl: api.alpaca.markets is the live trading API"));
    let errors = errors_of(&config("https://paper-api.alpaca.markets/", true));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("broker.live: true, but baseUrl is the paper trading API"));
    assert!(errors_of(&config("https://api.alpaca.markets", true)).is_empty());
    assert!(errors_of(&config("https://paper-api.alpaca.markets", false)).is_empty());
    // A sqlite journal next to a lease is the operator's normal rendering: valid.
    let mut with_lease = config("https://paper-api.alpaca.markets", false);
    with_lease.leader_election = Some(agent_runtime::config::LeaderElectionConfig {
        lease_name: "b-leader".into(),
        lease_duration_seconds: 15,
        renew_deadline_seconds: 10,
        retry_period_seconds: 2,
    });
    assert!(errors_of(&with_lease).is_empty());
}

#[test]
fn lease_timings_must_let_a_leader_stop_before_a_standby_starts() {
    let yaml = "apiVersion: runtime.tradeplane.io/v1alpha1\nidentity: {namespace: a, name: b}\n\
                symbols: [AAPL]\nanalysts: [{role: t, kind: quant, method: trend}]\n";
    let mut config = RuntimeConfig::parse(yaml, Path::new("lease.yaml")).unwrap();
    let timings = |duration, renew, retry| agent_runtime::config::LeaderElectionConfig {
        lease_name: "b-leader".into(),
        lease_duration_seconds: duration,
        renew_deadline_seconds: renew,
        retry_period_seconds: retry,
    };
    config.leader_election = Some(timings(4, 4, 1));
    let errors = errors_of(&config);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "leaderElection.renewDeadlineSeconds: must be less than leaseDurationSeconds (4)"
        ),
        "{errors:?}"
    );
    config.leader_election = Some(timings(4, 3, 3));
    let errors = errors_of(&config);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "leaderElection.retryPeriodSeconds: must be less than renewDeadlineSeconds (3)"
        ),
        "{errors:?}"
    );
    config.leader_election = Some(timings(4, 3, 0));
    assert!(
        errors_of(&config)
            .iter()
            .any(|e| e.starts_with("leaderElection.retryPeriodSeconds: must be at least 1"))
    );
    config.leader_election = Some(timings(4, 3, 1));
    assert!(errors_of(&config).is_empty());
}

/// A shadow decides on paper only: a config that names a live (or any Alpaca) broker, or the
/// live strategy's Lease, is refused, each at its field; a paper shadow with its seed passes.
#[test]
fn a_shadow_config_naming_a_live_broker_or_the_lease_is_refused() {
    let shadow = |broker: &str, lease: &str| {
        format!(
            r#"
apiVersion: runtime.tradeplane.io/v1alpha1
identity: {{namespace: a, name: b}}
symbols: [AAPL, MSFT]
analysts: [{{role: t, kind: quant, method: trend}}]
broker: {broker}
{lease}
shadow:
  liveRevision: rev-1
  seedPositions: [{{symbol: AAPL, quantity: 3, averagePrice: 100}}]
"#
        )
    };
    let live = r#"{kind: alpaca, baseUrl: "https://api.alpaca.markets", live: true, keyIdFile: /k, secretKeyFile: /s}"#;
    let lease = "leaderElection: {leaseName: b-leader}";
    let config = RuntimeConfig::parse(&shadow(live, lease), Path::new("x.yaml")).unwrap();
    let errors = errors_of(&config);
    assert!(
        errors.iter().any(
            |e| e.starts_with("broker.kind: a shadow trades on a paper account")
                && e.contains("never on a live broker account")
        ),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("leaderElection: ")),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    // An Alpaca paper account is still a real account the shadow must not reach.
    let alpaca_paper = r#"{kind: alpaca, baseUrl: "https://paper-api.alpaca.markets", keyIdFile: /k, secretKeyFile: /s}"#;
    let config = RuntimeConfig::parse(&shadow(alpaca_paper, ""), Path::new("x.yaml")).unwrap();
    assert_eq!(
        errors_of(&config),
        [
            "broker.kind: a shadow trades on a paper account of its own (kind Paper), never on an Alpaca broker account"
        ]
    );
    let paper = "{kind: paper, startingCash: 1000}";
    let config = RuntimeConfig::parse(&shadow(paper, ""), Path::new("x.yaml")).unwrap();
    assert_eq!(errors_of(&config), Vec::<String>::new());
    // The same config without `shadow` may trade live: the rule is the shadow's alone.
    let mut live_trader = RuntimeConfig::parse(&shadow(live, lease), Path::new("x.yaml")).unwrap();
    live_trader.shadow = None;
    assert_eq!(errors_of(&live_trader), Vec::<String>::new());
}

#[test]
fn a_shadows_seed_names_the_strategys_symbols_once_with_positive_amounts() {
    let yaml = r#"
apiVersion: runtime.tradeplane.io/v1alpha1
identity: {namespace: a, name: b}
symbols: [AAPL]
analysts: [{role: t, kind: quant, method: trend}]
shadow:
  liveRevision: " "
  seedPositions:
    - {symbol: AAPL, quantity: 1, averagePrice: 10}
    - {symbol: AAPL, quantity: 1, averagePrice: 10}
    - {symbol: TSLA, quantity: -1, averagePrice: 0}
"#;
    let config = RuntimeConfig::parse(yaml, Path::new("x.yaml")).unwrap();
    let errors = errors_of(&config);
    let expected = [
        "shadow.liveRevision: must not be empty",
        "shadow.seedPositions[1].symbol: \"AAPL\" is listed twice",
        "shadow.seedPositions[2].symbol: \"TSLA\" is not one of the strategy's symbols",
        "shadow.seedPositions[2].quantity: must be above 0, got -1",
        "shadow.seedPositions[2].averagePrice: must be above 0, got 0",
    ];
    assert_eq!(errors, expected);
}
