//! Leader election through the strategy's `coordination.k8s.io` Lease.
//!
//! One loop per process ([`LeaseLeadership::run`]) looks at the Lease every retry period: the
//! holder renews it, a standby watches it, and a ready standby takes it once the holder has not
//! renewed for a whole lease duration, or at once when the holder released it (a watch on the
//! Lease wakes the loop for that, so a graceful handover does not wait a retry period).
//! Optimistic concurrency arbitrates: every write carries the resourceVersion just read, and a
//! 409 means another replica won.
//!
//! Fencing, by this process's monotonic clock alone (never by timestamps in the Lease, which
//! come from other machines' clocks):
//! - a leader may place an order only until `renew deadline` after it *sent* its last
//!   successful renewal;
//! - a standby may take over only after it has seen the Lease unchanged for `lease duration`,
//!   counted from when it *read* the last renewal.
//!
//! A renewal is read after it was sent, and the renew deadline is shorter than the lease
//! duration, so the old leader has stopped before the new one starts — even if it was frozen
//! (SIGSTOP, a long GC pause, a suspended VM) and wakes up later: its first check then finds
//! the deadline passed, and it steps down.
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
/// then opened again.
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

#[derive(Debug, Default)]
struct State {
    /// When the last successful renewal (or acquisition) was sent, while leading.
    renewed_at: Option<Instant>,
    epoch: Option<i32>,
    /// The holder and renew time last read, and when (by this clock) they last changed.
    observed: Option<(Option<String>, Option<String>, Instant)>,
    /// The switchover annotation's value already handled: the one seen first, the one found on
    /// acquiring the Lease, or the one acted on.
    switchover_seen: Option<Option<String>>,
    /// After handing over, the Lease is not taken back before this.
    hold_off_until: Option<Instant>,
}

pub struct LeaseLeadership {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: LeaseTimings,
    /// Only a ready replica (reconciled with its broker, config loaded) takes the Lease.
    ready: AtomicBool,
    state: Mutex<State>,
    role: watch::Sender<Role>,
    /// Makes the loop look at the Lease now rather than at the end of its retry period: this
    /// replica became ready, or a watch showed the Lease released or a switchover requested.
    wake: Arc<Notify>,
}

impl LeaseLeadership {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        config: &LeaderElectionConfig,
        identity: &str,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
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

    /// Looks at the Lease every retry period until `stop` — and at once when this replica
    /// becomes ready, or when a watch shows the Lease released or a switchover requested, so
    /// a graceful handover or a switchover is taken over in the time a watch event takes
    /// rather than up to a retry period.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        let watching = AbortOnDrop(tokio::spawn(watch_lease(
            self.api.clone(),
            self.name.clone(),
            self.timings.retry,
            self.wake.clone(),
        )));
        loop {
            self.tick().await;
            tokio::select! {
                _ = tokio::time::sleep(self.timings.retry) => {}
                _ = self.wake.notified() => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
        drop(watching);
    }

    /// One look at the Lease: renew, hand over, take over, or watch.
    pub async fn tick(&self) {
        let started = Instant::now();
        let lease = match self.api.get_opt(&self.name).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                tracing::warn!(lease = %self.name, "the Lease does not exist (the operator creates it); standing by");
                return self.enforce_deadline();
            }
            Err(error) => {
                tracing::warn!(lease = %self.name, %error, "cannot read the Lease");
                return self.enforce_deadline();
            }
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = holder(&lease).map(str::to_string);
        let expired = self.observe(&holder, &spec, &lease, started);
        let ours = holder.as_deref() == Some(self.identity.as_str());
        if ours && self.holding() {
            if self.switchover_requested(&lease) {
                self.hand_over().await;
            } else {
                self.write(lease, started, false).await;
            }
        } else if (holder.is_none() || expired || ours) && self.may_acquire(started) {
            // `ours` but not held here: this process restarted under the same name, or
            // stepped down; it takes the Lease again as a new epoch.
            self.write(lease, started, true).await;
        }
    }

    /// Records what the Lease says; returns whether its holder has not renewed for a lease
    /// duration by this process's clock.
    fn observe(
        &self,
        holder: &Option<String>,
        spec: &LeaseSpec,
        lease: &Lease,
        now: Instant,
    ) -> bool {
        let renewed = spec.renew_time.as_ref().map(|t| t.0.to_string());
        let mut state = self.lock();
        if state.switchover_seen.is_none() {
            state.switchover_seen = Some(switchover_value(lease));
        }
        let changed = match &state.observed {
            Some((h, r, _)) => h != holder || *r != renewed,
            None => true,
        };
        if changed {
            state.observed = Some((holder.clone(), renewed, now));
        }
        state
            .observed
            .as_ref()
            .is_some_and(|(_, _, at)| now.duration_since(*at) >= self.timings.duration)
    }

    fn may_acquire(&self, now: Instant) -> bool {
        let held_off = self.lock().hold_off_until.is_some_and(|until| now < until);
        self.ready.load(Ordering::SeqCst) && !held_off
    }

    /// Renews the Lease (`acquire: false`) or takes it (`true`).
    async fn write(&self, mut lease: Lease, started: Instant, acquire: bool) {
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
        let params = PostParams {
            field_manager: Some(RUNTIME_FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        match self.api.replace(&self.name, &params, &lease).await {
            Ok(written) if acquire => {
                self.became_leader(started, epoch, previous, switchover_value(&written))
            }
            Ok(_) => self.lock().renewed_at = Some(started),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                if !acquire {
                    tracing::error!("another replica took the Lease; stepping down");
                    self.step_down();
                }
            }
            Err(error) => {
                tracing::warn!(%error, acquire, "cannot write the Lease");
                self.enforce_deadline();
            }
        }
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
        let params = PostParams {
            field_manager: Some(RUNTIME_FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        match self.api.replace(&self.name, &params, &lease).await {
            Ok(_) => tracing::info!("released the Lease"),
            Err(error) => {
                tracing::warn!(%error, "could not release the Lease; a standby takes it when it expires")
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Wakes the election loop whenever a watch on the Lease shows it without a holder, or with
/// a switchover value it has not shown before. The periodic looks carry on whatever the
/// watch does, so it only ever makes a takeover sooner.
async fn watch_lease(api: Api<Lease>, name: String, retry: Duration, wake: Arc<Notify>) {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(WATCH_TIMEOUT_SECONDS);
    let mut switchover: Option<Option<String>> = None;
    loop {
        let opened = Instant::now();
        match api.watch(&params, "0").await {
            Ok(events) => {
                let mut events = std::pin::pin!(events);
                while let Some(event) = events.next().await {
                    match event {
                        Ok(WatchEvent::Added(lease) | WatchEvent::Modified(lease)) => {
                            let requested = Some(switchover_value(&lease));
                            let new_request = switchover.is_some() && switchover != requested;
                            switchover = requested;
                            if holder(&lease).is_none() || new_request {
                                wake.notify_one();
                            }
                        }
                        Ok(WatchEvent::Error(status)) => {
                            tracing::debug!(message = %status.message, "the Lease watch ended");
                            break;
                        }
                        Err(error) => {
                            tracing::debug!(%error, "the Lease watch ended");
                            break;
                        }
                        Ok(_) => {}
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "cannot watch the Lease"),
        }
        // A watch that ran a while ended normally (the client's read timeout ends one on a
        // Lease nobody writes for a few seconds): open the next at once — it starts with the
        // Lease as it is, so nothing in between is missed. One that failed straight away waits.
        if opened.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(retry).await;
        }
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

/// The watch task lives only as long as the election loop that reads its wake-ups.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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
