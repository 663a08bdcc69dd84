//! Leader election through a `coordination.k8s.io` Lease, so that two operator replicas can
//! run and only one reconciles. Optimistic concurrency does the arbitration: every write
//! carries the resourceVersion read just before, and a 409 means someone else won.
//!
//! The binary waits in [`LeaderElector::acquire`], runs the controllers while
//! [`LeaderElector::hold`] renews the Lease, and stops them when `hold` returns.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};

pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    lease_duration: Duration,
}

impl LeaderElector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        lease_duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration,
        }
    }

    pub fn renew_interval(&self) -> Duration {
        self.lease_duration / 3
    }

    /// Waits until this replica holds the Lease. `false` when `stop` fired first.
    pub async fn acquire(&self, stop: &watch::Receiver<bool>) -> bool {
        loop {
            if *stop.borrow() {
                return false;
            }
            match self.try_acquire_or_renew().await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "could not reach the leader Lease"),
            }
            let mut stop = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(self.renew_interval()) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Renews the Lease until `stop` fires or the Lease is lost — taken by another replica,
    /// or not renewed before it expired. Returns which of the two ended it.
    pub async fn hold(&self, stop: &watch::Receiver<bool>) -> Held {
        let mut last_renewal = Instant::now();
        let mut stop = stop.clone();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.renew_interval()) => {}
                _ = stop.changed() => return Held::UntilStopped,
            }
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = Instant::now(),
                Ok(false) => {
                    tracing::error!("another replica took the leader Lease; stopping");
                    return Held::UntilLost;
                }
                Err(error) if last_renewal.elapsed() < self.lease_duration => {
                    tracing::warn!(%error, "could not renew the leader Lease; retrying");
                }
                Err(error) => {
                    tracing::error!(%error, "could not renew the leader Lease before it expired; stopping");
                    return Held::UntilLost;
                }
            }
        }
    }

    /// Takes the Lease if it is free or expired, or renews it if held by us. Returns whether
    /// we hold it afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let seconds = i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return conflict_means_lost(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !ours {
            let held = spec
                .holder_identity
                .as_deref()
                .is_some_and(|h| !h.is_empty());
            let expires = spec.renew_time.as_ref().map(|t| {
                t.0 + SignedDuration::from_secs(i64::from(
                    spec.lease_duration_seconds.unwrap_or(seconds),
                ))
            });
            if held && expires.is_some_and(|e| e > now) {
                return Ok(false);
            }
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.lease_duration_seconds = Some(seconds);
        spec.renew_time = Some(MicroTime(now));
        conflict_means_lost(
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await,
        )
    }

    /// Gives the Lease up so a standby takes over at once rather than after it expires.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        conflict_means_lost(
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await,
        )
        .map(|_| ())
    }
}

/// How holding the Lease ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// The process was told to stop.
    UntilStopped,
    /// Another replica has it, or it expired unrenewed.
    UntilLost,
}

fn conflict_means_lost(result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}
