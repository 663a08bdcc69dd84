//! The children of a TradingStrategy, rendered from it and what it references. Pure: the
//! reconcile reads the referenced objects and the Secret contents, this module decides what
//! the children look like, and unit tests check them without a cluster.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Secret, Service, ServiceAccount,
    ServicePort, ServiceSpec, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::{self, CONFIG_DIR, CONFIG_FILE, CREDENTIALS_DIR, HTTP_PORT, JOURNAL_DIR};
use crate::api::trading_strategy::JournalBackend;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::meta::{
    Component, INPUTS_HASH_ANNOTATION, RESTART_AT_ANNOTATION, child_labels, child_name,
    content_hash, selector_labels,
};
use crate::controllers::pod;

/// The label naming the owning strategy on every child.
pub const STRATEGY_LABEL: &str = "tradeplane.io/strategy";

/// Everything the pure rendering needs beyond the strategy itself.
pub struct Inputs<'a> {
    /// The runtime config, already rendered (see `config::render`).
    pub runtime_config: &'a agent_runtime::config::RuntimeConfig,
    /// Contents of the credentials Secret: broker keys, provider keys, the journal URL,
    /// copied from the Secrets the user named.
    pub credentials: BTreeMap<String, Vec<u8>>,
    /// The image when the strategy does not override it.
    pub default_image: &'a str,
}

/// All children. `None` means "must not exist" (the reconcile deletes it).
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
    pub backup: Option<CronJob>,
}

/// Names of the children, so the reconcile can find and delete them.
pub struct Names {
    pub config: String,
    pub credentials: String,
    pub account: String,
    pub service: String,
    pub journal: String,
    pub deployment: String,
    pub cycle: String,
    pub backup: String,
}

pub fn names(strategy: &str) -> Names {
    Names {
        config: child_name(strategy, "config"),
        credentials: child_name(strategy, "credentials"),
        account: child_name(strategy, "runtime"),
        service: child_name(strategy, "metrics"),
        journal: child_name(strategy, "journal"),
        deployment: child_name(strategy, "trader"),
        cycle: child_name(strategy, "cycle"),
        backup: child_name(strategy, "backup"),
    }
}

/// Renders every child. Fails only if the config cannot be serialized, which would be a bug.
pub fn render(
    strategy: &TradingStrategy,
    inputs: &Inputs<'_>,
) -> Result<Children, serde_yaml::Error> {
    let name = strategy.metadata.name.clone().unwrap_or_default();
    let namespace = strategy.metadata.namespace.clone();
    let spec = &strategy.spec;
    let names = names(&name);
    let owner = pod::owner_reference(strategy);
    let meta = |child: String, component: Component| ObjectMeta {
        name: Some(child),
        namespace: namespace.clone(),
        labels: Some(child_labels(
            STRATEGY_LABEL,
            &name,
            component,
            strategy.metadata.labels.as_ref(),
        )),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    };

    let config_yaml = serde_yaml::to_string(inputs.runtime_config)?;
    let config = Secret {
        metadata: meta(names.config.clone(), Component::Trader),
        data: Some(BTreeMap::from([(
            CONFIG_FILE.to_string(),
            ByteString(config_yaml.clone().into_bytes()),
        )])),
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    };
    let credentials = Secret {
        metadata: meta(names.credentials.clone(), Component::Trader),
        data: Some(
            inputs
                .credentials
                .iter()
                .map(|(key, value)| (key.clone(), ByteString(value.clone())))
                .collect(),
        ),
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    };

    // Everything the pods read at start, hashed into the pod template: a change of the
    // config or of any credential rolls the pods.
    let mut hashed: Vec<&[u8]> = vec![config_yaml.as_bytes()];
    for (key, value) in &inputs.credentials {
        hashed.push(key.as_bytes());
        hashed.push(value);
    }
    let inputs_hash = content_hash(&hashed);

    let lease_name = config::leader_lease(&name);
    let service_account = ServiceAccount {
        metadata: meta(names.account.clone(), Component::Trader),
        automount_service_account_token: Some(true),
        ..ServiceAccount::default()
    };
    let role = Role {
        metadata: meta(names.account.clone(), Component::Trader),
        rules: Some(runtime_rules(&name, &lease_name)),
    };
    let role_binding = RoleBinding {
        metadata: meta(names.account.clone(), Component::Trader),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "Role".to_string(),
            name: names.account.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: names.account.clone(),
            namespace: namespace.clone(),
            ..Subject::default()
        }]),
    };
    // The operator creates the Lease so that the runtime's Role needs no `create` (which
    // RBAC cannot limit to one name). The runtime writes its spec; the operator never does.
    let lease = Lease {
        metadata: meta(lease_name, Component::Trader),
        spec: None,
    };

    let trader_selector = selector_labels(STRATEGY_LABEL, &name, Component::Trader);
    let service = Service {
        metadata: meta(names.service.clone(), Component::Trader),
        spec: Some(ServiceSpec {
            selector: Some(trader_selector.clone()),
            ports: Some(vec![ServicePort {
                name: Some("http-metrics".to_string()),
                port: HTTP_PORT,
                target_port: Some(IntOrString::String("http".to_string())),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };

    let postgres = spec.journal.as_ref().map(|j| j.backend) == Some(JournalBackend::Postgres);
    let journal = (!postgres).then(|| {
        let sqlite = spec
            .journal
            .as_ref()
            .and_then(|j| j.sqlite.clone())
            .unwrap_or_default();
        PersistentVolumeClaim {
            metadata: meta(names.journal.clone(), Component::Trader),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".to_string()]),
                storage_class_name: sqlite.storage_class_name,
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        sqlite
                            .storage_size
                            .unwrap_or_else(|| Quantity("1Gi".to_string())),
                    )])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        }
    });

    let pod = |component: Component, mode: &str| -> PodTemplateSpec {
        let mut annotations =
            BTreeMap::from([(INPUTS_HASH_ANNOTATION.to_string(), inputs_hash.clone())]);
        if let Some(restart_at) = &spec.restart_at {
            annotations.insert(RESTART_AT_ANNOTATION.to_string(), restart_at.clone());
        }
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(child_labels(
                    STRATEGY_LABEL,
                    &name,
                    component,
                    strategy.metadata.labels.as_ref(),
                )),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            }),
            spec: Some(pod_spec(strategy, inputs, &names, mode, journal.is_some())),
        }
    };

    let cron = spec.schedule.as_ref().and_then(|s| s.cron.clone());
    let suspended = spec.suspend == Some(true);
    let replicas = spec.replicas.unwrap_or(1);
    let deployment = cron.is_none().then(|| Deployment {
        metadata: meta(names.deployment.clone(), Component::Trader),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(trader_selector.clone()),
                ..LabelSelector::default()
            },
            // A SQLite journal is one file on a ReadWriteOnce volume: the old pod must be
            // gone before the new one opens it. With Postgres, surge and hand over the Lease.
            strategy: Some(DeploymentStrategy {
                type_: Some(
                    if postgres {
                        "RollingUpdate"
                    } else {
                        "Recreate"
                    }
                    .to_string(),
                ),
                ..DeploymentStrategy::default()
            }),
            revision_history_limit: Some(5),
            template: pod(Component::Trader, "trader"),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    });
    let disruption_budget = deployment.as_ref().map(|_| PodDisruptionBudget {
        metadata: meta(names.deployment.clone(), Component::Trader),
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(trader_selector.clone()),
                ..LabelSelector::default()
            }),
            // With a standby, keep one pod through a drain. A single pod may always be
            // evicted: a budget of one would block node drains forever.
            min_available: (replicas > 1).then_some(IntOrString::Int(1)),
            max_unavailable: (replicas <= 1).then_some(IntOrString::Int(1)),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    });

    let schedule = spec.schedule.clone().unwrap_or_default();
    let cycle = cron.map(|cron| CronJob {
        metadata: meta(names.cycle.clone(), Component::Cycle),
        spec: CronJobSpec {
            schedule: cron,
            time_zone: schedule.time_zone.clone(),
            // `suspend` stops trading at once: no new cycle starts.
            suspend: Some(suspended),
            concurrency_policy: Some("Forbid".to_string()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: job_template(pod(Component::Cycle, "cycle")),
            ..CronJobSpec::default()
        },
        ..CronJob::default()
    });

    let backup = spec.backup.as_ref().and_then(|backup| {
        backup.schedule.clone().map(|schedule| CronJob {
            metadata: meta(names.backup.clone(), Component::Backup),
            spec: CronJobSpec {
                schedule,
                time_zone: backup.time_zone.clone(),
                suspend: Some(backup.suspend == Some(true)),
                concurrency_policy: Some("Forbid".to_string()),
                successful_jobs_history_limit: Some(3),
                failed_jobs_history_limit: Some(3),
                job_template: job_template(pod(Component::Backup, "backup")),
                ..CronJobSpec::default()
            },
            ..CronJob::default()
        })
    });

    Ok(Children {
        config,
        credentials,
        service_account,
        role,
        role_binding,
        lease,
        service,
        journal,
        deployment,
        disruption_budget,
        cycle,
        backup,
    })
}

fn job_template(pod: PodTemplateSpec) -> JobTemplateSpec {
    let mut pod = pod;
    if let Some(spec) = pod.spec.as_mut() {
        spec.restart_policy = Some("Never".to_string());
    }
    JobTemplateSpec {
        metadata: None,
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            template: pod,
            ..JobSpec::default()
        }),
    }
}

/// The runtime may touch its own Lease and its own strategy's status, nothing else.
fn runtime_rules(strategy: &str, lease: &str) -> Vec<PolicyRule> {
    vec![
        PolicyRule {
            api_groups: Some(vec!["coordination.k8s.io".to_string()]),
            resources: Some(vec!["leases".to_string()]),
            resource_names: Some(vec![lease.to_string()]),
            verbs: vec!["get".to_string(), "update".to_string(), "patch".to_string()],
            ..PolicyRule::default()
        },
        PolicyRule {
            api_groups: Some(vec!["tradeplane.io".to_string()]),
            resources: Some(vec!["tradingstrategies/status".to_string()]),
            resource_names: Some(vec![strategy.to_string()]),
            verbs: vec!["get".to_string(), "patch".to_string()],
            ..PolicyRule::default()
        },
    ]
}

fn pod_spec(
    strategy: &TradingStrategy,
    inputs: &Inputs<'_>,
    names: &Names,
    mode: &str,
    sqlite: bool,
) -> PodSpec {
    let spec = &strategy.spec;
    let image = spec
        .image
        .clone()
        .unwrap_or_else(|| inputs.default_image.to_string());
    let placement = spec.placement.clone().unwrap_or_default();
    let mut volumes = vec![
        pod::secret_volume("config", &names.config),
        pod::secret_volume("credentials", &names.credentials),
        pod::scratch_volume(),
    ];
    let mut mounts = vec![
        pod::read_only_mount("config", CONFIG_DIR),
        pod::read_only_mount("credentials", CREDENTIALS_DIR),
        pod::scratch_mount(),
    ];
    if sqlite {
        volumes.push(Volume {
            name: "journal".to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: names.journal.clone(),
                read_only: None,
            }),
            ..Volume::default()
        });
        mounts.push(VolumeMount {
            name: "journal".to_string(),
            mount_path: JOURNAL_DIR.to_string(),
            ..VolumeMount::default()
        });
    }
    let long_running = mode == "trader";
    PodSpec {
        service_account_name: Some(names.account.clone()),
        automount_service_account_token: Some(true),
        // The leader releases its Lease and finishes or abandons its cycle on SIGTERM.
        termination_grace_period_seconds: Some(30),
        security_context: Some(pod::pod_security_context()),
        containers: vec![Container {
            name: "agent-runtime".to_string(),
            image: Some(image),
            args: Some(vec![
                mode.to_string(),
                "--config".to_string(),
                format!("{CONFIG_DIR}/{CONFIG_FILE}"),
            ]),
            env: Some(pod::identity_env()),
            ports: Some(vec![ContainerPort {
                name: Some("http".to_string()),
                container_port: HTTP_PORT,
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            }]),
            readiness_probe: long_running.then(|| pod::http_probe("/readyz", 5)),
            liveness_probe: long_running.then(|| pod::http_probe("/healthz", 10)),
            resources: Some(
                spec.resources
                    .clone()
                    .unwrap_or_else(pod::default_resources),
            ),
            security_context: Some(pod::container_security_context()),
            volume_mounts: Some(mounts),
            ..Container::default()
        }],
        volumes: Some(volumes),
        node_selector: (!placement.node_selector.is_empty()).then_some(placement.node_selector),
        tolerations: (!placement.tolerations.is_empty()).then_some(placement.tolerations),
        affinity: placement.affinity,
        priority_class_name: placement.priority_class_name,
        ..PodSpec::default()
    }
}
