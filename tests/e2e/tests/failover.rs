//! Failover of a two-replica strategy, with runtime processes standing in for its pods (see
//! `e2e::runtime_pods`): each runs the config the operator rendered, with a token for the
//! strategy's own ServiceAccount, against a real PostgreSQL journal and an Alpaca stand-in that
//! refuses a client order id it has seen.
//!
//! - SIGKILL of the leader at random moments, ten times: the standby takes the Lease and trades within a
//!   lease duration and a second or two; over the run the broker never receives a client order
//!   id twice, and the journal and the broker agree order by order.
//! - SIGTERM of the leader: the standby leads and trades within 1.5 s.
//! - Only a ready replica takes the Lease: while neither can reconcile with the broker, the
//!   Lease stays free; once the broker answers, one becomes ready and takes it.
//! - SIGSTOP of the leader past its lease: the standby takes over; after SIGCONT the old
//!   leader places nothing and stands by.
//! - The leader's part of the status (last cycle, equity, P&L) fills in; after a switchover
//!   the operator names the new leader (the LEADER column) and emits the LeaderChanged Event.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agent_runtime::broker::order_id::client_order_id;
use agent_runtime::domain::{OrderRequest, OrderStatus, Position, Side};
use chrono::Utc;
use e2e::failover_rig::{
    FailoverRig, Feed, LEASE, STRATEGY, by_name, last_run, next_run, placed, slots_run_twice,
};
use e2e::runtime_pods::RuntimePod;
use e2e::{cli, shared_client, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{DynamicObject, PatchParams};
use rand::Rng;
use serde_json::json;

/// Kills of the leader in one run (`make bench` runs a hundred: benches/failover.rs).
const KILLS: usize = 10;

async fn setup(prefix: &str) -> FailoverRig {
    let client = shared_client().await.unwrap();
    let admin = PathBuf::from(std::env::var("KUBECONFIG").unwrap());
    FailoverRig::start(&client, &admin, prefix, Feed::Replay)
        .await
        .unwrap()
}

/// The money invariants over the whole run: no client order id sent twice, journal and
/// broker agree order by order, no slot run by two leaders.
async fn check_orders(rig: &FailoverRig, journal: &agent_runtime::journal::Journal) {
    let twice = rig.sent_twice();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    let disagreements = rig.disagreements(journal).await.unwrap();
    assert!(
        disagreements.is_empty(),
        "the journal and the broker disagree on {disagreements:?}"
    );
    let slots = slots_run_twice(journal).await.unwrap();
    assert!(slots.is_empty(), "slots run twice: {slots:?}");
}

async fn last_id(journal: &agent_runtime::journal::Journal) -> Option<String> {
    last_run(journal).await.unwrap().map(|c| c.cycle_id)
}

#[tokio::test]
async fn a_killed_leader_is_replaced_within_the_lease_and_no_order_is_placed_twice() {
    let setup = setup("failover-kill").await;
    let (mut pods, journal, mut leader) = setup.start_trading().await.unwrap();
    let mut takeovers = Vec::new();
    for _ in 0..KILLS {
        let wait = rand::rng().random_range(500..2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let before = last_id(&journal).await;
        by_name(&mut pods, &leader).unwrap().signal("KILL").unwrap();
        let killed_at = Instant::now();
        let (next, _) = setup
            .new_holder(Some(&leader), LEASE + Duration::from_secs(3))
            .await
            .unwrap();
        next_run(&journal, before.as_deref(), Duration::from_secs(5))
            .await
            .unwrap();
        let trading = killed_at.elapsed();
        takeovers.push(trading);
        assert!(
            trading <= LEASE + Duration::from_secs(2),
            "the standby traded {trading:?} after the kill"
        );
        // The kubelet restarts the killed container in the same pod.
        let killed = by_name(&mut pods, &leader).unwrap();
        let _ = killed.wait().await;
        killed.restart(&setup.binary).unwrap();
        leader = next;
    }
    println!("takeover (kill → new leader's first cycle): {takeovers:?}");
    check_orders(&setup, &journal).await;
    assert!(
        !journal.orders().await.unwrap().is_empty(),
        "no order was placed at all: the invariants above were not exercised"
    );
    // Both replicas are ready: the leader, and the restarted one as a hot standby.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for pod in &pods {
        assert_eq!(
            pod.readyz().await,
            200,
            "{} is not ready:\n{}",
            pod.name,
            pod.log()
        );
    }

    // A switchover: the leader hands over to the ready standby, which keeps the Lease (the
    // request it was elected by is done, so it does not hand straight back).
    let strategies_typed: Api<tradeplane_operator::api::TradingStrategy> = setup.namespace.api();
    strategies_typed
        .patch(
            STRATEGY,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"switchoverAt": "2026-12-01T12:00:00Z"}})),
        )
        .await
        .unwrap();
    let (after_switchover, took) = setup
        .new_holder(Some(&leader), Duration::from_secs(10))
        .await
        .unwrap();
    println!("switchover moved the Lease from {leader} to {after_switchover} in {took:?}");
    tokio::time::sleep(LEASE + Duration::from_secs(2)).await;
    assert_eq!(
        setup.holder().await.as_deref(),
        Some(after_switchover.as_str()),
        "the Lease moved again after the switchover"
    );

    // The leader's part of the status is there, written under the runtime's own manager.
    let strategies: Api<DynamicObject> = Api::namespaced_with(
        setup.client.clone(),
        &setup.namespace.name,
        &agent_runtime::status_report::strategy_resource(),
    );
    let strategy = strategies.get(STRATEGY).await.unwrap();
    let status = &strategy.data["status"];
    let logs: Vec<String> = pods.iter().map(RuntimePod::log).collect();
    assert!(
        status["lastCycleTime"].is_string(),
        "{status}\n{}",
        logs.join("\n")
    );
    assert!(status["equity"].is_string(), "{status}");
    assert!(status["profitAndLoss"].is_string(), "{status}");

    // The operator names the new leader, records the switchover, and says who took over from
    // whom in an Event; `kubectl get ts` shows the LEADER, P&L and LAST CYCLE columns filled.
    let shown = wait_for(
        &strategies_typed,
        STRATEGY,
        "the operator to name the new leader",
        Duration::from_secs(30),
        |s: Option<&tradeplane_operator::api::TradingStrategy>| {
            s.and_then(|s| s.status.as_ref()).is_some_and(|st| {
                st.leader.as_deref() == Some(after_switchover.as_str())
                    && st.last_switchover_at.as_deref() == Some("2026-12-01T12:00:00Z")
            })
        },
    )
    .await
    .unwrap();
    let pnl = shown.status.unwrap().profit_and_loss.unwrap();
    let row = cli::run_ok(
        "kubectl",
        &[
            "-n",
            &setup.namespace.name,
            "get",
            "ts",
            STRATEGY,
            "--no-headers",
        ],
        None,
    )
    .await
    .unwrap();
    assert!(
        row.contains(&after_switchover) && row.contains(&pnl),
        "kubectl get ts: {row}"
    );
    let handed = format!("leader changed from pod {leader} to pod {after_switchover}");
    let events: Api<Event> = setup.namespace.api();
    let notes: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("LeaderChanged"))
        .filter_map(|e| e.note)
        .collect();
    assert!(
        notes.iter().any(|note| note.starts_with(&handed)),
        "no LeaderChanged Event for the switchover in {notes:#?}"
    );
    setup.teardown(pods).await.unwrap();
}

#[tokio::test]
async fn a_terminated_leader_hands_over_at_once_and_a_frozen_one_places_nothing() {
    let setup = setup("failover-term").await;
    let (mut pods, journal, leader) = setup.start_trading().await.unwrap();

    // SIGTERM: the leader finishes its cycle, releases the Lease, and the standby takes it
    // and trades.
    by_name(&mut pods, &leader).unwrap().signal("TERM").unwrap();
    let terminated = Instant::now();
    // Read after the signal: the terminated leader starts no cycle after it.
    let before = last_id(&journal).await;
    let (standby, handover) = setup
        .new_holder(Some(&leader), Duration::from_secs(10))
        .await
        .unwrap();
    println!("graceful handover took {handover:?}");
    assert!(handover <= Duration::from_millis(1500), "{handover:?}");
    next_run(&journal, before.as_deref(), Duration::from_secs(5))
        .await
        .unwrap();
    let trading = terminated.elapsed();
    println!("the standby traded {trading:?} after the SIGTERM");
    assert!(trading <= Duration::from_millis(1500), "{trading:?}");
    let code = by_name(&mut pods, &leader).unwrap().wait().await.unwrap();
    assert_eq!(
        code,
        Some(0),
        "{}",
        by_name(&mut pods, &leader).unwrap().log()
    );
    by_name(&mut pods, &leader)
        .unwrap()
        .restart(&setup.binary)
        .unwrap();

    // SIGSTOP past the lease: the other takes over; the frozen one wakes up and trades nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let placed_before = placed(by_name(&mut pods, &standby).unwrap()).await;
    by_name(&mut pods, &standby)
        .unwrap()
        .signal("STOP")
        .unwrap();
    setup
        .new_holder(Some(&standby), LEASE + Duration::from_secs(5))
        .await
        .unwrap();
    by_name(&mut pods, &standby)
        .unwrap()
        .signal("CONT")
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let woken = by_name(&mut pods, &standby).unwrap();
    assert_eq!(
        placed(woken).await,
        placed_before,
        "the woken old leader placed orders:\n{}",
        woken.log()
    );
    assert_eq!(
        woken.metric("tradeplane_role", "role=\"standby\"").await,
        1.0,
        "the woken old leader did not stand by"
    );
    check_orders(&setup, &journal).await;
    setup.teardown(pods).await.unwrap();
}

#[tokio::test]
async fn a_replica_that_is_not_ready_does_not_take_the_lease() {
    let setup = setup("failover-unready").await;
    // The broker refuses everything: neither replica can reconcile, so neither is ready.
    setup.broker.fail_next(100_000, 503);
    let pods = setup.start_pods().await.unwrap();
    tokio::time::sleep(LEASE + Duration::from_secs(2)).await;
    for pod in &pods {
        assert_ne!(
            pod.readyz().await,
            200,
            "{} is ready:\n{}",
            pod.name,
            pod.log()
        );
    }
    assert_eq!(
        setup.holder().await,
        None,
        "a replica that is not ready took the Lease"
    );
    // The broker answers again: the first replica to reconcile becomes ready and leads.
    setup.broker.stop_failing();
    let (leader, _) = setup
        .new_holder(None, Duration::from_secs(45))
        .await
        .unwrap();
    let journal = setup.journal().await.unwrap();
    next_run(&journal, None, Duration::from_secs(30))
        .await
        .unwrap();
    let leading = pods.iter().find(|p| p.name == leader).unwrap();
    assert_eq!(leading.readyz().await, 200, "{}", leading.log());
    setup.teardown(pods).await.unwrap();
}

/// Keeps the strategy's Lease held by `holder`, renewed every half second, until `release`
/// fires; then clears the holder so a replica may take it.
fn hold_lease(
    leases: Api<Lease>,
    holder: &'static str,
    mut release: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    let name = format!("{STRATEGY}-leader");
    tokio::spawn(async move {
        let patch = |spec: serde_json::Value| kube::api::Patch::Merge(json!({ "spec": spec }));
        loop {
            let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            leases
                .patch(
                    &name,
                    &PatchParams::default(),
                    &patch(json!({"holderIdentity": holder, "renewTime": now,
                                  "leaseDurationSeconds": 3600})),
                )
                .await
                .unwrap();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = &mut release => break,
            }
        }
        leases
            .patch(
                &name,
                &PatchParams::default(),
                &patch(json!({"holderIdentity": null, "renewTime": null})),
            )
            .await
            .unwrap();
    })
}

#[tokio::test]
async fn a_standby_leaves_the_journal_to_the_leader_and_reconciles_only_once_it_leads() {
    let setup = setup("failover-standby").await;
    let leases: Api<Lease> = setup.namespace.api();
    let lease = format!("{STRATEGY}-leader");
    wait_for(
        &leases,
        &lease,
        "the operator to create the Lease",
        Duration::from_secs(30),
        |l: Option<&Lease>| l.is_some(),
    )
    .await
    .unwrap();
    let (release, released) = tokio::sync::oneshot::channel();
    let holder = hold_lease(leases, "a-leader-elsewhere", released);

    // What a leader elsewhere is in the middle of: an order journalled and not yet sent, and
    // a position the broker will only hold once that leader's orders fill.
    let journal = setup.journal().await.unwrap();
    let identity = agent_runtime::config::Identity {
        namespace: setup.namespace.name.clone(),
        name: STRATEGY.into(),
    };
    let in_flight = OrderRequest {
        client_order_id: client_order_id(&identity, "cycle-elsewhere", "AAPL", Side::Buy),
        symbol: "AAPL".into(),
        side: Side::Buy,
        quantity: 3.0,
        reference_price: 100.0,
        lease_epoch: Some(7),
    };
    let id = in_flight.client_order_id.clone();
    journal
        .record_order(None, &in_flight, Utc::now())
        .await
        .unwrap();
    let held = Position {
        symbol: "MSFT".into(),
        quantity: 7.0,
        average_price: 90.0,
    };
    journal.set_position(&held, Utc::now()).await.unwrap();

    // Both replicas start while the other leader holds the Lease: they become ready standbys
    // and leave its order and its position alone.
    let pods = setup.start_pods().await.unwrap();
    for pod in &pods {
        pod.wait_ready(Duration::from_secs(30)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let order = journal.order(&id).await.unwrap().unwrap();
    let logs = || {
        pods.iter()
            .map(RuntimePod::log)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        order.status,
        OrderStatus::Pending,
        "a standby resolved the leader's order: {order:?}\n{}",
        logs()
    );
    assert_eq!(
        journal.positions().await.unwrap(),
        vec![held.clone()],
        "a standby rewrote the leader's positions\n{}",
        logs()
    );

    // The other leader is gone: a replica takes the Lease and reconciles before it trades —
    // the order the broker never got is closed as abandoned, the position set to the broker's.
    release.send(()).unwrap();
    holder.await.unwrap();
    let (leader, _) = setup
        .new_holder(Some("a-leader-elsewhere"), Duration::from_secs(20))
        .await
        .unwrap();
    next_run(&journal, None, Duration::from_secs(30))
        .await
        .unwrap();
    let order = journal.order(&id).await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Rejected, "{order:?}");
    assert!(
        order
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("abandoned")),
        "{order:?}"
    );
    let corrections = journal.events(Some("position_corrected")).await.unwrap();
    assert!(
        corrections
            .iter()
            .any(|e| e.message.starts_with("MSFT: journal had 7 units")),
        "{leader} did not correct the position: {corrections:?}"
    );
    setup.teardown(pods).await.unwrap();
}

/// Waits until the config the operator rendered for the pods says `text`.
async fn rendered_config_says(setup: &FailoverRig, text: &str) {
    let secrets: Api<Secret> = setup.namespace.api();
    let says = |secret: Option<&Secret>| {
        secret
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get("config.yaml"))
            .is_some_and(|b| String::from_utf8_lossy(&b.0).contains(text))
    };
    let what = format!("the rendered config to say {text}");
    let name = format!("{STRATEGY}-config");
    wait_for(&secrets, &name, &what, Duration::from_secs(30), says)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_released_lease_and_a_switchover_are_taken_at_once_not_at_the_next_retry_period() {
    let setup = setup("failover-watch").await;
    // The replicas look at the Lease only once a minute: only its watch, and the look a
    // replica takes when it becomes ready, can make the first leader, a handover and a
    // switchover quick.
    let strategies: Api<tradeplane_operator::api::TradingStrategy> = setup.namespace.api();
    let failover = json!({"spec": {"failover": {
        "leaseDurationSeconds": 120, "renewDeadlineSeconds": 90, "retryPeriodSeconds": 60}}});
    strategies
        .patch(
            STRATEGY,
            &PatchParams::default(),
            &kube::api::Patch::Merge(failover),
        )
        .await
        .unwrap();
    rendered_config_says(&setup, "retryPeriodSeconds: 60").await;
    let mut pods = setup.start_pods().await.unwrap();
    let (leader, first) = setup
        .new_holder(None, Duration::from_secs(20))
        .await
        .unwrap();
    println!("first leader after {first:?}");
    for pod in &pods {
        pod.wait_ready(Duration::from_secs(20)).await.unwrap();
    }

    // A graceful handover.
    by_name(&mut pods, &leader).unwrap().signal("TERM").unwrap();
    let (standby, handover) = setup
        .new_holder(Some(&leader), Duration::from_secs(10))
        .await
        .unwrap();
    println!("handover with a 60-s retry period took {handover:?}");
    assert!(
        handover <= Duration::from_millis(1500),
        "the standby took the released Lease after {handover:?}"
    );
    let terminated = by_name(&mut pods, &leader).unwrap();
    terminated.wait().await.unwrap();
    terminated.restart(&setup.binary).unwrap();
    terminated
        .wait_ready(Duration::from_secs(20))
        .await
        .unwrap();

    // A switchover: the leader hears of it from the watch, not at its next renewal.
    strategies
        .patch(
            STRATEGY,
            &PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"switchoverAt": "2026-12-02T04:00:00Z"}})),
        )
        .await
        .unwrap();
    let asked = Instant::now();
    let (after, _) = setup
        .new_holder(Some(&standby), Duration::from_secs(30))
        .await
        .unwrap();
    let switched = asked.elapsed();
    println!("switchover with a 60-s retry period took {switched:?}");
    assert_eq!(
        after, leader,
        "the Lease went to a pod that is not the standby"
    );
    assert!(
        switched <= Duration::from_secs(5),
        "the switchover took {switched:?}"
    );
    setup.teardown(pods).await.unwrap();
}

/// A position changed at the broker outside the runtime (a trade by hand, say) is found at the
/// leader's next cycle: the journal is corrected to the broker's, the correction journalled and
/// counted, and a `PositionCorrected` Warning Event names the strategy — created by the runtime
/// with its own ServiceAccount, whose Role allows creating Events and nothing more.
#[tokio::test]
async fn a_position_changed_outside_the_runtime_is_corrected_counted_and_raised_as_a_warning() {
    let rig = setup("tp-drift").await;
    let (mut pods, journal, leader) = rig.start_trading().await.unwrap();
    // A symbol the strategy does not trade: no order of its own can be working on it.
    rig.broker.set_position("NVDA", 7.0, 120.0);

    let started = Instant::now();
    let corrected = loop {
        let events = journal.events(Some("position_corrected")).await.unwrap();
        if let Some(event) = events.into_iter().find(|e| e.message.starts_with("NVDA:")) {
            break event;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no position_corrected event for NVDA within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        corrected.cycle_id.is_some(),
        "found by a cycle: {corrected:?}"
    );
    assert!(corrected.message.contains("broker has 7"), "{corrected:?}");
    let nvda = journal.positions().await.unwrap();
    let nvda = nvda
        .iter()
        .find(|p| p.symbol == "NVDA")
        .expect("NVDA journalled");
    assert_eq!((nvda.quantity, nvda.average_price), (7.0, 120.0));

    let pod = by_name(&mut pods, &leader).unwrap();
    let counted = pod
        .metric("tradeplane_position_corrections_total", "symbol=\"NVDA\"")
        .await;
    assert_eq!(counted, 1.0, "{}", pod.log());

    let events: Api<Event> = rig.namespace.api();
    let started = Instant::now();
    let warning = loop {
        let found = events
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("PositionCorrected"));
        if let Some(event) = found {
            break event;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no PositionCorrected Event within 15 s; the leader's log:\n{}",
            pod.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let regarding = warning.regarding.clone().unwrap_or_default();
    assert_eq!(
        (regarding.kind.as_deref(), regarding.name.as_deref()),
        (Some("TradingStrategy"), Some(STRATEGY))
    );
    assert_eq!(
        warning.reporting_controller.as_deref(),
        Some("tradeplane.io/agent-runtime")
    );
    assert!(
        warning
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("NVDA: journal had 0 units, broker has 7"),
        "{warning:?}"
    );
    // Once corrected, the next cycles find nothing more to correct.
    next_run(
        &journal,
        last_id(&journal).await.as_deref(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(
        journal
            .events(Some("position_corrected"))
            .await
            .unwrap()
            .iter()
            .filter(|e| e.message.starts_with("NVDA:"))
            .count(),
        1
    );
    rig.teardown(pods).await.unwrap();
}
