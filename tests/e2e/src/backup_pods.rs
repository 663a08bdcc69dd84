//! Host processes and clients standing in for a strategy's backup and restore pods.
//!
//! kwok runs nothing in a Job's pod (it marks it Succeeded), so a test plays the pod: it takes
//! the container arguments the operator rendered into the Job, moves the pod's mount points
//! into a directory of its own, and runs `agent-runtime` with them and a token for the
//! strategy's `<strategy>-backup` ServiceAccount from the TokenRequest API — so the Role the
//! operator rendered is what is tested. [`BackupIdentity`] is that token as a client, for tests
//! that write a report the way the process does.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use k8s_openapi::api::batch::v1::Job;

use crate::cli;

/// The mount points of a backup or restore pod (see `tradeplane_contract::layout`).
const CONFIG_PATH: &str = "/etc/tradeplane/config/config.yaml";
const BACKUP_DIR: &str = "/var/lib/tradeplane-backups";
const BACKUP_CREDENTIALS_DIR: &str = "/etc/tradeplane/backup-credentials";

/// A token of strategy `strategy`'s backup ServiceAccount, as a kubeconfig file and a client.
pub struct BackupIdentity {
    pub kubeconfig: PathBuf,
    pub client: kube::Client,
}

impl BackupIdentity {
    /// Requests a token for `<strategy>-backup` in `namespace` and writes its kubeconfig
    /// into `dir`.
    pub async fn new(namespace: &str, strategy: &str, dir: &Path) -> anyhow::Result<Self> {
        let account = format!("{strategy}-backup");
        let (kubeconfig, client) =
            cli::service_account_client(namespace, &account, dir, "backup-kubeconfig").await?;
        Ok(Self { kubeconfig, client })
    }
}

/// Where a stand-in pod's mount points are on the host.
pub struct Mounts<'a> {
    /// The strategy's config, as `runtime_pods::adapt_config` moved it to the host.
    pub config: &'a Path,
    /// The backup volume (a `volume` destination).
    pub backups: &'a Path,
    /// The destination's key files (an S3 destination).
    pub backup_credentials: &'a Path,
}

/// The arguments of `job`'s container with its mount points moved to `mounts`.
pub fn job_args(job: &Job, mounts: &Mounts<'_>) -> anyhow::Result<Vec<String>> {
    let args = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.args.clone())
        .context("the Job has no container arguments")?;
    Ok(args
        .into_iter()
        .map(|arg| match arg.as_str() {
            CONFIG_PATH => mounts.config.display().to_string(),
            BACKUP_DIR => mounts.backups.display().to_string(),
            BACKUP_CREDENTIALS_DIR => mounts.backup_credentials.display().to_string(),
            _ => arg,
        })
        .collect())
}

/// Runs `binary` with `args` as pod `pod` with the backup identity, to the end; its log.
pub async fn run_job_process(
    binary: &Path,
    args: &[String],
    identity: &BackupIdentity,
    pod: &str,
) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(binary)
        .args(args)
        .arg("--kubeconfig")
        .arg(&identity.kubeconfig)
        .env("POD_NAME", pod)
        .env("RUST_LOG", "info")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("starting {}", binary.display()))?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        bail!("`{} {}` failed:\n{log}", binary.display(), args.join(" "));
    }
    Ok(log)
}
