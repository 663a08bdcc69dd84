//! `AgentPool`: a shared, autoscaled service of analyst agents that many strategies call.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    AnalystSpec, IMAGE_MESSAGE, IMAGE_NAME_LENGTH_MESSAGE, IMAGE_NAME_LENGTH_RULE, IMAGE_RULE,
    PodPlacement, ProviderSpec,
};

/// A pool of analyst agents served over HTTP by the runtime's `worker` mode, scaled by a
/// HorizontalPodAutoscaler on CPU and on in-flight analyses. Strategies that name it in
/// `spec.agentPoolRef` send their analyses here instead of running agents in-process.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "tradeplane.io",
    version = "v1alpha1",
    kind = "AgentPool",
    namespaced,
    status = "AgentPoolStatus",
    shortname = "ap",
    category = "trading",
    category = "tradeplane",
    doc = "A shared, autoscaled service of analyst agents (LLM or quantitative) that TradingStrategies call for their analyses.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.desiredReplicas"
    ),
    printcolumn(
        name = "Strategies",
        type_ = "integer",
        json_path = ".status.boundStrategyCount"
    ),
    printcolumn(name = "Spend", type_ = "string", json_path = ".status.spendSummary"),
    printcolumn(
        name = "Min",
        type_ = "integer",
        json_path = ".spec.autoscaling.minReplicas",
        priority = 1
    ),
    printcolumn(
        name = "Max",
        type_ = "integer",
        json_path = ".spec.autoscaling.maxReplicas",
        priority = 1
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.agents.all(a, a.providers.all(p, self.providers.exists(q, q.name == p)))").message("every name in agents[].providers must be defined in providers").reason(Reason::FieldValueInvalid).field_path(".agents"),
    validation = Rule::new("self.agents.all(a, has(a.model) || !a.providers.exists(p, self.providers.exists(q, q.name == p && q.kind == 'OpenAICompatible')))").message("agents[].model is required when the seat lists an OpenAICompatible provider").reason(Reason::FieldValueRequired).field_path(".agents"),
    validation = Rule::new("self.agents.all(a, has(a.method) || a.providers.exists(p, self.providers.exists(q, q.name == p && q.kind == 'OpenAICompatible')))").message("agents[].method is required when every provider of the seat is of kind Rules").reason(Reason::FieldValueRequired).field_path(".agents"),
)]
pub struct AgentPoolSpec {
    /// The analyst seats the pool serves. Each request from a strategy is answered by all of them.
    #[schemars(length(min = 1, max = 16))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["role".into()]))]
    pub agents: Vec<AnalystSpec>,
    /// Providers the agents may call, by name.
    #[schemars(length(min = 1, max = 16))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub providers: Vec<ProviderSpec>,
    /// Replicas when autoscaling is off; `kubectl scale agentpool` sets it. Ignored while
    /// autoscaling is on (the HorizontalPodAutoscaler owns the count). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: Option<i32>,
    /// Scale on CPU and on in-flight analyses per replica. Default: off, `replicas` pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// Analyses one replica runs at once; more are refused with 429 so callers retry
    /// elsewhere. Default 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_in_flight_per_replica: Option<i32>,
    /// Compute resources of each worker container. Default: requests 100m CPU / 128Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Where the worker pods may run. Default: anywhere the scheduler likes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PodPlacement>,
    /// Overrides the agent-runtime image, e.g. `registry.example.com/tradeplane/agent-runtime:v0.2.0`,
    /// optionally pinned with `@sha256:…`. Default: the image the operator was released with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(
        validation = Rule::new(IMAGE_RULE).message(IMAGE_MESSAGE).reason(Reason::FieldValueInvalid),
        validation = Rule::new(IMAGE_NAME_LENGTH_RULE).message(IMAGE_NAME_LENGTH_MESSAGE).reason(Reason::FieldValueInvalid),
    )]
    pub image: Option<String>,
    /// Prometheus alerts for this pool (a PrometheusRule) and the scrape of its workers (a
    /// PodMonitor), where the cluster serves those kinds. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<super::alerting::PoolAlertingSpec>,
}

/// HorizontalPodAutoscaler settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.minReplicas) || self.maxReplicas >= self.minReplicas").message("maxReplicas must be greater than or equal to minReplicas").reason(Reason::FieldValueInvalid).field_path(".maxReplicas"),
)]
pub struct Autoscaling {
    /// Fewest replicas. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub min_replicas: Option<i32>,
    /// Most replicas.
    #[schemars(range(min = 1, max = 100))]
    pub max_replicas: i32,
    /// Average CPU utilisation to aim for, percent of the CPU request. Default 70.
    #[serde(
        rename = "targetCPUUtilizationPercent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization_percent: Option<i32>,
    /// Average in-flight analyses per replica to aim for (the worker's
    /// `tradeplane_worker_inflight_analyses` gauge, read through the custom metrics API).
    /// Default: not used, CPU alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub target_in_flight_per_replica: Option<i32>,
}

/// What the operator last saw of the pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentPoolStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` sums up; `Reconciling` and `Stalled` follow kstatus.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::common::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// For display only: `Pending`, `Scaling`, `Ready` or `Degraded`. Use conditions in automation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Worker pods that exist (the scale subresource's status replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Worker pods ready to serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// The count the autoscaler (or `spec.replicas`) asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// Label selector of the worker pods, for the scale subresource and the HPA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// TradingStrategies that reference this pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_strategies: Vec<String>,
    /// Number of entries in `boundStrategies`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_strategy_count: Option<i32>,
    /// Each provider's spend in the current UTC day, summed over every worker replica
    /// (from the pool's spend ledger ConfigMap).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provider_spend: Vec<ProviderSpend>,
    /// For display: `provider=$spent/$budget` per provider, e.g. `openai=$1.20/$10.00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_summary: Option<String>,
}

/// One provider's spend today.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSpend {
    /// The provider's name in `spec.providers`.
    pub provider: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// US dollars spent that day by all replicas together.
    #[serde(rename = "spentUSD")]
    pub spent_usd: f64,
    /// The provider's `dailyBudgetUSD`, when it has one.
    #[serde(rename = "budgetUSD", default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
}
