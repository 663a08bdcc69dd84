//! Who leads a hot-standby strategy, as the operator shows it, against the real control plane.
//!
//! kwok runs no process in the pods, so this test plays the runtime's part exactly as the
//! runtime does it: it writes the Lease's spec (holder, renewals, a handover) and the
//! runtime's status fields by server-side apply on the status subresource, both under the
//! runtime's field manager. The operator must keep those status fields, name the leader,
//! pass a switchover to the leader through the Lease, report the change with an Event, and
//! say `FailingOver` soon after the leader stops renewing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::time::{Duration, Instant};

use e2e::conditions::{condition, has_condition};
use e2e::{TestNamespace, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tradeplane_contract::status::{RUNTIME_FIELD_MANAGER, RuntimeStatus, SWITCHOVER_ANNOTATION};
use tradeplane_operator::api::TradingStrategy;

const WAIT: Duration = Duration::from_secs(60);

/// Writes the Lease's spec as the runtime does: a read, then an update of the whole object
/// under the runtime's field manager (the operator's metadata rides along untouched).
async fn write_lease(leases: &Api<Lease>, holder: &str, acquired: Timestamp, transitions: i32) {
    let params = PostParams {
        field_manager: Some(RUNTIME_FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    loop {
        let mut lease = leases.get("ha-leader").await.unwrap();
        let spec = lease.spec.get_or_insert_default();
        spec.holder_identity = Some(holder.to_string());
        spec.acquire_time = Some(MicroTime(acquired));
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        spec.lease_duration_seconds = Some(4);
        spec.lease_transitions = Some(transitions);
        match leases.replace("ha-leader", &params, &lease).await {
            Ok(_) => return,
            // The operator wrote the metadata in between: read again, as the runtime would.
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(error) => panic!("Lease update: {error}"),
        }
    }
}

/// Renews the Lease for `holder` every second until dropped, like a live leader.
fn keep_renewing(
    leases: Api<Lease>,
    holder: &'static str,
    acquired: Timestamp,
    transitions: i32,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            write_lease(&leases, holder, acquired, transitions).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// The first Event with `reason` in the namespace, waiting for it a while (Events follow
/// the status write).
async fn event(namespace: &TestNamespace, reason: &str) -> Event {
    let events: Api<Event> = namespace.api();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason));
        if let Some(event) = found {
            return event;
        }
        assert!(Instant::now() < deadline, "no {reason} Event");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The sum of a counter's samples in a metrics text.
fn sum(text: &str, metric: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(metric))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn leader(strategy: Option<&TradingStrategy>) -> Option<String> {
    strategy?.status.as_ref()?.leader.clone()
}

#[tokio::test]
async fn the_operator_names_the_leader_keeps_the_runtimes_status_and_follows_a_switchover() {
    let (namespace, controller) = e2e::fixtures::strategy_controller("ts-failover")
        .await
        .unwrap();
    e2e::fixtures::hot_standby(&namespace, "ha", json!({}))
        .await
        .unwrap();
    let strategies = namespace.api::<TradingStrategy>();
    let leases = namespace.api::<Lease>();
    wait_for(
        &strategies,
        "ha",
        "FailingOver while nobody leads",
        WAIT,
        |t: Option<&TradingStrategy>| has_condition(t, "FailingOver", "True", "NoLeader"),
    )
    .await
    .unwrap();

    // Pod a takes the Lease and renews it; the operator names it.
    let a_acquired = Timestamp::now();
    let renewing = keep_renewing(leases.clone(), "ha-trader-a", a_acquired, 0);
    wait_for(
        &strategies,
        "ha",
        "pod a to lead",
        WAIT,
        |t: Option<&TradingStrategy>| {
            leader(t).as_deref() == Some("ha-trader-a")
                && condition(t, "FailingOver").is_some_and(|c| c.status == "False")
        },
    )
    .await
    .unwrap();

    // A healthy leader's renewals (one a second) wake no reconcile and write nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = controller.metrics.render();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = controller.metrics.render();
    for metric in [
        "tradeplane_operator_reconciles_total",
        "tradeplane_operator_child_writes_total",
    ] {
        assert_eq!(
            sum(&after, metric),
            sum(&before, metric),
            "{metric}:\n{after}"
        );
    }

    // The leader reports its part of the status under its own field manager.
    let reported = RuntimeStatus {
        last_cycle_time: Some("2026-12-01T20:00:00Z".into()),
        equity: Some("100250.00".into()),
        profit_and_loss: Some("+250.00 (+0.25%)".into()),
        open_positions: Some(1),
        ..RuntimeStatus::default()
    };
    strategies
        .patch_status(
            "ha",
            &PatchParams::apply(RUNTIME_FIELD_MANAGER),
            &Patch::Apply(json!({
                "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
                "status": reported,
            })),
        )
        .await
        .unwrap();

    // A switchover: a spec change the operator reconciles and passes on through the Lease.
    strategies
        .patch(
            "ha",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"switchoverAt": "2026-12-01T20:30:00Z"}})),
        )
        .await
        .unwrap();
    wait_for(
        &leases,
        "ha-leader",
        "the switchover on the Lease",
        WAIT,
        |l: Option<&Lease>| {
            l.and_then(|l| l.metadata.annotations.as_ref())
                .and_then(|a| a.get(SWITCHOVER_ANNOTATION))
                .is_some_and(|v| v == "2026-12-01T20:30:00Z")
        },
    )
    .await
    .unwrap();
    let reconciled = wait_for(
        &strategies,
        "ha",
        "the spec change observed",
        WAIT,
        |t: Option<&TradingStrategy>| {
            t.and_then(|t| t.status.as_ref()?.observed_generation)
                == t.and_then(|t| t.metadata.generation)
        },
    )
    .await
    .unwrap();
    let status = reconciled.status.unwrap();
    assert_eq!(status.equity.as_deref(), Some("100250.00"));
    assert_eq!(status.profit_and_loss.as_deref(), Some("+250.00 (+0.25%)"));
    assert_eq!(status.open_positions, Some(1));
    assert!(status.last_cycle_time.is_some());
    // Not handled until the leader moves.
    assert_eq!(status.last_switchover_at, None);

    // The leader hands over as the runtime does on a switchover: it releases, pod b takes it.
    renewing.abort();
    let _ = renewing.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut released = leases.get("ha-leader").await.unwrap();
    released.spec.get_or_insert_default().holder_identity = Some(String::new());
    leases
        .replace(
            "ha-leader",
            &PostParams {
                field_manager: Some(RUNTIME_FIELD_MANAGER.to_string()),
                ..PostParams::default()
            },
            &released,
        )
        .await
        .unwrap();
    let renewing = keep_renewing(leases.clone(), "ha-trader-b", Timestamp::now(), 1);
    let moved = wait_for(
        &strategies,
        "ha",
        "pod b to lead",
        WAIT,
        |t: Option<&TradingStrategy>| leader(t).as_deref() == Some("ha-trader-b"),
    )
    .await
    .unwrap();
    assert_eq!(
        moved.status.as_ref().unwrap().last_switchover_at.as_deref(),
        Some("2026-12-01T20:30:00Z")
    );
    let changed = event(&namespace, "LeaderChanged").await;
    assert_eq!(changed.type_.as_deref(), Some("Normal"));
    let note = changed.note.unwrap_or_default();
    assert!(
        note.starts_with("leader changed from pod ha-trader-a to pod ha-trader-b; nobody led for "),
        "{note}"
    );
    assert!(note.ends_with(" s"), "{note}");

    // Pod b dies: it stops renewing, and within the lease duration (4 s) and a little the
    // operator says nobody leads — no watch event tells it, only the Lease's expiry.
    renewing.abort();
    let _ = renewing.await;
    let stopped = Instant::now();
    wait_for(
        &strategies,
        "ha",
        "FailingOver after the Lease ran out",
        Duration::from_secs(15),
        |t: Option<&TradingStrategy>| has_condition(t, "FailingOver", "True", "LeaseExpired"),
    )
    .await
    .unwrap();
    let noticed = stopped.elapsed();
    eprintln!("FailingOver reported {noticed:?} after the last renewal stopped");
    assert!(noticed < Duration::from_secs(7), "{noticed:?}");
    let expired = event(&namespace, "LeaseExpired").await;
    assert_eq!(expired.type_.as_deref(), Some("Warning"));
    assert!(expired.note.unwrap().contains("ha-trader-b"));
    let failing = strategies.get("ha").await.unwrap();
    assert_eq!(leader(Some(&failing)), None);
    assert_eq!(failing.status.unwrap().equity.as_deref(), Some("100250.00"));
}
