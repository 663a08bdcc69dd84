//! The children of a backtest, rendered from its validated spec. Pure.
//!
//! - the runs ConfigMap: one key per run (`run-<i>.yaml`), its runtime config;
//! - one empty ConfigMap per run, `<name>-run-<i>`, that the run fills with its results
//!   artifact (unless `results.s3` sends them to a bucket);
//! - the run identity: a ServiceAccount whose Role may only `get` and `patch` this Backtest's
//!   status and `patch` those ConfigMaps by name, the only things a run writes;
//! - one Indexed Job of `agent-runtime backtest`: `completions` = runs, index *i* reads
//!   `run-<i>.yaml`, each index failing on its own (`backoffLimitPerIndex: 0`: a bad data
//!   line fails the same way on a retry) — with the trader's hardened pod.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, EmptyDirVolumeSource, EnvVar, KeyToPath,
    PersistentVolumeClaimVolumeSource, PodTemplateSpec, ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tradeplane_contract::backtest_job::{
    BACKTEST_ENV, DATA_CREDENTIALS_DIR, DATA_DIR, RESULTS_CREDENTIALS_DIR, RUNS_DIR, ResultsPlace,
    run_key,
};
use tradeplane_contract::backtest_results::results_config_map;
use tradeplane_contract::backup::{S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY};
use tradeplane_contract::layout::{BROKER_KEY_ID, BROKER_SECRET_KEY};

use super::BACKTEST_LABEL;
use super::validate::ValidBacktest;
use crate::api::backtest::Backtest;
use crate::controllers::meta::{Component, child_name};
use crate::controllers::resources::ChildMeta;
use crate::controllers::resources::pod::{self, RuntimeContainer};
use crate::controllers::resources::rbac::{Identity, rule};
use crate::controllers::trading_strategy::backup::render::secret_items;

/// A ConfigMap holds at most 1 MiB; the runs' configs must fit with room for metadata.
pub const MAX_RUNS_CONFIG_BYTES: usize = 900 * 1024;

/// Why the children cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("run {index}: the config does not serialise: {source}")]
    Config {
        index: usize,
        source: serde_yaml::Error,
    },
    #[error(
        "the runs' configs take {bytes} bytes, more than a ConfigMap holds ({MAX_RUNS_CONFIG_BYTES}): sweep fewer points"
    )]
    TooLarge { bytes: usize },
}

/// Names of a backtest's children.
pub struct Names {
    pub runs: String,
    pub account: String,
    pub job: String,
}

pub fn names(backtest: &str) -> Names {
    Names {
        runs: child_name(backtest, "runs"),
        account: child_name(backtest, "run"),
        job: child_name(backtest, "backtest"),
    }
}

/// Every child of a backtest.
#[derive(Clone, Debug)]
pub struct Children {
    pub runs: ConfigMap,
    /// The runs' results ConfigMaps, created empty; none when the results go to a bucket.
    pub results: Vec<ConfigMap>,
    pub service_account: ServiceAccount,
    pub role: Role,
    pub role_binding: RoleBinding,
    pub job: Job,
}

pub fn render(backtest: &Backtest, valid: &ValidBacktest) -> Result<Children, RenderError> {
    let meta = ChildMeta::new(backtest, BACKTEST_LABEL);
    let name = meta.owner().to_string();
    let names = names(&name);
    let identity = Identity {
        meta: &meta,
        name: &names.account,
        component: Component::Backtest,
    };
    let status_rule = rule(
        "tradeplane.io",
        "backtests/status",
        Some(&name),
        &["get", "patch"],
    );
    let results = results_config_maps(&meta, valid);
    let mut rules = vec![status_rule];
    if !results.is_empty() {
        // Patch only, by name: a run writes its artifact into the map the operator made and
        // can neither read another's nor create, list or delete any.
        let names: Vec<String> = results
            .iter()
            .filter_map(|map| map.metadata.name.clone())
            .collect();
        let mut maps = rule("", "configmaps", None, &["patch"]);
        maps.resource_names = Some(names);
        rules.push(maps);
    }
    Ok(Children {
        runs: runs_config_map(&meta, &names, valid)?,
        results,
        service_account: identity.service_account(),
        role: identity.role(rules),
        role_binding: identity.role_binding(),
        job: job(backtest, &meta, &names, valid),
    })
}

fn runs_config_map(
    meta: &ChildMeta,
    names: &Names,
    valid: &ValidBacktest,
) -> Result<ConfigMap, RenderError> {
    let mut data = BTreeMap::new();
    for run in &valid.runs {
        let index = run.point.index;
        let yaml = serde_yaml::to_string(&run.config)
            .map_err(|source| RenderError::Config { index, source })?;
        data.insert(run_key(index as u32), yaml);
    }
    let bytes = data.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_RUNS_CONFIG_BYTES {
        return Err(RenderError::TooLarge { bytes });
    }
    Ok(ConfigMap {
        metadata: meta.child(&names.runs, Component::Backtest),
        data: Some(data),
        ..ConfigMap::default()
    })
}

fn results_config_maps(meta: &ChildMeta, valid: &ValidBacktest) -> Vec<ConfigMap> {
    let ResultsPlace::ConfigMaps { stem } = &valid.settings.results else {
        return Vec::new();
    };
    valid
        .runs
        .iter()
        .map(|run| {
            let index = u32::try_from(run.point.index).unwrap_or(u32::MAX);
            ConfigMap {
                metadata: meta.child(&results_config_map(stem, index), Component::Backtest),
                ..ConfigMap::default()
            }
        })
        .collect()
}

fn job(backtest: &Backtest, meta: &ChildMeta, names: &Names, valid: &ValidBacktest) -> Job {
    let runs = i32::try_from(valid.runs.len()).unwrap_or(i32::MAX);
    let mut container = RuntimeContainer {
        image: valid.image.clone(),
        mode: tradeplane_contract::command::PodMode::Cycle,
        resources: None,
        mounts: vec![
            pod::read_only_mount("runs", RUNS_DIR),
            data_mount(backtest, valid),
            pod::scratch_mount(),
        ],
    }
    .build();
    // A run is not a server: its own arguments, no port, no probes.
    container.args = Some(valid.settings.args());
    container.ports = None;
    container.readiness_probe = None;
    container.liveness_probe = None;
    let mut env = container.env.take().unwrap_or_default();
    env.push(EnvVar {
        name: BACKTEST_ENV.to_string(),
        value: Some(meta.owner().to_string()),
        ..EnvVar::default()
    });
    container.env = Some(env);
    let mut volumes = vec![
        config_map_volume("runs", &names.runs, None),
        data_volume(backtest, valid),
        pod::scratch_volume(),
    ];
    if let Some(s3) = backtest.spec.results.as_ref().and_then(|r| r.s3.as_ref()) {
        // Only the two keys, never the rest of the user's Secret.
        volumes.push(secret_items(
            "results-credentials",
            &s3.credentials_secret_name,
            &[
                (S3_ACCESS_KEY_ID, S3_ACCESS_KEY_ID),
                (S3_SECRET_ACCESS_KEY, S3_SECRET_ACCESS_KEY),
            ],
        ));
        let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
        mounts.push(pod::read_only_mount(
            "results-credentials",
            RESULTS_CREDENTIALS_DIR,
        ));
    }
    let mut pod_spec = pod::runtime_pod(container, volumes, backtest.spec.placement.as_ref());
    pod_spec.service_account_name = Some(names.account.clone());
    pod_spec.restart_policy = Some("Never".to_string());
    Job {
        metadata: meta.child(&names.job, Component::Backtest),
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".to_string()),
            completions: Some(runs),
            parallelism: Some(valid.parallelism.min(runs)),
            backoff_limit_per_index: Some(0),
            // Every index may fail on its own; the Job goes on with the others.
            max_failed_indexes: Some(runs),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(meta.labels(Component::Backtest)),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

fn config_map_volume(volume: &str, map: &str, key: Option<&str>) -> Volume {
    Volume {
        name: volume.to_string(),
        config_map: Some(ConfigMapVolumeSource {
            name: map.to_string(),
            items: key.map(|key| {
                vec![KeyToPath {
                    key: key.to_string(),
                    path: key.to_string(),
                    ..KeyToPath::default()
                }]
            }),
            default_mode: Some(0o444),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The bars' mount: the data at [`DATA_DIR`], or for an S3 object the keys it is read with
/// at [`DATA_CREDENTIALS_DIR`] (the run downloads the object into its scratch `/tmp`).
fn data_mount(backtest: &Backtest, valid: &ValidBacktest) -> VolumeMount {
    if backtest.spec.data.s3.is_some() || valid.api_access.is_some() {
        pod::read_only_mount("data", DATA_CREDENTIALS_DIR)
    } else {
        pod::read_only_mount("data", DATA_DIR)
    }
}

fn data_volume(backtest: &Backtest, valid: &ValidBacktest) -> Volume {
    let data = &backtest.spec.data;
    if let Some(access) = &valid.api_access {
        // Only the account's two API keys, under the file names a trader has them.
        return secret_items(
            "data",
            &access.secret,
            &[
                (access.key_id_key.as_str(), BROKER_KEY_ID),
                (access.secret_key_key.as_str(), BROKER_SECRET_KEY),
            ],
        );
    }
    if let Some(s3) = &data.s3 {
        // Only the two keys, never the rest of the user's Secret.
        return secret_items(
            "data",
            &s3.credentials_secret_name,
            &[
                (S3_ACCESS_KEY_ID, S3_ACCESS_KEY_ID),
                (S3_SECRET_ACCESS_KEY, S3_SECRET_ACCESS_KEY),
            ],
        );
    }
    match (&data.config_map, &data.volume) {
        (Some(map), _) => config_map_volume("data", &map.name, Some(&map.key)),
        (None, Some(volume)) => Volume {
            name: "data".to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: volume.claim_name.clone(),
                read_only: Some(true),
            }),
            ..Volume::default()
        },
        // The schema requires exactly one source; an empty directory fails the run naming
        // `--data` rather than the render.
        (None, None) => Volume {
            name: "data".to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    }
}
