//! Leader election through the strategy's `coordination.k8s.io` Lease.
//!
//! One loop per process ([`LeaseLeadership::run`]): the holder renews the Lease every retry
//! period; a standby sends nothing at all while the holder is alive. It holds a watch on the
//! one Lease (a field selector on its name) and learns every renewal, release and switchover
//! request from it; a ready standby takes the Lease once the holder has not renewed for a
//! whole lease duration, or at once when the holder released it. Optimistic concurrency
//! arbitrates: every write carries the resourceVersion last seen, and a 409 means someone
//! else wrote first — the writer then reads the Lease once to learn what changed.
//!
//! So a strategy costs the API server its leader's renewals (one PUT per retry period), its
//! status writes ([`crate::status_report`]), and one watch request per replica every few
//! minutes — whatever its replica count.
//!
//! Fencing, by this process's monotonic clock alone (never by timestamps in the Lease, which
//! come from other machines' clocks):
//! - a leader may place an order only until `renew deadline` after it *sent* its last
//!   successful renewal;
//! - a standby may take over only after it has seen the Lease unchanged for `lease duration`,
//!   counted from when it *observed* the last renewal (the watch event's arrival, or the read).
//!
//! A renewal is observed after it was sent, and the renew deadline is shorter than the lease
//! duration, so the old leader has stopped before the new one starts — even if it was frozen
//! (SIGSTOP, a long GC pause, a suspended VM) and wakes up later: its first check then finds
//! the deadline passed, and it steps down. A watch that lags or broke only delays what the
//! standby observes, which delays a takeover, never hastens one; and a standby acting on a
//! stale view writes with a stale resourceVersion, which the API server refuses.
//!
//! A switchover: the operator writes `spec.switchoverAt` onto the Lease as an annotation; the
//! leader, seeing a value it has not handled, releases the Lease and stays out of it for a
//! lease duration, so a standby takes over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use tokio::sync::{Notify, watch};
use tradeplane_contract::config::LeaderElectionConfig;
use tradeplane_contract::status::{RUNTIME_FIELD_MANAGER, SWITCHOVER_ANNOTATION};

use super::Leadership;

/// The server ends a Lease watch after this long (the API server's ceiling is 295 s); it is
/// then opened again from the last resourceVersion seen.
const WATCH_TIMEOUT_SECONDS: u32 = 290;

/// The three durations of the protocol (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimings {
    pub duration: Duration,
    pub renew_deadline: Duration,
    pub retry: Duration,
}

impl LeaseTimings {
    pub fn from_config(config: &LeaderElectionConfig) -> Self {
        Self {
            duration: Duration::from_secs(config.lease_duration_seconds.into()),
            renew_deadline: Duration::from_secs(config.renew_deadline_seconds.into()),
            retry: Duration::from_secs(config.retry_period_seconds.into()),
        }
    }
}

/// This process's part in the election, as the trader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Standby,
    /// Leading since the Lease's transition count was `epoch`.
    Leader {
        epoch: i32,
    },
}

/// The Lease as last seen, and when — by this process's clock — its holder or renew time
/// last changed.
#[derive(Debug)]
struct Observed {
    lease: Lease,
    holder: Option<String>,
    renewed: Option<String>,
    changed_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    /// When the last successful renewal (or acquisition) was sent, while leading.
    renewed_at: Option<Instant>,
    epoch: Option<i32>,
    observed: Option<Observed>,
    /// When the Lease was last read because nothing had been observed of it (no watch event
    /// yet: the Lease does not exist, or the watch cannot be opened).
    read_at: Option<Instant>,
    /// The switchover annotation's value already handled: the one seen first, the one found on
    /// acquiring the Lease, or the one acted on.
    switchover_seen: Option<Option<String>>,
    /// After handing over, the Lease is not taken back before this.
    hold_off_until: Option<Instant>,
}

pub struct LeaseLeadership {
    api: Api<Lease>,
    /// For the watch only: a client whose reads may stay silent for as long as the Lease does.
    watch_api: Api<Lease>,
    name: String,
    identity: String,
    timings: LeaseTimings,
    /// Only a ready replica (reconciled with its broker, config loaded) takes the Lease.
    ready: AtomicBool,
    state: Mutex<State>,
    role: watch::Sender<Role>,
    /// Makes the loop look at the Lease now rather than at its next timer: this replica became
    /// ready, or the watch showed the Lease released or a switchover requested.
    wake: Arc<Notify>,
}

impl LeaseLeadership {
    /// `client` bounds every request (renewals must fail fast); `watch_client` must let a
    /// watch stay quiet for minutes ([`crate::cluster::connect_for_watches`]).
    pub fn new(
        client: kube::Client,
        watch_client: kube::Client,
        namespace: &str,
        config: &LeaderElectionConfig,
        identity: &str,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            watch_api: Api::namespaced(watch_client, namespace),
            name: config.lease_name.clone(),
            identity: identity.to_string(),
            timings: LeaseTimings::from_config(config),
            ready: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            role: watch::channel(Role::Standby).0,
            wake: Arc::new(Notify::new()),
        }
    }

    /// This process's name in the Lease.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn timings(&self) -> LeaseTimings {
        self.timings
    }

    /// Marks this replica ready (or not) to lead.
    pub fn set_ready(&self, ready: bool) {
        let was = self.ready.swap(ready, Ordering::SeqCst);
        if ready && !was {
            self.wake.notify_one();
        }
    }

    /// Changes of this process's role.
    pub fn subscribe(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// Watches the Lease and takes part in the election until `stop`.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        let electing = async {
            loop {
                self.tick().await;
                let next = self.next_look(Instant::now());
                tokio::select! {
                    _ = tokio::time::sleep(next) => {}
                    _ = self.wake.notified() => {}
                    _ = stop.wait_for(|stop| *stop) => break,
                }
            }
        };
        tokio::select! {
            _ = self.watch_lease() => {}
            _ = electing => {}
        }
    }

    /// How long until the next look: a retry period, or less when a standby's view of the
    /// Lease runs out sooner (a takeover should not wait for a timer that is not due).
    fn next_look(&self, now: Instant) -> Duration {
        let state = self.lock();
        if state.renewed_at.is_some() {
            return self.timings.retry;
        }
        let expires = state.observed.as_ref().map(|o| {
            (o.changed_at + self.timings.duration).saturating_duration_since(now)
                + Duration::from_millis(10)
        });
        expires.map_or(self.timings.retry, |e| e.min(self.timings.retry))
    }

    /// One look at the Lease as last observed: renew, hand over, take over, or wait. Sends
    /// nothing unless this process leads or takes over.
    pub async fn tick(&self) {
        let started = Instant::now();
        let Some((lease, expired)) = self.current(started).await else {
            return self.enforce_deadline();
        };
        let holder = holder(&lease).map(str::to_string);
        let ours = holder.as_deref() == Some(self.identity.as_str());
        if ours && self.holding() {
            if self.switchover_requested(&lease) {
                self.hand_over().await;
            } else {
                self.renew(lease, started).await;
            }
        } else if (holder.is_none() || expired || ours) && self.may_acquire(started) {
            // `ours` but not held here: this process restarted under the same name, or
            // stepped down; it takes the Lease again as a new epoch.
            self.acquire(lease, started).await;
        }
    }

    /// The Lease as last observed and whether its holder has not renewed for a lease
    /// duration by this clock. Read from the API server only while nothing has been observed
    /// (at most once a lease duration): the watch keeps the view current.
    async fn current(&self, now: Instant) -> Option<(Lease, bool)> {
        let due = {
            let state = self.lock();
            state.observed.is_none()
                && state
                    .read_at
                    .is_none_or(|at| now.duration_since(at) >= self.timings.duration)
        };
        if due {
            self.lock().read_at = Some(now);
            self.read().await;
        }
        let state = self.lock();
        let observed = state.observed.as_ref()?;
        let expired = now.duration_since(observed.changed_at) >= self.timings.duration;
        Some((observed.lease.clone(), expired))
    }

    /// Reads the Lease and records it; `None` when it cannot be read or does not exist.
    async fn read(&self) -> Option<Lease> {
        match self.api.get_opt(&self.name).await {
            Ok(Some(lease)) => {
                self.observe(&lease, Instant::now());
                Some(lease)
            }
            Ok(None) => {
                tracing::warn!(lease = %self.name, "the Lease does not exist (the operator creates it); standing by");
                None
            }
            Err(error) => {
                tracing::warn!(lease = %self.name, %error, "cannot read the Lease");
                None
            }
        }
    }

    /// Records a version of the Lease seen at `now` (from the watch, a read or a write's
    /// response), unless a newer one was already seen.
    fn observe(&self, lease: &Lease, now: Instant) {
        let holder = holder(lease).map(str::to_string);
        let renewed = lease
            .spec
            .as_ref()
            .and_then(|spec| spec.renew_time.as_ref())
            .map(|t| t.0.to_string());
        let mut state = self.lock();
        if state.switchover_seen.is_none() {
            state.switchover_seen = Some(switchover_value(lease));
        }
        if let Some(seen) = &state.observed
            && !newer_or_same(lease, &seen.lease)
        {
            return;
        }
        let changed_at = match &state.observed {
            Some(seen) if seen.holder == holder && seen.renewed == renewed => seen.changed_at,
            _ => now,
        };
        state.observed = Some(Observed {
            lease: lease.clone(),
            holder,
            renewed,
            changed_at,
        });
    }

    fn may_acquire(&self, now: Instant) -> bool {
        let held_off = self.lock().hold_off_until.is_some_and(|until| now < until);
        self.ready.load(Ordering::SeqCst) && !held_off
    }

    /// Renews the Lease this process holds. A 409 may be a write that did not change the
    /// holder (the operator's switchover annotation): the Lease is read again and, if still
    /// held here, the renewal is sent once more on the fresh version.
    async fn renew(&self, lease: Lease, started: Instant) {
        let mut lease = lease;
        for attempt in 0..2 {
            let (body, _, _) = self.stamped(lease, false);
            match self.put(&body).await {
                Ok(written) => {
                    self.lock().renewed_at = Some(started);
                    self.observe(&written, started);
                    return;
                }
                Err(kube::Error::Api(status)) if status.code == 409 && attempt == 0 => {
                    match self.read().await {
                        Some(fresh) if holder(&fresh) == Some(self.identity.as_str()) => {
                            lease = fresh;
                        }
                        _ => break,
                    }
                }
                Err(kube::Error::Api(status)) if status.code == 409 => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot renew the Lease");
                    return self.enforce_deadline();
                }
            }
        }
        tracing::error!("another replica took the Lease; stepping down");
        self.step_down();
    }

    /// Takes the Lease. A 409 means the view was stale (or another standby won): the Lease
    /// is read once, so the next look starts from what it really is.
    async fn acquire(&self, lease: Lease, started: Instant) {
        let (body, epoch, previous) = self.stamped(lease, true);
        match self.put(&body).await {
            Ok(written) => {
                self.observe(&written, started);
                self.became_leader(started, epoch, previous, switchover_value(&written));
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                self.read().await;
            }
            Err(error) => tracing::warn!(%error, "cannot take the Lease"),
        }
    }

    /// `lease` with this process's renewal (and, when acquiring, its holding) written in;
    /// with the epoch it would lead in and the previous holder.
    fn stamped(&self, mut lease: Lease, acquire: bool) -> (Lease, i32, Option<String>) {
        let now = MicroTime(Timestamp::now());
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let previous = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if acquire {
            if previous.as_deref() != Some(self.identity.as_str()) {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(now.clone());
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds =
            Some(i32::try_from(self.timings.duration.as_secs()).unwrap_or(i32::MAX));
        let epoch = spec.lease_transitions.unwrap_or(0);
        (lease, epoch, previous)
    }

    /// Writes `lease` whole, on the resourceVersion it carries.
    async fn put(&self, lease: &Lease) -> Result<Lease, kube::Error> {
        let params = PostParams {
            field_manager: Some(RUNTIME_FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        self.api.replace(&self.name, &params, lease).await
    }

    /// `switchover` is the annotation's value now: a switchover requested before this
    /// process led is done (it is why this process leads), so only a newer one hands over.
    fn became_leader(
        &self,
        started: Instant,
        epoch: i32,
        previous: Option<String>,
        switchover: Option<String>,
    ) {
        {
            let mut state = self.lock();
            state.renewed_at = Some(started);
            state.epoch = Some(epoch);
            state.hold_off_until = None;
            state.switchover_seen = Some(switchover);
        }
        tracing::info!(epoch, previous = previous.as_deref().unwrap_or(""), identity = %self.identity, "took the Lease: leading");
        self.role.send_replace(Role::Leader { epoch });
    }

    /// Whether this process believes it leads (see [`Leadership::is_leader`] for the check
    /// that counts).
    fn holding(&self) -> bool {
        self.lock().renewed_at.is_some()
    }

    /// Steps down when the renew deadline has passed without a successful renewal.
    fn enforce_deadline(&self) {
        let passed = self
            .lock()
            .renewed_at
            .is_some_and(|at| at.elapsed() >= self.timings.renew_deadline);
        if passed {
            tracing::error!("could not renew the Lease before the renew deadline; stepping down");
            self.step_down();
        }
    }

    fn switchover_requested(&self, lease: &Lease) -> bool {
        let value = switchover_value(lease);
        self.lock().switchover_seen.as_ref() != Some(&value)
    }

    /// Releases the Lease for a standby, and stays out of it for a lease duration.
    async fn hand_over(&self) {
        tracing::info!("switchover requested: handing the Lease over");
        self.release_lease().await;
        self.lock().hold_off_until = Some(Instant::now() + self.timings.duration);
    }

    /// Stops leading here, then clears the holder if it is still this process.
    async fn release_lease(&self) {
        let was_leading = self.holding();
        self.step_down();
        if !was_leading {
            return;
        }
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        self.lock().switchover_seen = Some(switchover_value(&lease));
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match self.put(&lease).await {
            Ok(written) => {
                self.observe(&written, Instant::now());
                tracing::info!("released the Lease");
            }
            Err(error) => {
                tracing::warn!(%error, "could not release the Lease; a standby takes it when it expires")
            }
        }
    }

    /// Keeps the view of the Lease current from a watch on it alone, and wakes the election
    /// loop when the Lease shows no holder or a switchover value not shown before. A watch
    /// that ends (the server's timeout, a dropped connection) is opened again from the last
    /// resourceVersion seen, so nothing is listed again; only when the server no longer has
    /// that version (410 Gone) does it start over from the current object.
    async fn watch_lease(&self) {
        let params = WatchParams::default()
            .fields(&format!("metadata.name={}", self.name))
            .timeout(WATCH_TIMEOUT_SECONDS);
        let mut version = "0".to_string();
        let mut switchover: Option<Option<String>> = None;
        loop {
            let opened = Instant::now();
            match self.watch_api.watch(&params, &version).await {
                Ok(events) => {
                    let mut events = std::pin::pin!(events);
                    while let Some(event) = events.next().await {
                        match event {
                            Ok(WatchEvent::Added(lease) | WatchEvent::Modified(lease)) => {
                                remember_version(&mut version, &lease);
                                self.observe(&lease, Instant::now());
                                let requested = Some(switchover_value(&lease));
                                let new_request = switchover.is_some() && switchover != requested;
                                switchover = requested;
                                if holder(&lease).is_none() || new_request {
                                    self.wake.notify_one();
                                }
                            }
                            Ok(WatchEvent::Deleted(lease)) => {
                                remember_version(&mut version, &lease);
                                self.lock().observed = None;
                            }
                            Ok(WatchEvent::Bookmark(bookmark)) => {
                                version = bookmark.metadata.resource_version;
                            }
                            Ok(WatchEvent::Error(status)) => {
                                if status.code == 410 {
                                    version = "0".into();
                                }
                                tracing::debug!(message = %status.message, "the Lease watch ended");
                                break;
                            }
                            Err(error) => {
                                tracing::debug!(%error, "the Lease watch ended");
                                break;
                            }
                        }
                    }
                }
                Err(error) => {
                    if matches!(&error, kube::Error::Api(status) if status.code == 410) {
                        version = "0".into();
                    }
                    tracing::debug!(%error, "cannot watch the Lease");
                }
            }
            // A watch that failed straight away waits a retry period before the next.
            if opened.elapsed() < Duration::from_secs(1) {
                tokio::time::sleep(self.timings.retry).await;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn remember_version(version: &mut String, lease: &Lease) {
    if let Some(seen) = &lease.metadata.resource_version {
        version.clone_from(seen);
    }
}

/// Whether `candidate` is the same version as `seen` or a later one. resourceVersions are
/// opaque by contract, but every API server issues them as etcd revisions (increasing
/// integers); should one not parse, the later arrival is taken — a stale view then costs a
/// refused write, never a wrong one.
fn newer_or_same(candidate: &Lease, seen: &Lease) -> bool {
    let version = |lease: &Lease| {
        lease
            .metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    match (version(candidate), version(seen)) {
        (Some(candidate), Some(seen)) => candidate >= seen,
        _ => true,
    }
}

/// Who holds `lease`; `None` when nobody does.
fn holder(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()
        .and_then(|spec| spec.holder_identity.as_deref())
        .filter(|h| !h.is_empty())
}

impl Leadership for LeaseLeadership {
    fn is_leader(&self) -> BoxFuture<'_, bool> {
        let valid = self
            .lock()
            .renewed_at
            .is_some_and(|at| at.elapsed() < self.timings.renew_deadline);
        if !valid && self.holding() {
            tracing::error!("the Lease is past its renew deadline by this clock; stepping down");
            self.step_down();
        }
        futures::future::ready(valid).boxed()
    }

    fn epoch(&self) -> Option<i32> {
        self.lock().epoch
    }

    fn step_down(&self) {
        let was = {
            let mut state = self.lock();
            let was = state.renewed_at.take().is_some();
            state.epoch = None;
            was
        };
        if was {
            self.role.send_replace(Role::Standby);
        }
    }

    fn release(&self) -> BoxFuture<'_, ()> {
        self.release_lease().boxed()
    }
}

fn switchover_value(lease: &Lease) -> Option<String> {
    lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SWITCHOVER_ANNOTATION).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn at_version(version: &str) -> Lease {
        Lease {
            metadata: ObjectMeta {
                resource_version: Some(version.into()),
                ..ObjectMeta::default()
            },
            ..Lease::default()
        }
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_view() {
        assert!(newer_or_same(&at_version("12"), &at_version("9")));
        assert!(newer_or_same(&at_version("9"), &at_version("9")));
        // Compared as numbers, not as text ("9" > "12" as text).
        assert!(!newer_or_same(&at_version("9"), &at_version("12")));
        // Opaque versions: the later arrival wins.
        assert!(newer_or_same(&at_version("abc"), &at_version("12")));
    }
}
