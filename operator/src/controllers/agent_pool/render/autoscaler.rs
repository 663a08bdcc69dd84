//! The HorizontalPodAutoscaler of an autoscaled pool: CPU, and optionally the analyses each
//! worker has in flight. It owns the Deployment's replica count while it exists.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
    MetricIdentifier, MetricSpec, MetricTarget, PodsMetricSource, ResourceMetricSource,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::IN_FLIGHT_METRIC;
use crate::controllers::agent_pool::names::Names;
use crate::controllers::agent_pool::scale::Autoscaled;
use crate::controllers::meta::Component;
use crate::controllers::resources::ChildMeta;

pub fn build(
    meta: &ChildMeta<'_>,
    names: &Names,
    autoscaling: Autoscaled,
) -> HorizontalPodAutoscaler {
    let mut metrics = vec![cpu_metric(autoscaling.target_cpu_percent)];
    if let Some(in_flight) = autoscaling.target_in_flight {
        metrics.push(in_flight_metric(in_flight));
    }
    HorizontalPodAutoscaler {
        metadata: meta.child(&names.workload, Component::Worker),
        spec: HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_string()),
                kind: "Deployment".to_string(),
                name: names.workload.clone(),
            },
            min_replicas: Some(autoscaling.min_replicas),
            max_replicas: autoscaling.max_replicas,
            metrics: Some(metrics),
            ..HorizontalPodAutoscalerSpec::default()
        },
        ..HorizontalPodAutoscaler::default()
    }
}

fn cpu_metric(percent: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".to_string(),
        resource: Some(ResourceMetricSource {
            name: "cpu".to_string(),
            target: MetricTarget {
                type_: "Utilization".to_string(),
                average_utilization: Some(percent),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    }
}

fn in_flight_metric(per_replica: impl ToString) -> MetricSpec {
    MetricSpec {
        type_: "Pods".to_string(),
        pods: Some(PodsMetricSource {
            metric: MetricIdentifier {
                name: IN_FLIGHT_METRIC.to_string(),
                selector: None,
            },
            target: MetricTarget {
                type_: "AverageValue".to_string(),
                average_value: Some(Quantity(per_replica.to_string())),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    }
}
