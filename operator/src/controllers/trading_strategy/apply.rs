//! The apply step of a strategy: makes every rendered child exist as rendered and removes
//! the ones that must not exist, with the trader's pod template as [`upgrade`] decides for
//! Supervised strategies. Only this step and `report` write to the API.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;

use super::KIND;
use super::backup::{self, render::BackupChildren};
use super::names::Names;
use super::pods::revision;
use super::render::Children;
use super::shadow::{
    self,
    apply::ShadowPlan,
    gate::{self, Comparison, Gate},
    names::{ABORT_ANNOTATION, DECISION_REVISION_ANNOTATION, PROMOTE_ANNOTATION},
};
use super::status::Workload;
use super::upgrade::{self, Pending};
use crate::api::trading_strategy::{TradingStrategy, UpgradePolicy};
use crate::controllers::children::{self, Outcome};
use crate::controllers::{Context, Error};

/// How the trader's rollout stands after the apply.
pub struct Rollout {
    pub workload: Workload,
    /// The revision of the template applied.
    pub applied_revision: Option<String>,
    pub pending: Option<Pending>,
    /// The `backupNowAt` value whose Job was applied.
    pub backup_now_at: Option<String>,
    pub shadow: ShadowReport,
}

/// How a new decision revision stands against the live pods (see `shadow`).
pub struct ShadowReport {
    pub gate: Gate,
    /// The decision revision the live Deployment was left on.
    pub live_decision: Option<String>,
    pub comparison: Comparison,
}

/// The live trader Deployment, when the pod template to apply depends on it (a Supervised or
/// a Shadow strategy). Read from etcd, not a cache: an out-of-date copy could pass an old
/// template for the running one.
async fn live_deployment(
    context: &Context,
    namespace: &str,
    strategy: &TradingStrategy,
    plan: &ShadowPlan,
    deployment: &Deployment,
) -> Result<Option<Deployment>, Error> {
    let policy = strategy.spec.upgrade.as_ref().and_then(|u| u.policy);
    if policy != Some(UpgradePolicy::Supervised) && plan.policy.is_none() && !plan.gates_hold {
        return Ok(None);
    }
    let name = deployment.metadata.name.clone().unwrap_or_default();
    Api::<Deployment>::namespaced(context.client.clone(), namespace)
        .get_opt(&name)
        .await
        .map_err(|source| Error::resolve(format!("Deployment {name}"), source))
}

/// Which pod template `deployment` gets: the live one while a shadow analyses (or refused)
/// the rendered revision, else what [`upgrade::decide`] picks for a Supervised strategy.
/// Marks the Deployment with the decision revision its template runs; returns the revision
/// that waits, the shadow gate and that decision revision.
pub(super) fn hold(
    strategy: &TradingStrategy,
    plan: &ShadowPlan,
    deployment: &mut Deployment,
    live: Option<&Deployment>,
    now: Timestamp,
) -> (Option<Pending>, Gate, Option<String>) {
    let live_decision =
        live.and_then(|d| d.annotations().get(DECISION_REVISION_ANNOTATION).cloned());
    let live_template = live.and_then(|d| d.spec.as_ref()).map(|s| &s.template);
    let status = strategy.status.as_ref();
    let annotation = |key: &str| strategy.annotations().get(key).map(String::as_str);
    let gate = match live_template {
        Some(_)
            if plan.policy.is_some()
                && gate::aborted(
                    live_decision.as_deref(),
                    &plan.decision_revision,
                    annotation(ABORT_ANNOTATION),
                ) =>
        {
            Gate::Refused
        }
        Some(_) => gate::decide(
            plan.policy.as_ref(),
            live_decision.as_deref(),
            &plan.decision_revision,
            status.and_then(|s| s.rollout.as_ref()),
            annotation(PROMOTE_ANNOTATION),
        ),
        None => Gate::Roll,
    };
    let Some(spec) = deployment.spec.as_mut() else {
        return (None, gate, None);
    };
    let rendered = spec.template.clone();
    let pending = match (&gate, live_template) {
        (_, Some(live)) if plan.gates_hold => {
            spec.template = live.clone();
            Some(Pending {
                revision: revision(&rendered).unwrap_or_default().to_string(),
                until: None,
                message: format!(
                    "decision revision {} waits for its promotion gates (status.gates); the \
                     live pods keep theirs",
                    plan.decision_revision
                ),
                reason: "PromotionGates",
            })
        }
        (Gate::Shadow | Gate::Refused, Some(live)) => {
            spec.template = live.clone();
            // As the last status says; the reconcile restates it once this one's comparison
            // is read.
            let previous = status.and_then(|s| s.rollout.clone()).unwrap_or_default();
            gate::pending(revision(&rendered).unwrap_or_default(), &previous)
        }
        _ => {
            let decision = upgrade::decide(
                strategy.spec.upgrade.as_ref(),
                status.and_then(|s| s.last_forced_upgrade_at.as_deref()),
                live_template,
                rendered.clone(),
                upgrade::to_chrono(now),
            );
            spec.template = decision.template;
            decision.pending
        }
    };
    let applied = if spec.template == rendered {
        Some(plan.decision_revision.clone())
    } else {
        live_decision
    };
    let annotations = deployment.metadata.annotations.get_or_insert_default();
    match &applied {
        Some(revision) => {
            annotations.insert(DECISION_REVISION_ANNOTATION.to_string(), revision.clone());
        }
        None => {
            annotations.remove(DECISION_REVISION_ANNOTATION);
        }
    }
    (pending, gate, applied)
}

/// Applies every rendered child that differs from the live one and deletes the ones that must
/// not exist; returns the trader's rollout state. The independent children go side by side,
/// so a reconcile costs about one round trip of latency rather than one per child; the
/// workload goes after what its pods mount.
pub async fn apply(
    context: &Context,
    namespace: &str,
    strategy: &TradingStrategy,
    rendered: Children,
    plan: &ShadowPlan,
    now: Timestamp,
) -> Result<Rollout, Error> {
    let names = super::names::names(&strategy.name_any());
    let apply = Apply { context, namespace };
    let Children {
        config,
        credentials,
        service_account,
        role,
        role_binding,
        lease,
        service,
        journal,
        mut deployment,
        disruption_budget,
        cycle,
        reader_role,
        reader_binding,
        backups,
    } = rendered;
    let live = match deployment.as_ref() {
        Some(rendered) => live_deployment(context, namespace, strategy, plan, rendered).await?,
        None => None,
    };
    let (pending, gate, live_decision) = match deployment.as_mut() {
        Some(deployment) => hold(strategy, plan, deployment, live.as_ref(), now),
        None => (None, Gate::Roll, None),
    };
    let live_revision = live
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| revision(&s.template))
        .unwrap_or_default()
        .to_string();
    // While a revision waits, so do the Secrets its pods read: a pod that restarts in the
    // meantime (a crash, a drain) must find the config and keys of the template it runs.
    let held = pending.is_some();
    // The Role before its RoleBinding: without `bind` (the chart does not grant it), the API
    // server checks a new binding against the Role it names and answers 404 while that Role
    // does not exist yet. Applied side by side, the binding's 404 ended the join and dropped
    // the Role's apply with it, on every retry (seen on a real node with the chart's RBAC).
    let role_changed = apply.child(role).await?;
    let first: [bool; 7] = futures::try_join!(
        apply.child(service_account),
        apply.child(role_binding),
        apply.child(lease),
        apply.unless(held, config),
        apply.unless(held, credentials),
        apply.child(service),
        apply.optional(journal, &names.journal),
    )?
    .into();
    let readers = apply_readers(&apply, &names, reader_role, reader_binding).await?;
    let mut writes = [role_changed]
        .into_iter()
        .chain(first)
        .chain(readers)
        .filter(|changed| *changed)
        .count();
    let backup_now_at = strategy
        .spec
        .backup
        .as_ref()
        .and_then(|b| b.backup_now_at.clone())
        .filter(|_| backups.now.is_some());
    // Boxed, as is the whole apply: the children's futures side by side would otherwise make
    // the reconcile's future larger than a worker thread's stack in a debug build.
    writes += Box::pin(apply_backups(&apply, &strategy.name_any(), backups)).await?;
    let (workload, applied_revision, workload_writes) =
        apply_workload(&apply, strategy, &names, deployment, cycle).await?;
    writes += workload_writes;
    writes += usize::from(apply.optional(disruption_budget, &names.deployment).await?);
    let (comparison, shadow_writes) = Box::pin(shadow::apply::apply(
        context,
        namespace,
        strategy,
        plan,
        &gate,
        &live_revision,
    ))
    .await?;
    writes += shadow_writes;
    for _ in 0..writes {
        context.metrics.write(KIND, "child");
    }
    Ok(Rollout {
        workload,
        applied_revision,
        pending,
        backup_now_at,
        shadow: ShadowReport {
            gate,
            live_decision,
            comparison,
        },
    })
}

/// Applies the trader Deployment, or else the cycle CronJob, removing the other; returns how
/// the workload stands, the revision applied and how many children it wrote.
async fn apply_workload(
    apply: &Apply<'_>,
    strategy: &TradingStrategy,
    names: &Names,
    deployment: Option<Deployment>,
    cycle: Option<CronJob>,
) -> Result<(Workload, Option<String>, usize), Error> {
    let mut writes = 0;
    let mut count = |changed: bool| writes += usize::from(changed);
    let mut applied_revision = None;
    let workload = match deployment {
        Some(deployment) => {
            count(apply.absent::<CronJob>(&names.cycle).await?);
            applied_revision = deployment
                .spec
                .as_ref()
                .and_then(|s| revision(&s.template))
                .map(str::to_string);
            let (client, cache) = (&apply.context.client, &apply.context.children);
            let outcome: Outcome<Deployment> =
                children::ensure(client, cache, KIND, apply.namespace, deployment).await?;
            count(outcome.changed());
            Workload::from_deployment(outcome.object())
        }
        None => {
            count(apply.absent::<Deployment>(&names.deployment).await?);
            count(apply.optional(cycle, &names.cycle).await?);
            if backup::restored(strategy) {
                Workload::Scheduled
            } else {
                Workload::Restoring
            }
        }
    };
    Ok((workload, applied_revision, writes))
}

/// The journal readers' Role, then its RoleBinding (the API server refuses a binding to a
/// Role it cannot find); when nobody is listed any more, neither exists.
async fn apply_readers(
    apply: &Apply<'_>,
    names: &Names,
    role: Option<Role>,
    binding: Option<RoleBinding>,
) -> Result<[bool; 2], Error> {
    if binding.is_none() {
        let unbound = apply.absent::<RoleBinding>(&names.readers).await?;
        return Ok([unbound, apply.absent::<Role>(&names.readers).await?]);
    }
    let role = apply.optional(role, &names.readers).await?;
    Ok([role, apply.optional(binding, &names.readers).await?])
}

/// Applies the backup and restore children (after the config Secret their pods mount);
/// returns how many it wrote. A backup volume and an on-demand Job not rendered are left
/// alone: the one holds backups, the other is finishing a backup already asked for; so is the
/// backup ServiceAccount and Role of a strategy whose backups were switched off.
async fn apply_backups(
    apply: &Apply<'_>,
    strategy: &str,
    backups: BackupChildren,
) -> Result<usize, Error> {
    let names = backup::render::names(strategy);
    let BackupChildren {
        service_account,
        role,
        role_binding,
        claim,
        schedule,
        now,
        restore,
    } = backups;
    let restoring = restore.is_some();
    // The backup identity once made stays until the strategy goes (garbage collection): a
    // backup Job still running may need it after backups were switched off.
    let identity = futures::try_join!(apply.some(service_account), apply.some(role))?;
    // The binding after its Role: the API server refuses (404) a binding to a Role it cannot
    // find, and side by side that refusal would drop the Role's own apply mid-flight, every
    // time.
    let bound = apply.some(role_binding).await?;
    let writes = [identity.0, identity.1, bound];
    let mut more = Vec::new();
    if let Some(claim) = claim {
        more.push(apply.child(claim).await?);
    }
    more.push(apply.optional(schedule, &names.schedule).await?);
    if let Some(now) = now {
        more.push(apply.child(now).await?);
    }
    // A restore Job stays while the restore runs (or failed, for its logs); once the journal
    // is restored the operator deletes it.
    if restoring {
        more.push(apply.optional(restore, &names.restore).await?);
    } else {
        more.push(apply.absent::<Job>(&names.restore).await?);
    }
    Ok(writes.iter().chain(&more).filter(|w| **w).count())
}

/// The apply step's three verbs for one strategy's children; each returns whether it wrote.
struct Apply<'a> {
    context: &'a Context,
    namespace: &'a str,
}

impl Apply<'_> {
    /// Makes `child` exist as rendered.
    async fn child<K: children::ChildKind>(&self, child: K) -> Result<bool, Error> {
        let (client, cache) = (&self.context.client, &self.context.children);
        children::ensure_known(client, cache, KIND, self.namespace, child).await
    }

    /// Makes `child` exist as rendered when there is one; otherwise leaves its kind alone.
    async fn some<K: children::ChildKind>(&self, child: Option<K>) -> Result<bool, Error> {
        match child {
            Some(child) => self.child(child).await,
            None => Ok(false),
        }
    }

    /// Makes `child` exist as rendered, unless `held`: then it stays as it is.
    async fn unless<K: children::ChildKind>(&self, held: bool, child: K) -> Result<bool, Error> {
        if held {
            return Ok(false);
        }
        self.child(child).await
    }

    /// Makes the child `name` of kind `K` not exist.
    async fn absent<K: children::ChildKind>(&self, name: &str) -> Result<bool, Error> {
        let (client, cache) = (&self.context.client, &self.context.children);
        children::remove_known::<K>(client, cache, KIND, self.namespace, name).await
    }

    /// `child` when rendered, otherwise no child `name` of its kind.
    async fn optional<K: children::ChildKind>(
        &self,
        child: Option<K>,
        name: &str,
    ) -> Result<bool, Error> {
        match child {
            Some(child) => self.child(child).await,
            None => self.absent::<K>(name).await,
        }
    }
}
