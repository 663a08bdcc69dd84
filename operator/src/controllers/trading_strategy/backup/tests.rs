//! Rendering the backup and restore children and reading their reports, without a cluster.

use std::collections::BTreeMap;

use clap::Parser;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use tradeplane_contract::backup::{BACKUP_CREDENTIALS_DIR, BACKUP_DIR, Destination};
use tradeplane_contract::command::{Command, Mode};
use tradeplane_contract::layout::{CREDENTIALS_DIR, JOURNAL_DIR};

use super::render::{BACKUP_NOW_AT_ANNOTATION, backup_now_job};
use super::report::{self, RestoreStage};
use crate::api::broker_account::BrokerAccount;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::trading_strategy::render::{self, Children, Inputs};
use crate::controllers::trading_strategy::status;
use crate::controllers::trading_strategy::validate::validate;

fn strategy(spec: serde_json::Value, status: serde_json::Value) -> TradingStrategy {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "momo", "namespace": "desk", "uid": "uid-1"},
        "spec": spec,
        "status": status,
    }))
    .unwrap()
}

fn with(extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    spec
}

fn postgres() -> serde_json::Value {
    json!({"backend": "Postgres", "postgres": {"urlSecretRef": {"name": "pg", "key": "url"}}})
}

fn children(strategy: &TradingStrategy) -> Children {
    let account: BrokerAccount = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "paper", "namespace": "desk"}, "spec": {"broker": "Paper"},
    }))
    .unwrap();
    let valid = validate(strategy, &account, "desk", "runtime:test").unwrap();
    render::render(
        strategy,
        &Inputs {
            valid: &valid,
            credentials: BTreeMap::from([("broker-key-id".to_string(), b"id".to_vec())]),
        },
    )
    .unwrap()
}

fn parse(args: &[String]) -> Mode {
    Command::try_parse_from(std::iter::once("agent-runtime".to_string()).chain(args.to_vec()))
        .unwrap()
        .mode
}

fn scheduled_pod(c: &Children) -> PodSpec {
    let cron = c.backups.schedule.as_ref().unwrap();
    let job = cron.spec.job_template.spec.as_ref().unwrap();
    job.template.spec.clone().unwrap()
}

fn trader_pod(c: &Children) -> PodSpec {
    let deployment = c.deployment.as_ref().unwrap().spec.as_ref().unwrap();
    deployment.template.spec.clone().unwrap()
}

#[test]
fn scheduled_backups_are_a_cronjob_with_the_schedule_zone_suspend_and_one_at_a_time() {
    let backup = json!({"schedule": "0 22 * * 1-5", "timeZone": "America/New_York",
                        "retention": {"keepLast": 14, "keepWithin": "30d"},
                        "destination": {"volume": {}}});
    let c = children(&strategy(with(json!({"backup": backup})), json!({})));
    let cron = c.backups.schedule.as_ref().unwrap();
    assert_eq!(cron.metadata.name.as_deref(), Some("momo-backup"));
    let spec = &cron.spec;
    assert_eq!(spec.schedule, "0 22 * * 1-5");
    assert_eq!(spec.time_zone.as_deref(), Some("America/New_York"));
    assert_eq!(spec.suspend, Some(false));
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(spec.successful_jobs_history_limit, Some(3));
    assert_eq!(spec.failed_jobs_history_limit, Some(3));
    // Its Jobs carry the strategy's labels, which is how the operator finds them.
    let labels = spec
        .job_template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    assert_eq!(labels["tradeplane.io/strategy"], "momo");
    assert_eq!(labels["app.kubernetes.io/component"], "backup");

    let pod = scheduled_pod(&c);
    let Mode::Backup(args) = parse(pod.containers[0].args.as_ref().unwrap()) else {
        panic!("not a backup");
    };
    let job = args.job().unwrap();
    assert_eq!(
        job.destination,
        Destination::Directory {
            path: BACKUP_DIR.into()
        }
    );
    assert_eq!(job.retention.keep_last, Some(14));
    assert_eq!(job.retention.keep_within.unwrap().to_string(), "30d");
    assert!(job.report_status);

    // Suspended: the CronJob stays, paused; no zone named: UTC, not the controller's.
    let paused = json!({"schedule": "0 2 * * *", "suspend": true, "destination": {"volume": {}}});
    let c = children(&strategy(with(json!({"backup": paused})), json!({})));
    let spec = &c.backups.schedule.as_ref().unwrap().spec;
    assert_eq!(spec.suspend, Some(true));
    assert_eq!(spec.time_zone.as_deref(), Some("UTC"));

    // No schedule: no CronJob (on-demand backups only); no spec.backup: nothing at all.
    let on_demand = json!({"destination": {"volume": {}}});
    let c = children(&strategy(with(json!({"backup": on_demand})), json!({})));
    assert!(c.backups.schedule.is_none());
    assert!(c.backups.service_account.is_some());
    let c = children(&strategy(with(json!({})), json!({})));
    assert!(c.backups.service_account.is_none() && c.backups.schedule.is_none());
}

#[test]
fn a_backup_pod_is_locked_down_like_the_trader_and_reads_the_journal_read_only() {
    let backup = json!({"schedule": "0 2 * * *", "destination": {"volume": {}}});
    let c = children(&strategy(with(json!({"backup": backup})), json!({})));
    let (pod, trader) = (scheduled_pod(&c), trader_pod(&c));
    assert_eq!(pod.security_context, trader.security_context);
    let container = &pod.containers[0];
    assert_eq!(
        container.security_context,
        trader.containers[0].security_context
    );
    let context = container.security_context.as_ref().unwrap();
    assert_eq!(context.read_only_root_filesystem, Some(true));
    assert_eq!(
        context.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_string()][..])
    );
    assert_eq!(
        pod.security_context
            .as_ref()
            .unwrap()
            .seccomp_profile
            .as_ref()
            .unwrap()
            .type_,
        "RuntimeDefault"
    );
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.service_account_name.as_deref(), Some("momo-backup"));
    // A one-shot process: no probes, no port.
    assert!(container.liveness_probe.is_none() && container.ports.is_none());

    let mounts = container.volume_mounts.as_ref().unwrap();
    let journal = mounts.iter().find(|m| m.mount_path == JOURNAL_DIR).unwrap();
    assert_eq!(journal.read_only, Some(true));
    let volumes = pod.volumes.as_ref().unwrap();
    let claim = volumes
        .iter()
        .find(|v| v.name == journal.name)
        .and_then(|v| v.persistent_volume_claim.as_ref())
        .unwrap();
    assert_eq!(claim.claim_name, "momo-journal");
    assert_eq!(claim.read_only, Some(true));
    let backups = mounts.iter().find(|m| m.mount_path == BACKUP_DIR).unwrap();
    assert_ne!(backups.read_only, Some(true));
    // No broker or provider key reaches a backup pod.
    assert!(mounts.iter().all(|m| m.mount_path != CREDENTIALS_DIR));
    // It runs beside the trader, where the ReadWriteOnce journal is attached.
    let affinity = pod.affinity.unwrap().pod_affinity.unwrap();
    let term = &affinity
        .required_during_scheduling_ignored_during_execution
        .unwrap()[0];
    assert_eq!(term.topology_key, "kubernetes.io/hostname");
    let selector = term
        .label_selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(selector["app.kubernetes.io/component"], "trader");

    // The backup volume outlives the strategy: no owner reference.
    let claim = c.backups.claim.as_ref().unwrap();
    assert_eq!(claim.metadata.name.as_deref(), Some("momo-backups"));
    assert!(claim.metadata.owner_references.is_none());
    let size = &claim
        .spec
        .as_ref()
        .unwrap()
        .resources
        .as_ref()
        .unwrap()
        .requests
        .as_ref()
        .unwrap()["storage"];
    assert_eq!(size.0, "5Gi");
}

#[test]
fn with_postgres_and_s3_a_backup_pod_mounts_only_the_journal_url_and_the_two_s3_keys() {
    let backup = json!({"schedule": "0 2 * * *", "destination": {"s3": {
        "bucket": "journals", "endpoint": "http://minio.storage:9000", "region": "eu-west-1",
        "credentialsSecretName": "s3-keys"}}});
    let c = children(&strategy(
        with(json!({"backup": backup, "journal": postgres(), "replicas": 2})),
        json!({}),
    ));
    let pod = scheduled_pod(&c);
    let volumes = pod.volumes.as_ref().unwrap();
    let secret = |mount_path: &str| {
        let mount = pod.containers[0]
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.mount_path == mount_path)
            .unwrap();
        assert_eq!(mount.read_only, Some(true));
        let volume = volumes.iter().find(|v| v.name == mount.name).unwrap();
        let secret = volume.secret.clone().unwrap();
        let items: Vec<String> = secret.items.unwrap().into_iter().map(|i| i.key).collect();
        (secret.secret_name.unwrap(), items)
    };
    assert_eq!(
        secret(CREDENTIALS_DIR),
        (
            "momo-credentials".to_string(),
            vec!["journal-url".to_string()]
        )
    );
    assert_eq!(
        secret(BACKUP_CREDENTIALS_DIR),
        (
            "s3-keys".to_string(),
            vec![
                "AWS_ACCESS_KEY_ID".to_string(),
                "AWS_SECRET_ACCESS_KEY".to_string()
            ]
        )
    );
    assert!(volumes.iter().all(|v| v.persistent_volume_claim.is_none()));
    // Not co-located: no journal volume to follow.
    assert!(pod.affinity.is_none());
    assert!(c.backups.claim.is_none());
    let Mode::Backup(args) = parse(pod.containers[0].args.as_ref().unwrap()) else {
        panic!("not a backup");
    };
    let Destination::S3(s3) = args.job().unwrap().destination else {
        panic!("not S3");
    };
    assert_eq!(
        (s3.bucket.as_str(), s3.prefix.as_str(), s3.region.as_deref()),
        ("journals", "desk/momo", Some("eu-west-1"))
    );
    assert_eq!(s3.endpoint.as_deref(), Some("http://minio.storage:9000"));
}

#[test]
fn the_backup_account_may_patch_its_own_strategys_status_and_nothing_else() {
    let backup = json!({"destination": {"volume": {}}});
    let c = children(&strategy(with(json!({"backup": backup})), json!({})));
    let rules = c.backups.role.unwrap().rules.unwrap();
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert_eq!(
        rule.resources.as_deref(),
        Some(&["tradingstrategies/status".to_string()][..])
    );
    assert_eq!(
        rule.resource_names.as_deref(),
        Some(&["momo".to_string()][..])
    );
    assert_eq!(rule.verbs, ["get", "patch"]);
    let binding = c.backups.role_binding.unwrap();
    assert_eq!(binding.subjects.unwrap()[0].name, "momo-backup");
}

#[test]
fn a_new_backup_now_value_is_a_job_of_its_own_and_a_handled_one_is_not() {
    let backup = json!({"schedule": "0 2 * * *", "backupNowAt": "2026-01-05T14:30:00Z",
                        "destination": {"volume": {}}});
    let c = children(&strategy(
        with(json!({"backup": backup.clone()})),
        json!({}),
    ));
    let job = c.backups.now.as_ref().unwrap();
    let name = backup_now_job("momo", "2026-01-05T14:30:00Z");
    assert_eq!(job.metadata.name.as_deref(), Some(name.as_str()));
    assert_ne!(name, backup_now_job("momo", "2026-01-05T14:31:00Z"));
    assert_eq!(
        job.metadata.annotations.as_ref().unwrap()[BACKUP_NOW_AT_ANNOTATION],
        "2026-01-05T14:30:00Z"
    );
    let spec_ = job.spec.as_ref().unwrap();
    assert_eq!(
        spec_.template,
        c.backups
            .schedule
            .as_ref()
            .unwrap()
            .spec
            .job_template
            .spec
            .as_ref()
            .unwrap()
            .template
    );
    assert!(spec_.ttl_seconds_after_finished.is_some());

    let handled = children(&strategy(
        with(json!({"backup": backup})),
        json!({"lastBackupNowAt": "2026-01-05T14:30:00Z"}),
    ));
    assert!(handled.backups.now.is_none());
}

fn restoring(status: serde_json::Value) -> TradingStrategy {
    strategy(
        with(json!({"restore": {"fromStrategy": "old", "backup": "b-1",
                                "source": {"s3": {"bucket": "journals", "credentialsSecretName": "s3-keys"}}}})),
        status,
    )
}

#[test]
fn a_restoring_strategy_has_a_restore_job_and_no_trader_until_the_restore_reported_success() {
    let c = children(&restoring(json!({})));
    assert!(c.deployment.is_none() && c.cycle.is_none() && c.disruption_budget.is_none());
    let job = c.backups.restore.as_ref().unwrap();
    assert_eq!(job.metadata.name.as_deref(), Some("momo-restore"));
    let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let Mode::Restore(args) = parse(pod.containers[0].args.as_ref().unwrap()) else {
        panic!("not a restore");
    };
    let restore = args.job().unwrap();
    assert_eq!(restore.backup.as_deref(), Some("b-1"));
    assert_eq!(restore.from_strategy.as_deref(), Some("old"));
    assert!(restore.once && restore.report_status && !restore.force);
    let Destination::S3(s3) = restore.destination else {
        panic!("not S3");
    };
    // The source strategy's prefix, not this one's.
    assert_eq!(s3.prefix, "desk/old");
    // It writes the journal.
    let journal = pod.containers[0]
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.mount_path == JOURNAL_DIR)
        .unwrap();
    assert_ne!(journal.read_only, Some(true));
    assert_eq!(pod.service_account_name.as_deref(), Some("momo-backup"));

    let failed = children(&restoring(json!({"restoreReport": {
        "outcome": "Failed", "completionTime": "2026-01-05T14:30:00Z", "message": "checksum differs"}})));
    assert!(failed.deployment.is_none());

    let done = children(&restoring(json!({"restoreReport": {
        "outcome": "Succeeded", "backup": "b-1", "completionTime": "2026-01-05T14:30:00Z", "rows": 12}})));
    assert!(done.deployment.is_some() && done.backups.restore.is_none());
    let earlier = children(&restoring(
        json!({"conditions": [{"type": "Restored", "status": "True",
        "reason": "RestoreCompleted", "message": "", "lastTransitionTime": "2026-01-05T14:30:00Z"}]}),
    ));
    assert!(earlier.deployment.is_some());
}

fn job(name: &str, started: i64, condition: Option<(&str, &str, &str)>) -> Job {
    let time = |s: i64| Time(Timestamp::from_second(s).unwrap());
    Job {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.to_string()),
            creation_timestamp: Some(time(started)),
            ..Default::default()
        },
        status: Some(JobStatus {
            start_time: Some(time(started)),
            conditions: condition.map(|(type_, reason, message)| {
                vec![JobCondition {
                    type_: type_.to_string(),
                    status: "True".to_string(),
                    reason: Some(reason.to_string()),
                    message: Some(message.to_string()),
                    last_transition_time: Some(time(started + 60)),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }),
        ..Job::default()
    }
}

const T0: i64 = 1_767_650_400; // 2026-01-05T22:00:00Z

fn backed_up(status: serde_json::Value) -> TradingStrategy {
    strategy(
        with(
            json!({"backup": {"schedule": "0 22 * * 1-5", "timeZone": "America/New_York",
                               "destination": {"volume": {}}}}),
        ),
        status,
    )
}

fn success_report(name: &str, at: &str) -> serde_json::Value {
    json!({"outcome": "Succeeded", "name": name, "startTime": at, "completionTime": at,
           "sizeBytes": 4096, "rows": 120, "checksum": "sha256:ab", "runtimeVersion": "0.1.0"})
}

#[test]
fn a_successful_report_becomes_last_backup_the_condition_and_one_event() {
    let now = Timestamp::from_second(T0 + 120).unwrap();
    let s = backed_up(json!({"backupReport": success_report("b-1", "2026-01-05T22:00:30Z")}));
    let jobs = [job("momo-backup-1", T0, Some(("Complete", "", "")))];
    let out = report::backups(&s, &jobs.iter().collect::<Vec<_>>(), now);
    let last = out.fields.last_backup.clone().unwrap();
    assert_eq!(last.name, "b-1");
    assert_eq!((last.size_bytes, last.rows), (Some(4096), Some(120)));
    assert_eq!(last.checksum.as_deref(), Some("sha256:ab"));
    assert_eq!(
        out.fields
            .last_successful_time
            .as_ref()
            .unwrap()
            .0
            .to_string(),
        "2026-01-05T22:00:30Z"
    );
    assert_eq!(
        out.fields
            .last_schedule_time
            .as_ref()
            .unwrap()
            .0
            .as_second(),
        T0
    );
    // 22:02 UTC on Monday is 17:02 in New York: the next slot is 22:00 there, 03:00 UTC.
    assert_eq!(
        out.fields
            .next_schedule_time
            .as_ref()
            .unwrap()
            .0
            .to_string(),
        "2026-01-06T03:00:00Z"
    );
    let condition = out.condition.unwrap();
    assert!(condition.status);
    assert_eq!(condition.reason, "LastBackupCompleted");
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].reason, "BackupCompleted");
    assert!(!out.events[0].warning && out.events[0].note.contains("b-1"));

    // Seen again: no second Event.
    let mut seen = s.clone();
    out.fields.clone().fill(seen.status.as_mut().unwrap());
    let again = report::backups(&seen, &jobs.iter().collect::<Vec<_>>(), now);
    assert!(again.events.is_empty());
    assert_eq!(again.fields, out.fields);
}

#[test]
fn a_failed_job_is_a_failure_with_its_reason_and_the_process_reason_when_it_reported() {
    let now = Timestamp::from_second(T0 + 600).unwrap();
    let s = backed_up(json!({"backupReport": success_report("b-1", "2026-01-05T21:00:00Z")}));
    let jobs = [job(
        "momo-backup-2",
        T0,
        Some((
            "Failed",
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        )),
    )];
    let out = report::backups(&s, &jobs.iter().collect::<Vec<_>>(), now);
    let failure = out.fields.last_backup_failure.clone().unwrap();
    assert_eq!(failure.job, "momo-backup-2");
    assert!(
        failure.message.contains("DeadlineExceeded"),
        "{}",
        failure.message
    );
    let condition = out.condition.clone().unwrap();
    assert!(!condition.status);
    assert_eq!(condition.reason, "LastBackupFailed");
    assert!(condition.is_warning());
    let failed: Vec<_> = out
        .events
        .iter()
        .filter(|e| e.reason == "BackupFailed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].warning);

    // The process said why: its reason wins over the Job's.
    let s = backed_up(
        json!({"backupReport": {"outcome": "Failed", "startTime": "2026-01-05T22:00:05Z",
        "completionTime": "2026-01-05T22:00:09Z", "runtimeVersion": "0.1.0",
        "message": "the bucket refused the upload: 403"}}),
    );
    let out = report::backups(&s, &jobs.iter().collect::<Vec<_>>(), now);
    let failure = out.fields.last_backup_failure.unwrap();
    assert_eq!(failure.job, "momo-backup-2");
    assert_eq!(failure.message, "the bucket refused the upload: 403");
    // A report naming its pod belongs to that pod's Job, whatever the clocks say.
    let s = backed_up(
        json!({"backupReport": {"outcome": "Failed", "startTime": "2026-01-01T00:00:00Z",
        "completionTime": "2026-01-05T22:00:09Z", "runtimeVersion": "0.1.0", "pod": "momo-backup-1-x7k2p",
        "message": "disk full"}}),
    );
    let both = [
        job("momo-backup-1", T0 - 86_400, None),
        job("momo-backup-2", T0, None),
    ];
    let out = report::backups(&s, &both.iter().collect::<Vec<_>>(), now);
    assert_eq!(out.fields.last_backup_failure.unwrap().job, "momo-backup-1");

    // A later success turns the condition back.
    let s = backed_up(json!({
        "backupReport": success_report("b-3", "2026-01-06T03:00:40Z"),
        "lastBackupFailure": {"job": "momo-backup-2", "time": "2026-01-05T22:01:00Z", "message": "x"}}));
    let out = report::backups(&s, &jobs.iter().collect::<Vec<_>>(), now);
    assert!(out.condition.unwrap().status);
    assert!(out.events.iter().all(|e| e.reason != "BackupFailed"));
}

#[test]
fn without_a_schedule_or_while_suspended_nothing_is_next_and_no_backup_yet_is_no_warning() {
    let now = Timestamp::from_second(T0).unwrap();
    let paused = strategy(
        with(
            json!({"backup": {"schedule": "0 22 * * *", "suspend": true, "destination": {"volume": {}}}}),
        ),
        json!({}),
    );
    let out = report::backups(&paused, &[], now);
    assert!(out.fields.next_schedule_time.is_none());
    let condition = out.condition.unwrap();
    assert_eq!((condition.status, condition.reason), (false, "NoBackupYet"));
    assert!(!condition.is_warning());
    assert!(out.events.is_empty());
    let none = report::backups(&strategy(with(json!({})), json!({})), &[], now);
    assert!(none.condition.is_none());
}

#[test]
fn a_restore_stalls_on_failure_and_on_a_job_that_completed_without_a_report() {
    let s = restoring(json!({}));
    assert_eq!(report::restore_stage(&s, None), RestoreStage::Running);
    let running = job("momo-restore", T0, None);
    assert_eq!(
        report::restore_stage(&s, Some(&running)),
        RestoreStage::Running
    );
    let complete = job("momo-restore", T0, Some(("Complete", "", "")));
    assert_eq!(
        report::restore_stage(&s, Some(&complete)),
        RestoreStage::NotReported
    );
    let crashed = job(
        "momo-restore",
        T0,
        Some((
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )),
    );
    let RestoreStage::Failed(message) = report::restore_stage(&s, Some(&crashed)) else {
        panic!("not failed");
    };
    assert!(
        message.contains("BackoffLimitExceeded") && message.contains("old"),
        "{message}"
    );

    let refused = restoring(
        json!({"restoreReport": {"outcome": "Failed", "backup": "b-1",
        "completionTime": "2026-01-05T14:30:00Z", "message": "checksum differs: manifest sha256:aa, data sha256:bb"}}),
    );
    let RestoreStage::Failed(message) = report::restore_stage(&refused, Some(&crashed)) else {
        panic!("not failed");
    };
    assert!(message.contains("checksum differs"), "{message}");
    let condition = RestoreStage::Failed(message).condition().unwrap();
    assert_eq!(
        (condition.status, condition.reason),
        (false, "RestoreFailed")
    );

    let done = restoring(
        json!({"restoreReport": {"outcome": "Succeeded", "backup": "b-1",
        "completionTime": "2026-01-05T14:30:00Z", "rows": 12}}),
    );
    let stage = report::restore_stage(&done, Some(&complete));
    assert!(matches!(&stage, RestoreStage::Done(m) if m.contains("b-1") && m.contains("12 rows")));
    assert!(stage.condition().unwrap().status);
    assert_eq!(
        report::restore_stage(&strategy(with(json!({})), json!({})), None),
        RestoreStage::NotAsked
    );
}

#[test]
fn the_operator_view_holds_the_backup_fields_so_an_unchanged_backup_writes_nothing() {
    let now = Timestamp::from_second(T0 + 120).unwrap();
    let s = backed_up(
        json!({"backupReport": success_report("b-1", "2026-01-05T22:00:30Z"),
                             "lastBackupNowAt": "n-1"}),
    );
    let out = report::backups(&s, &[], now);
    let observe = |previous| status::Observation {
        generation: Some(1),
        previous,
        broker_ready: Some((true, String::new())),
        workload: status::Workload::Scheduled,
        backups: status::BackupView {
            fields: out.fields.clone(),
            backup_succeeded: out.condition.clone(),
            restored: None,
            last_backup_now_at: Some("n-1".to_string()),
        },
        ..status::Observation::default()
    };
    let (first, _) = status::compute(&observe(None), now);
    assert_eq!(first.last_backup.as_ref().unwrap().name, "b-1");
    assert_eq!(first.last_backup_now_at.as_deref(), Some("n-1"));
    assert!(
        first
            .conditions
            .iter()
            .any(|c| c.type_ == "BackupSucceeded" && c.status == "True")
    );
    // The operator never writes the process's report.
    assert!(first.backup_report.is_none());
    let (second, _) = status::compute(&observe(Some(&first)), now);
    assert_eq!(status::operator_view(&first), second);
}
