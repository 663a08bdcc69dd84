//! The operator ↔ runtime contract, checked from the operator's side: every container the
//! render functions produce — for every example in `examples/`, and for variants that reach the
//! other pod modes, backups and restores included — has arguments the runtime's own command line parses into the mode it was
//! rendered as, and a config Secret the runtime's own loader reads and its own validation
//! accepts for that mode. A mode or a field one side does not know fails here, not in a pod.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use clap::Parser;
use k8s_openapi::api::core::v1::Secret;
use serde_json::json;
use tradeplane_contract::command::{Command, Mode, PodMode};
use tradeplane_contract::config::RuntimeConfig;
use tradeplane_contract::layout::CONFIG_FILE;

use super::{agent_pool, trading_strategy};
use crate::api::agent_pool::AgentPool;
use crate::api::broker_account::BrokerAccount;
use crate::api::trading_strategy::{BackupDestination, BackupSpec, RestoreSpec, TradingStrategy};

/// Every YAML document under `examples/` (the Argo CD and other non-Tradeplane kinds are
/// simply not picked up below).
fn example_documents() -> Vec<serde_json::Value> {
    let mut files = Vec::new();
    collect_yaml(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"),
        &mut files,
    );
    files.sort();
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_json::to_value(
                <serde_yaml::Value as serde::Deserialize>::deserialize(document).unwrap(),
            )
            .unwrap();
            if !value.is_null() {
                documents.push(value);
            }
        }
    }
    documents
}

fn collect_yaml(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_yaml(&path, files);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
}

fn of_kind<K: serde::de::DeserializeOwned>(documents: &[serde_json::Value], kind: &str) -> Vec<K> {
    documents
        .iter()
        .filter(|d| d["apiVersion"] == "tradeplane.io/v1alpha1" && d["kind"] == kind)
        .map(|d| {
            let mut d = d.clone();
            d["metadata"]["namespace"] = json!("desk");
            d["metadata"]["uid"] = json!("uid-1");
            serde_json::from_value(d).unwrap()
        })
        .collect()
}

/// The example strategies, each again on a cron schedule (the `cycle` mode), each again with
/// an on-demand backup to S3 (the `backup` mode), and each again created from a backup (the
/// `restore` mode).
fn strategies(documents: &[serde_json::Value]) -> Vec<TradingStrategy> {
    let examples: Vec<TradingStrategy> = of_kind(documents, "TradingStrategy");
    assert!(!examples.is_empty(), "no TradingStrategy in examples/");
    let cron = examples.iter().cloned().map(|mut strategy| {
        let schedule = strategy.spec.schedule.get_or_insert_with(Default::default);
        schedule.cron = Some("*/5 9-16 * * 1-5".to_string());
        schedule.time_zone = Some("America/New_York".to_string());
        strategy
    });
    let s3 = || -> BackupDestination {
        serde_json::from_value(json!({"s3": {"bucket": "journals", "prefix": "desk/x/",
            "endpoint": "http://minio.storage:9000", "credentialsSecretName": "s3-keys"}}))
        .unwrap()
    };
    let backed_up = examples.iter().cloned().map(|mut strategy| {
        strategy.spec.backup = Some(BackupSpec {
            schedule: Some("0 22 * * 1-5".to_string()),
            retention: serde_json::from_value(json!({"keepLast": 7, "keepWithin": "2w"})).ok(),
            destination: s3(),
            backup_now_at: Some("2026-01-05T14:30:00Z".to_string()),
            ..BackupSpec::default()
        });
        strategy
    });
    let restored = examples.iter().cloned().map(|mut strategy| {
        strategy.spec.restore = Some(RestoreSpec {
            from_strategy: "old".to_string(),
            backup: None,
            source: s3(),
        });
        strategy
    });
    examples
        .iter()
        .cloned()
        .chain(cron)
        .chain(backed_up)
        .chain(restored)
        .collect()
}

/// Checks one rendered backup or restore container against the runtime: its arguments parse
/// into the backup or restore mode, back into the job rendered, and its config is one the
/// runtime accepts for that mode. Returns the mode.
fn check_job_container(args: &[String], config: &Secret, what: &str) -> PodMode {
    let command = Command::try_parse_from(
        std::iter::once("agent-runtime".to_string()).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| panic!("{what}: the runtime refuses the arguments {args:?}: {e}"));
    let mode = match &command.mode {
        Mode::Backup(backup) => {
            assert_eq!(backup.job().unwrap().args(), args, "{what}");
            PodMode::Backup
        }
        Mode::Restore(restore) => {
            assert_eq!(restore.job().unwrap().args(), args, "{what}");
            PodMode::Restore
        }
        other => panic!("{what}: a backup pod runs {other:?}"),
    };
    let file = &config.data.as_ref().unwrap()[CONFIG_FILE].0;
    let parsed = RuntimeConfig::parse(
        std::str::from_utf8(file).unwrap(),
        command.mode.config_path(),
    )
    .unwrap_or_else(|e| panic!("{what}: the runtime cannot read its config: {e}"));
    if let Err(errors) = parsed.validate_for(command.mode.purpose()) {
        panic!("{what}: the runtime refuses its config: {errors:?}");
    }
    assert_eq!(command.mode.pod_mode(), Some(mode), "{what}");
    mode
}

/// Checks one rendered container against the runtime; returns its mode.
fn check_container(mode: PodMode, args: &[String], config: &Secret, what: &str) -> PodMode {
    let command = Command::try_parse_from(
        std::iter::once("agent-runtime".to_string()).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| panic!("{what}: the runtime refuses the arguments {args:?}: {e}"));
    assert_eq!(command.mode.pod_mode(), Some(mode), "{what}: {args:?}");
    let file = &config.data.as_ref().unwrap()[CONFIG_FILE].0;
    let text = std::str::from_utf8(file).unwrap();
    let parsed = RuntimeConfig::parse(text, command.mode.config_path())
        .unwrap_or_else(|e| panic!("{what}: the runtime cannot read its config: {e}"));
    if let Err(errors) = parsed.validate_for(command.mode.purpose()) {
        panic!("{what}: the runtime refuses its config: {errors:?}");
    }
    mode
}

#[test]
fn every_rendered_container_runs_a_mode_the_runtime_knows_with_a_config_it_accepts() {
    let documents = example_documents();
    let accounts: Vec<BrokerAccount> = of_kind(&documents, "BrokerAccount");
    let mut modes = HashSet::new();
    for strategy in strategies(&documents) {
        let name = strategy.metadata.name.clone().unwrap_or_default();
        let account = accounts
            .iter()
            .find(|a| a.metadata.name.as_ref() == Some(&strategy.spec.broker_account_ref.name))
            .unwrap_or_else(|| panic!("{name}: its BrokerAccount is not in examples/"));
        let valid =
            trading_strategy::validate::validate(&strategy, account, "desk", "runtime:test")
                .unwrap_or_else(|e| panic!("{name}: {}", e.message));
        let children = trading_strategy::render::render(
            &strategy,
            &trading_strategy::render::Inputs {
                valid: &valid,
                credentials: BTreeMap::new(),
            },
        )
        .unwrap();
        for args in children.backups.container_args() {
            modes.insert(check_job_container(&args, &children.config, &name));
        }
        let pods = children.pod_modes();
        assert!(
            !pods.is_empty() || children.backups.restore.is_some(),
            "{name}: no container rendered"
        );
        for (mode, args) in pods {
            modes.insert(check_container(mode, &args, &children.config, &name));
        }
    }
    let pools: Vec<AgentPool> = of_kind(&documents, "AgentPool");
    assert!(!pools.is_empty(), "no AgentPool in examples/");
    for pool in pools {
        let name = pool.metadata.name.clone().unwrap_or_default();
        let valid = agent_pool::validate::validate(&pool, "desk", "runtime:test")
            .unwrap_or_else(|e| panic!("{name}: {}", e.message));
        let children = agent_pool::render::render(
            &pool,
            &agent_pool::render::Inputs {
                valid: &valid,
                keys: BTreeMap::new(),
            },
        )
        .unwrap();
        for (mode, args) in children.pod_modes() {
            modes.insert(check_container(mode, &args, &children.config, &name));
        }
    }
    // Every pod mode the operator can render was reached, so none goes unchecked.
    assert_eq!(
        modes,
        HashSet::from([
            PodMode::Trader,
            PodMode::Cycle,
            PodMode::Worker,
            PodMode::Backup,
            PodMode::Restore
        ])
    );
}

#[test]
fn a_mode_the_runtime_does_not_know_is_caught() {
    let strategy: TradingStrategy = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "s", "namespace": "desk", "uid": "u"},
        "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}},
    }))
    .unwrap();
    let account: BrokerAccount = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "paper", "namespace": "desk"}, "spec": {"broker": "Paper"},
    }))
    .unwrap();
    let valid =
        trading_strategy::validate::validate(&strategy, &account, "desk", "runtime:test").unwrap();
    let children = trading_strategy::render::render(
        &strategy,
        &trading_strategy::render::Inputs {
            valid: &valid,
            credentials: BTreeMap::new(),
        },
    )
    .unwrap();
    let (_, mut args) = children.pod_modes().remove(0);
    args[0] = "rebalance".to_string();
    let parsed = Command::try_parse_from(std::iter::once("agent-runtime".to_string()).chain(args));
    assert!(parsed.is_err(), "a mode the runtime lacks must not parse");
    let err = parsed.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("rebalance"), "the error names the mode: {err}");
}

/// The API's `backupReport` and `restoreReport` are the contract's reports with a schema (the
/// contract crate has no schemars): a report the backup or restore process writes, every field
/// set, must read back into the API type and out again unchanged, or the API server would keep
/// a report with fields dropped.
#[test]
fn the_apis_backup_and_restore_reports_carry_every_field_the_processes_write() {
    use tradeplane_contract::backup::{BackupReport, Outcome, RestoreReport};
    let backup = BackupReport {
        outcome: Outcome::Failed,
        name: Some("desk-20260601T000000Z".into()),
        start_time: "2026-06-01T00:00:00Z".into(),
        completion_time: "2026-06-01T00:00:02Z".into(),
        size_bytes: Some(4096),
        rows: Some(88),
        table_rows: BTreeMap::from([("orders".to_string(), 8), ("cycles".to_string(), 80)]),
        checksum: Some("sha256:00ff".into()),
        journal_schema_version: Some(4),
        runtime_version: "0.1.0".into(),
        pod: Some("desk-backup-abc".into()),
        backups_kept: Some(3),
        backups_pruned: Some(1),
        message: Some("pruning failed".into()),
    };
    let written = serde_json::to_value(&backup).unwrap();
    let read: crate::api::trading_strategy::BackupReport =
        serde_json::from_value(written.clone()).unwrap();
    assert_eq!(serde_json::to_value(&read).unwrap(), written);

    let restore = RestoreReport {
        outcome: Outcome::Succeeded,
        backup: Some("desk-20260601T000000Z".into()),
        completion_time: "2026-06-01T00:00:05Z".into(),
        rows: Some(88),
        pod: Some("desk-restore-xyz".into()),
        message: Some("restored".into()),
    };
    let written = serde_json::to_value(&restore).unwrap();
    let read: crate::api::trading_strategy::RestoreReport =
        serde_json::from_value(written.clone()).unwrap();
    assert_eq!(serde_json::to_value(&read).unwrap(), written);
}
