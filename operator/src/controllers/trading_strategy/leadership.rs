//! Who leads a strategy's replicas, read from its Lease: `status.leader`, the `FailingOver`
//! condition and the Event on a change of leader.
//!
//! The runtime writes the Lease's spec (holder, renew time, duration); the operator only
//! reads it. Reading is pure here; [`LeaseHistory`] remembers, from the Lease watch, when each
//! holder last renewed, because by the time a new leader is seen the Lease no longer says when
//! the old one stopped — and that is how long nobody led.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::api::trading_strategy::TradingStrategy;

/// How the Lease stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leadership {
    /// `holder` renewed in time; the Lease runs out at `expires` unless renewed again.
    Led {
        holder: String,
        acquired: Option<Timestamp>,
        expires: Timestamp,
    },
    /// `holder` stopped renewing: the Lease ran out at `expired` and nobody took it over.
    Expired { holder: String, expired: Timestamp },
    /// Nobody holds the Lease (never taken, or released).
    Vacant,
}

/// The runtime's default lease duration, for a Lease that names a holder but no duration.
const DEFAULT_LEASE_SECONDS: i32 = 4;

/// Reads the Lease's spec as of `now`.
pub fn leadership(lease: Option<&Lease>, now: Timestamp) -> Leadership {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return Leadership::Vacant;
    };
    let Some(holder) = spec.holder_identity.clone().filter(|h| !h.is_empty()) else {
        return Leadership::Vacant;
    };
    let acquired = spec.acquire_time.as_ref().map(|t| t.0);
    let Some(renewed) = spec.renew_time.as_ref().map(|t| t.0).or(acquired) else {
        // A holder that never said when it renewed cannot be judged alive.
        return Leadership::Expired {
            holder,
            expired: Timestamp::UNIX_EPOCH,
        };
    };
    let duration = spec.lease_duration_seconds.unwrap_or(DEFAULT_LEASE_SECONDS);
    let expires = renewed
        .checked_add(SignedDuration::from_secs(i64::from(duration)))
        .unwrap_or(renewed);
    if expires <= now {
        Leadership::Expired {
            holder,
            expired: expires,
        }
    } else {
        Leadership::Led {
            holder,
            acquired,
            expires,
        }
    }
}

impl Leadership {
    /// The pod that leads now, for `status.leader`.
    pub fn leader(&self) -> Option<&str> {
        match self {
            Self::Led { holder, .. } => Some(holder),
            _ => None,
        }
    }

    /// `FailingOver` (status, reason, message): true while nobody leads.
    pub fn failing_over(&self) -> (bool, &'static str, String) {
        match self {
            Self::Led { holder, .. } => (false, "LeaderElected", format!("pod {holder} leads")),
            Self::Expired { holder, expired } => (
                true,
                "LeaseExpired",
                format!(
                    "the Lease of pod {holder} ran out at {expired} and no standby has taken it over"
                ),
            ),
            Self::Vacant => (
                true,
                "NoLeader",
                "no runtime pod holds the leader Lease".to_string(),
            ),
        }
    }
}

/// A change of leader, for its Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderChange {
    pub from: Option<String>,
    pub to: String,
    /// From the old leader's last renewal to the new one's acquisition, when both are known.
    pub gap: Option<SignedDuration>,
}

impl LeaderChange {
    /// The Event's note.
    pub fn note(&self) -> String {
        let Some(from) = &self.from else {
            return format!("pod {} leads (no earlier leader seen)", self.to);
        };
        let gap = self.gap.map_or_else(
            || "for a time the operator did not see".to_string(),
            |gap| format!("for {:.1} s", gap.as_secs_f64().max(0.0)),
        );
        format!(
            "leader changed from pod {from} to pod {}; nobody led {gap}",
            self.to
        )
    }
}

/// The change from the leader the status names (or, when it names none because the Lease
/// ran out in between, the last holder `history` saw) to the one leading now.
pub fn change(
    previous_leader: Option<&str>,
    now: &Leadership,
    history: Option<&HolderRecord>,
) -> Option<LeaderChange> {
    let Leadership::Led {
        holder, acquired, ..
    } = now
    else {
        return None;
    };
    if previous_leader == Some(holder.as_str()) {
        return None;
    }
    let before = history.and_then(|h| h.before.as_ref());
    let from = previous_leader
        .map(str::to_string)
        .or_else(|| before.map(|b| b.holder.clone()));
    let last_renewed = before
        .filter(|b| Some(&b.holder) == from.as_ref())
        .map(|b| b.renewed);
    let gap = match (last_renewed, acquired) {
        (Some(renewed), Some(acquired)) => Some(acquired.duration_since(renewed)),
        _ => None,
    };
    Some(LeaderChange {
        from,
        to: holder.clone(),
        gap,
    })
}

/// A holder and when it last renewed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub holder: String,
    pub renewed: Timestamp,
}

/// What the watch saw of one Lease: its holder now and the holder before it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HolderRecord {
    pub last: Option<Held>,
    pub before: Option<Held>,
}

impl HolderRecord {
    fn observe(&mut self, lease: &Lease) {
        let Some(spec) = &lease.spec else { return };
        let Some(holder) = spec.holder_identity.as_ref().filter(|h| !h.is_empty()) else {
            return;
        };
        let Some(renewed) = spec
            .renew_time
            .as_ref()
            .or(spec.acquire_time.as_ref())
            .map(|t| t.0)
        else {
            return;
        };
        match &mut self.last {
            Some(last) if &last.holder == holder => last.renewed = renewed,
            _ => {
                self.before = self.last.take();
                self.last = Some(Held {
                    holder: holder.clone(),
                    renewed,
                });
            }
        }
    }
}

/// Every Lease's [`HolderRecord`], by (namespace, name); fed by the Lease watch, read by the
/// reconcile. In memory: after an operator restart the first change's gap is unknown.
#[derive(Clone, Default)]
pub struct LeaseHistory {
    records: Arc<Mutex<HashMap<(String, String), HolderRecord>>>,
}

impl LeaseHistory {
    /// Records what a watch event shows.
    pub fn observe(&self, event: &watcher::Event<Lease>) {
        let (watcher::Event::Apply(lease) | watcher::Event::InitApply(lease)) = event else {
            return;
        };
        let key = (
            lease.metadata.namespace.clone().unwrap_or_default(),
            lease.metadata.name.clone().unwrap_or_default(),
        );
        if let Ok(mut records) = self.records.lock() {
            records.entry(key).or_default().observe(lease);
        }
    }

    /// The record of the Lease `name` in `namespace`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<HolderRecord> {
        let records = self.records.lock().ok()?;
        records
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }
}

/// A Lease by (namespace, name).
type LeaseKey = (Option<String>, String);

/// How often [`expiries`] looks at the watched Leases.
const EXPIRY_TICK: Duration = Duration::from_millis(500);

/// The strategies whose Lease ran out since the last look, every [`EXPIRY_TICK`]. A dying
/// leader writes nothing, so no watch event says its Lease ran out; this looks at the watched
/// copies in memory instead (no request to the API server), so `FailingOver` appears within
/// half a second of the expiry while a healthy leader's renewals wake nothing.
/// `owner` names the strategy a Lease belongs to.
pub fn expiries(
    leases: Store<Lease>,
    owner: impl Fn(&Lease) -> Option<String> + Send + Sync + 'static,
) -> impl Stream<Item = ObjectRef<TradingStrategy>> + Send {
    let owner = Arc::new(owner);
    let interval = tokio::time::interval(EXPIRY_TICK);
    futures::stream::unfold(
        (interval, HashSet::new()),
        move |(mut interval, expired)| {
            let (leases, owner) = (leases.clone(), owner.clone());
            async move {
                interval.tick().await;
                let (due, expired) =
                    newly_expired(&leases.state(), &expired, &*owner, Timestamp::now());
                Some((futures::stream::iter(due), (interval, expired)))
            }
        },
    )
    .flatten()
}

/// The owners of the Leases expired at `now` that were not in `before`, and the keys of all
/// expired ones.
pub fn newly_expired(
    leases: &[Arc<Lease>],
    before: &HashSet<LeaseKey>,
    owner: &dyn Fn(&Lease) -> Option<String>,
    now: Timestamp,
) -> (Vec<ObjectRef<TradingStrategy>>, HashSet<LeaseKey>) {
    let mut due = Vec::new();
    let mut expired = HashSet::new();
    for lease in leases {
        if !matches!(leadership(Some(lease), now), Leadership::Expired { .. }) {
            continue;
        }
        let key = (lease.namespace(), lease.name_any());
        if !before.contains(&key)
            && let (Some(namespace), Some(strategy)) = (&key.0, owner(lease))
        {
            due.push(ObjectRef::new(&strategy).within(namespace));
        }
        expired.insert(key);
    }
    (due, expired)
}
