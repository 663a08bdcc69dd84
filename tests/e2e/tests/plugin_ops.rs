//! `kubectl tradeplane` as different people, against a real API server: who may read a
//! strategy's journal (the operator's per-strategy journal readers' Role), who may act on it,
//! and what each is told when refused. The users are impersonated (the admin kubeconfig's
//! client with `Impersonate-User`/`-Group`), so the API server's own RBAC decides.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::time::Duration;

use e2e::fixtures::create_paper_account;
use e2e::{InProcessController, PrivateCluster, TestNamespace, helm, install_crds, wait_for};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::{Value, json};
use tradeplane_operator::api::TradingStrategy;
use tradeplane_operator::controllers::trading_strategy;

use kubectl_tradeplane::cli::{ActionArgs, JournalArgs, ReportArgs, RestoreArgs};
use kubectl_tradeplane::cluster::Target;
use kubectl_tradeplane::render::status::RuntimeSection;
use kubectl_tradeplane::{Error, actions, backup, journal, report, restore, status};

const READERS: &str = "momo-journal-readers";

/// A client of the private cluster acting as `user` in `groups`.
async fn as_user(cluster: &PrivateCluster, user: &str, groups: &[&str]) -> Client {
    let config = e2e::rbac::impersonating(&cluster.kubeconfig(), user, groups)
        .await
        .unwrap();
    kubectl_tradeplane::cluster::client(config).unwrap()
}

/// The admin's client as the plugin builds one (no retry of the proxy's 503s).
async fn plugin_client(cluster: &PrivateCluster) -> Client {
    let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kubectl_tradeplane::cluster::client(config).unwrap()
}

/// The chart's own objects for a release restricted to `namespace`: its operator Role there
/// (the operator's rules) and its ClusterRole aggregated into `view`.
async fn chart_roles(namespace: &str) -> (Value, Value) {
    let objects = helm::render(&format!("namespaces: [{namespace}]"))
        .await
        .unwrap()
        .unwrap();
    let operator = helm::of_kind(&objects, "Role")
        .into_iter()
        .find(|r| r["metadata"]["namespace"] == namespace)
        .cloned()
        .unwrap();
    let view = helm::of_kind(&objects, "ClusterRole")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "tp-tradeplane-view")
        .cloned()
        .unwrap();
    (operator, view)
}

async fn create<K>(api: &Api<K>, object: Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

/// A RoleBinding `name` of `role` (`ClusterRole/view` or `Role/x`) to `subjects`.
fn binding(name: &str, kind: &str, role: &str, subjects: Value) -> Value {
    json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": subjects,
    })
}

fn user(name: &str) -> Value {
    json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}])
}

/// Whether `user` in `groups` may GET the journal through the service proxy, as the plugin
/// asks for it (`<service>:<port>`).
async fn may_read_journal(client: &Client, ns: &str, user: &str, groups: &[&str]) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            groups: Some(groups.iter().map(|g| (*g).to_string()).collect()),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.into()),
                verb: Some("get".into()),
                resource: Some("services".into()),
                subresource: Some("proxy".into()),
                name: Some("momo-metrics:http-metrics".into()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    answer.status.is_some_and(|s| s.allowed)
}

fn journal_args() -> JournalArgs {
    JournalArgs {
        name: "momo".into(),
        since: None,
        symbol: None,
        kind: None,
        follow: false,
        limit: 5,
        output: None,
    }
}

async fn journal_error(client: &Client, ns: &str) -> Error {
    let target = Target::new(client.clone(), ns);
    journal::run(&target, &journal_args(), &mut Vec::new())
        .await
        .expect_err("the journal cannot answer: the Service has no endpoint")
}

/// The operator (in this process, as a user holding exactly the chart's rules) keeps the
/// journal readers' Role; a `view` user in a listed group may read the journal, one not in
/// it is told what to ask for, a `view` user cannot act, and a stranger sees nothing.
#[tokio::test]
async fn the_journal_readers_role_lets_listed_viewers_read_and_nobody_else() {
    let cluster = PrivateCluster::start("etcd,apiserver,controller-manager").unwrap();
    let admin = cluster.client().await.unwrap();
    install_crds(&admin).await.unwrap();
    let namespace = TestNamespace::create(&admin, "plugin-ops").await.unwrap();
    let ns = namespace.name.clone();
    let (operator_role, view_role) = chart_roles(&ns).await;

    // The operator's identity: the chart's Role in this namespace, bound to a user.
    let roles = namespace.api::<Role>();
    let bindings = namespace.api::<RoleBinding>();
    let mut operator_role = operator_role;
    operator_role["metadata"] = json!({"name": "operator"});
    create(&roles, operator_role.clone()).await;
    create(
        &bindings,
        binding("operator", "Role", "operator", user("tp-operator")),
    )
    .await;
    // The same rules less `get services/proxy`: RBAC's escalation check refuses such an
    // operator the readers' Role, which is why the chart grants it.
    let mut short = operator_role.clone();
    short["metadata"] = json!({"name": "short"});
    short["rules"] = json!(
        short["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["resources"] != json!(["services/proxy"]))
            .collect::<Vec<_>>()
    );
    create(&roles, short).await;
    create(
        &bindings,
        binding("short", "Role", "short", user("tp-short")),
    )
    .await;
    let mut view_role = view_role;
    view_role["metadata"]["name"] = json!("plugin-ops-view");
    create(&Api::<ClusterRole>::all(admin.clone()), view_role).await;
    let viewers =
        json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "desk-viewers"}]);
    create(
        &bindings,
        binding("viewers", "ClusterRole", "view", viewers),
    )
    .await;

    create_paper_account(&namespace).await.unwrap();
    let strategy = json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "momo"},
        "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"},
                 "journalReaders": {"groups": ["desk-readers"], "users": ["carol"]}},
    });
    create(&namespace.api::<TradingStrategy>(), strategy).await;
    let operator_client = as_user(&cluster, "tp-operator", &[]).await;
    let operator =
        InProcessController::start(&operator_client, &ns, |context, ns, shutdown| async move {
            trading_strategy::run(context, Some(&ns), shutdown).await
        })
        .unwrap();

    let wait = Duration::from_secs(60);
    let role = wait_for(
        &roles,
        READERS,
        "the readers' Role",
        wait,
        |_: Option<&Role>| true,
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::to_value(&role.rules).unwrap(),
        json!([{"apiGroups": [""], "resources": ["services/proxy"],
                "resourceNames": ["momo-metrics:http-metrics"], "verbs": ["get"]}])
    );
    let bound = wait_for(
        &bindings,
        READERS,
        "the readers' RoleBinding",
        wait,
        |_: Option<&RoleBinding>| true,
    )
    .await
    .unwrap();
    let subjects: Vec<(String, String)> = bound
        .subjects
        .unwrap()
        .into_iter()
        .map(|s| (s.kind, s.name))
        .collect();
    assert_eq!(
        subjects,
        [
            ("Group".into(), "desk-readers".into()),
            ("User".into(), "carol".into())
        ]
    );

    let mut copy = serde_json::to_value(&role).unwrap();
    copy["metadata"] = json!({"name": "copy"});
    let refused = Api::<Role>::namespaced(as_user(&cluster, "tp-short", &[]).await, &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(copy).unwrap(),
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&refused, kube::Error::Api(s) if s.code == 403 && s.message.contains("attempting to grant RBAC permissions not currently held")),
        "{refused}"
    );

    // Wait until `view` has taken in the chart's role (the cluster's aggregation controller).
    let reads_strategies = |role: Option<&ClusterRole>| {
        role.is_some_and(|r| {
            r.rules.iter().flatten().any(|rule| {
                rule.resources
                    .iter()
                    .flatten()
                    .any(|r| r == "tradingstrategies")
            })
        })
    };
    wait_for(
        &Api::<ClusterRole>::all(admin.clone()),
        "view",
        "view aggregated",
        wait,
        reads_strategies,
    )
    .await
    .unwrap();

    // A viewer who is a listed reader: the proxy lets the request through (no endpoint
    // answers here, so the runtime is unreachable, not forbidden).
    let reader_groups = ["desk-viewers", "desk-readers"];
    assert!(may_read_journal(&admin, &ns, "ann", &reader_groups).await);
    let ann = as_user(&cluster, "ann", &reader_groups).await;
    let error = journal_error(&ann, &ns).await;
    assert!(matches!(error, Error::RuntimeUnreachable { .. }), "{error}");
    let view = status::gather(&Target::new(ann.clone(), &ns), "momo")
        .await
        .unwrap();
    let RuntimeSection::Unavailable(why) = &view.runtime else {
        panic!("no runtime runs, yet status read one");
    };
    assert!(!why.contains("forbidden"), "{why}");

    // A viewer not listed: status shows the strategy and says what to ask for; journal fails
    // with that message.
    assert!(!may_read_journal(&admin, &ns, "bob", &["desk-viewers"]).await);
    let bob = as_user(&cluster, "bob", &["desk-viewers"]).await;
    let expected = format!(
        "forbidden: you need get on services/proxy in {ns} — reading the journal needs a place \
         in the strategy's spec.journalReaders (or Kubernetes' edit role in {ns}); see \
         docs/plugin.md (RBAC)"
    );
    assert_eq!(journal_error(&bob, &ns).await.to_string(), expected);
    let view = status::gather(&Target::new(bob.clone(), &ns), "momo")
        .await
        .unwrap();
    assert!(matches!(&view.runtime, RuntimeSection::Unavailable(why) if *why == expected));

    // A viewer cannot act: suspend is a patch of the spec.
    let suspend = action("momo", 5);
    let refused = actions::run(
        &Target::new(bob, &ns),
        actions::Action::Suspend,
        &suspend,
        &mut Vec::new(),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(
        refused.to_string(),
        format!(
            "forbidden: you need patch on tradingstrategies in {ns} — an action changes the \
             strategy's spec: ask for Kubernetes' edit role in {ns}; see docs/plugin.md (RBAC)"
        )
    );

    // Nobody in the namespace: nothing at all, and told what to ask for.
    let eve = as_user(&cluster, "eve", &[]).await;
    let refused = status::gather(&Target::new(eve, &ns), "momo")
        .await
        .err()
        .unwrap();
    assert_eq!(
        refused.to_string(),
        format!(
            "forbidden: you need get on tradingstrategies in {ns} — reading it needs \
             Kubernetes' view role in {ns}; see docs/plugin.md (RBAC)"
        )
    );

    // The list emptied: the Role and its binding go, and so does the reader's access.
    namespace
        .api::<TradingStrategy>()
        .patch(
            "momo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"journalReaders": null}})),
        )
        .await
        .unwrap();
    e2e::wait_deleted(&bindings, READERS, "the readers RoleBinding gone", wait)
        .await
        .unwrap();
    e2e::wait_deleted(&roles, READERS, "the readers Role gone", wait)
        .await
        .unwrap();
    assert!(!may_read_journal(&admin, &ns, "ann", &reader_groups).await);

    // Listed again, then the strategy deleted: garbage collection takes both.
    namespace
        .api::<TradingStrategy>()
        .patch(
            "momo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"journalReaders": {"users": ["carol"]}}})),
        )
        .await
        .unwrap();
    wait_for(
        &bindings,
        READERS,
        "the RoleBinding again",
        wait,
        |_: Option<&RoleBinding>| true,
    )
    .await
    .unwrap();
    operator.stop().await.unwrap();
    namespace
        .api::<TradingStrategy>()
        .delete("momo", &Default::default())
        .await
        .unwrap();
    e2e::wait_deleted(&roles, READERS, "the readers Role gone", wait)
        .await
        .unwrap();
    e2e::wait_deleted(&bindings, READERS, "the readers RoleBinding gone", wait)
        .await
        .unwrap();
    namespace.delete().await.unwrap();
}

/// Plays the operator and the backup process for `name`: a new `backupNowAt` is taken in
/// (`lastBackupNowAt`), and a second later the backup's report appears; a strategy created
/// with `spec.restore` gets its restore report.
fn play_backups(api: Api<TradingStrategy>, name: &str) -> tokio::task::JoinHandle<()> {
    let name = name.to_string();
    tokio::spawn(async move {
        loop {
            if let Ok(strategy) = api.get(&name).await {
                let asked = strategy
                    .spec
                    .backup
                    .as_ref()
                    .and_then(|b| b.backup_now_at.clone());
                let handled = strategy
                    .status
                    .as_ref()
                    .and_then(|s| s.last_backup_now_at.clone());
                if asked.is_some() && asked != handled {
                    let status = json!({"status": {"lastBackupNowAt": asked}});
                    let _ = api
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                        .await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    let report = json!({"status": {"backupReport": {
                        "outcome": "Succeeded", "name": format!("{name}-20300101T000000Z"),
                        "startTime": now, "completionTime": now, "sizeBytes": 4096,
                        "rows": 321, "checksum": "sha256:0f1e", "runtimeVersion": "test"}}});
                    let _ = api
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&report))
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

fn play_restore(api: Api<TradingStrategy>, name: &str) -> tokio::task::JoinHandle<()> {
    let name = name.to_string();
    tokio::spawn(async move {
        loop {
            if let Ok(strategy) = api.get(&name).await
                && let Some(restore) = &strategy.spec.restore
            {
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let report = json!({"status": {"restoreReport": {
                    "outcome": "Succeeded", "backup": restore.backup, "completionTime": now,
                    "rows": 321}}});
                let _ = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&report))
                    .await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

fn action(name: &str, timeout: u64) -> ActionArgs {
    ActionArgs {
        name: name.into(),
        timeout: Duration::from_secs(timeout),
    }
}

fn restore_args(name: &str, apply: bool) -> RestoreArgs {
    RestoreArgs {
        name: name.into(),
        from: "keeper".into(),
        backup: Some("keeper-20300101T000000Z".into()),
        apply,
        timeout: Duration::from_secs(30),
        output: None,
    }
}

/// `backup` waits for the backup process's report and prints what it recorded; `restore`
/// prints a manifest the API server accepts, and with `--apply` creates it and waits for the
/// restore's report. The test plays the operator's and the backup process's status writes.
#[tokio::test]
async fn backup_prints_the_new_backup_and_restore_makes_a_strategy_from_it() {
    let cluster = PrivateCluster::start("etcd,apiserver,controller-manager").unwrap();
    let admin = cluster.client().await.unwrap();
    install_crds(&admin).await.unwrap();
    let namespace = TestNamespace::create(&admin, "plugin-backup")
        .await
        .unwrap();
    let ns = namespace.name.clone();
    let target = Target::new(admin.clone(), &ns);
    let strategies = namespace.api::<TradingStrategy>();
    for (name, backup) in [
        ("keeper", json!({"destination": {"volume": {}}})),
        ("bare", Value::Null),
    ] {
        create(&strategies, json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "metadata": {"name": name},
            "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}, "backup": backup},
        }))
        .await;
    }

    // Refused up front without spec.backup; a timeout when nobody takes the backup.
    let refused = backup::run(&target, &action("bare", 5), &mut Vec::new())
        .await
        .err()
        .unwrap();
    assert!(
        refused
            .to_string()
            .contains("set spec.backup.destination first"),
        "{refused}"
    );
    let timeout = backup::run(&target, &action("keeper", 2), &mut Vec::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(timeout, Error::Timeout { .. }), "{timeout}");

    let player = play_backups(strategies.clone(), "keeper");
    let mut out = Vec::new();
    backup::run(&target, &action("keeper", 30), &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    println!("--- kubectl tradeplane backup keeper\n{text}");
    for expected in [
        "backup of 'keeper' succeeded",
        "name      keeper-20300101T000000Z",
        "size      4096 bytes",
        "rows      321",
        "checksum  sha256:0f1e",
    ] {
        assert!(text.contains(expected), "missing {expected:?}:\n{text}");
    }
    player.abort();
    let keeper = strategies.get("keeper").await.unwrap();
    let asked = keeper.spec.backup.unwrap().backup_now_at;
    assert!(asked.is_some(), "backup wrote spec.backup.backupNowAt");

    // The printed manifest is one the API server takes as it is.
    let mut out = Vec::new();
    restore::run(&target, &restore_args("keeper-2", false), &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    println!(
        "--- kubectl tradeplane restore keeper-2 --from keeper --backup keeper-20300101T000000Z\n{text}"
    );
    let manifest: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        manifest["spec"]["restore"],
        json!({"fromStrategy": "keeper", "backup": "keeper-20300101T000000Z",
               "source": {"volume": {}}})
    );
    assert!(
        manifest["spec"]["backup"].get("backupNowAt").is_none(),
        "{text}"
    );
    let applied = e2e::apply_strict(&admin, &ns, &manifest).await.unwrap();
    assert!(applied.is_ok(), "{applied:?}");
    assert!(
        strategies
            .get("keeper-2")
            .await
            .unwrap()
            .spec
            .restore
            .is_some()
    );

    // --apply creates it and reports once the restore is reported.
    let player = play_restore(strategies.clone(), "keeper-3");
    let mut out = Vec::new();
    restore::run(&target, &restore_args("keeper-3", true), &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    println!(
        "--- kubectl tradeplane restore keeper-3 --from keeper --backup keeper-20300101T000000Z --apply\n{text}"
    );
    assert!(
        text.starts_with("strategy 'keeper-3' created and restored from 'keeper' backup keeper-20300101T000000Z, 321 rows"),
        "{text}"
    );
    player.abort();
    let unknown = restore::run(
        &target,
        &RestoreArgs {
            from: "nope".into(),
            ..restore_args("x", false)
        },
        &mut Vec::new(),
    )
    .await
    .err()
    .unwrap();
    assert!(
        unknown.to_string().contains("no strategy 'nope'"),
        "{unknown}"
    );
    namespace.delete().await.unwrap();
}

const PLANTED_ID: &str = "PKPLANTED7731";
const PLANTED_SECRET: &str = "planted-secret-9f3e2a";

/// The support bundle of a strategy the operator (in this process) has rendered: the expected
/// files are there, and the planted credential values are nowhere in it — not in the user's
/// Secret, its last-applied annotation, the credentials Secret the operator copied them into,
/// nor an Event that quotes one.
#[tokio::test]
async fn the_report_bundle_holds_the_children_and_none_of_the_planted_secrets() {
    let cluster = PrivateCluster::start("etcd,apiserver,controller-manager").unwrap();
    let admin = cluster.client().await.unwrap();
    install_crds(&admin).await.unwrap();
    let namespace = TestNamespace::create(&admin, "plugin-report")
        .await
        .unwrap();
    let ns = namespace.name.clone();
    let keys = json!({"APCA_API_KEY_ID": PLANTED_ID, "APCA_API_SECRET_KEY": PLANTED_SECRET});
    let applied = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "alpaca-keys", "namespace": ns}, "stringData": keys});
    create(
        &namespace.api::<k8s_openapi::api::core::v1::Secret>(),
        json!({
            "metadata": {"name": "alpaca-keys", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": applied.to_string()}},
            "stringData": keys,
        }),
    )
    .await;
    create(
        &namespace.api::<tradeplane_operator::api::BrokerAccount>(),
        json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
            "metadata": {"name": "alpaca"},
            "spec": {"broker": "Alpaca", "endpoint": "http://127.0.0.1:9",
                     "credentialsSecretRef": {"name": "alpaca-keys"}},
        }),
    )
    .await;
    let strategies = namespace.api::<TradingStrategy>();
    create(
        &strategies,
        json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "metadata": {"name": "desk"},
            "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "alpaca"},
                     "journalReaders": {"groups": ["desk-readers"]}},
        }),
    )
    .await;
    let operator = InProcessController::start(&admin, &ns, |context, ns, shutdown| async move {
        trading_strategy::run(context, Some(&ns), shutdown).await
    })
    .unwrap();
    let secrets = namespace.api::<k8s_openapi::api::core::v1::Secret>();
    wait_for(
        &secrets,
        "desk-credentials",
        "the copied credentials",
        Duration::from_secs(60),
        |_: Option<&k8s_openapi::api::core::v1::Secret>| true,
    )
    .await
    .unwrap();
    wait_for(
        &namespace.api::<k8s_openapi::api::apps::v1::Deployment>(),
        "desk-trader",
        "the trader Deployment",
        Duration::from_secs(60),
        |_: Option<&k8s_openapi::api::apps::v1::Deployment>| true,
    )
    .await
    .unwrap();
    operator.stop().await.unwrap();
    create(
        &namespace.api::<k8s_openapi::api::core::v1::Event>(),
        json!({
            "metadata": {"name": "desk.leak"},
            "involvedObject": {"kind": "TradingStrategy", "name": "desk", "namespace": ns},
            "reason": "Oops", "type": "Warning",
            "message": format!("login failed for {PLANTED_ID}"),
        }),
    )
    .await;

    let dir = std::env::temp_dir().join(format!("plugin-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zip = dir.join("bundle.zip");
    let mut out = Vec::new();
    let args = ReportArgs {
        name: "desk".into(),
        output: Some(zip.clone()),
    };
    let plugin = plugin_client(&cluster).await;
    report::run(&Target::new(plugin, &ns), &args, &mut out)
        .await
        .unwrap();
    println!(
        "--- kubectl tradeplane report desk -o bundle.zip\n{}",
        String::from_utf8_lossy(&out)
    );
    let unzipped = dir.join("unzipped");
    let status = std::process::Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&unzipped)
        .status()
        .unwrap();
    assert!(status.success(), "unzip could not read the bundle");
    let listing = std::process::Command::new("unzip")
        .arg("-l")
        .arg(&zip)
        .output()
        .unwrap();
    println!(
        "--- unzip -l bundle.zip\n{}",
        String::from_utf8_lossy(&listing.stdout)
    );

    let mut files = Vec::new();
    let mut pending = vec![unzipped.clone()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path)
            } else {
                files.push(path)
            }
        }
    }
    let relative: Vec<String> = files
        .iter()
        .map(|p| {
            p.strip_prefix(&unzipped)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for expected in [
        "tradingstrategies/desk.yaml",
        "brokeraccounts/alpaca.yaml",
        "secrets/alpaca-keys.yaml",
        "children/secrets/desk-credentials.yaml",
        "children/deployments/desk-trader.yaml",
        "children/services/desk-metrics.yaml",
        "children/roles/desk-journal-readers.yaml",
        "children/rolebindings/desk-runtime.yaml",
        "children/leases/desk-leader.yaml",
        "events.yaml",
        "journal/error.txt",
    ] {
        assert!(
            relative.iter().any(|f| f == expected),
            "no {expected} in {relative:?}"
        );
    }
    let encoded =
        |v: &str| serde_json::to_value(k8s_openapi::ByteString(v.as_bytes().to_vec())).unwrap();
    let planted: Vec<String> = [PLANTED_ID, PLANTED_SECRET]
        .iter()
        .flat_map(|v| [v.to_string(), encoded(v).as_str().unwrap().to_string()])
        .collect();
    for file in &files {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        for value in &planted {
            assert!(
                !text.contains(value.as_str()),
                "{value} in {}:\n{text}",
                file.display()
            );
        }
    }
    let user_secret = std::fs::read_to_string(unzipped.join("secrets/alpaca-keys.yaml")).unwrap();
    assert!(
        user_secret.contains("APCA_API_SECRET_KEY: REDACTED"),
        "{user_secret}"
    );
    assert!(
        user_secret.contains("last-applied-configuration: REDACTED"),
        "{user_secret}"
    );
    let events = std::fs::read_to_string(unzipped.join("events.yaml")).unwrap();
    assert!(events.contains("login failed for REDACTED"), "{events}");
    std::fs::remove_dir_all(&dir).unwrap();
    namespace.delete().await.unwrap();
}
