//! Slots nobody ran, on the live schedule: a two-replica strategy trading a live feed (the
//! Alpaca stand-in's market data API) every two seconds, through the same rig as the
//! failover tests (`e2e::failover_rig`).
//!
//! Both processes are killed and only one comes back after a gap of several slots; later the
//! leader alone is killed and the standby takes over. Over the whole run, the journal holds
//! every slot of the schedule between the first cycle and the last exactly once: run by one
//! leader, or journalled `missed` by the leader that came next. Every slot that fell while no
//! process ran at all is among the missed ones, at its exact time; a missed slot has no
//! decision, a run one no more than one per symbol, and the broker saw no client order id
//! twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::PathBuf;
use std::time::Duration;

use agent_runtime::journal::{CycleRecord, CycleStatus};
use chrono::{DateTime, Utc};
use e2e::failover_rig::{
    FailoverRig, Feed, LEASE, SYMBOLS, by_name, last_run, next_run, slots_run_twice,
};
use e2e::shared_client;

const INTERVAL: i64 = 2;

/// Waits until `count` more cycles have been run than the newest one now.
async fn runs(rig: &FailoverRig, count: usize, within: Duration) {
    let journal = rig.journal().await.unwrap();
    for _ in 0..count {
        let last = last_run(&journal).await.unwrap().map(|c| c.cycle_id);
        next_run(&journal, last.as_deref(), within).await.unwrap();
    }
}

/// The slots of the schedule strictly after `from` and strictly before `to`, computed here
/// from the interval alone: multiples of it since the epoch.
fn slots_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let first = from.timestamp().div_euclid(INTERVAL) * INTERVAL + INTERVAL;
    (first..to.timestamp() + 1)
        .step_by(INTERVAL as usize)
        .filter_map(|t| DateTime::from_timestamp(t, 0))
        .filter(|slot| *slot > from && *slot < to)
        .collect()
}

fn describe(cycles: &[CycleRecord]) -> String {
    cycles
        .iter()
        .map(|c| format!("{} {:?}", c.started_at.format("%H:%M:%S%.3f"), c.status))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn every_slot_nobody_ran_is_journalled_as_missed_and_none_is_run_twice() {
    let client = shared_client().await.unwrap();
    let admin = PathBuf::from(std::env::var("KUBECONFIG").unwrap());
    let rig = FailoverRig::start(
        &client,
        &admin,
        "missed-slots",
        Feed::Live {
            interval_seconds: INTERVAL as u32,
        },
    )
    .await
    .unwrap();
    let (mut pods, _, leader) = rig.start_trading().await.unwrap();
    runs(&rig, 2, Duration::from_secs(30)).await;

    // Everything down: nobody runs the slots until one replica comes back, a gap of several
    // slots and a Lease expiry later.
    let down_at = Utc::now();
    for pod in &pods {
        pod.signal("KILL").unwrap();
    }
    for pod in &mut pods {
        let _ = pod.wait().await;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let back_at = Utc::now();
    by_name(&mut pods, &leader)
        .unwrap()
        .restart(&rig.binary)
        .unwrap();
    runs(&rig, 2, LEASE + Duration::from_secs(20)).await;

    // The other replica back as a hot standby; then the leader alone dies and it takes over.
    let other = pods.iter().position(|p| p.name != leader).unwrap();
    pods[other].restart(&rig.binary).unwrap();
    pods[other]
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let holder = rig.holder().await.unwrap();
    by_name(&mut pods, &holder).unwrap().signal("KILL").unwrap();
    rig.new_holder(Some(&holder), LEASE + Duration::from_secs(3))
        .await
        .unwrap();
    runs(&rig, 2, Duration::from_secs(10)).await;
    for pod in &pods {
        let _ = pod.signal("TERM");
    }

    let journal = rig.journal().await.unwrap();
    let cycles = journal.cycles().await.unwrap();
    let listing = describe(&cycles);
    // Every slot from the first cycle to the last, once each, at its exact time.
    let (first, last) = (cycles[0].started_at, cycles[cycles.len() - 1].started_at);
    let mut expected = vec![first];
    expected.extend(slots_between(first, last));
    expected.push(last);
    let journalled: Vec<DateTime<Utc>> = cycles.iter().map(|c| c.started_at).collect();
    assert_eq!(
        journalled, expected,
        "the journal does not hold each slot exactly once:\n{listing}"
    );
    // The slots that fell while no process ran are missed.
    let missed: Vec<DateTime<Utc>> = cycles
        .iter()
        .filter(|c| c.status == CycleStatus::Missed)
        .map(|c| c.started_at)
        .collect();
    let while_down = slots_between(down_at, back_at);
    assert!(
        while_down.len() >= 4,
        "{while_down:?}: the gap was too short"
    );
    for slot in &while_down {
        assert!(
            missed.contains(slot),
            "slot {slot} fell while nothing ran and is not journalled missed:\n{listing}"
        );
    }
    // The standby's takeover missed slots too (the Lease had to expire first).
    let after_back: Vec<_> = missed.iter().filter(|slot| **slot > back_at).collect();
    assert!(
        !after_back.is_empty(),
        "the takeover journalled no missed slot:\n{listing}"
    );
    // A missed slot was not run by anyone; a run one by one leader only.
    for cycle in cycles.iter().filter(|c| c.status == CycleStatus::Missed) {
        let decisions = journal.decisions(&cycle.cycle_id).await.unwrap();
        assert!(
            decisions.is_empty(),
            "missed {} has decisions",
            cycle.cycle_id
        );
    }
    assert_eq!(
        slots_run_twice(&journal).await.unwrap(),
        Vec::<String>::new()
    );
    let run = cycles.len() - missed.len();
    assert!(run >= 7, "only {run} cycles were run:\n{listing}");
    let decisions = journal.decisions(&cycles[0].cycle_id).await.unwrap();
    assert_eq!(
        decisions.len(),
        SYMBOLS.len(),
        "the first cycle decided {decisions:?}"
    );
    assert!(rig.sent_twice().is_empty(), "{:?}", rig.sent_twice());
    rig.teardown(pods).await.unwrap();
}
