//! The Service in front of runtime pods: one TCP port on the runtime's HTTP port.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tradeplane_contract::layout::HTTP_PORT;

/// A Service selecting `selector`'s pods, with one port named `port_name` on the runtime's
/// HTTP port (the container port is always named `http`).
pub fn http(metadata: ObjectMeta, selector: BTreeMap<String, String>, port_name: &str) -> Service {
    Service {
        metadata,
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                name: Some(port_name.to_string()),
                port: HTTP_PORT,
                target_port: Some(IntOrString::String("http".to_string())),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
