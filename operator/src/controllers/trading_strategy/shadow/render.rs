//! The shadow's children, pure: its runtime config (the new revision's, on a paper account
//! of its own seeded from the live book, with a journal of its own and no Lease), the
//! credentials it may read (the LLM providers' keys, never the broker's or the live
//! journal's), a ServiceAccount with no Role and no token, its Deployment and the Service
//! the operator reads its journal API through.
//!
//! **Invariant:** nothing rendered here names the live account, the live journal or the live
//! Lease — the config is checked by the runtime's own validation, which refuses a shadow on
//! any broker but its own paper account, or with leader election.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, Secret, Service, ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use tradeplane_contract::command::PodMode;
use tradeplane_contract::config::{self as runtime, ConfigError, RuntimeConfig};

use super::names::ShadowNames;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::meta::{Component, selector_labels};
use crate::controllers::resources::secret::{ConfigFile, opaque};
use crate::controllers::resources::{ChildMeta, service};
use crate::controllers::runtime_config::{CREDENTIALS_DIR, JOURNAL_DIR};
use crate::controllers::trading_strategy::names::{Names, STRATEGY_LABEL, STRATEGY_SERVICE_PORT};
use crate::controllers::trading_strategy::pods::{Pods, with_revision};

/// The live book when the shadow started: what its paper account opens with.
#[derive(Clone, Debug, PartialEq)]
pub struct Seed {
    /// The live account's cash.
    pub cash: f64,
    pub positions: Vec<runtime::SeedPosition>,
    /// The live pods' last cycle (see `ShadowConfig::resume_after`).
    pub resume_after: Option<DateTime<Utc>>,
}

/// The shadow's children. Each is applied, and removed with the shadow.
#[derive(Clone, Debug)]
pub struct ShadowChildren {
    pub config: Secret,
    pub credentials: Secret,
    pub service_account: ServiceAccount,
    pub service: Service,
    pub deployment: Deployment,
}

/// What the shadow is made from.
pub struct ShadowInputs<'a> {
    pub strategy: &'a TradingStrategy,
    /// The new revision's runtime config, validated (the live strategy's).
    pub config: &'a RuntimeConfig,
    pub image: &'a str,
    /// The strategy's credentials, of which the shadow gets the providers' keys only.
    pub credentials: &'a BTreeMap<String, Vec<u8>>,
    /// The pod template revision of the live pods.
    pub live_revision: &'a str,
    pub seed: &'a Seed,
}

/// Why a shadow cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ShadowRenderError {
    #[error("the shadow's config would be refused by the runtime: {}", join(.0))]
    Invalid(Vec<ConfigError>),
    #[error("the shadow's config cannot be written: {0}")]
    Serialize(#[from] serde_yaml::Error),
}

fn join(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The shadow's runtime config: `config` (the new revision) on a paper account opened with
/// the live book, with a journal of its own and no leader election. Checked with the
/// runtime's own validation.
pub fn shadow_config(
    config: &RuntimeConfig,
    live_revision: &str,
    seed: &Seed,
) -> Result<RuntimeConfig, Vec<ConfigError>> {
    // The live account's costs, when it is a paper one; a real broker's are unknown here.
    let (commission_bps, slippage_bps) = match &config.broker {
        runtime::BrokerConfig::Paper {
            commission_bps,
            slippage_bps,
            ..
        } => (*commission_bps, *slippage_bps),
        runtime::BrokerConfig::Alpaca { .. } => (0.0, 0.0),
    };
    let shadow = RuntimeConfig {
        broker: runtime::BrokerConfig::Paper {
            starting_cash: seed.cash,
            commission_bps,
            slippage_bps,
        },
        journal: runtime::JournalConfig::Sqlite {
            path: PathBuf::from(JOURNAL_DIR).join("journal.db"),
        },
        leader_election: None,
        shadow: Some(runtime::ShadowConfig {
            live_revision: live_revision.to_string(),
            seed_positions: seed.positions.clone(),
            resume_after: seed.resume_after,
        }),
        ..config.clone()
    };
    shadow.validate_for(runtime::ConfigPurpose::Strategy)?;
    Ok(shadow)
}

/// The credentials the shadow's config names: its providers' key files, nothing else.
pub fn shadow_credentials(
    config: &RuntimeConfig,
    credentials: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<String, Vec<u8>> {
    let named: BTreeSet<PathBuf> = config
        .providers
        .iter()
        .filter_map(|p| p.api_key_file.clone())
        .collect();
    credentials
        .iter()
        .filter(|(key, _)| named.contains(&PathBuf::from(CREDENTIALS_DIR).join(key)))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Renders the shadow's children.
pub fn render(inputs: &ShadowInputs<'_>) -> Result<ShadowChildren, ShadowRenderError> {
    let strategy = inputs.strategy;
    let meta = ChildMeta::new(strategy, STRATEGY_LABEL);
    let shadow = ShadowNames::of(meta.owner());
    let config = shadow_config(inputs.config, inputs.live_revision, inputs.seed)
        .map_err(ShadowRenderError::Invalid)?;
    let file = ConfigFile::render(&config)?;
    let credentials = shadow_credentials(&config, inputs.credentials);
    let names = Names {
        config: shadow.config.clone(),
        credentials: shadow.credentials.clone(),
        account: shadow.account.clone(),
        service: shadow.service.clone(),
        journal: shadow.deployment.clone(),
        deployment: shadow.deployment.clone(),
        cycle: shadow.deployment.clone(),
        readers: shadow.deployment.clone(),
    };
    let pods = Pods {
        strategy,
        meta: &meta,
        names: &names,
        image: inputs.image.to_string(),
        inputs_hash: file.inputs_hash(&credentials),
        sqlite: false,
    };
    let selector = selector_labels(STRATEGY_LABEL, meta.owner(), Component::Shadow);
    let deployment = Deployment {
        metadata: meta.child(&shadow.deployment, Component::Shadow),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..LabelSelector::default()
            },
            // Its journal is the pod's own: never two at once.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".to_string()),
                ..DeploymentStrategy::default()
            }),
            template: shadow_template(&pods),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    let service_account = ServiceAccount {
        metadata: meta.child(&shadow.account, Component::Shadow),
        // It talks to no API: no Lease, no status, no Events.
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    };
    Ok(ShadowChildren {
        config: file.secret(meta.child(&shadow.config, Component::Shadow)),
        credentials: opaque(
            meta.child(&shadow.credentials, Component::Shadow),
            &credentials,
        ),
        service_account,
        service: service::http(
            meta.child(&shadow.service, Component::Shadow),
            selector,
            STRATEGY_SERVICE_PORT,
        ),
        deployment,
    })
}

/// The trader's pod template for the shadow: no API token, and its journal on a volume of
/// its own that lives as long as the pod (a shadow that restarts starts its analysis over
/// from the book it was seeded with).
fn shadow_template(pods: &Pods<'_>) -> k8s_openapi::api::core::v1::PodTemplateSpec {
    let mut template = pods.template(Component::Shadow, PodMode::Trader);
    if let Some(spec) = template.spec.as_mut() {
        spec.automount_service_account_token = Some(false);
        spec.volumes.get_or_insert_default().push(Volume {
            name: "journal".to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        });
        for container in &mut spec.containers {
            container
                .volume_mounts
                .get_or_insert_default()
                .push(VolumeMount {
                    name: "journal".to_string(),
                    mount_path: JOURNAL_DIR.to_string(),
                    ..VolumeMount::default()
                });
        }
    }
    with_revision(template)
}
