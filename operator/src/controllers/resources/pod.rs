//! The runtime pods of every kind: the trader, cycle and worker pods share one container
//! shape (the contract's pod mode as arguments, the identity env, the HTTP port, probes for
//! long-running modes), the same locked-down security settings and the same way of mounting
//! Secrets.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, PodSecurityContext, PodSpec, Probe, ResourceRequirements,
    SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use tradeplane_contract::command::PodMode;
use tradeplane_contract::layout::HTTP_PORT;

use crate::api::common::PodPlacement;

/// The one container of a runtime pod.
pub struct RuntimeContainer<'a> {
    pub image: String,
    pub mode: PodMode,
    /// The resource's own requests and limits; [`default_resources`] when it sets none.
    pub resources: Option<&'a ResourceRequirements>,
    pub mounts: Vec<VolumeMount>,
}

impl RuntimeContainer<'_> {
    /// The container: the mode's arguments from the contract, probes only for modes that keep
    /// running (a cycle pod exits when done), locked down.
    pub fn build(self) -> Container {
        let long_running = self.mode.is_long_running();
        Container {
            name: "agent-runtime".to_string(),
            image: Some(self.image),
            args: Some(self.mode.args()),
            env: Some(identity_env()),
            ports: Some(vec![ContainerPort {
                name: Some("http".to_string()),
                container_port: HTTP_PORT,
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            }]),
            readiness_probe: long_running.then(|| http_probe("/readyz", 5)),
            liveness_probe: long_running.then(|| http_probe("/healthz", 10)),
            resources: Some(self.resources.cloned().unwrap_or_else(default_resources)),
            security_context: Some(container_security_context()),
            volume_mounts: Some(self.mounts),
            ..Container::default()
        }
    }
}

/// A runtime pod: `container` with its `volumes`, hardened, placed as the resource asks.
pub fn runtime_pod(
    container: Container,
    volumes: Vec<Volume>,
    placement: Option<&PodPlacement>,
) -> PodSpec {
    let placement = placement.cloned().unwrap_or_default();
    PodSpec {
        security_context: Some(pod_security_context()),
        containers: vec![container],
        volumes: Some(volumes),
        node_selector: (!placement.node_selector.is_empty()).then_some(placement.node_selector),
        tolerations: (!placement.tolerations.is_empty()).then_some(placement.tolerations),
        affinity: placement.affinity,
        priority_class_name: placement.priority_class_name,
        ..PodSpec::default()
    }
}

/// The unprivileged user the runtime image runs as.
pub const UID: i64 = 65532;

/// Non-root, with the runtime's default seccomp profile.
pub fn pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(UID),
        run_as_group: Some(UID),
        fs_group: Some(UID),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

/// A read-only root filesystem, no privilege escalation, no capabilities.
pub fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

/// An HTTP probe on the container's `http` port.
pub fn http_probe(path: &str, period_seconds: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("http".to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        ..Probe::default()
    }
}

/// Requests when a resource sets none: 100m CPU, 128Mi.
pub fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity("100m".to_string())),
            ("memory".to_string(), Quantity("128Mi".to_string())),
        ])),
        ..ResourceRequirements::default()
    }
}

/// A Secret as a volume whose files only the pod's user and group can read.
pub fn secret_volume(name: &str, secret: &str) -> Volume {
    Volume {
        name: name.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_string()),
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

pub fn read_only_mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// The root filesystem is read-only; `/tmp` is the one writable scratch space.
pub fn scratch_volume() -> Volume {
    Volume {
        name: "tmp".to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

pub fn scratch_mount() -> VolumeMount {
    VolumeMount {
        name: "tmp".to_string(),
        mount_path: "/tmp".to_string(),
        ..VolumeMount::default()
    }
}

/// `POD_NAME` and `POD_NAMESPACE` from the downward API: the runtime's identity in Leases,
/// logs and metrics.
pub fn identity_env() -> Vec<EnvVar> {
    [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ]
    .into_iter()
    .map(|(name, path)| EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_string(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    })
    .collect()
}

/// The controller owner reference to `owner`, so its children are garbage-collected with it.
pub fn owner_reference<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    owner
        .controller_owner_ref(&())
        .unwrap_or_else(|| OwnerReference {
            api_version: K::api_version(&()).to_string(),
            kind: K::kind(&()).to_string(),
            name: owner.meta().name.clone().unwrap_or_default(),
            uid: owner.meta().uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
}
