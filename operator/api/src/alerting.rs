//! `spec.alerting` of a TradingStrategy and of an AgentPool: which Prometheus alerts the
//! operator writes for it, with which thresholds, severities and `for` durations, and the
//! labels that let a Prometheus `ruleSelector` / `podMonitorSelector` find them.
//!
//! Every alert is on once alerting is enabled and has a default threshold, severity and `for`
//! (stated in its description, applied in `controllers::resources::monitoring`), so `enabled:
//! true` alone gives a complete, tested rule set; each knob is there to tune, not to fill in.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::URL_PATTERN;

/// A Prometheus duration as `for` takes it: whole seconds, minutes or hours, e.g. `5m`, `1h30m`.
pub const DURATION_PATTERN: &str = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";

// CEL that walks the keys of a map costs too much for the API server's estimate (a key's
// length has no bound), so label keys are checked where it is cheap: Kubernetes checks the
// `labels` on the objects it stores (a bad key makes the object refused: `ChildRejected`), and
// the operator checks `alertLabels` names before it applies anything. CEL keeps the reserved
// names out, which costs a lookup each.
const ALERT_LABELS_RULE: &str = "!('severity' in self) && !('alertname' in self) && !('namespace' in self) && !('strategy' in self) && !('pool' in self)";
const ALERT_LABELS_MESSAGE: &str = "alertLabels must not set severity, alertname, namespace, strategy or pool: the operator sets them";
const PERCENT_RULE: &str =
    "!has(self.threshold) || (self.threshold > 0.0 && self.threshold <= 100.0)";
const PERCENT_MESSAGE: &str = "threshold is a percent: more than 0, at most 100";
const COUNT_RULE: &str = "!has(self.threshold) || (self.threshold >= 1.0 && self.threshold <= 1000.0 && double(int(self.threshold)) == self.threshold)";
const COUNT_MESSAGE: &str = "threshold is a whole number from 1 to 1000";
const UNUSED_RULE: &str = "!has(self.threshold)";
const UNUSED_MESSAGE: &str = "this alert has no threshold";

// How urgent an alert is; becomes its `severity` label (lower case), which Alertmanager
// routes on. (A plain comment: kube copies an enum's doc over the doc of the optional field
// it fills, which states the default.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Severity {
    /// Someone must act now (pages).
    Critical,
    /// Someone should look soon (a ticket, a chat message).
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// The `severity` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// One alert's knobs. What `threshold` measures, and every default, is in the description of
/// the alert's field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertRuleSpec {
    /// false leaves this one alert out of the rules. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// When the alert fires; its unit is in the alert's description. Default: in the alert's
    /// description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// How long the condition must hold before the alert fires, e.g. `5m` (Prometheus's
    /// `for`). Default: in the alert's description.
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), pattern(DURATION_PATTERN))]
    pub for_: Option<String>,
    /// `Critical` (someone must act now), `Warning` (look soon) or `Info`; becomes the alert's
    /// `severity` label in lower case, which Alertmanager routes on. Default: in the alert's
    /// description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

/// What both kinds' alerting has in common: the switch, the labels and the runbooks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertingCommon {
    /// Creates the PrometheusRule and PodMonitor. Default false; turning it off deletes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Labels added to the PrometheusRule and PodMonitor, so that a Prometheus `ruleSelector`
    /// / `podMonitorSelector` picks them up (e.g. `release: prometheus`). At most 16.
    /// Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub labels: BTreeMap<String, String>,
    /// Labels added to every alert, for Alertmanager's routes (e.g. `team: trading`): names
    /// as Prometheus writes them (`[a-zA-Z_][a-zA-Z0-9_]*`), at most 16. Default: none; every
    /// alert carries `severity`, `namespace` and the owner's name (`strategy` or `pool`)
    /// anyway.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    #[x_kube(validation = Rule::new(ALERT_LABELS_RULE).message(ALERT_LABELS_MESSAGE).reason(Reason::FieldValueForbidden))]
    pub alert_labels: BTreeMap<String, String>,
    /// Where the runbooks are: each alert's `runbook_url` annotation is this URL, `#` and the
    /// alert's name in lower case. Default: the project's `docs/alerts.md`.
    #[serde(
        rename = "runbookBaseURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 2048), pattern(URL_PATTERN))]
    pub runbook_base_url: Option<String>,
    /// How often Prometheus scrapes the runtime pods (the PodMonitor's `interval`), e.g.
    /// `30s`. Default `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), pattern(DURATION_PATTERN))]
    pub scrape_interval: Option<String>,
}

/// The strategy's alerts (PrometheusRule) and the scrape of its runtime pods (PodMonitor),
/// written where the cluster serves the monitoring.coreos.com kinds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertingSpec {
    #[serde(flatten)]
    pub common: AlertingCommon,
    /// `TradingStrategyDrawdown`: equity is more than `threshold` percent below its peak.
    /// Default threshold 5, for `1m`, `Warning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(PERCENT_RULE).message(PERCENT_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub drawdown: Option<AlertRuleSpec>,
    /// `TradingStrategyDailyLoss`: equity is more than `threshold` percent below where the
    /// UTC day started. Default threshold 3, for `1m`, `Critical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(PERCENT_RULE).message(PERCENT_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub daily_loss: Option<AlertRuleSpec>,
    /// `TradingStrategyOrderRejections`: more than `threshold` percent of the orders sent in
    /// the last 15 minutes were rejected. Default threshold 20, for `5m`, `Warning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(PERCENT_RULE).message(PERCENT_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub order_rejections: Option<AlertRuleSpec>,
    /// `TradingStrategyNoCycle`: no cycle completed (or was skipped for closed markets) in
    /// the last `threshold` cycle intervals (`schedule.intervalSeconds`; a window of at least
    /// two minutes), including a runtime that never completed one. Not rendered for cron
    /// schedules (their cycles run in short-lived pods). Default threshold 3, for `0s`,
    /// `Critical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(COUNT_RULE).message(COUNT_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub no_cycle: Option<AlertRuleSpec>,
    /// `TradingStrategyBrokerUnreachable`: the runtime cannot reach its broker. No
    /// threshold. Default for `2m`, `Critical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(UNUSED_RULE).message(UNUSED_MESSAGE).reason(Reason::FieldValueForbidden))]
    pub broker_unreachable: Option<AlertRuleSpec>,
    /// `TradingStrategyLLMErrors`: more than `threshold` percent of the in-process analysts'
    /// LLM calls failed over the last 10 minutes (refusals by the strategy's own budget do
    /// not count). Default threshold 10, for `10m`, `Warning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(PERCENT_RULE).message(PERCENT_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub llm_errors: Option<AlertRuleSpec>,
    /// `TradingStrategyLLMSpend`: today's LLM spend reached `threshold` percent of
    /// `llmDailyBudgetUSD`. Rendered only when that budget is set. Default threshold 80, for
    /// `0s`, `Warning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(PERCENT_RULE).message(PERCENT_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub llm_spend: Option<AlertRuleSpec>,
    /// `TradingStrategyKillSwitch`: a kill switch of the runtime (`max_drawdown` or
    /// `max_daily_loss`) tripped and holds trading halted. No threshold. Default for `0s`,
    /// `Critical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(UNUSED_RULE).message(UNUSED_MESSAGE).reason(Reason::FieldValueForbidden))]
    pub kill_switch: Option<AlertRuleSpec>,
    /// `TradingStrategyNoLeader`: no runtime replica holds the leader Lease (or none is
    /// scraped), so nothing trades. Not rendered for cron schedules. No threshold. Default for
    /// `1m`, `Critical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(UNUSED_RULE).message(UNUSED_MESSAGE).reason(Reason::FieldValueForbidden))]
    pub no_leader: Option<AlertRuleSpec>,
    /// `TradingStrategyBackupTooOld`: the last successful backup is older than the longest
    /// gap of `backup.schedule` times (`threshold` + 1), i.e. `threshold` scheduled backups
    /// were missed. Rendered only when backups are scheduled and not suspended. Default
    /// threshold 1, for `10m`, `Warning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(COUNT_RULE).message(COUNT_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub backup_too_old: Option<AlertRuleSpec>,
}

/// The pool's alerts (PrometheusRule) and the scrape of its workers (PodMonitor), written
/// where the cluster serves the monitoring.coreos.com kinds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolAlertingSpec {
    #[serde(flatten)]
    pub common: AlertingCommon,
    /// `AgentPoolWorkerErrors`: more than `threshold` percent of the analysis requests the
    /// workers answered in the last 10 minutes failed or were turned away busy. Default
    /// threshold 5, for `10m`, `Warning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(PERCENT_RULE).message(PERCENT_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub worker_errors: Option<AlertRuleSpec>,
    /// `AgentPoolLLMErrors`: more than `threshold` percent of the workers' LLM calls failed
    /// over the last 10 minutes (budget refusals do not count). Default threshold 10, for
    /// `10m`, `Warning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(PERCENT_RULE).message(PERCENT_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub llm_errors: Option<AlertRuleSpec>,
    /// `AgentPoolLLMSpend`: a provider's spend today reached `threshold` percent of its
    /// `dailyBudgetUSD`. Rendered only for providers with a budget. Default threshold 80, for
    /// `0s`, `Warning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(PERCENT_RULE).message(PERCENT_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub llm_spend: Option<AlertRuleSpec>,
    /// `AgentPoolNoWorkers`: no worker of the pool is up to be scraped. No threshold.
    /// Default for `5m`, `Critical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(UNUSED_RULE).message(UNUSED_MESSAGE).reason(Reason::FieldValueForbidden))]
    pub no_workers: Option<AlertRuleSpec>,
}
