//! Start-up of `agent-runtime backup`, `restore` and `backups list`.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use tradeplane_contract::backup::{
    BACKUP_FIELD_MANAGER, BACKUP_REPORT_FIELD, Outcome, RESTORE_FIELD_MANAGER,
    RESTORE_REPORT_FIELD, RestoreReport,
};
use tradeplane_contract::command::{BackupArgs, DestinationArgs, RestoreArgs};

use crate::backup::restore::Restored;
use crate::backup::{self, manifest, report, store};
use crate::config::RuntimeConfig;

pub async fn backup(
    config: RuntimeConfig,
    args: &BackupArgs,
    kubeconfig: Option<&Path>,
) -> ExitCode {
    let Some(job) = args.job() else {
        tracing::error!("backup needs a destination: --dir or --s3-bucket");
        return ExitCode::FAILURE;
    };
    let started = Utc::now();
    tracing::info!(
        destination = store::describe(&job.destination),
        "backup starting"
    );
    let result = backup::run(&config, &job).await;
    let status = backup::report(started, &result);
    if job.report_status {
        report::write(
            &config,
            kubeconfig,
            BACKUP_FIELD_MANAGER,
            BACKUP_REPORT_FIELD,
            &status,
        )
        .await;
    }
    match result {
        Ok(done) => {
            println!(
                "{}: {} rows, {} bytes, sha256:{}; {} kept, {} pruned",
                done.manifest.name,
                done.manifest.rows,
                done.manifest.data.size_bytes,
                done.manifest.data.sha256,
                done.kept,
                done.pruned.len()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(%err, "backup failed");
            ExitCode::FAILURE
        }
    }
}

pub async fn restore(
    config: RuntimeConfig,
    args: &RestoreArgs,
    kubeconfig: Option<&Path>,
) -> ExitCode {
    let Some(job) = args.job() else {
        tracing::error!("restore needs a source: --dir or --s3-bucket");
        return ExitCode::FAILURE;
    };
    tracing::info!(
        source = store::describe(&job.destination),
        backup = job.backup.as_deref().unwrap_or("newest"),
        "restore starting"
    );
    let result = backup::restore::run(&config, &job).await;
    let mut status = RestoreReport {
        outcome: Outcome::Failed,
        backup: job.backup.clone(),
        completion_time: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        rows: None,
        pod: std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()),
        message: None,
    };
    let code = match &result {
        Ok(Restored::Loaded {
            backup,
            rows,
            skipped,
        }) => {
            status.outcome = Outcome::Succeeded;
            status.backup = Some(backup.clone());
            status.rows = Some(*rows);
            if !skipped.is_empty() {
                status.message = Some(format!("skipped newer backups: {}", skipped.join("; ")));
            }
            println!("restored {backup}: {rows} rows");
            ExitCode::SUCCESS
        }
        Ok(Restored::AlreadyRestored { backups }) => {
            status.outcome = Outcome::Succeeded;
            status.backup = backups.last().cloned();
            status.message = Some(format!(
                "the journal already holds a restore ({}): nothing loaded",
                backups.join(", ")
            ));
            println!(
                "the journal already holds a restore of {}: nothing loaded",
                backups.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(%err, "restore failed");
            report::termination_message(&err.to_string());
            status.message = Some(err.to_string());
            ExitCode::FAILURE
        }
    };
    if job.report_status {
        report::write(
            &config,
            kubeconfig,
            RESTORE_FIELD_MANAGER,
            RESTORE_REPORT_FIELD,
            &status,
        )
        .await;
    }
    code
}

/// `backups list`: one line per backup, newest first (or the manifests as JSON), then any
/// unreadable manifest and interrupted upload.
pub async fn list(destination: &DestinationArgs, json: bool) -> ExitCode {
    let Some(destination) = destination.destination() else {
        eprintln!("backups list needs a destination: --dir or --s3-bucket");
        return ExitCode::FAILURE;
    };
    let listing = match store::open(&destination, false) {
        Ok(store) => manifest::list(&store).await,
        Err(err) => Err(err),
    };
    let listing = match listing {
        Ok(listing) => listing,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        match serde_json::to_string_pretty(&listing.backups) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!(
            "{:<48} {:<24} {:>10} {:>12}  CHECKSUM",
            "NAME", "COMPLETED", "ROWS", "BYTES"
        );
        for m in &listing.backups {
            println!(
                "{:<48} {:<24} {:>10} {:>12}  sha256:{}",
                m.name,
                m.completed_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                m.rows,
                m.data.size_bytes,
                m.data.sha256
            );
        }
    }
    for bad in &listing.unreadable {
        eprintln!("unreadable manifest {}: {}", bad.key, bad.problem);
    }
    for (path, _) in &listing.orphans {
        eprintln!("data without a manifest (an interrupted backup): {path}");
    }
    ExitCode::SUCCESS
}
