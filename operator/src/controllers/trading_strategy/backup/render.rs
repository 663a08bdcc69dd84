//! The backup and restore children of a strategy, rendered from its spec (and, for the
//! on-demand Job and the restore, from what its status says was already handled). Pure.
//!
//! Every backup or restore pod runs `agent-runtime backup|restore` with the contract's
//! arguments, the strategy's own config Secret (its identity and journal), the trader's
//! security settings, and only what it needs besides: the journal volume — read-only for a
//! backup — or just the journal URL file, the destination's keys, the backup volume, and a
//! token of the `<strategy>-backup` ServiceAccount, whose Role reaches nothing but the
//! strategy's own status.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Affinity, KeyToPath, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodAffinity, PodAffinityTerm, PodTemplateSpec,
    SecretVolumeSource, ServiceAccount, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use tradeplane_contract::backup::{
    BACKUP_CREDENTIALS_DIR, BACKUP_DIR, BackupJob, Destination, KeepWithin, RestoreJob, Retention,
    S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3Location, normalize_prefix,
};
use tradeplane_contract::command::PodMode;
use tradeplane_contract::layout::{CONFIG_DIR, CREDENTIALS_DIR, JOURNAL_URL};

use super::restored;
use crate::api::trading_strategy::{BackupDestination, BackupSpec, TradingStrategy};
use crate::controllers::meta::{Component, child_name, content_hash};
use crate::controllers::resources::pod::{self, RuntimeContainer};
use crate::controllers::resources::rbac::{Identity, strategy_status_rule};
use crate::controllers::trading_strategy::pods::Pods;

/// The size of a backup volume whose strategy names none.
pub const DEFAULT_VOLUME_SIZE: &str = "5Gi";
/// Annotation on an on-demand backup Job: the `backupNowAt` value it was started for.
pub const BACKUP_NOW_AT_ANNOTATION: &str = "tradeplane.io/backup-now-at";
/// A backup Job still running after this long is stopped and reported as failed (a pod that
/// cannot start — a missing Secret, say — would otherwise wait forever).
const BACKUP_DEADLINE_SECONDS: i64 = 3600;
/// A finished on-demand Job is deleted a day later; its result is in the status by then.
const FINISHED_JOB_TTL_SECONDS: i32 = 86_400;

/// Names of the backup children.
pub struct BackupNames {
    /// The CronJob of scheduled backups.
    pub schedule: String,
    /// The ServiceAccount, Role and RoleBinding of backup and restore pods.
    pub account: String,
    /// The backup volume (a `volume` destination).
    pub claim: String,
    /// The restore Job.
    pub restore: String,
}

pub fn names(strategy: &str) -> BackupNames {
    BackupNames {
        schedule: child_name(strategy, "backup"),
        account: child_name(strategy, "backup"),
        claim: backup_claim(strategy),
        restore: child_name(strategy, "restore"),
    }
}

/// The backup volume of `strategy`: where its backups are, and where a restore from it reads.
pub fn backup_claim(strategy: &str) -> String {
    child_name(strategy, "backups")
}

/// The on-demand Job for the `backupNowAt` value `at`: named after the value, so asking twice
/// for the same value starts one Job.
pub fn backup_now_job(strategy: &str, at: &str) -> String {
    child_name(
        strategy,
        &format!("backup-{}", &content_hash(&[at.as_bytes()])[..10]),
    )
}

/// The backup and restore children. `None` means "must not exist" for the CronJob and the
/// restore Job; the others are left alone when not rendered: a backup volume holds the
/// backups, an on-demand Job already handled is finishing, and the backup identity goes with
/// the strategy (the operator holds no right to delete ServiceAccounts or Roles).
#[derive(Clone, Debug, Default)]
pub struct BackupChildren {
    pub service_account: Option<ServiceAccount>,
    pub role: Option<Role>,
    pub role_binding: Option<RoleBinding>,
    pub claim: Option<PersistentVolumeClaim>,
    pub schedule: Option<CronJob>,
    pub now: Option<Job>,
    pub restore: Option<Job>,
}

impl BackupChildren {
    /// The arguments of every backup and restore container rendered (the scheduled, the
    /// on-demand and the restore Job's): what the contract test parses with the runtime's
    /// own command line. Their work is in their arguments, beyond what `PodMode::args` says.
    pub fn container_args(&self) -> Vec<Vec<String>> {
        let scheduled = self
            .schedule
            .as_ref()
            .and_then(|c| c.spec.job_template.spec.as_ref());
        let jobs = [self.now.as_ref(), self.restore.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|j| j.spec.as_ref());
        scheduled
            .into_iter()
            .chain(jobs)
            .filter_map(|spec| spec.template.spec.as_ref())
            .flat_map(|pod| pod.containers.iter())
            .map(|c| c.args.clone().unwrap_or_default())
            .collect()
    }
}

/// What the backup and restore pods are made from: the strategy's own [`Pods`] (its image,
/// Secrets, journal), and whether its trader runs.
pub struct BackupPods<'a> {
    pub pods: &'a Pods<'a>,
    /// Whether a trader Deployment runs: a backup pod then goes to the trader's node, where
    /// the ReadWriteOnce journal volume is attached.
    pub trader_runs: bool,
}

impl BackupPods<'_> {
    /// Every backup and restore child the strategy asks for.
    pub fn render(&self) -> BackupChildren {
        let strategy = self.pods.strategy;
        let backup = strategy.spec.backup.as_ref();
        let restoring = strategy.spec.restore.is_some() && !restored(strategy);
        if backup.is_none() && !restoring {
            return BackupChildren::default();
        }
        let names = names(self.pods.meta.owner());
        let claim = backup.and_then(|b| self.claim(b, &names));
        let schedule = backup.and_then(|b| {
            let cron = b.schedule.clone()?;
            Some(self.cron_job(b, cron, &names))
        });
        let handled = strategy
            .status
            .as_ref()
            .and_then(|s| s.last_backup_now_at.as_deref());
        let now = backup.and_then(|b| {
            let at = b.backup_now_at.as_deref()?;
            (Some(at) != handled).then(|| self.now_job(b, at))
        });
        let restore = restoring.then(|| self.restore_job(&names)).flatten();
        BackupChildren {
            service_account: Some(self.identity(&names).service_account()),
            role: Some(
                self.identity(&names)
                    .role(backup_rules(self.pods.meta.owner())),
            ),
            role_binding: Some(self.identity(&names).role_binding()),
            claim,
            schedule,
            now,
            restore,
        }
    }

    /// The backup and restore pods' identity.
    fn identity<'b>(&'b self, names: &'b BackupNames) -> Identity<'b> {
        Identity {
            meta: self.pods.meta,
            name: &names.account,
            component: Component::Backup,
        }
    }

    /// The backup volume of a `volume` destination. No owner reference: deleting the strategy
    /// must not delete its backups.
    fn claim(&self, backup: &BackupSpec, names: &BackupNames) -> Option<PersistentVolumeClaim> {
        let volume = backup.destination.volume.as_ref()?;
        let size = volume
            .storage_size
            .clone()
            .unwrap_or_else(|| Quantity(DEFAULT_VOLUME_SIZE.to_string()));
        let mut metadata = self.pods.meta.child(&names.claim, Component::Backup);
        metadata.owner_references = None;
        Some(PersistentVolumeClaim {
            metadata,
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".to_string()]),
                storage_class_name: volume.storage_class_name.clone(),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([("storage".to_string(), size)])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        })
    }

    /// Scheduled backups: one at a time (a backup still running when the next is due makes
    /// that one skip), in the schedule's time zone, UTC when none is named (the CronJob's own
    /// default would be the controller manager's zone).
    fn cron_job(&self, backup: &BackupSpec, cron: String, names: &BackupNames) -> CronJob {
        let template = JobTemplateSpec {
            // The CronJob copies these onto its Jobs, which is how the operator's watch (and
            // its status) finds them: their owner is the CronJob, not the strategy.
            metadata: Some(ObjectMeta {
                labels: Some(self.pods.meta.labels(Component::Backup)),
                ..ObjectMeta::default()
            }),
            spec: Some(self.backup_job_spec(backup, None)),
        };
        CronJob {
            metadata: self.pods.meta.child(&names.schedule, Component::Backup),
            spec: CronJobSpec {
                schedule: cron,
                time_zone: Some(super::time_zone(backup).to_string()),
                suspend: Some(backup.suspend == Some(true)),
                concurrency_policy: Some("Forbid".to_string()),
                // A slot missed by more than this (the controller down) is skipped, rather
                // than the CronJob refusing to schedule after 100 misses.
                starting_deadline_seconds: Some(3600),
                successful_jobs_history_limit: Some(3),
                failed_jobs_history_limit: Some(3),
                job_template: template,
            },
            ..CronJob::default()
        }
    }

    /// The on-demand backup for `backupNowAt` value `at`.
    fn now_job(&self, backup: &BackupSpec, at: &str) -> Job {
        let mut metadata = self.pods.meta.child(
            &backup_now_job(self.pods.meta.owner(), at),
            Component::Backup,
        );
        metadata.annotations = Some(BTreeMap::from([(
            BACKUP_NOW_AT_ANNOTATION.to_string(),
            at.to_string(),
        )]));
        Job {
            metadata,
            spec: Some(self.backup_job_spec(backup, Some(FINISHED_JOB_TTL_SECONDS))),
            ..Job::default()
        }
    }

    fn backup_job_spec(&self, backup: &BackupSpec, ttl: Option<i32>) -> JobSpec {
        let destination = destination(
            &backup.destination,
            self.pods.strategy,
            self.pods.meta.owner(),
        );
        let args = BackupJob {
            destination,
            retention: retention(backup),
            report_status: true,
        }
        .args();
        let mut volumes = self.journal_volumes(true);
        volumes.extend(destination_volumes(
            &backup.destination,
            &names(self.pods.meta.owner()).claim,
            false,
        ));
        JobSpec {
            // One retry for a passing fault; a backup that keeps failing is reported, and the
            // next slot tries again.
            backoff_limit: Some(1),
            active_deadline_seconds: Some(BACKUP_DEADLINE_SECONDS),
            ttl_seconds_after_finished: ttl,
            template: self.pod(Component::Backup, PodMode::Backup, args, volumes),
            ..JobSpec::default()
        }
    }

    /// The restore Job: loads the backup into the strategy's empty journal before the trader
    /// exists. `None` when the strategy asks for no restore.
    fn restore_job(&self, names: &BackupNames) -> Option<Job> {
        let restore = self.pods.strategy.spec.restore.as_ref()?;
        let from = &restore.from_strategy;
        let args = RestoreJob {
            destination: destination(&restore.source, self.pods.strategy, from),
            backup: restore.backup.clone(),
            from_strategy: Some(from.clone()),
            force: false,
            // A restore Job run again (its status lost, say) finds its own restore done.
            once: true,
            report_status: true,
        }
        .args();
        let mut volumes = self.journal_volumes(false);
        volumes.extend(destination_volumes(
            &restore.source,
            &backup_claim(from),
            true,
        ));
        let mut template = self.pod(Component::Restore, PodMode::Restore, args, volumes);
        if let Some(spec) = template.spec.as_mut() {
            // The trader is not running: no node to follow.
            spec.affinity = self
                .pods
                .strategy
                .spec
                .placement
                .as_ref()
                .and_then(|p| p.affinity.clone());
        }
        Some(Job {
            metadata: self.pods.meta.child(&names.restore, Component::Restore),
            spec: Some(JobSpec {
                // Two retries for a passing fault (the bucket unreachable); a backup that does
                // not verify fails the same way three times and the strategy stalls.
                backoff_limit: Some(2),
                template,
                ..JobSpec::default()
            }),
            ..Job::default()
        })
    }

    /// A backup or restore pod running `args`, with the `mounted` volumes beside the config
    /// and `/tmp`.
    fn pod(
        &self,
        component: Component,
        mode: PodMode,
        args: Vec<String>,
        mounted: Vec<(Volume, VolumeMount)>,
    ) -> PodTemplateSpec {
        let mut volumes = vec![
            pod::secret_volume("config", &self.pods.names.config),
            pod::scratch_volume(),
        ];
        let mut mounts = vec![
            pod::read_only_mount("config", CONFIG_DIR),
            pod::scratch_mount(),
        ];
        for (volume, mount) in mounted {
            volumes.push(volume);
            mounts.push(mount);
        }
        // The shared container shape, a one-shot process (no probes); its arguments are the
        // job's (`PodMode::args` lacks the destination), and it serves nothing: no port.
        let mut container = RuntimeContainer {
            image: self.pods.image.clone(),
            mode,
            resources: self.pods.strategy.spec.resources.as_ref(),
            mounts,
        }
        .build();
        container.args = Some(args);
        container.ports = None;
        let mut spec = pod::runtime_pod(
            container,
            volumes,
            self.pods.strategy.spec.placement.as_ref(),
        );
        spec.service_account_name = Some(names(self.pods.meta.owner()).account);
        spec.automount_service_account_token = Some(true);
        spec.restart_policy = Some("Never".to_string());
        if self.pods.sqlite && self.trader_runs && component == Component::Backup {
            spec.affinity = Some(with_trader_node(spec.affinity.take(), self.pods.selector()));
        }
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(self.pods.meta.labels(component)),
                ..ObjectMeta::default()
            }),
            spec: Some(spec),
        }
    }

    /// The journal: the SQLite volume (read-only for a backup), or only the journal URL file
    /// of the strategy's credentials Secret — not its broker or provider keys.
    fn journal_volumes(&self, read_only: bool) -> Vec<(Volume, VolumeMount)> {
        if self.pods.sqlite {
            return vec![self.pods.journal_volume(read_only)];
        }
        let volume = secret_items(
            "journal-url",
            &self.pods.names.credentials,
            &[(JOURNAL_URL, JOURNAL_URL)],
        );
        vec![(volume, pod::read_only_mount("journal-url", CREDENTIALS_DIR))]
    }
}

/// The backup process may read and patch its own strategy's status, nothing else.
pub fn backup_rules(strategy: &str) -> Vec<PolicyRule> {
    vec![strategy_status_rule(strategy)]
}

/// Where `destination` is, as the runtime's flags name it; an S3 prefix defaults to
/// `<namespace>/<owner>`, `owner` being the strategy whose backups they are.
pub fn destination(
    destination: &BackupDestination,
    strategy: &TradingStrategy,
    owner: &str,
) -> Destination {
    match &destination.s3 {
        Some(s3) => {
            let namespace = strategy.metadata.namespace.clone().unwrap_or_default();
            let prefix = s3
                .prefix
                .clone()
                .unwrap_or_else(|| format!("{namespace}/{owner}"));
            Destination::S3(S3Location {
                bucket: s3.bucket.clone(),
                prefix: normalize_prefix(&prefix),
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
                credentials_dir: BACKUP_CREDENTIALS_DIR.into(),
            })
        }
        None => Destination::Directory {
            path: BACKUP_DIR.into(),
        },
    }
}

/// The retention policy as the runtime's flags. `keepWithin` was checked by
/// [`super::validate`]; one that does not read is left out rather than guessed.
pub fn retention(backup: &BackupSpec) -> Retention {
    let retention = backup.retention.clone().unwrap_or_default();
    Retention {
        keep_last: retention.keep_last.and_then(|n| u32::try_from(n).ok()),
        keep_within: retention
            .keep_within
            .and_then(|w| w.parse::<KeepWithin>().ok()),
    }
}

/// The destination's volume and mount: the backup claim `claim` at [`BACKUP_DIR`], or the S3
/// keys (only those two keys of the user's Secret) at [`BACKUP_CREDENTIALS_DIR`].
fn destination_volumes(
    destination: &BackupDestination,
    claim: &str,
    read_only: bool,
) -> Vec<(Volume, VolumeMount)> {
    if let Some(s3) = &destination.s3 {
        let volume = secret_items(
            "backup-credentials",
            &s3.credentials_secret_name,
            &[
                (S3_ACCESS_KEY_ID, S3_ACCESS_KEY_ID),
                (S3_SECRET_ACCESS_KEY, S3_SECRET_ACCESS_KEY),
            ],
        );
        return vec![(
            volume,
            pod::read_only_mount("backup-credentials", BACKUP_CREDENTIALS_DIR),
        )];
    }
    let volume = Volume {
        name: "backups".to_string(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.to_string(),
            read_only: read_only.then_some(true),
        }),
        ..Volume::default()
    };
    let mount = VolumeMount {
        name: "backups".to_string(),
        mount_path: BACKUP_DIR.to_string(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    };
    vec![(volume, mount)]
}

/// A volume of only the `items` (key, file) of Secret `secret`, readable by the pod's user.
pub(crate) fn secret_items(name: &str, secret: &str, items: &[(&str, &str)]) -> Volume {
    let mut volume = pod::secret_volume(name, secret);
    if let Some(source) = volume.secret.as_mut() {
        *source = SecretVolumeSource {
            items: Some(
                items
                    .iter()
                    .map(|(key, path)| KeyToPath {
                        key: (*key).to_string(),
                        path: (*path).to_string(),
                        mode: None,
                    })
                    .collect(),
            ),
            ..source.clone()
        };
    }
    volume
}

/// `affinity` plus a required co-location with the trader pods.
fn with_trader_node(affinity: Option<Affinity>, trader: LabelSelector) -> Affinity {
    let mut affinity = affinity.unwrap_or_default();
    let pod_affinity = affinity
        .pod_affinity
        .get_or_insert_with(PodAffinity::default);
    pod_affinity
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new)
        .push(PodAffinityTerm {
            label_selector: Some(trader),
            topology_key: "kubernetes.io/hostname".to_string(),
            ..PodAffinityTerm::default()
        });
    affinity
}
