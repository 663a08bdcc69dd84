//! The children of an AgentPool, rendered from it and the provider keys it references. Pure:
//! the reconcile reads the key Secrets, this module decides what the children look like, and
//! unit tests check them without a cluster.
//!
//! Children: the worker config Secret, the provider-keys Secret, the worker Deployment, the
//! Service strategies call (named by `trading_strategy::config::agent_pool_service`, since
//! strategies render its URL), a PodDisruptionBudget, and — with `spec.autoscaling` — a
//! HorizontalPodAutoscaler, which then owns the Deployment's replica count.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
    MetricIdentifier, MetricSpec, MetricTarget, PodsMetricSource, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSpec, PodTemplateSpec, Secret, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::agent_pool::AgentPool;
use crate::controllers::meta::{
    Component, INPUTS_HASH_ANNOTATION, child_labels, child_name, content_hash, selector_labels,
};
use crate::controllers::pod;
use crate::controllers::trading_strategy::config::{
    CONFIG_DIR, CONFIG_FILE, CREDENTIALS_DIR, HTTP_PORT, agent_pool_service,
};

/// The label naming the owning pool on every child.
pub const POOL_LABEL: &str = "tradeplane.io/agent-pool";
/// The gauge each worker exports for the number of analyses it is running
/// (agent-runtime/src/worker: `worker_inflight_analyses` in the `tradeplane` registry), which
/// the HorizontalPodAutoscaler reads through the custom metrics API as a Pods metric.
pub const IN_FLIGHT_METRIC: &str = "tradeplane_worker_inflight_analyses";
/// Average CPU utilisation the autoscaler aims for when the pool does not say.
pub const DEFAULT_TARGET_CPU_PERCENT: i32 = 70;

/// Everything the pure rendering needs beyond the pool itself.
pub struct Inputs<'a> {
    /// The worker config, already rendered and validated (see `config::render`).
    pub runtime_config: &'a agent_runtime::config::RuntimeConfig,
    /// Provider API keys by file name (`provider_key(name)`), copied from the user's Secrets.
    pub keys: BTreeMap<String, Vec<u8>>,
    /// The image when the pool does not override it.
    pub default_image: &'a str,
}

/// All children. `autoscaler: None` means "must not exist" (the reconcile deletes it).
#[derive(Clone, Debug)]
pub struct Children {
    pub config: Secret,
    pub keys: Secret,
    pub deployment: Deployment,
    pub service: Service,
    pub disruption_budget: PodDisruptionBudget,
    pub autoscaler: Option<HorizontalPodAutoscaler>,
}

/// Names of the children. The workload objects share the Service's name, which strategies
/// know; the Secrets add a suffix to it.
pub struct Names {
    pub config: String,
    pub keys: String,
    pub workload: String,
}

pub fn names(pool: &str) -> Names {
    let workload = agent_pool_service(pool);
    Names {
        config: child_name(&workload, "config"),
        keys: child_name(&workload, "keys"),
        workload,
    }
}

/// The label selector of the pool's worker pods, as the scale subresource and `kubectl`
/// expect it in `status.selector`: `key=value` pairs joined by commas.
pub fn selector(pool: &str) -> String {
    selector_labels(POOL_LABEL, pool, Component::Worker)
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Renders every child. Fails only if the config cannot be serialized, which would be a bug.
pub fn render(pool: &AgentPool, inputs: &Inputs<'_>) -> Result<Children, serde_yaml::Error> {
    let name = pool.metadata.name.clone().unwrap_or_default();
    let namespace = pool.metadata.namespace.clone();
    let spec = &pool.spec;
    let names = names(&name);
    let owner = pod::owner_reference(pool);
    let meta = |child: &str| ObjectMeta {
        name: Some(child.to_string()),
        namespace: namespace.clone(),
        labels: Some(child_labels(
            POOL_LABEL,
            &name,
            Component::Worker,
            pool.metadata.labels.as_ref(),
        )),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    };

    let config_yaml = serde_yaml::to_string(inputs.runtime_config)?;
    let config = Secret {
        metadata: meta(&names.config),
        data: Some(BTreeMap::from([(
            CONFIG_FILE.to_string(),
            ByteString(config_yaml.clone().into_bytes()),
        )])),
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    };
    let keys = Secret {
        metadata: meta(&names.keys),
        data: Some(
            inputs
                .keys
                .iter()
                .map(|(key, value)| (key.clone(), ByteString(value.clone())))
                .collect(),
        ),
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    };

    // Everything the workers read at start, hashed into the pod template: a new config or a
    // rotated key rolls the pods.
    let mut hashed: Vec<&[u8]> = vec![config_yaml.as_bytes()];
    for (key, value) in &inputs.keys {
        hashed.push(key.as_bytes());
        hashed.push(value);
    }
    let inputs_hash = content_hash(&hashed);

    let pod_selector = selector_labels(POOL_LABEL, &name, Component::Worker);
    let label_selector = LabelSelector {
        match_labels: Some(pod_selector.clone()),
        ..LabelSelector::default()
    };
    let service = Service {
        metadata: meta(&names.workload),
        spec: Some(ServiceSpec {
            selector: Some(pod_selector.clone()),
            ports: Some(vec![ServicePort {
                name: Some("http".to_string()),
                port: HTTP_PORT,
                target_port: Some(IntOrString::String("http".to_string())),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };

    let deployment = Deployment {
        metadata: meta(&names.workload),
        spec: Some(DeploymentSpec {
            // With autoscaling the HorizontalPodAutoscaler sets the count; rendering it here
            // would make every reconcile undo the autoscaler.
            replicas: spec
                .autoscaling
                .is_none()
                .then(|| spec.replicas.unwrap_or(1)),
            selector: label_selector.clone(),
            // Workers are stateless: bring a new one up before an old one goes, so the pool
            // never serves with less than it had.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_string()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            revision_history_limit: Some(5),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(child_labels(
                        POOL_LABEL,
                        &name,
                        Component::Worker,
                        pool.metadata.labels.as_ref(),
                    )),
                    annotations: Some(BTreeMap::from([(
                        INPUTS_HASH_ANNOTATION.to_string(),
                        inputs_hash,
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(pool, inputs, &names)),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };

    let disruption_budget = PodDisruptionBudget {
        metadata: meta(&names.workload),
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(label_selector),
            // One worker at a time through a drain: the others keep serving (callers retry
            // a refused analysis elsewhere), and a pool of one can still be drained.
            max_unavailable: Some(IntOrString::Int(1)),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    };

    let autoscaler = spec.autoscaling.as_ref().map(|autoscaling| {
        let mut metrics = vec![MetricSpec {
            type_: "Resource".to_string(),
            resource: Some(ResourceMetricSource {
                name: "cpu".to_string(),
                target: MetricTarget {
                    type_: "Utilization".to_string(),
                    average_utilization: Some(
                        autoscaling
                            .target_cpu_utilization_percent
                            .unwrap_or(DEFAULT_TARGET_CPU_PERCENT),
                    ),
                    ..MetricTarget::default()
                },
            }),
            ..MetricSpec::default()
        }];
        if let Some(in_flight) = autoscaling.target_in_flight_per_replica {
            metrics.push(MetricSpec {
                type_: "Pods".to_string(),
                pods: Some(PodsMetricSource {
                    metric: MetricIdentifier {
                        name: IN_FLIGHT_METRIC.to_string(),
                        selector: None,
                    },
                    target: MetricTarget {
                        type_: "AverageValue".to_string(),
                        average_value: Some(Quantity(in_flight.to_string())),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            });
        }
        HorizontalPodAutoscaler {
            metadata: meta(&names.workload),
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".to_string()),
                    kind: "Deployment".to_string(),
                    name: names.workload.clone(),
                },
                min_replicas: Some(autoscaling.min_replicas.unwrap_or(1)),
                max_replicas: autoscaling.max_replicas,
                metrics: Some(metrics),
                ..HorizontalPodAutoscalerSpec::default()
            },
            ..HorizontalPodAutoscaler::default()
        }
    });

    Ok(Children {
        config,
        keys,
        deployment,
        service,
        disruption_budget,
        autoscaler,
    })
}

fn pod_spec(pool: &AgentPool, inputs: &Inputs<'_>, names: &Names) -> PodSpec {
    let spec = &pool.spec;
    let image = spec
        .image
        .clone()
        .unwrap_or_else(|| inputs.default_image.to_string());
    let placement = spec.placement.clone().unwrap_or_default();
    PodSpec {
        // Workers call LLM providers, never the Kubernetes API.
        automount_service_account_token: Some(false),
        // On SIGTERM a worker turns unready and finishes the analyses it has; LLM calls with
        // retries can take a while.
        termination_grace_period_seconds: Some(60),
        security_context: Some(pod::pod_security_context()),
        containers: vec![Container {
            name: "agent-runtime".to_string(),
            image: Some(image),
            args: Some(vec![
                "worker".to_string(),
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
            readiness_probe: Some(pod::http_probe("/readyz", 5)),
            liveness_probe: Some(pod::http_probe("/healthz", 10)),
            resources: Some(
                spec.resources
                    .clone()
                    .unwrap_or_else(pod::default_resources),
            ),
            security_context: Some(pod::container_security_context()),
            volume_mounts: Some(vec![
                pod::read_only_mount("config", CONFIG_DIR),
                pod::read_only_mount("credentials", CREDENTIALS_DIR),
                pod::scratch_mount(),
            ]),
            ..Container::default()
        }],
        volumes: Some(vec![
            pod::secret_volume("config", &names.config),
            pod::secret_volume("credentials", &names.keys),
            pod::scratch_volume(),
        ]),
        node_selector: (!placement.node_selector.is_empty()).then_some(placement.node_selector),
        tolerations: (!placement.tolerations.is_empty()).then_some(placement.tolerations),
        affinity: placement.affinity,
        priority_class_name: placement.priority_class_name,
        ..PodSpec::default()
    }
}
