//! `restore NEW --from OLD [--backup X]`: the manifest of a new TradingStrategy that starts
//! from a backup of OLD (`spec.restore`, immutable, set only at creation). Printed for review
//! or GitOps, or with `--apply` created and waited on until the operator reports the restore
//! (`status.restoreReport`).
//!
//! The new strategy's spec is OLD's, so it trades the same way, without OLD's one-shot nonces
//! (`restartAt`, `switchoverAt`, `backup.backupNowAt`) and with `restore` pointing at OLD's
//! backup destination. OLD must still exist to copy it from.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use kube::api::PostParams;
use serde_json::{Value, json};
use tradeplane_api::TradingStrategy;
use tradeplane_api::trading_strategy::{BackupOutcome, RestoreReport, RestoreSpec};

use crate::actions::{FIELD_MANAGER, POLL_EVERY};
use crate::cli::{OutputFormat, RestoreArgs};
use crate::cluster::Target;
use crate::error::Error;
use crate::output::write_as;

/// The new strategy `name` restoring `backup` (default: the newest) of `old`.
pub fn manifest(
    old: &TradingStrategy,
    name: &str,
    backup: Option<&str>,
) -> Result<TradingStrategy, Error> {
    let from = old.metadata.name.clone().unwrap_or_default();
    let Some(destination) = old.spec.backup.as_ref().map(|b| b.destination.clone()) else {
        return Err(Error::NotApplicable(format!(
            "'{from}' has no spec.backup, so it has no backups to restore"
        )));
    };
    let mut spec = old.spec.clone();
    spec.restart_at = None;
    spec.switchover_at = None;
    if let Some(b) = spec.backup.as_mut() {
        b.backup_now_at = None;
    }
    spec.restore = Some(RestoreSpec {
        from_strategy: from,
        backup: backup.map(str::to_string),
        source: destination,
    });
    let mut new = TradingStrategy::new(name, spec);
    new.metadata.namespace = old.metadata.namespace.clone();
    new.metadata.labels = old.metadata.labels.clone();
    Ok(new)
}

/// Where the restore stands: `None` while it runs.
pub fn outcome(strategy: &TradingStrategy) -> Option<&RestoreReport> {
    strategy.status.as_ref()?.restore_report.as_ref()
}

pub async fn run(target: &Target, args: &RestoreArgs, out: &mut dyn Write) -> Result<(), Error> {
    let old = target.strategy(&args.from).await?;
    let new = manifest(&old, &args.name, args.backup.as_deref())?;
    if !args.apply {
        // A manifest to apply as it is: the kind's fields only, no server-set ones.
        let mut value: Value =
            serde_json::to_value(&new).map_err(|e| Error::Encode(e.to_string()))?;
        value["metadata"] = json!({"name": args.name, "namespace": target.namespace});
        if let Some(labels) = &new.metadata.labels {
            value["metadata"]["labels"] = json!(labels);
        }
        return write_as(out, args.output.unwrap_or(OutputFormat::Yaml), &value);
    }
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    target
        .api::<TradingStrategy>()
        .create(&params, &new)
        .await
        .map_err(|e| Error::from_kube(e, "create", "tradingstrategies", &target.namespace))?;
    wait(target, args, out).await
}

async fn wait(target: &Target, args: &RestoreArgs, out: &mut dyn Write) -> Result<(), Error> {
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    loop {
        let current = target.strategy(&args.name).await?;
        if let Some(report) = outcome(&current) {
            if terminal {
                eprint!("\r\x1b[K");
            }
            let backup = report.backup.as_deref().unwrap_or("the newest backup");
            if report.outcome == BackupOutcome::Failed {
                return Err(Error::NotApplicable(format!(
                    "the restore of '{}' from '{}' ({backup}) failed: {}; delete the strategy \
                     and create it again once fixed (spec.restore is immutable)",
                    args.name,
                    args.from,
                    report.message.as_deref().unwrap_or("no reason given"),
                )));
            }
            let rows = report
                .rows
                .map(|r| format!(", {r} rows"))
                .unwrap_or_default();
            writeln!(
                out,
                "strategy '{}' created and restored from '{}' backup {backup}{rows} ({}s)",
                args.name,
                args.from,
                started.elapsed().as_secs()
            )?;
            return Ok(());
        }
        if started.elapsed() >= args.timeout {
            return Err(Error::Timeout {
                strategy: args.name.clone(),
                what: "the restore (status.restoreReport)".into(),
                waited: args.timeout,
                last_seen: crate::actions::last_seen(&current),
                hint: "; the strategy exists: delete it to start over".into(),
            });
        }
        if terminal {
            eprint!(
                "\r\x1b[Kwaiting for the restore … {}s",
                started.elapsed().as_secs()
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(backup: Value) -> TradingStrategy {
        serde_json::from_value(json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "metadata": {"name": "momo", "namespace": "desk", "uid": "u",
                         "labels": {"team": "a"}, "resourceVersion": "5"},
            "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"},
                     "restartAt": "r", "switchoverAt": "s", "backup": backup},
        }))
        .unwrap()
    }

    #[test]
    fn the_manifest_restores_the_old_strategys_destination_without_its_nonces() {
        let old = old(json!({"destination": {"volume": {}}, "backupNowAt": "n"}));
        let new = manifest(&old, "momo-2", Some("momo-20300101T000000Z")).unwrap();
        let spec = serde_json::to_value(&new.spec).unwrap();
        assert_eq!(
            spec["restore"],
            json!({"fromStrategy": "momo", "backup": "momo-20300101T000000Z",
                   "source": {"volume": {}}})
        );
        assert_eq!(spec["symbols"], json!(["AAPL"]));
        for gone in ["restartAt", "switchoverAt"] {
            assert!(spec.get(gone).is_none(), "{gone}: {spec}");
        }
        assert!(spec["backup"].get("backupNowAt").is_none(), "{spec}");
        assert_eq!(new.metadata.name.as_deref(), Some("momo-2"));
        assert!(new.metadata.uid.is_none() && new.metadata.resource_version.is_none());
        assert!(
            manifest(&old, "x", None)
                .unwrap()
                .spec
                .restore
                .unwrap()
                .backup
                .is_none()
        );
    }

    #[test]
    fn a_strategy_without_backups_cannot_be_restored_from() {
        let mut o = old(json!(null));
        o.spec.backup = None;
        let error = manifest(&o, "x", None).err().unwrap().to_string();
        assert!(error.contains("has no spec.backup"), "{error}");
    }
}
