//! Reading the leader Lease: led, expired, vacant; changes of leader and the gap between.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::watcher;
use serde_json::json;

use super::leadership::{Leadership, LeaseHistory, change, leadership};
use super::status::{self, FAILING_OVER, UPGRADE_PENDING, Workload};
use super::upgrade::Pending;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn lease(holder: &str, acquired: i64, renewed: i64) -> Lease {
    serde_json::from_value(json!({
        "metadata": {"name": "momo-leader", "namespace": "desk"},
        "spec": {
            "holderIdentity": holder,
            "acquireTime": at(acquired).to_string(),
            "renewTime": at(renewed).to_string(),
            "leaseDurationSeconds": 4,
        },
    }))
    .unwrap()
}

#[test]
fn a_lease_is_led_until_renew_plus_duration_then_expired() {
    let live = lease("pod-a", 0, 10);
    assert_eq!(
        leadership(Some(&live), at(13)),
        Leadership::Led {
            holder: "pod-a".into(),
            acquired: Some(at(0)),
            expires: at(14),
        }
    );
    assert_eq!(
        leadership(Some(&live), at(14)),
        Leadership::Expired {
            holder: "pod-a".into(),
            expired: at(14),
        }
    );
    assert_eq!(leadership(None, at(0)), Leadership::Vacant);
    assert_eq!(
        leadership(Some(&lease("", 0, 10)), at(11)),
        Leadership::Vacant
    );
    let (failing, reason, _) = leadership(Some(&live), at(20)).failing_over();
    assert!(failing);
    assert_eq!(reason, "LeaseExpired");
    assert_eq!(Leadership::Vacant.failing_over().1, "NoLeader");
    assert!(!leadership(Some(&live), at(11)).failing_over().0);
}

#[test]
fn a_new_leader_after_a_vacancy_is_named_with_the_old_one_and_the_gap() {
    let history = LeaseHistory::default();
    history.observe(&watcher::Event::Apply(lease("pod-a", 0, 10)));
    history.observe(&watcher::Event::Apply(lease("pod-a", 0, 12)));
    // Released on SIGTERM: no holder, which the history skips.
    history.observe(&watcher::Event::Apply(lease("", 0, 12)));
    let new = lease("pod-b", 15, 15);
    history.observe(&watcher::Event::Apply(new.clone()));
    let record = history.get("desk", "momo-leader");
    let now = leadership(Some(&new), at(15));

    // The status had gone empty in between: the history names the old leader.
    let seen = change(None, &now, record.as_ref()).unwrap();
    assert_eq!(seen.from.as_deref(), Some("pod-a"));
    assert_eq!(seen.to, "pod-b");
    assert_eq!(seen.gap, Some(SignedDuration::from_secs(3)));
    assert_eq!(
        seen.note(),
        "leader changed from pod pod-a to pod pod-b; nobody led for 3.0 s"
    );
    // The status still named the old leader: the same change.
    assert_eq!(change(Some("pod-a"), &now, record.as_ref()), Some(seen));
    // No change when the status already names the holder, or nobody leads.
    assert_eq!(change(Some("pod-b"), &now, record.as_ref()), None);
    assert_eq!(change(Some("pod-a"), &Leadership::Vacant, None), None);
    // After an operator restart the gap is unknown, and said to be.
    let unknown = change(Some("pod-a"), &now, None).unwrap();
    assert_eq!(unknown.gap, None);
    assert!(unknown.note().contains("did not see"));
}

#[test]
fn status_names_the_leader_says_failing_over_and_records_a_switchover_once_it_moved() {
    let trader = Workload::Trader {
        desired: 2,
        ready: 2,
        updated: 2,
        current: true,
    };
    let led = leadership(Some(&lease("pod-b", 15, 15)), at(16));
    let (status, _) = status::compute(
        &status::Observation {
            workload: trader.clone(),
            leadership: Some(led),
            leader_changed: true,
            switchover_at: Some("s1".into()),
            ..status::Observation::default()
        },
        at(16),
    );
    assert_eq!(status.leader.as_deref(), Some("pod-b"));
    assert_eq!(status.last_switchover_at.as_deref(), Some("s1"));
    let failing = |status: &crate::api::trading_strategy::TradingStrategyStatus| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == FAILING_OVER)
            .map(|c| c.status.clone())
    };
    assert_eq!(failing(&status).as_deref(), Some("False"));

    // The switchover asked for, the leader not moved yet: not recorded.
    let (waiting, _) = status::compute(
        &status::Observation {
            workload: trader.clone(),
            leadership: Some(leadership(Some(&lease("pod-b", 15, 15)), at(30))),
            switchover_at: Some("s2".into()),
            previous: Some(&status),
            ..status::Observation::default()
        },
        at(30),
    );
    assert_eq!(waiting.leader, None);
    assert_eq!(waiting.last_switchover_at.as_deref(), Some("s1"));
    assert_eq!(failing(&waiting).as_deref(), Some("True"));
}

#[test]
fn a_waiting_revision_is_upgrade_pending_and_keeps_restart_and_force_unhandled() {
    let (status, _) = status::compute(
        &status::Observation {
            workload: Workload::Trader {
                desired: 1,
                ready: 1,
                updated: 1,
                current: true,
            },
            desired_revision: Some("new".into()),
            applied_revision: Some("old".into()),
            pending: Some(Pending {
                revision: "new".into(),
                until: None,
                message: "revision new waits".into(),
                reason: super::upgrade::OUTSIDE_WINDOW,
            }),
            restart_at: Some("r1".into()),
            force_at: Some("f0".into()),
            ..status::Observation::default()
        },
        at(0),
    );
    let pending = status
        .conditions
        .iter()
        .find(|c| c.type_ == UPGRADE_PENDING)
        .unwrap();
    assert_eq!(pending.status, "True");
    assert_eq!(pending.reason, "OutsideMaintenanceWindow");
    assert_eq!(status.current_revision.as_deref(), Some("old"));
    assert_eq!(status.desired_revision.as_deref(), Some("new"));
    assert_eq!(status.last_restart_at, None);
    assert_eq!(status.last_forced_upgrade_at, None);
}

#[test]
fn a_lease_that_runs_out_wakes_its_strategy_once() {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::leadership::newly_expired;

    let leases = vec![Arc::new(lease("pod-a", 0, 10))];
    let owner = |_: &Lease| Some("momo".to_string());
    // Renewed in time: nothing to do.
    let (due, expired) = newly_expired(&leases, &HashSet::new(), &owner, at(13));
    assert!(due.is_empty() && expired.is_empty());
    // Ran out: its strategy, once.
    let (due, expired) = newly_expired(&leases, &expired, &owner, at(14));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].name, "momo");
    assert_eq!(due[0].namespace.as_deref(), Some("desk"));
    let (due, _) = newly_expired(&leases, &expired, &owner, at(15));
    assert!(due.is_empty());
}
