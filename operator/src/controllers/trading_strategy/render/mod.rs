//! The children of a TradingStrategy, rendered from it and what it references. Pure: the
//! reconcile reads the referenced objects and the Secret contents, these builders decide what
//! the children look like, and unit tests check them without a cluster.
//!
//! One builder per child kind: [`rbac`] (the runtime's ServiceAccount, Role, RoleBinding and
//! the Lease it may write), [`journal`] (the SQLite volume), [`trader`] (the pod template, the
//! Deployment and its disruption budget), [`cycle`] (the CronJob of cron-scheduled
//! strategies), [`readers`] (who may read the journal through the service proxy); the Secrets and the Service come from the shared `controllers::resources`.

pub mod alerts;
pub mod cycle;
pub mod journal;
pub mod rbac;
pub mod readers;
pub mod trader;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use tradeplane_contract::command::PodMode;

use super::backup::{self, render::BackupChildren, render::BackupPods};
use super::names::{STRATEGY_LABEL, names};
use super::pods::Pods;
use super::validate::ValidStrategy;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::meta::{Component, selector_labels};
use crate::controllers::resources::secret::{ConfigFile, opaque};
use crate::controllers::resources::{ChildMeta, service};

/// Everything the pure rendering needs beyond the strategy itself.
pub struct Inputs<'a> {
    /// The strategy as validated: its defaults applied, the runtime config checked.
    pub valid: &'a ValidStrategy,
    /// Contents of the credentials Secret: broker keys, provider keys, the journal URL,
    /// copied from the Secrets the user named.
    pub credentials: BTreeMap<String, Vec<u8>>,
}

/// All children. `None` means "must not exist" (the reconcile deletes it). The reconcile
/// destructures this, so a new child fails to compile until it is applied.
#[derive(Clone, Debug)]
pub struct Children {
    pub config: Secret,
    pub credentials: Secret,
    pub service_account: ServiceAccount,
    pub role: Role,
    pub role_binding: RoleBinding,
    pub lease: Lease,
    pub service: Service,
    pub journal: Option<PersistentVolumeClaim>,
    pub deployment: Option<Deployment>,
    pub disruption_budget: Option<PodDisruptionBudget>,
    pub cycle: Option<CronJob>,
    /// Who may read the journal through the service proxy (`spec.journalReaders`).
    pub reader_role: Option<Role>,
    pub reader_binding: Option<RoleBinding>,
    /// Backups and restore (`trading_strategy::backup`).
    pub backups: BackupChildren,
}

impl Children {
    /// The pod modes of every container rendered, with the config they read: what the
    /// contract test runs through the runtime's own parser and validation.
    pub fn pod_modes(&self) -> Vec<(PodMode, Vec<String>)> {
        let deployment = self
            .deployment
            .as_ref()
            .and_then(|d| d.spec.as_ref())
            .map(|s| &s.template);
        let cycle = self
            .cycle
            .as_ref()
            .and_then(|c| c.spec.job_template.spec.as_ref())
            .map(|s| &s.template);
        [(PodMode::Trader, deployment), (PodMode::Cycle, cycle)]
            .into_iter()
            .filter_map(|(mode, template)| Some((mode, template?)))
            .flat_map(|(mode, template)| {
                template
                    .spec
                    .iter()
                    .flat_map(|s| s.containers.iter())
                    .map(move |c| (mode, c.args.clone().unwrap_or_default()))
            })
            .collect()
    }
}

/// Renders every child. Fails only if the config cannot be serialized, which would be a bug.
pub fn render(
    strategy: &TradingStrategy,
    inputs: &Inputs<'_>,
) -> Result<Children, serde_yaml::Error> {
    let meta = ChildMeta::new(strategy, STRATEGY_LABEL);
    let names = names(meta.owner());
    let file = ConfigFile::render(&inputs.valid.runtime_config)?;
    let journal = journal::claim(strategy, &meta, &names);
    let pods = Pods {
        strategy,
        meta: &meta,
        names: &names,
        image: inputs.valid.image.clone(),
        inputs_hash: file.inputs_hash(&inputs.credentials),
        sqlite: journal.is_some(),
    };
    let (deployment, disruption_budget, cycle) = match cycle::cron(strategy) {
        // Nothing trades before the journal is restored.
        _ if !backup::restored(strategy) => (None, None, None),
        None => {
            let deployment = trader::deployment(&pods, inputs.valid.replicas);
            let budget = trader::disruption_budget(&pods, &deployment);
            (Some(deployment), Some(budget), None)
        }
        Some(cron) => (None, None, Some(cycle::cron_job(&pods, cron))),
    };
    let backups = BackupPods {
        pods: &pods,
        trader_runs: deployment.is_some(),
    }
    .render();
    let rbac = rbac::Rbac::new(&meta, &names);
    let (reader_role, reader_binding) = readers::readers(strategy, &meta, &names).unzip();
    Ok(Children {
        config: file.secret(meta.child(&names.config, Component::Trader)),
        credentials: opaque(
            meta.child(&names.credentials, Component::Trader),
            &inputs.credentials,
        ),
        service_account: rbac.service_account(),
        role: rbac.role(),
        role_binding: rbac.role_binding(),
        lease: rbac.lease(strategy.spec.switchover_at.as_deref()),
        service: service::http(
            meta.child(&names.service, Component::Trader),
            selector_labels(STRATEGY_LABEL, meta.owner(), Component::Trader),
            super::names::STRATEGY_SERVICE_PORT,
        ),
        journal,
        deployment,
        disruption_budget,
        cycle,
        reader_role,
        reader_binding,
        backups,
    })
}
