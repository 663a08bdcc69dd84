//! Shadow revisions (`spec.rollout.strategy: Shadow`) against the real control plane, with
//! real runtime processes: the failover rig's strategy (two replicas on PostgreSQL, the
//! Alpaca stand-in as its broker, replayed bars) and, once the operator renders it, the
//! shadow's own `agent-runtime trader`, each listening on its pod's IP so the operator reads
//! both journals through the API server's service proxy as it would in a cluster.
//!
//! A benign change (a minimum confidence a hair higher) agrees with the live pods — its
//! shadow killed and restarted mid-analysis without the live pods noticing — and is promoted
//! with one handover and no order sent twice; a change that flips decisions fails its
//! analysis, and the stand-in's ledger holds only the live revision's orders. Neither shadow
//! ever holds the live Lease.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use agent_runtime::journal::Journal;
use e2e::failover_rig::{FailoverRig, STRATEGY};
use e2e::runtime_pods::RuntimePod;
use e2e::shadow_rig::{
    self, WITHIN, patch_spec, pods_of, start_shadow, start_when_addressed, track_replay_prices,
    wait_verdict,
};
use e2e::shared_client;
use e2e::wait::wait_deleted;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;
use tradeplane_operator::api::TradingStrategy;

/// The analysis both tests ask for: five cycles, 80% agreement.
fn rollout(on_success: &str) -> serde_json::Value {
    json!({"strategy": "Shadow",
           "analysis": {"minCycles": 5, "minAgreement": 0.8, "onSuccess": on_success}})
}

fn condition(strategy: &TradingStrategy, type_: &str) -> (String, String, String) {
    let c = strategy
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// The trader Deployment's pod template revision.
async fn live_template(deployments: &Api<Deployment>) -> String {
    let live = deployments
        .get(&format!("{STRATEGY}-trader"))
        .await
        .unwrap();
    live.spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap()["tradeplane.io/revision"]
        .clone()
}

/// Every holder the Lease had while `until` ran, sampled every 50 ms.
async fn holders_while<F: std::future::Future>(
    leases: &Api<Lease>,
    until: F,
) -> (F::Output, Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    tokio::pin!(until);
    loop {
        tokio::select! {
            out = &mut until => return (out, seen),
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                let holder = leases.get(&format!("{STRATEGY}-leader")).await.ok()
                    .and_then(|l| l.spec?.holder_identity).filter(|h| !h.is_empty());
                if let Some(holder) = holder && seen.last() != Some(&holder) {
                    seen.push(holder);
                }
            }
        }
    }
}

/// Keeps one runtime process per trader pod as the Deployment rolls: a process for each new
/// pod, SIGTERM (the kubelet's stop) for each pod gone, until the Deployment runs `revision`
/// on every pod and every process left has its pod.
async fn follow_roll(
    rig: &FailoverRig,
    client: &kube::Client,
    processes: &mut Vec<RuntimePod>,
    revision: &str,
) {
    let pods: Api<Pod> = rig.namespace.api();
    let deployments: Api<Deployment> = rig.namespace.api();
    let deadline = Instant::now() + WITHIN;
    let old: Vec<String> = processes.iter().map(|p| p.name.clone()).collect();
    loop {
        let names = pods_of(&pods, "trader").await.unwrap();
        for name in &names {
            if !processes.iter().any(|p| &p.name == name) {
                eprintln!("starting the runtime of the new pod {name}");
                processes.push(start_when_addressed(&rig.pods, client, name).await.unwrap());
            }
        }
        // Every pod gone is stopped at once, as kubelets stop them, before any is waited for:
        // a standby left running while the leader winds down would take the Lease meanwhile.
        let gone: Vec<&mut RuntimePod> = processes
            .iter_mut()
            .filter(|p| !names.contains(&p.name) && p.pid().is_some())
            .collect();
        for process in &gone {
            eprintln!("stopping the runtime of {} (its pod is gone)", process.name);
            process.signal("TERM").unwrap();
        }
        for process in gone {
            process.wait().await.unwrap();
        }
        processes.retain(|p| p.pid().is_some());
        let live = deployments
            .get(&format!("{STRATEGY}-trader"))
            .await
            .unwrap();
        let status = live.status.clone().unwrap_or_default();
        let rolled = status.observed_generation >= live.metadata.generation
            && status.updated_replicas == Some(2)
            && status.replicas == Some(2);
        let renewed = processes.len() == 2 && processes.iter().all(|p| !old.contains(&p.name));
        if live_template(&deployments).await == revision && rolled && renewed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the Deployment did not roll to {revision} within {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lease_transitions(leases: &Api<Lease>) -> i32 {
    leases
        .get(&format!("{STRATEGY}-leader"))
        .await
        .unwrap()
        .spec
        .and_then(|s| s.lease_transitions)
        .unwrap_or(0)
}

/// The rig with its two live runtimes on their pod IPs, leading and having run a cycle.
async fn trading_rig(prefix: &str) -> (FailoverRig, kube::Client, Vec<RuntimePod>, Journal) {
    let client = shared_client().await.unwrap();
    let admin = PathBuf::from(std::env::var("KUBECONFIG").unwrap());
    let (rig, pods, journal) = shadow_rig::trading_rig(&client, &admin, prefix)
        .await
        .unwrap();
    (rig, client, pods, journal)
}

#[tokio::test]
async fn an_agreeing_change_is_analysed_in_a_shadow_then_promoted_with_one_handover() {
    let (rig, client, mut processes, journal) = trading_rig("shadow-ok").await;
    tokio::select! {
        () = track_replay_prices(&rig, &journal) => unreachable!("the price tracker never ends"),
        () = promote_an_agreeing_change(&rig, &client, &mut processes, &journal) => {}
    }
    rig.teardown(processes).await.unwrap();
}

async fn promote_an_agreeing_change(
    rig: &FailoverRig,
    client: &kube::Client,
    processes: &mut Vec<RuntimePod>,
    journal: &Journal,
) {
    let started = Instant::now();
    let strategies: Api<TradingStrategy> = rig.namespace.api();
    let deployments: Api<Deployment> = rig.namespace.api();
    let leases: Api<Lease> = rig.namespace.api();
    let before = live_template(&deployments).await;
    // The live pods trade before the change, so "no order twice" across the handover is
    // about real orders.
    let deadline = Instant::now() + WITHIN;
    while rig.sent().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the live pods placed no order within {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    patch_spec(
        &strategies,
        json!({"decision": {"minConfidence": 0.2001}, "rollout": rollout("Promote")}),
    )
    .await
    .unwrap();
    let mut shadow = start_shadow(rig, client, None).await.unwrap();
    let running = wait_verdict(&strategies, "Running", WITHIN).await.unwrap();
    assert_eq!(
        live_template(&deployments).await,
        before,
        "the live pods keep their revision"
    );
    assert_eq!(condition(&running, "ShadowRunning").0, "True");
    let (pending, reason, _) = condition(&running, "UpgradePending");
    assert_eq!(
        (pending.as_str(), reason.as_str()),
        ("True", "ShadowAnalysis")
    );

    // Killing the shadow changes nothing for the live pods: the same leader goes on cycling.
    // Restarted, as the kubelet would, the shadow goes on from its own journal and book.
    let leader = rig.holder().await;
    shadow.signal("KILL").unwrap();
    shadow.wait().await.unwrap();
    for _ in 0..2 {
        let last = e2e::failover_rig::last_run(journal)
            .await
            .unwrap()
            .map(|c| c.cycle_id);
        e2e::failover_rig::next_run(journal, last.as_deref(), WITHIN)
            .await
            .unwrap();
    }
    assert_eq!(rig.holder().await, leader, "the live leader changed");
    assert_eq!(live_template(&deployments).await, before);
    shadow.restart(&rig.binary).unwrap();

    let transitions = lease_transitions(&leases).await;
    let (passed, holders) =
        holders_while(&leases, wait_verdict(&strategies, "Succeeded", WITHIN)).await;
    let passed = passed.unwrap();
    let rollout = passed.status.as_ref().unwrap().rollout.clone().unwrap();
    eprintln!("the shadow passed: {rollout:#?}");
    assert!(rollout.cycles_compared.unwrap() >= 5, "{rollout:?}");
    let new_revision = passed
        .status
        .as_ref()
        .unwrap()
        .desired_revision
        .clone()
        .unwrap();
    assert_ne!(new_revision, before);
    assert!(
        !holders.iter().any(|h| h == &shadow.name),
        "the shadow held the Lease: {holders:?}"
    );

    // Promote: the live Deployment rolls to the new revision (the standby's pod first, the
    // leader's last), the shadow goes, and a pod of the new revision takes the Lease over.
    let old_leader = rig.holder().await.expect("a leader before the promote");
    let roll = async {
        follow_roll(rig, client, processes, &new_revision).await;
        rig.new_holder(Some(&old_leader), WITHIN).await.unwrap()
    };
    let ((new_leader, _), holders) = holders_while(&leases, roll).await;
    assert!(
        processes.iter().any(|p| p.name == new_leader),
        "{new_leader} is no pod of the new revision"
    );
    let promoted = wait_verdict(&strategies, "Promoted", WITHIN).await.unwrap();
    assert_eq!(condition(&promoted, "ShadowSucceeded").0, "True");
    assert!(
        deployments
            .get_opt(&format!("{STRATEGY}-shadow"))
            .await
            .unwrap()
            .is_none()
    );
    let after = lease_transitions(&leases).await;
    assert_eq!(after - transitions, 1, "one handover, through {holders:?}");
    // Sampled every 50 ms: no one held the Lease between the old leader and the new one.
    assert!(
        holders.iter().all(|h| h == &old_leader || h == &new_leader),
        "{holders:?}"
    );
    let last = e2e::failover_rig::last_run(journal)
        .await
        .unwrap()
        .map(|c| c.cycle_id);
    e2e::failover_rig::next_run(journal, last.as_deref(), WITHIN)
        .await
        .unwrap();
    assert_eq!(rig.sent_twice(), BTreeMap::new(), "an order sent twice");
    assert_eq!(
        rig.disagreements(journal).await.unwrap(),
        Vec::<String>::new()
    );
    eprintln!(
        "promoted in {:?}; the broker saw {} orders, none twice",
        started.elapsed(),
        rig.sent().len()
    );
    drop(shadow);
}

#[tokio::test]
async fn a_change_that_flips_decisions_fails_and_never_reaches_the_live_account() {
    let started = Instant::now();
    let (rig, client, processes, journal) = trading_rig("shadow-flip").await;
    let strategies: Api<TradingStrategy> = rig.namespace.api();
    let deployments: Api<Deployment> = rig.namespace.api();
    let leases: Api<Lease> = rig.namespace.api();
    let before = live_template(&deployments).await;

    // A lone contrarian seat, ten times the position size and a tight stop loss: whichever
    // way the replayed market goes, the shadow trades where the live pods hold (or the other
    // way), and one disagreement in ten cycles fails it.
    let flip = json!({
        "providers": [{"name": "rules", "kind": "Rules"}],
        "analysts": [{"role": "contrarian", "providers": ["rules"], "method": "MeanReversion"}],
        "risk": {"positionSizePercent": 50, "stopLossPercent": 0.5},
        "rollout": {"strategy": "Shadow",
                    "analysis": {"minCycles": 10, "minAgreement": 0.95, "onSuccess": "Promote"}},
    });
    patch_spec(&strategies, flip).await.unwrap();
    let shadow = start_shadow(&rig, &client, None).await.unwrap();
    let (failed, holders) = holders_while(
        &leases,
        wait_verdict(&strategies, "Failed", Duration::from_secs(75)),
    )
    .await;
    let failed = failed.unwrap();
    let rollout = failed.status.as_ref().unwrap().rollout.clone().unwrap();
    eprintln!("the shadow failed: {rollout:#?}");
    assert!(
        !holders.iter().any(|h| h == &shadow.name),
        "the shadow held the Lease: {holders:?}"
    );
    let (status, reason, message) = condition(&failed, "ShadowFailed");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "AnalysisFailed"),
        "{message}"
    );
    let (pending, reason, message) = condition(&failed, "UpgradePending");
    assert_eq!(
        (pending.as_str(), reason.as_str()),
        ("True", "ShadowRefused"),
        "{message}"
    );
    let refused = failed
        .status
        .as_ref()
        .unwrap()
        .desired_revision
        .clone()
        .unwrap();
    assert!(message.contains(&refused), "{message}");
    assert_eq!(
        live_template(&deployments).await,
        before,
        "the live pods keep their revision"
    );
    let shadow_deployment = format!("{STRATEGY}-shadow");
    wait_deleted(
        &deployments,
        &shadow_deployment,
        "the shadow's Deployment",
        WITHIN,
    )
    .await
    .unwrap();

    // Everything the stand-in was sent is the live journal's: the shadow placed its orders
    // on its own paper account only.
    let live_ids: Vec<String> = journal
        .orders()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.request.client_order_id)
        .collect();
    let sent = rig.sent();
    for id in sent.keys() {
        assert!(
            live_ids.contains(id),
            "{id} reached the broker but is not the live pods'"
        );
    }
    // The shadow did place orders — on its paper account, none at the broker.
    let shadow_journal =
        Journal::open_sqlite(&shadow_dir(&rig, &shadow).join("journal/journal.db"))
            .await
            .unwrap();
    let shadow_orders = shadow_journal.orders().await.unwrap();
    assert!(
        !shadow_orders.is_empty(),
        "the shadow placed no order: nothing was at stake"
    );
    for order in &shadow_orders {
        let id = &order.request.client_order_id;
        let broker_id = order.broker_order_id.as_deref().unwrap_or("");
        assert!(
            broker_id.starts_with("paper-"),
            "{id} was filled by {broker_id:?}"
        );
        assert!(
            live_ids.contains(id) || !sent.contains_key(id),
            "the shadow's order {id} reached the broker"
        );
    }
    eprintln!(
        "the broker saw {} orders, all the live pods'; the shadow placed {} on paper",
        sent.len(),
        shadow_orders.len()
    );
    eprintln!("refused in {:?}", started.elapsed());
    drop(shadow);
    rig.teardown(processes).await.unwrap();
}

/// A listed journal reader reads the shadow's journal as well as the live one (the readers'
/// Role of a Shadow strategy names both Services); someone not listed reads neither.
async fn assert_journal_readers_read_both(namespace: &str) {
    let admin = PathBuf::from(std::env::var("KUBECONFIG").unwrap());
    for (user, listed) in [("ann@example.com", true), ("eve@example.com", false)] {
        let config = e2e::rbac::impersonating(&admin, user, &["system:authenticated"])
            .await
            .unwrap();
        let as_user = kube::Client::try_from(config).unwrap();
        for service in [format!("{STRATEGY}-metrics"), format!("{STRATEGY}-shadow")] {
            let path = format!(
                "/api/v1/namespaces/{namespace}/services/{service}:http-metrics/proxy/api/v1/cycles?limit=1"
            );
            let request = http::Request::get(path).body(Vec::new()).unwrap();
            let read = as_user.request_text(request).await;
            assert_eq!(read.is_ok(), listed, "{user} reading {service}: {read:?}");
        }
    }
}

fn shadow_dir(rig: &FailoverRig, shadow: &RuntimePod) -> PathBuf {
    rig.pods.root.join("shadow").join(&shadow.name)
}

/// `kubectl tradeplane rollout`, `promote` and `abort`, through the plugin's own code as the
/// user (here the admin's kubeconfig): while the shadow runs, `rollout` shows the analysis and
/// the decisions of both journals, `promote` is refused (nothing passed yet), and `abort`
/// removes the shadow, leaves the live pods on their revision and is reported as
/// ShadowFailed / AbortedByUser with an Event.
#[tokio::test]
async fn a_shadow_aborted_by_the_user_goes_and_the_live_pods_keep_theirs() {
    use kubectl_tradeplane::cluster::Target;
    use kubectl_tradeplane::rollout::{
        self as plugin, RolloutArgs, ShadowAction, ShadowActionArgs,
    };

    let (rig, client, processes, journal) = trading_rig("shadow-abort").await;
    let strategies: Api<TradingStrategy> = rig.namespace.api();
    let deployments: Api<Deployment> = rig.namespace.api();
    let before = live_template(&deployments).await;
    // More cycles than the test runs: the shadow stays Running until it is aborted.
    let analysis = json!({"strategy": "Shadow",
                          "analysis": {"minCycles": 1000, "minAgreement": 0.8, "onSuccess": "Wait"}});
    let readers = json!({"users": ["ann@example.com"]});
    patch_spec(
        &strategies,
        json!({"decision": {"minConfidence": 0.2001}, "rollout": analysis,
               "journalReaders": readers}),
    )
    .await
    .unwrap();
    let shadow = start_shadow(&rig, &client, None).await.unwrap();
    let deadline = Instant::now() + WITHIN;
    loop {
        let rollout = strategies
            .get(STRATEGY)
            .await
            .unwrap()
            .status
            .and_then(|s| s.rollout)
            .unwrap_or_default();
        if rollout.verdict.as_deref() == Some("Running")
            && rollout.cycles_compared.unwrap_or(0) >= 2
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no two cycles compared: {rollout:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_journal_readers_read_both(&rig.namespace.name).await;
    let target = Target::new(client.clone(), &rig.namespace.name);
    let mut out = Vec::new();
    let args = RolloutArgs {
        name: STRATEGY.into(),
        cycles: 20,
        output: None,
    };
    plugin::show(&target, &args, &mut out).await.unwrap();
    let screen = String::from_utf8(out).unwrap();
    eprintln!("kubectl tradeplane rollout {STRATEGY}:\n{screen}");
    assert!(screen.contains("verdict   Running"), "{screen}");
    assert!(
        screen.contains("newest cycles both completed"),
        "both journals were read: {screen}"
    );

    let action = |timeout| ShadowActionArgs {
        name: STRATEGY.into(),
        timeout: Duration::from_secs(timeout),
    };
    let refused = plugin::act(&target, ShadowAction::Promote, &action(5), &mut Vec::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("has not passed yet"), "{refused}");

    let mut out = Vec::new();
    plugin::act(&target, ShadowAction::Abort, &action(60), &mut out)
        .await
        .unwrap();
    let said = String::from_utf8(out).unwrap();
    eprintln!("kubectl tradeplane abort {STRATEGY}: {said}");
    assert!(said.contains("aborted, the live pods keep"), "{said}");
    let aborted = strategies.get(STRATEGY).await.unwrap();
    let (status, reason, message) = condition(&aborted, "ShadowFailed");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "AbortedByUser"),
        "{message}"
    );
    assert_eq!(condition(&aborted, "UpgradePending").1, "ShadowRefused");
    let shadow_deployment = format!("{STRATEGY}-shadow");
    wait_deleted(
        &deployments,
        &shadow_deployment,
        "the shadow's Deployment",
        WITHIN,
    )
    .await
    .unwrap();
    let events: Api<k8s_openapi::api::core::v1::Event> = rig.namespace.api();
    let deadline = Instant::now() + WITHIN;
    loop {
        let listed = events
            .list(&ListParams::default().fields(&format!("involvedObject.name={STRATEGY}")))
            .await
            .unwrap();
        let found = listed.items.iter().any(|e| {
            e.reason.as_deref() == Some("ShadowFailed")
                && e.message
                    .as_deref()
                    .unwrap_or("")
                    .contains("aborted by the user")
        });
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no ShadowFailed Event of the abort"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The live pods go on trading on their revision.
    let last = e2e::failover_rig::last_run(&journal)
        .await
        .unwrap()
        .map(|c| c.cycle_id);
    e2e::failover_rig::next_run(&journal, last.as_deref(), WITHIN)
        .await
        .unwrap();
    assert_eq!(live_template(&deployments).await, before);
    assert_eq!(rig.sent_twice(), BTreeMap::new(), "an order sent twice");
    drop(shadow);
    rig.teardown(processes).await.unwrap();
}
