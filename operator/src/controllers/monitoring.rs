//! The apply step of the monitoring children (PrometheusRule, PodMonitor), shared by the
//! strategy and pool reconciles, and the `AlertsConfigured` condition it reports.
//!
//! Those kinds belong to the prometheus-operator, which a cluster may not have, or may get
//! later. So the step asks API discovery on each reconcile whether monitoring.coreos.com/v1
//! serves both (the answer is cached for [`DISCOVERY_TTL`], shared by every object), and
//! without them it reports `AlertsConfigured=False`, reason `CRDNotInstalled` (a Warning
//! Event through the condition's transition) and lets the rest of the reconcile carry on; the
//! reconcile then looks again after [`CRD_RECHECK`], so installing the CRDs later works without
//! a restart. It writes and deletes only objects whose controller owner reference is the
//! resource's own: a same-named object someone else made is reported, never taken over.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::{Client, Resource, ResourceExt};

use super::children::is_subset;
use super::conditions::Observed;
use super::meta::{RENDERED_HASH_ANNOTATION, content_hash};
use super::resources::monitoring::{self, GROUP, MONITOR_KIND, Monitoring, RULE_KIND, VERSION};
use super::{Context, Error, FIELD_MANAGER};
pub use crate::api::trading_strategy::condition_types::ALERTS_CONFIGURED;

/// How long one discovery answer is trusted.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(10);
/// When alerting is on but the kinds are not served, the reconcile looks again this soon.
pub const CRD_RECHECK: Duration = Duration::from_secs(15);

/// Whether the cluster serves PrometheusRule and PodMonitor, as discovery last said.
#[derive(Default)]
pub struct Discovery {
    last: Mutex<Option<(Instant, bool)>>,
}

impl Discovery {
    /// Asks discovery (or the answer of the last [`DISCOVERY_TTL`]).
    pub async fn served(&self, client: &Client) -> Result<bool, kube::Error> {
        if let Some((at, served)) = *self.lock()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(served);
        }
        let served = match client
            .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
            .await
        {
            Ok(list) => ["prometheusrules", "podmonitors"]
                .iter()
                .all(|plural| list.resources.iter().any(|r| r.name == *plural)),
            Err(kube::Error::Api(status)) if status.code == 404 => false,
            Err(error) => return Err(error),
        };
        *self.lock() = Some((Instant::now(), served));
        Ok(served)
    }

    /// Forgets the answer, e.g. after a write found the kind gone.
    pub fn forget(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, bool)>> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How the monitoring children stand after the step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Alerts {
    /// Alerting is off; none of ours exist.
    Off,
    /// Both exist as rendered.
    Configured,
    /// Alerting is on, but the cluster does not serve the kinds.
    CrdNotInstalled,
    /// An object of that name exists and is not ours: (kind, name).
    NameTaken(String, String),
    /// The API server refused ours: the message.
    Rejected(String),
}

impl Alerts {
    /// The `AlertsConfigured` condition; `None` while alerting was never asked for (a
    /// strategy without `spec.alerting` carries no condition about it).
    pub fn condition(&self, mentioned: bool) -> Option<Observed> {
        let observed = match self {
            Self::Off if !mentioned => return None,
            Self::Off => Observed::new(
                ALERTS_CONFIGURED,
                true,
                "AlertingDisabled",
                "spec.alerting.enabled is not true: no PrometheusRule or PodMonitor",
            ),
            Self::Configured => Observed::new(
                ALERTS_CONFIGURED,
                true,
                "Configured",
                "the PrometheusRule and PodMonitor are applied",
            ),
            Self::CrdNotInstalled => Observed::new(
                ALERTS_CONFIGURED,
                false,
                "CRDNotInstalled",
                format!(
                    "the cluster does not serve {RULE_KIND} and {MONITOR_KIND} ({GROUP}/{VERSION}): install the prometheus-operator's CRDs; the operator looks again every {} s",
                    CRD_RECHECK.as_secs()
                ),
            ),
            Self::NameTaken(kind, name) => Observed::new(
                ALERTS_CONFIGURED,
                false,
                "NameTaken",
                format!(
                    "{kind} {name} exists and is not owned by this resource; it is left alone: delete or rename it"
                ),
            ),
            Self::Rejected(message) => {
                Observed::new(ALERTS_CONFIGURED, false, "ChildRejected", message.clone())
            }
        };
        Some(observed)
    }

    /// Whether the reconcile should look again soon (the CRDs may be installed any time).
    pub fn recheck(&self) -> Option<Duration> {
        matches!(self, Self::CrdNotInstalled).then_some(CRD_RECHECK)
    }
}

/// The reason of the `AlertsConfigured` condition in `conditions`, if any.
pub fn previous_reason(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == ALERTS_CONFIGURED)
        .map(|c| c.reason.as_str())
}

/// Makes the owner's monitoring children match `desired` (`None`: alerting off, so ours go),
/// where the cluster serves their kinds. `names` are (PrometheusRule, PodMonitor); `previous`
/// is the reason `AlertsConfigured` last had. Counts its writes under `kind`.
pub async fn reconcile<K>(
    context: &Context,
    kind: &'static str,
    owner: &K,
    desired: Option<Monitoring>,
    names: (String, String),
    previous: Option<&str>,
) -> Result<Alerts, Error>
where
    K: Resource<DynamicType = ()>,
{
    // Alerting off, and nothing of ours can exist (never on, or already cleaned up): no
    // request at all, so strategies without alerting cost nothing here.
    if desired.is_none() && matches!(previous, None | Some("AlertingDisabled")) {
        return Ok(Alerts::Off);
    }
    let client = &context.client;
    let served =
        context.monitoring.served(client).await.map_err(|source| {
            Error::resolve(format!("API discovery of {GROUP}/{VERSION}"), source)
        })?;
    let namespace = owner.meta().namespace.clone().unwrap_or_default();
    let uid = owner.meta().uid.clone().unwrap_or_default();
    let api = |kind: &str| {
        Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &namespace,
            &monitoring::api_resource(kind),
        )
    };
    let (rule_api, monitor_api) = (api(RULE_KIND), api(MONITOR_KIND));
    let Some(desired) = desired else {
        if served {
            for (api, child_kind, name) in [
                (&rule_api, RULE_KIND, &names.0),
                (&monitor_api, MONITOR_KIND, &names.1),
            ] {
                if remove_owned(api, child_kind, name, &uid).await? {
                    context.metrics.write(kind, "child");
                }
            }
        }
        return Ok(Alerts::Off);
    };
    if let Some(problem) = desired.problem {
        return Ok(Alerts::Rejected(problem));
    }
    if !served {
        return Ok(Alerts::CrdNotInstalled);
    }
    for (api, object) in [(&rule_api, desired.rule), (&monitor_api, desired.monitor)] {
        match ensure_owned(api, object, &uid).await {
            Ok(Ensured::Unchanged) => {}
            Ok(Ensured::Applied) => context.metrics.write(kind, "child"),
            Ok(Ensured::NotOurs(kind, name)) => return Ok(Alerts::NameTaken(kind, name)),
            Err((kind, name, kube::Error::Api(status))) if status.code == 404 => {
                // The CRD went away since discovery answered.
                tracing::info!(kind, name, "monitoring kind not served any more");
                context.monitoring.forget();
                return Ok(Alerts::CrdNotInstalled);
            }
            Err((kind, name, kube::Error::Api(status)))
                if status.code == 400 || status.code == 422 =>
            {
                return Ok(Alerts::Rejected(format!(
                    "the API server refused {kind} {name}: {}",
                    status.message
                )));
            }
            Err((kind, name, source)) => return Err(Error::Apply { kind, name, source }),
        }
    }
    Ok(Alerts::Configured)
}

enum Ensured {
    Unchanged,
    Applied,
    NotOurs(String, String),
}

/// Whether `object` has `uid` as its controller.
fn controlled_by(object: &DynamicObject, uid: &str) -> bool {
    object
        .owner_references()
        .iter()
        .any(|r| r.uid == uid && r.controller == Some(true))
}

/// Applies `desired` unless the live object matches it already or belongs to someone else.
async fn ensure_owned(
    api: &Api<DynamicObject>,
    mut desired: DynamicObject,
    uid: &str,
) -> Result<Ensured, (String, String, kube::Error)> {
    let kind = desired
        .types
        .as_ref()
        .map(|t| t.kind.clone())
        .unwrap_or_default();
    let name = desired.name_any();
    let failed = |source| (kind.clone(), name.clone(), source);
    let rendered =
        serde_json::to_value(&desired).map_err(|e| failed(kube::Error::SerdeError(e)))?;
    let hash = content_hash(&[rendered.to_string().as_bytes()]);
    if let Some(live) = api.get_opt(&name).await.map_err(failed)? {
        if !controlled_by(&live, uid) {
            return Ok(Ensured::NotOurs(kind.clone(), name.clone()));
        }
        let same_hash = live.annotations().get(RENDERED_HASH_ANNOTATION) == Some(&hash);
        let live_value =
            serde_json::to_value(&live).map_err(|e| failed(kube::Error::SerdeError(e)))?;
        if same_hash && is_subset(&rendered, &live_value) {
            return Ok(Ensured::Unchanged);
        }
    }
    desired
        .annotations_mut()
        .insert(RENDERED_HASH_ANNOTATION.to_string(), hash);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(&desired))
        .await
        .map_err(failed)?;
    Ok(Ensured::Applied)
}

/// Deletes the object `name` if it exists and is ours (its uid as a precondition, so an
/// object re-created by someone else in between is not deleted); `true` when it deleted.
async fn remove_owned(
    api: &Api<DynamicObject>,
    kind: &str,
    name: &str,
    uid: &str,
) -> Result<bool, Error> {
    let failed = |source| Error::Apply {
        kind: kind.to_string(),
        name: name.to_string(),
        source,
    };
    let Some(live) = api.get_opt(name).await.map_err(failed)? else {
        return Ok(false);
    };
    if !controlled_by(&live, uid) {
        return Ok(false);
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: live.uid(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(false),
        Err(error) => Err(failed(error)),
    }
}
