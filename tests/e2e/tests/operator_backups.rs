//! Backups and restore with the operator, against the real control plane: the CronJob and the
//! on-demand Jobs it renders, the restore Job that comes before the trader, and what their
//! processes' reports become in the status. kwok runs nothing in the Jobs' pods, so the tests
//! play the backup and restore processes: with a token of the strategy's backup
//! ServiceAccount, as its pods have, writing the report the way the process does
//! (`tradeplane_contract::backup`), or running `agent-runtime backup|restore` itself
//! (`e2e::backup_pods`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::time::Duration;

use e2e::backup_pods::BackupIdentity;
use e2e::conditions::{self, condition, has_condition};
use e2e::fixtures::create_paper_account;
use e2e::{TestNamespace, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tradeplane_contract::backup::{BACKUP_FIELD_MANAGER, RESTORE_FIELD_MANAGER};
use tradeplane_operator::api::TradingStrategy;
use tradeplane_operator::controllers::trading_strategy::backup::render::backup_now_job;

const WAIT: Duration = Duration::from_secs(60);

async fn create_strategy(namespace: &TestNamespace, name: &str, extra: Value) {
    let mut spec = json!({"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"},
                          "schedule": {"intervalSeconds": 1}});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let strategy: TradingStrategy = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap();
    namespace
        .api::<TradingStrategy>()
        .create(&PostParams::default(), &strategy)
        .await
        .unwrap();
}

/// Writes `field` of `name`'s status as `manager`, with `client` (the backup account's).
async fn report(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    manager: &str,
    field: &str,
    value: Value,
) {
    let api: Api<TradingStrategy> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
                       "status": {field: value}});
    api.patch_status(
        name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&patch),
    )
    .await
    .unwrap();
}

/// The Events about `name` with `reason`, newest last.
async fn events(namespace: &TestNamespace, name: &str, reason: &str) -> Vec<Event> {
    namespace
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

async fn wait_event(namespace: &TestNamespace, name: &str, reason: &str) -> Event {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(event) = events(namespace, name, reason).await.pop() {
            return event;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {reason} Event about {name}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn scheduled_and_on_demand_backups_report_into_status_and_operator_writes_keep_the_report() {
    let (namespace, _controller) = e2e::fixtures::strategy_controller("ts-backup")
        .await
        .unwrap();
    create_paper_account(&namespace).await.unwrap();
    create_strategy(
        &namespace,
        "nightly",
        json!({"backup": {
        "schedule": "0 22 * * 1-5", "timeZone": "America/New_York",
        "retention": {"keepLast": 14, "keepWithin": "30d"},
        "destination": {"volume": {"storageSize": "2Gi"}}}}),
    )
    .await;
    let strategies = namespace.api::<TradingStrategy>();

    // The CronJob, in the schedule's zone, one at a time, not suspended.
    let cron = wait_for(
        &namespace.api::<CronJob>(),
        "nightly-backup",
        "the backup CronJob",
        WAIT,
        |c: Option<&CronJob>| c.is_some(),
    )
    .await
    .unwrap();
    assert_eq!(cron.spec.schedule, "0 22 * * 1-5");
    assert_eq!(cron.spec.time_zone.as_deref(), Some("America/New_York"));
    assert_eq!(cron.spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(cron.spec.suspend, Some(false));
    let args = cron
        .spec
        .job_template
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .args
        .clone()
        .unwrap();
    assert_eq!(args[0], "backup");
    assert!(
        args.windows(2).any(|w| w == ["--keep-last", "14"]),
        "{args:?}"
    );
    // The backup volume outlives the strategy.
    let claim = namespace
        .api::<PersistentVolumeClaim>()
        .get("nightly-backups")
        .await
        .unwrap();
    assert!(claim.metadata.owner_references.is_none());

    // The next slot: 22:00 in New York is 03:00 UTC in winter, 02:00 in summer.
    let scheduled = wait_for(
        &strategies,
        "nightly",
        "nextScheduleTime and NoBackupYet",
        WAIT,
        |t: Option<&TradingStrategy>| {
            t.and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.next_schedule_time.is_some())
                && condition(t, "BackupSucceeded").is_some_and(|c| c.reason == "NoBackupYet")
        },
    )
    .await
    .unwrap();
    let next = scheduled.status.unwrap().next_schedule_time.unwrap().0;
    let text = next.to_string();
    assert!(
        text.ends_with("T03:00:00Z") || text.ends_with("T02:00:00Z"),
        "{text}"
    );
    assert!(next > k8s_openapi::jiff::Timestamp::now());

    // Suspended: the CronJob is paused and nothing is next.
    let patch = |spec: Value| Patch::Merge(json!({"spec": {"backup": spec}}));
    strategies
        .patch(
            "nightly",
            &PatchParams::default(),
            &patch(json!({"suspend": true})),
        )
        .await
        .unwrap();
    wait_for(
        &namespace.api::<CronJob>(),
        "nightly-backup",
        "a suspended CronJob",
        WAIT,
        |c: Option<&CronJob>| c.is_some_and(|c| c.spec.suspend == Some(true)),
    )
    .await
    .unwrap();
    wait_for(
        &strategies,
        "nightly",
        "no nextScheduleTime",
        WAIT,
        |t: Option<&TradingStrategy>| {
            t.and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.next_schedule_time.is_none())
        },
    )
    .await
    .unwrap();

    // backupNowAt: a Job now, recorded as handled.
    strategies
        .patch(
            "nightly",
            &PatchParams::default(),
            &patch(json!({"backupNowAt": "2026-01-05T14:30:00Z"})),
        )
        .await
        .unwrap();
    let job_name = backup_now_job("nightly", "2026-01-05T14:30:00Z");
    let job = wait_for(
        &namespace.api::<Job>(),
        &job_name,
        "the backup-now Job",
        WAIT,
        |j: Option<&Job>| j.is_some(),
    )
    .await
    .unwrap();
    let pod = job.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("nightly-backup"));
    assert_eq!(pod.containers[0].args.as_ref().unwrap()[0], "backup");
    wait_for(
        &strategies,
        "nightly",
        "lastBackupNowAt",
        WAIT,
        |t: Option<&TradingStrategy>| {
            t.and_then(|t| t.status.as_ref())
                .and_then(|s| s.last_backup_now_at.as_deref())
                == Some("2026-01-05T14:30:00Z")
        },
    )
    .await
    .unwrap();

    // The backup process reports with its own token and field manager.
    let dir = std::env::temp_dir().join(format!("tp-backup-{}", namespace.name));
    let identity = BackupIdentity::new(&namespace.name, "nightly", &dir)
        .await
        .unwrap();
    let started = k8s_openapi::jiff::Timestamp::now().to_string();
    report(&identity.client, &namespace.name, "nightly", BACKUP_FIELD_MANAGER, "backupReport", json!({
        "outcome": "Succeeded", "name": "nightly-20260105T143000Z", "startTime": started,
        "completionTime": started, "sizeBytes": 8192, "rows": 340, "tableRows": {"decisions": 300, "orders": 40},
        "checksum": "sha256:0123abcd", "runtimeVersion": "0.1.0"})).await;
    let backed_up = wait_for(
        &strategies,
        "nightly",
        "lastBackup from the report",
        WAIT,
        |t: Option<&TradingStrategy>| {
            t.and_then(|t| t.status.as_ref())
                .and_then(|s| s.last_backup.as_ref())
                .is_some_and(|b| b.name == "nightly-20260105T143000Z")
                && condition(t, "BackupSucceeded").is_some_and(|c| c.status == "True")
        },
    )
    .await
    .unwrap();
    let status = backed_up.status.unwrap();
    let last = status.last_backup.unwrap();
    assert_eq!(
        (last.size_bytes, last.rows, last.checksum.as_deref()),
        (Some(8192), Some(340), Some("sha256:0123abcd"))
    );
    assert!(status.last_successful_time.is_some());
    assert!(
        status.last_schedule_time.is_some(),
        "the backup-now Job started"
    );
    let event = wait_event(&namespace, "nightly", "BackupCompleted").await;
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert!(event.note.unwrap().contains("nightly-20260105T143000Z"));

    // The backup account reaches its own strategy's status and nothing else.
    create_strategy(&namespace, "other", json!({})).await;
    let other: Api<TradingStrategy> = Api::namespaced(identity.client.clone(), &namespace.name);
    let refused = other
        .patch_status("other", &PatchParams::apply(BACKUP_FIELD_MANAGER).force(), &Patch::Apply(&json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy", "status": {"backupReport": null}})))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, kube::Error::Api(ref e) if e.code == 403),
        "{refused}"
    );
    let secrets: Api<Secret> = Api::namespaced(identity.client.clone(), &namespace.name);
    let refused = secrets.get("nightly-credentials").await.unwrap_err();
    assert!(
        matches!(refused, kube::Error::Api(ref e) if e.code == 403),
        "{refused}"
    );

    // The operator's next status write (a new generation) leaves the process's report alone.
    strategies
        .patch(
            "nightly",
            &PatchParams::default(),
            &patch(json!({"suspend": false})),
        )
        .await
        .unwrap();
    let rewritten = wait_for(
        &strategies,
        "nightly",
        "a status for the new generation",
        WAIT,
        |t: Option<&TradingStrategy>| {
            t.is_some_and(|t| {
                t.status.as_ref().and_then(|s| s.observed_generation) == t.metadata.generation
            }) && t
                .and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.next_schedule_time.is_some())
        },
    )
    .await
    .unwrap();
    let report_kept = rewritten
        .status
        .as_ref()
        .unwrap()
        .backup_report
        .as_ref()
        .unwrap();
    assert_eq!(
        report_kept.name.as_deref(),
        Some("nightly-20260105T143000Z")
    );
    assert_eq!(report_kept.table_rows["orders"], 40);
    let managers: Vec<_> = rewritten
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .map(|m| m.manager.unwrap_or_default())
        .collect();
    assert!(
        managers.contains(&BACKUP_FIELD_MANAGER.to_string()),
        "{managers:?}"
    );
    assert!(
        managers.contains(&"tradeplane-operator".to_string()),
        "{managers:?}"
    );

    // A failure: its reason in the status, the condition False, a Warning Event.
    let failed_at = k8s_openapi::jiff::Timestamp::now().to_string();
    report(
        &identity.client,
        &namespace.name,
        "nightly",
        BACKUP_FIELD_MANAGER,
        "backupReport",
        json!({
        "outcome": "Failed", "startTime": failed_at, "completionTime": failed_at,
        "runtimeVersion": "0.1.0", "message": "the bucket refused the upload: 403 Forbidden"}),
    )
    .await;
    let failed = wait_for(
        &strategies,
        "nightly",
        "BackupSucceeded False",
        WAIT,
        |t: Option<&TradingStrategy>| {
            has_condition(t, "BackupSucceeded", "False", "LastBackupFailed")
        },
    )
    .await
    .unwrap();
    let failure = failed
        .status
        .as_ref()
        .unwrap()
        .last_backup_failure
        .clone()
        .unwrap();
    assert_eq!(
        failure.message,
        "the bucket refused the upload: 403 Forbidden"
    );
    assert_eq!(
        failure.job, job_name,
        "the report is paired with the Job it came from"
    );
    // The last good backup is still the last good backup.
    assert_eq!(
        failed.status.unwrap().last_backup.unwrap().name,
        "nightly-20260105T143000Z"
    );
    let event = wait_event(&namespace, "nightly", "BackupFailed").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(event.note.unwrap().contains("403 Forbidden"));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_restored_strategy_gets_its_trader_only_once_the_restore_reported_success() {
    let (namespace, _controller) = e2e::fixtures::strategy_controller("ts-restore")
        .await
        .unwrap();
    create_paper_account(&namespace).await.unwrap();
    let restore = |name: &str| {
        json!({"restore": {"fromStrategy": "old", "backup": name,
        "source": {"s3": {"bucket": "journals", "endpoint": "http://127.0.0.1:9", "credentialsSecretName": "s3-keys"}}}})
    };
    create_strategy(&namespace, "copy", restore("old-1")).await;
    let strategies = namespace.api::<TradingStrategy>();
    let deployments = namespace.api::<Deployment>();

    // The restore Job comes first; no trader exists while it runs.
    let job = wait_for(
        &namespace.api::<Job>(),
        "copy-restore",
        "the restore Job",
        WAIT,
        |j: Option<&Job>| j.is_some(),
    )
    .await
    .unwrap();
    let args = job.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    assert_eq!(args[0], "restore");
    assert!(
        args.windows(2).any(|w| w == ["--backup", "old-1"]),
        "{args:?}"
    );
    assert!(
        args.windows(2)
            .any(|w| w == ["--s3-prefix", &format!("{}/old", namespace.name)]),
        "{args:?}"
    );

    // kwok "completes" its pod without running anything: a Job that succeeded without the
    // process saying so does not start the trader.
    let stalled = wait_for(
        &strategies,
        "copy",
        "Stalled RestoreNotReported",
        WAIT,
        |t: Option<&TradingStrategy>| has_condition(t, "Stalled", "True", "RestoreNotReported"),
    )
    .await
    .unwrap();
    assert_eq!(
        condition(Some(&stalled), "Restored").unwrap().status,
        "False"
    );
    assert!(deployments.get_opt("copy-trader").await.unwrap().is_none());

    // A refused backup: Stalled with the process's reason, still no trader.
    let dir = std::env::temp_dir().join(format!("tp-restore-{}", namespace.name));
    let identity = BackupIdentity::new(&namespace.name, "copy", &dir)
        .await
        .unwrap();
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    report(
        &identity.client,
        &namespace.name,
        "copy",
        RESTORE_FIELD_MANAGER,
        "restoreReport",
        json!({
        "outcome": "Failed", "backup": "old-1", "completionTime": now,
        "message": "checksum differs: manifest sha256:aa, data sha256:bb"}),
    )
    .await;
    let refused = wait_for(
        &strategies,
        "copy",
        "Stalled RestoreFailed",
        WAIT,
        |t: Option<&TradingStrategy>| has_condition(t, "Stalled", "True", "RestoreFailed"),
    )
    .await
    .unwrap();
    let message = conditions::message(&refused, "Ready");
    assert!(message.contains("checksum differs"), "{message}");
    assert_eq!(refused.status.unwrap().phase.as_deref(), Some("Failed"));
    assert!(deployments.get_opt("copy-trader").await.unwrap().is_none());

    // Restored: the trader is rendered, the Job goes, Restored stays True.
    report(
        &identity.client,
        &namespace.name,
        "copy",
        RESTORE_FIELD_MANAGER,
        "restoreReport",
        json!({
        "outcome": "Succeeded", "backup": "old-1", "completionTime": now, "rows": 340}),
    )
    .await;
    wait_for(
        &deployments,
        "copy-trader",
        "the trader after the restore",
        WAIT,
        |d: Option<&Deployment>| d.is_some(),
    )
    .await
    .unwrap();
    let restored = wait_for(
        &strategies,
        "copy",
        "Restored True",
        WAIT,
        |t: Option<&TradingStrategy>| {
            condition(t, "Restored").is_some_and(|c| c.status == "True")
                && condition(t, "Stalled").is_some_and(|c| c.status == "False")
        },
    )
    .await
    .unwrap();
    let message = conditions::message(&restored, "Restored");
    assert!(
        message.contains("old-1") && message.contains("340 rows"),
        "{message}"
    );
    e2e::wait_deleted(
        &namespace.api::<Job>(),
        "copy-restore",
        "the finished restore Job",
        WAIT,
    )
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// The trader pod the Deployment of `strategy` asks for (kwok creates it; nothing runs in it).
async fn trader_pod(namespace: &TestNamespace, strategy: &str) -> String {
    let pods = namespace.api::<k8s_openapi::api::core::v1::Pod>();
    let selector = format!("tradeplane.io/strategy={strategy},app.kubernetes.io/component=trader");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listed = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap();
        if let Some(name) = listed.items.into_iter().find_map(|p| p.metadata.name) {
            return name;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no trader pod for {strategy}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn signed(fill: &agent_runtime::domain::Fill) -> f64 {
    match fill.side {
        agent_runtime::domain::Side::Buy => fill.quantity,
        agent_runtime::domain::Side::Sell => -fill.quantity,
    }
}

/// What a trader's SQLite journal holds at one moment.
struct Journalled {
    /// Some position is not flat.
    held: bool,
    cycles: usize,
    book: agent_runtime::broker::paper::PaperBook,
    fills: Vec<agent_runtime::domain::Fill>,
}

/// Reads the journal at `path` while its trader runs; `None` while the trader has not created
/// and migrated it. Opened read-only: migrating it from here would race the trader's own.
async fn journalled(path: &std::path::Path) -> Option<Journalled> {
    let config = agent_runtime::config::JournalConfig::Sqlite {
        path: path.to_path_buf(),
    };
    let journal = agent_runtime::journal::Journal::open_read_only(&config)
        .await
        .ok()?;
    let read = async {
        Some(Journalled {
            held: journal
                .positions()
                .await
                .ok()?
                .iter()
                .any(|p| p.quantity != 0.0),
            cycles: journal.cycles().await.ok()?.len(),
            book: journal.paper_book().await.ok()?,
            fills: journal.fills().await.ok()?,
        })
    }
    .await;
    journal.close().await;
    read
}

/// Lets `trader` run until its journal at `path` shows `done` (two minutes at most, or the
/// test fails with `failure` and the trader's log), then stops it with SIGTERM and returns
/// what it journalled.
async fn trade_until(
    trader: &mut e2e::runtime_pods::RuntimePod,
    path: &std::path::Path,
    failure: &str,
    done: impl Fn(&Journalled) -> bool,
) -> Journalled {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !journalled(path).await.is_some_and(|j| done(&j)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{failure}:\n{}",
            trader.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    trader.signal("TERM").unwrap();
    trader.wait().await.unwrap();
    journalled(path).await.unwrap()
}

#[tokio::test]
async fn a_real_backup_fills_the_status_and_a_strategy_restored_from_it_trades_on_from_its_positions()
 {
    use e2e::backup_pods::{Mounts, job_args, run_job_process};
    use e2e::runtime_pods::{StrategyPods, adapt_config};

    let (namespace, _controller) = e2e::fixtures::strategy_controller("ts-backup-real")
        .await
        .unwrap();
    create_paper_account(&namespace).await.unwrap();
    let trading = json!({"risk": {"positionSizePercent": 5}, "decision": {"minConfidence": 0.2},
                         "marketData": {"source": "Replay", "replay": {"barsPerCycle": 3}}});
    let mut source = trading.clone();
    source["backup"] = json!({"destination": {"volume": {}}, "backupNowAt": "first"});
    create_strategy(&namespace, "src", source).await;
    let strategies = namespace.api::<TradingStrategy>();
    let client = e2e::shared_client().await.unwrap();
    let binary = e2e::cli::runtime_binary().await.unwrap();
    let root = std::env::temp_dir().join(format!("tp-{}", namespace.name));
    let pods = |strategy: &str| StrategyPods {
        namespace: namespace.name.clone(),
        strategy: strategy.to_string(),
        admin_kubeconfig: std::env::var("KUBECONFIG").unwrap().into(),
        binary: binary.clone(),
        root: root.clone(),
    };

    // The source strategy trades until it holds a position.
    let src_pod = trader_pod(&namespace, "src").await;
    let mut trader = pods("src").start(&client, &src_pod).await.unwrap();
    let src_journal_path = root.join(&src_pod).join("journal/journal.db");
    let Journalled {
        book: src_book,
        fills: src_fills,
        cycles: src_cycles,
        ..
    } = trade_until(
        &mut trader,
        &src_journal_path,
        "src never held a position",
        |j| j.held,
    )
    .await;

    // The backup-now Job's process, run for real with the Job's own arguments and a token of
    // the backup account: a backup in the backup volume and its report in the status.
    let job_name = backup_now_job("src", "first");
    let job = wait_for(
        &namespace.api::<Job>(),
        &job_name,
        "the backup-now Job",
        WAIT,
        |j: Option<&Job>| j.is_some(),
    )
    .await
    .unwrap();
    let backups = root.join("src-backups");
    std::fs::create_dir_all(&backups).unwrap();
    let no_keys = root.join("no-keys");
    let src_config = root.join(&src_pod).join("config.yaml");
    let mounts = Mounts {
        config: &src_config,
        backups: &backups,
        backup_credentials: &no_keys,
    };
    let identity = BackupIdentity::new(&namespace.name, "src", &root.join("src-identity"))
        .await
        .unwrap();
    let log = run_job_process(
        &binary,
        &job_args(&job, &mounts).unwrap(),
        &identity,
        &format!("{job_name}-x1y2z"),
    )
    .await
    .unwrap();
    let backed_up = wait_for(
        &strategies,
        "src",
        "lastBackup from the real backup",
        WAIT,
        |t: Option<&TradingStrategy>| {
            t.and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.last_backup.is_some())
                && condition(t, "BackupSucceeded").is_some_and(|c| c.status == "True")
        },
    )
    .await
    .unwrap();
    let status = backed_up.status.unwrap();
    let last = status.last_backup.unwrap();
    let report = status.backup_report.unwrap();
    assert_eq!(Some(&last.name), report.name.as_ref());
    assert!(
        last.rows.unwrap() > 0 && last.size_bytes.unwrap() > 0,
        "{last:?}"
    );
    assert!(
        last.checksum.as_deref().unwrap().starts_with("sha256:"),
        "{last:?}"
    );
    assert!(log.contains(&last.name), "{log}");
    assert!(status.last_successful_time.is_some());
    wait_event(&namespace, "src", "BackupCompleted").await;

    // A new strategy from that backup: its restore Job's process, for real, into its journal.
    let mut restored_spec = trading.clone();
    restored_spec["restore"] = json!({"fromStrategy": "src", "source": {"volume": {}}});
    create_strategy(&namespace, "dst", restored_spec).await;
    let job = wait_for(
        &namespace.api::<Job>(),
        "dst-restore",
        "the restore Job",
        WAIT,
        |j: Option<&Job>| j.is_some(),
    )
    .await
    .unwrap();
    let staging = root.join("dst-restore");
    std::fs::create_dir_all(staging.join("journal")).unwrap();
    let config = namespace.api::<Secret>().get("dst-config").await.unwrap();
    let text = String::from_utf8(config.data.unwrap()["config.yaml"].0.clone()).unwrap();
    let dst_config = staging.join("config.yaml");
    std::fs::write(
        &dst_config,
        adapt_config(&text, &staging, "127.0.0.1", 0).unwrap(),
    )
    .unwrap();
    let mounts = Mounts {
        config: &dst_config,
        backups: &backups,
        backup_credentials: &no_keys,
    };
    let identity = BackupIdentity::new(&namespace.name, "dst", &root.join("dst-identity"))
        .await
        .unwrap();
    run_job_process(
        &binary,
        &job_args(&job, &mounts).unwrap(),
        &identity,
        "dst-restore-a1b2c",
    )
    .await
    .unwrap();
    wait_for(
        &strategies,
        "dst",
        "Restored True",
        WAIT,
        |t: Option<&TradingStrategy>| condition(t, "Restored").is_some_and(|c| c.status == "True"),
    )
    .await
    .unwrap();
    let restored =
        agent_runtime::journal::Journal::open_sqlite(&staging.join("journal/journal.db"))
            .await
            .unwrap();
    assert_eq!(
        restored.paper_book().await.unwrap().positions,
        src_book.positions
    );
    restored.close().await;

    // Its trader, once the operator renders it, trades on from the restored positions: every
    // position is the restored one plus what it filled since.
    let dst_pod = trader_pod(&namespace, "dst").await;
    std::fs::create_dir_all(root.join(&dst_pod).join("journal")).unwrap();
    for file in std::fs::read_dir(staging.join("journal")).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(
            &file,
            root.join(&dst_pod)
                .join("journal")
                .join(file.file_name().unwrap()),
        )
        .unwrap();
    }
    let mut trader = pods("dst").start(&client, &dst_pod).await.unwrap();
    let dst_journal_path = root.join(&dst_pod).join("journal/journal.db");
    let Journalled { book, fills, .. } =
        trade_until(&mut trader, &dst_journal_path, "dst did not cycle", |j| {
            j.cycles >= src_cycles + 2
        })
        .await;
    let known: std::collections::HashSet<&str> = src_fills
        .iter()
        .map(|f| f.client_order_id.as_str())
        .collect();
    assert!(
        fills.len() >= src_fills.len(),
        "the restored fills are kept"
    );
    let mut symbols: std::collections::BTreeSet<&String> = src_book.positions.keys().collect();
    symbols.extend(book.positions.keys());
    for symbol in symbols {
        let before = src_book.positions.get(symbol).map_or(0.0, |p| p.quantity);
        let since: f64 = fills
            .iter()
            .filter(|f| &f.symbol == symbol && !known.contains(f.client_order_id.as_str()))
            .map(signed)
            .sum();
        let now = book.positions.get(symbol).map_or(0.0, |p| p.quantity);
        assert!(
            (now - (before + since)).abs() < 1e-6,
            "{symbol}: {now} != {before} + {since}"
        );
    }
    let _ = std::fs::remove_dir_all(root);
}
