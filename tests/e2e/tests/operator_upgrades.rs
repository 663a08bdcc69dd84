//! Rolling and supervised upgrades of a strategy's trader, against the real control plane:
//! the Deployment controller does the rolling (kwok makes the pods ready), the operator
//! decides which template it gets and reports the revisions, and marks the leader's pod so
//! the roll removes it last.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::conditions::{self, condition};
use e2e::{TestNamespace, shared_client, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio::task::JoinHandle;
use tradeplane_operator::api::TradingStrategy;

const WAIT: Duration = Duration::from_secs(60);

fn image(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone()
        .unwrap()
}

fn revisions(strategy: Option<&TradingStrategy>) -> (Option<String>, Option<String>) {
    let status = strategy.and_then(|t| t.status.as_ref());
    (
        status.and_then(|s| s.current_revision.clone()),
        status.and_then(|s| s.desired_revision.clone()),
    )
}

/// Both revisions known and equal: the rollout has finished.
fn rolled_out(strategy: Option<&TradingStrategy>) -> bool {
    let (current, desired) = revisions(strategy);
    current.is_some() && current == desired
}

/// The cells of `kubectl get ts up -o wide` under the two revision columns.
async fn wide_revisions(namespace: &TestNamespace) -> (String, String) {
    let client = shared_client().await.unwrap();
    let path = format!(
        "/apis/tradeplane.io/v1alpha1/namespaces/{}/tradingstrategies",
        namespace.name
    );
    let mut request = kube::core::Request::new(path)
        .list(&Default::default())
        .unwrap();
    request.headers_mut().insert(
        "accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io"
            .parse()
            .unwrap(),
    );
    let table: serde_json::Value = client.request(request).await.unwrap();
    let column = |name: &str| {
        let index = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        assert_eq!(
            table["columnDefinitions"][index]["priority"], 1,
            "{name} only in -o wide"
        );
        table["rows"][0]["cells"][index]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    (column("Current Revision"), column("Desired Revision"))
}

/// The journal URL in the strategy's credentials Secret, which its pods mount.
async fn journal_url(namespace: &TestNamespace) -> String {
    let credentials = namespace
        .api::<Secret>()
        .get("up-credentials")
        .await
        .unwrap();
    String::from_utf8(credentials.data.unwrap()["journal-url"].0.clone()).unwrap()
}

/// The fewest available trader replicas seen by [`fewest_available`].
static AVAILABLE_SEEN: AtomicI32 = AtomicI32::new(i32::MAX);

/// Samples the trader's available replicas every 50 ms into [`AVAILABLE_SEEN`], until aborted.
async fn fewest_available(deployments: Api<Deployment>) {
    loop {
        let live = deployments.get("up-trader").await.unwrap();
        let available = live.status.and_then(|s| s.available_replicas).unwrap_or(0);
        AVAILABLE_SEEN.fetch_min(available, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn patch_spec(strategies: &Api<TradingStrategy>, spec: serde_json::Value) {
    strategies
        .patch(
            "up",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_image_change_rolls_surge_first_and_supervised_upgrades_wait_for_a_window_or_force_at() {
    let (namespace, _controller) = e2e::fixtures::strategy_controller("ts-upgrade")
        .await
        .unwrap();
    e2e::fixtures::hot_standby(&namespace, "up", json!({"image": "runtime:v1", "failover": {"leaseDurationSeconds": 6, "renewDeadlineSeconds": 4, "retryPeriodSeconds": 2}})).await.unwrap();
    let strategies = namespace.api::<TradingStrategy>();
    let deployments = namespace.api::<Deployment>();
    let first = wait_for(&strategies, "up", "the first rollout", WAIT, rolled_out)
        .await
        .unwrap();
    let (v1, _) = revisions(Some(&first));

    // The API server took the failover timings and the runtime's config carries them.
    let config = namespace.api::<Secret>().get("up-config").await.unwrap();
    let file = String::from_utf8(config.data.unwrap().into_values().next().unwrap().0).unwrap();
    let rendered: serde_json::Value = serde_yaml::from_str(&file).unwrap();
    let election = &rendered["leaderElection"];
    assert_eq!(
        (
            &election["leaseDurationSeconds"],
            &election["renewDeadlineSeconds"],
            &election["retryPeriodSeconds"]
        ),
        (&json!(6), &json!(4), &json!(2)),
        "{file}"
    );

    // Postgres: surge one new pod, never fewer ready than asked for.
    let live = deployments.get("up-trader").await.unwrap();
    let rollout = live.spec.unwrap().strategy.unwrap();
    assert_eq!(rollout.type_.as_deref(), Some("RollingUpdate"));
    let rolling = rollout.rolling_update.unwrap();
    assert_eq!(
        (rolling.max_surge, rolling.max_unavailable),
        (Some(IntOrString::Int(1)), Some(IntOrString::Int(0)))
    );

    // Unsupervised: an image change rolls at once, and status follows it to the new revision.
    // Throughout, both replicas stay available (the new pod comes up beside the old ones).
    let sampling = tokio::spawn(fewest_available(deployments.clone()));
    patch_spec(&strategies, json!({"image": "runtime:v2"})).await;
    let second = wait_for(
        &strategies,
        "up",
        "the v2 rollout",
        WAIT,
        |t: Option<&TradingStrategy>| rolled_out(t) && revisions(t).0 != v1,
    )
    .await
    .unwrap();
    sampling.abort();
    let fewest = sampling.await.unwrap_err();
    assert!(fewest.is_cancelled());
    let seen = AVAILABLE_SEEN.load(Ordering::SeqCst);
    assert_eq!(seen, 2, "fewest available replicas seen during the rollout");
    assert_eq!(
        image(&deployments.get("up-trader").await.unwrap()),
        "runtime:v2"
    );
    let (v2, _) = revisions(Some(&second));

    // Supervised, with the only window opening six hours from now: nothing rolls.
    let opening = (Timestamp::now() + SignedDuration::from_hours(6))
        .strftime("%H:%M")
        .to_string();
    patch_spec(
        &strategies,
        json!({"upgrade": {
            "policy": "Supervised", "timeZone": "UTC",
            "maintenanceWindows": [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
                                    "start": opening, "durationMinutes": 30}],
        }}),
    )
    .await;
    patch_spec(&strategies, json!({"image": "runtime:v3"})).await;
    let held = wait_for(
        &strategies,
        "up",
        "UpgradePending for v3",
        WAIT,
        |t: Option<&TradingStrategy>| {
            condition(t, "UpgradePending").is_some_and(|c| c.status == "True")
        },
    )
    .await
    .unwrap();
    let (current, v3) = revisions(Some(&held));
    assert_eq!(current, v2, "the running revision stays");
    assert_ne!(v3, v2);
    let message = conditions::message(&held, "UpgradePending");
    assert!(message.contains(v3.as_deref().unwrap()), "{message}");
    assert!(message.contains(&opening), "{message}");
    assert_eq!(
        image(&deployments.get("up-trader").await.unwrap()),
        "runtime:v2"
    );
    assert_eq!(
        wide_revisions(&namespace).await,
        (v2.clone().unwrap(), v3.clone().unwrap())
    );

    // A rotated Secret outside the window waits too: a new desired revision, same pods.
    namespace
        .api::<Secret>()
        .patch(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"stringData": {"url": "postgres://trader:rotated@db:5432/journal"}}),
            ),
        )
        .await
        .unwrap();
    let rotated = wait_for(
        &strategies,
        "up",
        "a new desired revision for the rotated Secret",
        WAIT,
        |t: Option<&TradingStrategy>| {
            let (_, desired) = revisions(t);
            desired.is_some() && desired != v3
        },
    )
    .await
    .unwrap();
    let (current, v4) = revisions(Some(&rotated));
    assert_eq!(current, v2);
    assert!(conditions::message(&rotated, "UpgradePending").contains(v4.as_deref().unwrap()));
    let live = deployments.get("up-trader").await.unwrap();
    assert_eq!(image(&live), "runtime:v2");
    // The pods' credentials wait with their template: a pod restarting now reads the old URL.
    assert_eq!(
        journal_url(&namespace).await,
        "postgres://trader:first@db:5432/journal"
    );
    assert_eq!(
        live.spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap()["tradeplane.io/revision"],
        v2.clone().unwrap()
    );

    // forceAt rolls the waiting revision now, and is recorded.
    patch_spec(
        &strategies,
        json!({"upgrade": {"forceAt": "2026-12-01T21:00:00Z"}}),
    )
    .await;
    let forced = wait_for(
        &strategies,
        "up",
        "the forced rollout",
        WAIT,
        |t: Option<&TradingStrategy>| rolled_out(t) && revisions(t).0 == v4,
    )
    .await
    .unwrap();
    let status = forced.status.as_ref().unwrap();
    assert_eq!(
        status.last_forced_upgrade_at.as_deref(),
        Some("2026-12-01T21:00:00Z")
    );
    assert_eq!(
        condition(Some(&forced), "UpgradePending").unwrap().status,
        "False"
    );
    assert_eq!(
        journal_url(&namespace).await,
        "postgres://trader:rotated@db:5432/journal"
    );
    assert_eq!(
        image(&deployments.get("up-trader").await.unwrap()),
        "runtime:v3"
    );

    // A handled forceAt does not open the gate again.
    patch_spec(&strategies, json!({"restartAt": "once"})).await;
    let again = wait_for(
        &strategies,
        "up",
        "the restart to wait",
        WAIT,
        |t: Option<&TradingStrategy>| {
            condition(t, "UpgradePending").is_some_and(|c| c.status == "True")
        },
    )
    .await
    .unwrap();
    assert_eq!(revisions(Some(&again)).0, v4);
    assert_eq!(again.status.unwrap().last_restart_at, None);
}

/// The strategy's trader pods that are not going away, oldest first.
async fn trader_pods(pods: &Api<Pod>, strategy: &str) -> Vec<Pod> {
    let selector = format!("tradeplane.io/strategy={strategy},app.kubernetes.io/component=trader");
    let mut listed = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap()
        .items;
    listed.retain(|p| p.metadata.deletion_timestamp.is_none());
    listed.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    listed
}

fn deletion_cost(pod: &Pod) -> Option<String> {
    pod.metadata
        .annotations
        .as_ref()?
        .get("controller.kubernetes.io/pod-deletion-cost")
        .cloned()
}

/// Names `holder` in the strategy's Lease, as a leader that renews for an hour would.
async fn lead(leases: &Api<Lease>, strategy: &str, holder: &str) {
    let now = Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    leases
        .patch(
            &format!("{strategy}-leader"),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "holderIdentity": holder, "acquireTime": now, "renewTime": now,
                "leaseDurationSeconds": 3600,
            }})),
        )
        .await
        .unwrap();
}

/// Waits until exactly `marked` of the strategy's trader pods carries the leader's cost.
async fn wait_marked(pods: &Api<Pod>, strategy: &str, marked: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let live = trader_pods(pods, strategy).await;
        let costs: Vec<_> = live
            .iter()
            .map(|p| (p.metadata.name.clone().unwrap(), deletion_cost(p)))
            .collect();
        let right = costs
            .iter()
            .all(|(name, cost)| (name == marked) == (cost.as_deref() == Some("1000")));
        if right && costs.iter().any(|(name, _)| name == marked) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {marked} should carry the leader's deletion cost: {costs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Records, in order, each trader pod of `strategy` the first time it is seen going away.
fn removals(pods: Api<Pod>, strategy: &str) -> (Arc<Mutex<Vec<String>>>, JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let config = watcher::Config::default().labels(&format!("tradeplane.io/strategy={strategy}"));
    let record = seen.clone();
    let task = tokio::spawn(async move {
        let mut events = std::pin::pin!(watcher(pods, config).default_backoff());
        while let Some(Ok(event)) = events.next().await {
            let gone = match &event {
                watcher::Event::Apply(pod) if pod.metadata.deletion_timestamp.is_some() => pod,
                watcher::Event::Delete(pod) => pod,
                _ => continue,
            };
            let name = gone.metadata.name.clone().unwrap();
            let mut seen = record.lock().unwrap();
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
    });
    (seen, task)
}

#[tokio::test]
async fn the_leaders_pod_is_marked_so_a_roll_removes_its_standby_first() {
    let (namespace, _controller) = e2e::fixtures::strategy_controller("ts-mark").await.unwrap();
    e2e::fixtures::hot_standby(&namespace, "up", json!({"image": "runtime:v1"}))
        .await
        .unwrap();
    let strategies = namespace.api::<TradingStrategy>();
    let (pods, leases) = (namespace.api::<Pod>(), namespace.api::<Lease>());
    wait_for(&strategies, "up", "the first rollout", WAIT, rolled_out)
        .await
        .unwrap();
    let first = trader_pods(&pods, "up").await;
    assert_eq!(first.len(), 2, "two replicas");
    let names: Vec<String> = first
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();

    // The first leader is marked; its standby is not.
    lead(&leases, "up", &names[0]).await;
    wait_marked(&pods, "up", &names[0]).await;
    // A switchover (or failover) moves the mark.
    lead(&leases, "up", &names[1]).await;
    wait_marked(&pods, "up", &names[1]).await;
    let (leader, standby) = (&names[1], &names[0]);

    // A Lease naming a pod that is not one of the strategy's trader pods marks nothing there.
    let stranger: Pod = serde_json::from_value(json!({
        "metadata": {"name": "stranger", "labels": {"tradeplane.io/strategy": "other"},
                     "annotations": {"note": "not up's"}},
        "spec": {"containers": [{"name": "c", "image": "none"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &stranger)
        .await
        .unwrap();
    lead(&leases, "up", "stranger").await;
    wait_for(
        &strategies,
        "up",
        "status.leader stranger",
        WAIT,
        |t: Option<&TradingStrategy>| {
            t.and_then(|t| t.status.as_ref()?.leader.clone()).as_deref() == Some("stranger")
        },
    )
    .await
    .unwrap();
    assert_eq!(deletion_cost(&pods.get("stranger").await.unwrap()), None);
    lead(&leases, "up", leader).await;
    wait_marked(&pods, "up", leader).await;

    // An image change: surge one, then the old ReplicaSet removes its standby before its leader.
    let (gone, watching) = removals(pods.clone(), "up");
    patch_spec(&strategies, json!({"image": "runtime:v2"})).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while gone.lock().unwrap().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the roll removed {:?}",
            gone.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watching.abort();
    let order = gone.lock().unwrap().clone();
    assert_eq!(
        order[..2],
        [standby.clone(), leader.clone()],
        "removal order (standby {standby}, leader {leader})"
    );
}
