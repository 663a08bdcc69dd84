//! The backtest controller's pure steps: sweep expansion and paths, validation, the rendered
//! children, and the status computed from the runs' entries.

use k8s_openapi::api::batch::v1::JobStatus;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use tradeplane_contract::config::{AnalystKind, BrokerConfig, RuntimeConfig};

use super::render::{self, names};
use super::status::{self, Observation, best_runs, failed_indexes};
use super::sweep::{self, points};
use super::validate::{ValidBacktest, validate};
use crate::api::backtest::{Backtest, RankBy, RunPhase, RunResult, RunStats, SweepAxis};
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::test_support::condition;

const IMAGE: &str = "registry.example/agent-runtime:1";

fn backtest(spec: serde_json::Value) -> Backtest {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "Backtest",
        "metadata": {"name": "sma", "namespace": "desk", "uid": "u-1"},
        "spec": spec,
    }))
    .unwrap()
}

fn template() -> serde_json::Value {
    json!({
        "symbols": ["AAPL"],
        "brokerAccountRef": {"name": "live-account"},
        "providers": [{"name": "rules", "kind": "Rules"}],
        "analysts": [{"role": "trend", "providers": ["rules"], "method": "Trend"}],
    })
}

fn sweep_spec(fast: &[f64], slow: &[f64]) -> serde_json::Value {
    json!({
        "template": template(),
        "data": {"configMap": {"name": "bars", "key": "AAPL.csv"}},
        "execution": {"cash": 10000.0, "commissionBps": 1.0, "fill": "Close"},
        "sweep": {
            "axes": [
                {"path": "analysts[0].params.fastPeriod", "values": fast},
                {"path": "analysts[0].params.slowPeriod", "values": slow},
            ],
            "parallelism": 3,
            "keepBest": 2,
        },
    })
}

fn valid(spec: serde_json::Value) -> ValidBacktest {
    validate(&backtest(spec), None, "desk", IMAGE).unwrap()
}

fn axis(path: &str, values: &[f64]) -> SweepAxis {
    SweepAxis {
        path: path.to_string(),
        values: values.to_vec(),
    }
}

fn trend_params(config: &RuntimeConfig) -> (u32, u32) {
    match &config.analysts[0].kind {
        AnalystKind::Quant { params, .. } => (params.fast_period, params.slow_period),
        other => panic!("not a quant seat: {other:?}"),
    }
}

#[test]
fn the_runs_are_the_cross_product_first_axis_slowest() {
    let axes = [axis("a", &[1.0, 2.0]), axis("b", &[10.0, 20.0, 30.0])];
    let expanded = points(&axes).unwrap();
    assert_eq!(expanded.len(), 6);
    let pairs: Vec<(f64, f64)> = expanded
        .iter()
        .map(|p| (p.values["a"], p.values["b"]))
        .collect();
    assert_eq!(
        pairs,
        [
            (1.0, 10.0),
            (1.0, 20.0),
            (1.0, 30.0),
            (2.0, 10.0),
            (2.0, 20.0),
            (2.0, 30.0)
        ]
    );
    assert_eq!(expanded[4].index, 4);
    assert_eq!(points(&[]).unwrap().len(), 1, "no sweep is one run");
    let many = [axis("a", &[1.0; 20]), axis("b", &[1.0; 20])];
    assert_eq!(
        points(&many).unwrap_err().to_string(),
        "spec.sweep.axes: 400 runs, more than the 256 a Backtest may have"
    );
}

#[test]
fn a_sweep_path_the_strategy_does_not_have_is_refused_naming_it() {
    let bad = [
        (
            "analysts[0].parms.fastPeriod",
            "the strategy spec has no field `analysts[0].parms`",
        ),
        (
            "risk.maxDrawdownPercentage",
            "the strategy spec has no field `risk.maxDrawdownPercentage`",
        ),
        ("symbols", "not a number field"),
        (
            "decision.debateRounds",
            "an integer field: every value must be whole",
        ),
    ];
    for (path, problem) in bad {
        let error = sweep::check_paths(&[axis("risk.stopLossPercent", &[1.0]), axis(path, &[1.5])])
            .unwrap_err()
            .to_string();
        assert_eq!(error, format!("spec.sweep.axes[1].path: {path}: {problem}"));
    }
    sweep::check_paths(&[
        axis("analysts[0].params.fastPeriod", &[5.0]),
        axis("risk.positionSizePercent", &[12.5]),
    ])
    .unwrap();
}

#[test]
fn each_run_gets_its_sweep_point_rendered_by_the_strategy_renderer() {
    let valid = valid(sweep_spec(
        &[5.0, 10.0, 15.0, 20.0],
        &[30.0, 40.0, 50.0, 60.0],
    ));
    assert_eq!(valid.runs.len(), 16);
    assert_eq!(trend_params(&valid.runs[0].config), (5, 30));
    assert_eq!(trend_params(&valid.runs[6].config), (10, 50));
    assert_eq!(trend_params(&valid.runs[15].config), (20, 60));
    assert_eq!(valid.parallelism, 3);
    assert_eq!(valid.keep_best, 2);
    for run in &valid.runs {
        // The strategy names a live account; every run trades the simulated broker.
        assert!(
            matches!(run.config.broker, BrokerConfig::Paper { starting_cash, commission_bps, .. }
                if starting_cash == 10000.0 && commission_bps == 1.0),
            "{:?}",
            run.config.broker
        );
        assert_eq!(run.config.identity.name, "sma");
    }
}

#[test]
fn a_point_the_runtime_would_refuse_is_refused_naming_the_run_and_field() {
    let blocker = validate(
        &backtest(sweep_spec(&[10.0, 40.0], &[30.0])),
        None,
        "desk",
        IMAGE,
    )
    .unwrap_err();
    assert_eq!(blocker.reason, "InvalidConfiguration");
    assert!(blocker.message.starts_with("run 1 "), "{}", blocker.message);
    assert!(
        blocker
            .message
            .contains("analysts[0].params.slowPeriod: must be above fastPeriod"),
        "{}",
        blocker.message
    );
}

#[test]
fn a_missing_referenced_strategy_blocks_and_an_existing_one_is_used_as_it_is() {
    let mut spec = sweep_spec(&[5.0], &[30.0]);
    spec.as_object_mut().unwrap().remove("template");
    spec["strategyRef"] = json!({"name": "live-sma"});
    let blocker = validate(&backtest(spec.clone()), None, "desk", IMAGE).unwrap_err();
    assert_eq!(blocker.reason, "StrategyNotFound");
    let strategy: TradingStrategy = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "live-sma", "namespace": "desk"},
        "spec": template(),
    }))
    .unwrap();
    let valid = validate(&backtest(spec), Some(&strategy), "desk", IMAGE).unwrap();
    assert_eq!(trend_params(&valid.runs[0].config), (5, 30));
}

#[test]
fn a_sweep_becomes_one_indexed_job_of_hardened_pods_that_may_only_patch_this_status() {
    let backtest = backtest(sweep_spec(
        &[5.0, 10.0, 15.0, 20.0],
        &[30.0, 40.0, 50.0, 60.0],
    ));
    let valid = validate(&backtest, None, "desk", IMAGE).unwrap();
    let children = render::render(&backtest, &valid).unwrap();
    let names = names("sma");

    let data = children.runs.data.as_ref().unwrap();
    assert_eq!(data.len(), 16);
    let run_7: RuntimeConfig = serde_yaml::from_str(&data["run-7.yaml"]).unwrap();
    assert_eq!(trend_params(&run_7), (10, 60));

    let job = children.job.spec.as_ref().unwrap();
    assert_eq!(job.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(job.completions, Some(16));
    assert_eq!(job.parallelism, Some(3));
    assert_eq!(job.backoff_limit_per_index, Some(0));
    let owner = &children.job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Backtest", "sma")
    );
    let pod = job.template.spec.as_ref().unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some(names.account.as_str())
    );
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(
        pod.security_context.as_ref().unwrap().run_as_non_root,
        Some(true)
    );
    let container = &pod.containers[0];
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_string()][..])
    );
    let args = container.args.as_ref().unwrap();
    assert_eq!(
        args[..5],
        [
            "backtest",
            "--config",
            "/etc/tradeplane/runs/run-$(JOB_COMPLETION_INDEX).yaml",
            "--data",
            "/var/lib/tradeplane-data/AAPL.csv"
        ]
    );
    assert!(
        args.windows(2).any(|w| w == ["--fill", "close"]),
        "{args:?}"
    );
    let env = container.env.as_ref().unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "TRADEPLANE_BACKTEST" && e.value.as_deref() == Some("sma"))
    );

    let rules = children.role.rules.as_ref().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(
        rules[0].resources.as_deref(),
        Some(&["backtests/status".to_string()][..])
    );
    assert_eq!(
        rules[0].resource_names.as_deref(),
        Some(&["sma".to_string()][..])
    );
    assert_eq!(rules[0].verbs, ["get", "patch"]);
    // And its runs' results ConfigMaps, by name, patch only.
    let maps: Vec<String> = (0..16).map(|i| format!("sma-run-{i}")).collect();
    assert_eq!(
        rules[1].resources.as_deref(),
        Some(&["configmaps".to_string()][..])
    );
    assert_eq!(rules[1].resource_names.as_deref(), Some(&maps[..]));
    assert_eq!(rules[1].verbs, ["patch"]);
}

#[test]
fn each_run_gets_an_empty_owned_results_config_map_and_writes_its_own() {
    use clap::Parser;
    use tradeplane_contract::command::{Command, Mode};
    let backtest = backtest(sweep_spec(&[5.0, 10.0], &[30.0, 40.0]));
    let valid = validate(&backtest, None, "desk", IMAGE).unwrap();
    let children = render::render(&backtest, &valid).unwrap();
    let names: Vec<&str> = children
        .results
        .iter()
        .map(|m| m.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["sma-run-0", "sma-run-1", "sma-run-2", "sma-run-3"]);
    for map in &children.results {
        assert_eq!(map.data, None);
        let owner = &map.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Backtest", "u-1")
        );
    }
    let args = children.job.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    let mut argv = vec!["agent-runtime".to_string()];
    argv.extend(
        args.iter()
            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", "2")),
    );
    let Mode::Backtest(parsed) = Command::try_parse_from(&argv).unwrap().mode else {
        panic!("not a backtest: {argv:?}");
    };
    assert_eq!(parsed.results_config_map.as_deref(), Some("sma-run-2"));
    assert_eq!(parsed.results_s3_bucket, None);
}

#[test]
fn results_to_s3_go_under_the_backtests_name_and_uid_with_only_the_two_keys() {
    use clap::Parser;
    use tradeplane_contract::command::{Command, Mode};
    let mut spec = sweep_spec(&[5.0], &[30.0]);
    spec["results"] = json!({"s3": {
        "bucket": "results", "prefix": "backtests", "endpoint": "http://minio.data:9000",
        "credentialsSecretName": "results-keys",
    }});
    let backtest = backtest(spec);
    let valid = validate(&backtest, None, "desk", IMAGE).unwrap();
    let children = render::render(&backtest, &valid).unwrap();
    assert!(children.results.is_empty());
    // No ConfigMap to write: the Role is the status rule alone.
    assert_eq!(children.role.rules.as_ref().unwrap().len(), 1);
    let pod = children.job.spec.unwrap().template.spec.unwrap();
    let volume = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "results-credentials")
        .unwrap();
    let secret = volume.secret.unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("results-keys"));
    let keys: Vec<String> = secret.items.unwrap().into_iter().map(|i| i.key).collect();
    assert_eq!(keys, ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
    let container = &pod.containers[0];
    let mount = container
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "results-credentials")
        .unwrap();
    assert_eq!(mount.mount_path, "/etc/tradeplane/results-credentials");
    assert_eq!(mount.read_only, Some(true));
    let mut argv = vec!["agent-runtime".to_string()];
    argv.extend(
        container
            .args
            .clone()
            .unwrap()
            .iter()
            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", "0")),
    );
    let Mode::Backtest(parsed) = Command::try_parse_from(&argv).unwrap().mode else {
        panic!("not a backtest: {argv:?}");
    };
    assert_eq!(parsed.results_s3_bucket.as_deref(), Some("results"));
    assert_eq!(
        parsed.results_s3_key.as_deref(),
        Some("backtests/sma/u-1/run-0.json")
    );
    assert_eq!(parsed.results_config_map, None);
}

#[test]
fn a_long_backtest_name_gives_results_config_maps_within_63_characters() {
    use super::validate::results_stem;
    assert_eq!(results_stem("sma"), "sma-run");
    let long = "a".repeat(70);
    let stem = results_stem(&long);
    assert!(stem.ends_with("-run") && stem.starts_with("aaaa"), "{stem}");
    assert!(format!("{stem}-255").len() <= 63, "{stem}");
    assert_ne!(results_stem(&"a".repeat(71)), stem);
}

#[test]
fn the_runtime_parses_the_rendered_arguments() {
    use clap::Parser;
    let valid = valid(sweep_spec(&[5.0], &[30.0]));
    let args = valid.settings.args();
    let mut argv = vec!["agent-runtime".to_string()];
    argv.extend(
        args.into_iter()
            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", "0")),
    );
    let command = tradeplane_contract::command::Command::try_parse_from(&argv).unwrap();
    assert_eq!(
        command.mode.config_path(),
        std::path::Path::new("/etc/tradeplane/runs/run-0.yaml")
    );
}

fn run(index: i32, phase: RunPhase, sharpe: Option<f64>, total_return: f64) -> RunResult {
    RunResult {
        index,
        phase,
        message: (phase == RunPhase::Failed).then(|| "AAPL.csv line 7: low above high".to_string()),
        stats: (phase == RunPhase::Succeeded).then(|| RunStats {
            sharpe,
            total_return: Some(total_return),
            max_drawdown: Some(0.081),
            trades: Some(index as i64),
            ..RunStats::default()
        }),
        artifact: None,
    }
}

fn observe(
    runs: Vec<RunResult>,
    total: usize,
    job: Option<&JobStatus>,
) -> crate::api::backtest::BacktestStatus {
    let previous = crate::api::backtest::BacktestStatus {
        runs,
        ..Default::default()
    };
    let (status, _) = status::compute(
        &Observation {
            generation: Some(1),
            previous: Some(&previous),
            strategy_revision: None,
            blocker: None,
            total_runs: total,
            job,
            rank_by: RankBy::Sharpe,
            keep_best: 2,
            sweep: Some(&crate::api::backtest::SweepSpec {
                axes: vec![axis("risk.stopLossPercent", &[1.0, 2.0, 3.0, 4.0])],
                ..Default::default()
            }),
        },
        Timestamp::from_second(1_700_000_000).unwrap(),
    );
    status
}

#[test]
fn the_best_runs_rank_by_the_metric_and_the_headline_is_the_best() {
    let runs = vec![
        run(0, RunPhase::Succeeded, Some(0.5), 0.10),
        run(1, RunPhase::Succeeded, None, 0.90),
        run(2, RunPhase::Succeeded, Some(1.25), 0.05),
        run(3, RunPhase::Running, None, 0.0),
    ];
    assert_eq!(best_runs(&runs, RankBy::Sharpe, 5), [2, 0, 1]);
    assert_eq!(best_runs(&runs, RankBy::TotalReturn, 2), [1, 0]);
    assert_eq!(
        best_runs(&runs, RankBy::MaxDrawdown, 5),
        [0, 1, 2],
        "ties by index"
    );

    let status = observe(runs, 4, None);
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(status.progress.as_deref(), Some("3/4"));
    let best: Vec<(i32, f64)> = status
        .best_runs
        .iter()
        .map(|b| (b.index, b.params["risk.stopLossPercent"]))
        .collect();
    assert_eq!(best, [(2, 3.0), (0, 1.0)]);
    assert_eq!(status.total_return.as_deref(), Some("+5.00%"));
    assert_eq!(status.sharpe.as_deref(), Some("1.25"));
    assert_eq!(status.max_drawdown.as_deref(), Some("8.10%"));
    assert_eq!(status.trades, Some(2));
    assert!(
        status.runs.is_empty(),
        "the runs' entries are never the operator's"
    );
    assert_eq!(
        condition(&status.conditions, "Complete"),
        ("False", "RunsPending")
    );
}

#[test]
fn every_run_done_is_complete_and_one_failure_fails_naming_the_run() {
    let done = vec![
        run(0, RunPhase::Succeeded, Some(1.0), 0.1),
        run(1, RunPhase::Succeeded, Some(2.0), 0.2),
    ];
    let status = observe(done.clone(), 2, None);
    assert_eq!(status.phase.as_deref(), Some("Complete"));
    assert_eq!(
        condition(&status.conditions, "Complete"),
        ("True", "RunsSucceeded")
    );
    assert_eq!(
        condition(&status.conditions, "Failed"),
        ("False", "NoRunFailed")
    );

    let mut failed = done.clone();
    failed.push(run(2, RunPhase::Failed, None, 0.0));
    let status = observe(failed, 3, None);
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let message = &status
        .conditions
        .iter()
        .find(|c| c.type_ == "Failed")
        .unwrap()
        .message;
    assert_eq!(
        message,
        "1 run(s) failed, first run 2: AAPL.csv line 7: low above high"
    );

    // A pod that died before it could report is failed by the Job's word.
    let job = JobStatus {
        failed_indexes: Some("2".to_string()),
        ..JobStatus::default()
    };
    let status = observe(done, 3, Some(&job));
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(status.progress.as_deref(), Some("3/3"));
}

#[test]
fn the_jobs_failed_indexes_read_as_ranges() {
    let job = JobStatus {
        failed_indexes: Some("1,3-5,x,9".to_string()),
        ..JobStatus::default()
    };
    assert_eq!(
        failed_indexes(Some(&job)).into_iter().collect::<Vec<_>>(),
        [1, 3, 4, 5, 9]
    );
}

fn s3_spec() -> serde_json::Value {
    let mut spec = sweep_spec(&[5.0], &[30.0]);
    spec["data"] = json!({"s3": {
        "bucket": "market-bars", "key": "daily/AAPL.csv",
        "endpoint": "http://minio.data:9000", "credentialsSecretName": "bars-keys",
    }});
    spec
}

#[test]
fn bars_from_s3_mount_only_the_two_keys_and_the_runtime_parses_the_flags() {
    use clap::Parser;
    use tradeplane_contract::command::{Command, Mode};
    let backtest = backtest(s3_spec());
    let valid = validate(&backtest, None, "desk", IMAGE).unwrap();
    let children = render::render(&backtest, &valid).unwrap();
    let pod = children.job.spec.unwrap().template.spec.unwrap();
    let volume = pod.volumes.unwrap().into_iter().find(|v| v.name == "data");
    let secret = volume.unwrap().secret.unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("bars-keys"));
    let keys: Vec<String> = secret.items.unwrap().into_iter().map(|i| i.key).collect();
    assert_eq!(keys, ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
    let container = &pod.containers[0];
    let mounts = container.volume_mounts.as_ref().unwrap();
    let mount = mounts.iter().find(|m| m.name == "data").unwrap();
    assert_eq!(mount.mount_path, "/etc/tradeplane/data-credentials");
    assert_eq!(mount.read_only, Some(true));

    let mut argv = vec!["agent-runtime".to_string()];
    let args = container.args.clone().unwrap();
    assert!(!args.iter().any(|a| a == "--data"), "{args:?}");
    argv.extend(
        args.into_iter()
            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", "0")),
    );
    let Mode::Backtest(parsed) = Command::try_parse_from(&argv).unwrap().mode else {
        panic!("not a backtest: {argv:?}");
    };
    assert_eq!(parsed.data_s3_bucket.as_deref(), Some("market-bars"));
    assert_eq!(parsed.data_s3_key.as_deref(), Some("daily/AAPL.csv"));
    assert_eq!(
        parsed.data_s3_endpoint.as_deref(),
        Some("http://minio.data:9000")
    );
    assert_eq!(
        parsed.data_s3_credentials_dir.as_deref(),
        Some(std::path::Path::new("/etc/tradeplane/data-credentials"))
    );
}

fn api_spec(start: &str, end: &str) -> serde_json::Value {
    let mut spec = sweep_spec(&[5.0], &[30.0]);
    spec["data"] = json!({
        "api": {"brokerAccountRef": {"name": "alpaca"}, "timeframe": "1Hour"},
        "start": start, "end": end,
    });
    spec
}

fn account(spec: serde_json::Value) -> crate::api::broker_account::BrokerAccount {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "alpaca", "namespace": "desk"}, "spec": spec,
    }))
    .unwrap()
}

fn alpaca() -> crate::api::broker_account::BrokerAccount {
    account(json!({
        "broker": "Alpaca", "endpoint": "http://alpaca-standin:8080",
        "credentialsSecretRef": {"name": "alpaca-keys", "keyIdKey": "id"},
    }))
}

#[test]
fn an_end_not_after_the_start_is_refused_naming_the_field() {
    use super::data_api::check;
    for end in ["2020-01-01T00:00:00Z", "2020-01-01T01:00:00+02:00"] {
        let blocked = check(
            &backtest(api_spec("2020-01-01T00:00:00Z", end)),
            Some(&alpaca()),
        );
        let message = blocked.unwrap_err().message;
        assert!(message.starts_with("spec.data.end: "), "{message}");
    }
    let blocked = check(
        &backtest(api_spec("2020-13-01T00:00:00Z", "2021-01-01T00:00:00Z")),
        Some(&alpaca()),
    );
    assert!(
        blocked
            .unwrap_err()
            .message
            .starts_with("spec.data.start: ")
    );
}

#[test]
fn the_data_api_needs_an_existing_alpaca_account_with_keys() {
    use super::data_api::check;
    let spec = backtest(api_spec("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"));
    let missing = check(&spec, None).unwrap_err();
    assert_eq!(missing.reason, "BrokerAccountNotFound");
    assert!(
        missing
            .message
            .starts_with("spec.data.api.brokerAccountRef: ")
    );
    let paper = check(&spec, Some(&account(json!({"broker": "Paper"})))).unwrap_err();
    assert!(paper.message.contains("Paper account"), "{}", paper.message);
    let keyless = check(&spec, Some(&account(json!({"broker": "Alpaca"})))).unwrap_err();
    assert!(
        keyless.message.contains("credentialsSecretRef"),
        "{}",
        keyless.message
    );
}

#[test]
fn bars_from_the_data_api_mount_the_accounts_two_keys_and_the_runtime_parses_the_flags() {
    use clap::Parser;
    use tradeplane_contract::command::{Command, Mode};
    let spec = backtest(api_spec("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"));
    let mut valid = validate(&spec, None, "desk", IMAGE).unwrap();
    let access = super::data_api::check(&spec, Some(&alpaca())).unwrap();
    valid.attach_api(access);
    let children = render::render(&spec, &valid).unwrap();
    let pod = children.job.spec.unwrap().template.spec.unwrap();
    let volume = pod.volumes.unwrap().into_iter().find(|v| v.name == "data");
    let secret = volume.unwrap().secret.unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("alpaca-keys"));
    let items: Vec<(String, String)> = secret
        .items
        .unwrap()
        .into_iter()
        .map(|i| (i.key, i.path))
        .collect();
    assert_eq!(
        items,
        [
            ("id".to_string(), "broker-key-id".to_string()),
            (
                "APCA_API_SECRET_KEY".to_string(),
                "broker-secret-key".to_string()
            ),
        ]
    );
    // The runs still trade the simulated broker, never the account.
    let run: RuntimeConfig =
        serde_yaml::from_str(&children.runs.data.as_ref().unwrap()["run-0.yaml"]).unwrap();
    assert!(
        matches!(run.broker, BrokerConfig::Paper { .. }),
        "{:?}",
        run.broker
    );

    let mut argv = vec!["agent-runtime".to_string()];
    let args = pod.containers[0].args.clone().unwrap();
    argv.extend(
        args.into_iter()
            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", "0")),
    );
    let Mode::Backtest(parsed) = Command::try_parse_from(&argv).unwrap().mode else {
        panic!("not a backtest: {argv:?}");
    };
    assert_eq!(parsed.data, None);
    assert_eq!(
        parsed.data_api_url.as_deref(),
        Some("http://alpaca-standin:8080")
    );
    assert_eq!(
        parsed.data_api_start.as_deref(),
        Some("2020-01-01T00:00:00+00:00")
    );
    assert_eq!(
        parsed.data_api_end.as_deref(),
        Some("2021-01-01T00:00:00+00:00")
    );
    assert_eq!(parsed.data_api_timeframe, "1Hour");
    assert_eq!(
        parsed.data_api_credentials_dir.as_deref(),
        Some(std::path::Path::new("/etc/tradeplane/data-credentials"))
    );
}
