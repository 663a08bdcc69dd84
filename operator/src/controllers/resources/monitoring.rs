//! The monitoring children shared by strategies and pools: a `PrometheusRule` holding the
//! owner's alerts and a `PodMonitor` scraping its runtime pods (monitoring.coreos.com/v1).
//!
//! The operator does not link the prometheus-operator's types, and the cluster may not serve
//! them at all, so both are built as [`DynamicObject`]s from plain JSON. Every alert selects
//! its owner's series by the two labels the PodMonitor puts on every target, `namespace`
//! (which prometheus-operator adds) and the owner's name (`strategy` or `pool`, relabelled
//! from the pod label), so one Prometheus can hold every strategy's rules side by side. A
//! hand-written scrape config must add the same two labels; the metric names come from
//! `docs/metrics.md`.

use std::collections::BTreeMap;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::core::ObjectMeta;
use serde::Serialize;
use serde_json::{Value, json};

use super::ChildMeta;
use crate::api::alerting::{AlertRuleSpec, AlertingCommon, Severity};
use crate::controllers::meta::{Component, child_name};

pub const GROUP: &str = "monitoring.coreos.com";
pub const VERSION: &str = "v1";
pub const RULE_KIND: &str = "PrometheusRule";
pub const MONITOR_KIND: &str = "PodMonitor";

/// The series the alert rules of every kind read, as `docs/metrics.md` lists them: the
/// runtime's (a trader's or a pool worker's), the operator's own, and Prometheus's.
pub mod metrics {
    pub const DRAWDOWN: &str = "tradeplane_drawdown_ratio";
    pub const EQUITY: &str = "tradeplane_equity_usd";
    pub const DAILY_PNL: &str = "tradeplane_daily_pnl_usd";
    pub const ORDERS: &str = "tradeplane_orders_total";
    pub const CYCLES: &str = "tradeplane_cycles_total";
    pub const BROKER_UP: &str = "tradeplane_broker_up";
    pub const LLM_CALLS: &str = "tradeplane_llm_calls_total";
    pub const LLM_SPENT_TODAY: &str = "tradeplane_llm_spent_today_usd";
    pub const KILL_SWITCH: &str = "tradeplane_kill_switch_tripped";
    pub const LEADER: &str = "tradeplane_leader";
    /// A pool worker's analyses.
    pub const ANALYSES: &str = "tradeplane_worker_analyses_total";
    /// Exported by the operator from `status.lastBackup` (backups run in short-lived pods);
    /// the strategy is in the `strategy_namespace` and `strategy` labels, since scraping the
    /// operator sets `namespace` to the operator's own.
    pub const LAST_BACKUP: &str = "tradeplane_operator_last_backup_timestamp_seconds";
    /// LLM call outcomes that are no provider failure: the strategy's own budget or a held
    /// gate refused the call before it was made.
    pub const LLM_NOT_CALLED: &str = "held|budget_exhausted";
    /// Prometheus's own series per target.
    pub const UP: &str = "up";
}

/// Where the runbooks are when `runbookBaseURL` is not set.
pub const DEFAULT_RUNBOOK_BASE: &str =
    "https://github.com/tradeplane/tradeplane/blob/main/docs/alerts.md";
pub const DEFAULT_SCRAPE_INTERVAL: &str = "30s";
/// The runtime container's port name (see `resources::pod`).
const METRICS_PORT: &str = "http";

/// The API resource of `PrometheusRule` or `PodMonitor`.
pub fn api_resource(kind: &str) -> ApiResource {
    let plural = format!("{}s", kind.to_lowercase());
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), &plural)
}

/// One alerting rule as Prometheus reads it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    pub alert: &'static str,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// The owner of a set of alerts: which series are its own, and what every alert carries.
pub struct Owner<'a> {
    pub namespace: &'a str,
    /// `strategy` or `pool`: the label naming the owner on its series and alerts.
    pub label: &'static str,
    pub name: &'a str,
    pub common: &'a AlertingCommon,
}

impl Owner<'_> {
    /// The label matchers of the owner's series, e.g. `namespace="a",strategy="b"`. Names
    /// are DNS labels, so they need no escaping.
    pub fn matchers(&self) -> String {
        format!(
            "namespace=\"{}\",{}=\"{}\"",
            self.namespace, self.label, self.name
        )
    }

    /// The `by` clause that keeps an aggregate on the owner's labels.
    pub fn by(&self) -> String {
        format!("namespace, {}", self.label)
    }

    /// `metric{<owner>,extra}`.
    pub fn series(&self, metric: &str, extra: &str) -> String {
        if extra.is_empty() {
            format!("{metric}{{{}}}", self.matchers())
        } else {
            format!("{metric}{{{},{extra}}}", self.matchers())
        }
    }

    /// A rule for `alert`, with the user's settings over the defaults; `None` when that alert
    /// is turned off. `expr` receives the threshold in force.
    pub fn rule(
        &self,
        alert: &'static str,
        settings: Option<&AlertRuleSpec>,
        defaults: Defaults,
        summary: &str,
        expr: impl FnOnce(f64) -> String,
    ) -> Option<Rule> {
        let settings = settings.cloned().unwrap_or_default();
        if settings.enabled == Some(false) {
            return None;
        }
        let threshold = settings.threshold.unwrap_or(defaults.threshold);
        let severity = settings.severity.unwrap_or(defaults.severity);
        let mut labels = self.common.alert_labels.clone();
        labels.insert("severity".into(), severity.label().into());
        labels.insert("namespace".into(), self.namespace.into());
        labels.insert(self.label.into(), self.name.into());
        let base = self
            .common
            .runbook_base_url
            .as_deref()
            .unwrap_or(DEFAULT_RUNBOOK_BASE);
        let annotations = BTreeMap::from([
            ("summary".to_string(), summary.to_string()),
            (
                "description".to_string(),
                format!(
                    "{} {}/{}: {summary}{}.",
                    self.label,
                    self.namespace,
                    self.name,
                    // Alerts without a threshold (default 0) compare with a fixed value.
                    if defaults.threshold > 0.0 {
                        format!(
                            " (value {{{{ $value | printf \"%.4g\" }}}}, threshold {threshold})"
                        )
                    } else {
                        String::new()
                    }
                ),
            ),
            (
                "runbook_url".to_string(),
                format!("{base}#{}", alert.to_lowercase()),
            ),
        ]);
        Some(Rule {
            alert,
            expr: expr(threshold),
            for_: settings.for_.unwrap_or_else(|| defaults.for_.to_string()),
            labels,
            annotations,
        })
    }
}

/// An alert's defaults (threshold 0 for alerts without one).
#[derive(Clone, Copy)]
pub struct Defaults {
    pub threshold: f64,
    pub for_: &'static str,
    pub severity: Severity,
}

/// `N`s as Prometheus reads a duration.
pub fn seconds(n: u64) -> String {
    format!("{n}s")
}

/// The Prometheus rule file of one group: what a PrometheusRule's `spec` holds, and what
/// `promtool` and a plain Prometheus load.
pub fn rule_file(group: &str, rules: &[Rule]) -> Value {
    json!({"groups": [{"name": group, "rules": rules}]})
}

/// The PrometheusRule `meta` names, holding `rules` as one group.
pub fn prometheus_rule(meta: ObjectMeta, group: &str, rules: &[Rule]) -> DynamicObject {
    let mut object = DynamicObject::new("", &api_resource(RULE_KIND)).data(json!({
        "spec": rule_file(group, rules),
    }));
    object.metadata = meta;
    object
}

/// The PodMonitor `meta` names: scrapes the metrics port of the pods `selector` matches, and
/// copies the pod label `owner_pod_label` onto every series as `owner.label`.
pub fn pod_monitor(
    meta: ObjectMeta,
    owner: &Owner<'_>,
    selector: &BTreeMap<String, String>,
    owner_pod_label: &str,
) -> DynamicObject {
    let source = format!(
        "__meta_kubernetes_pod_label_{}",
        owner_pod_label.replace(['.', '/', '-'], "_")
    );
    let interval = owner
        .common
        .scrape_interval
        .as_deref()
        .unwrap_or(DEFAULT_SCRAPE_INTERVAL);
    let mut object = DynamicObject::new("", &api_resource(MONITOR_KIND)).data(json!({
        "spec": {
            "selector": {"matchLabels": selector},
            "podMetricsEndpoints": [{
                "port": METRICS_PORT,
                "path": "/metrics",
                "interval": interval,
                "relabelings": [{
                    "action": "replace",
                    "sourceLabels": [source],
                    "targetLabel": owner.label,
                }],
            }],
        },
    }));
    object.metadata = meta;
    object
}

/// The metadata of a monitoring child: the child's own (owner reference, labels) plus the
/// user's `alerting.labels`, which a Prometheus selects it by.
pub fn with_user_labels(mut meta: ObjectMeta, common: &AlertingCommon) -> ObjectMeta {
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for (key, value) in &common.labels {
        labels.entry(key.clone()).or_insert_with(|| value.clone());
    }
    meta
}

/// The names of an owner's PrometheusRule and PodMonitor.
pub fn names(owner: &str) -> (String, String) {
    (child_name(owner, "alerts"), child_name(owner, "metrics"))
}

/// The PrometheusRule holding `rules` and the PodMonitor scraping the pods `selector`
/// matches, as children of `meta` carrying the user's labels. Strategies and pools differ in
/// their rules and pods, not in how these two objects are made.
pub fn assemble(
    meta: &ChildMeta<'_>,
    owner: &Owner<'_>,
    component: Component,
    selector: &BTreeMap<String, String>,
    rules: &[Rule],
) -> Monitoring {
    let group = format!(
        "tradeplane.{}.{}.{}",
        owner.label, owner.namespace, owner.name
    );
    let (rule_name, monitor_name) = names(owner.name);
    let child = |name: &str| with_user_labels(meta.child(name, component), owner.common);
    Monitoring {
        rule: prometheus_rule(child(&rule_name), &group, rules),
        monitor: pod_monitor(child(&monitor_name), owner, selector, meta.owner_label()),
        file: rule_file(&group, rules),
        problem: label_problem(owner.common),
    }
}

/// A PrometheusRule and a PodMonitor, as rendered for one owner.
#[derive(Clone, Debug)]
pub struct Monitoring {
    pub rule: DynamicObject,
    pub monitor: DynamicObject,
    /// The rule file `rule` holds (for `promtool` and the `alert-rules` bin).
    pub file: Value,
    /// What in the spec keeps the rules from loading (see [`label_problem`]); then nothing
    /// is applied.
    pub problem: Option<String>,
}

/// The first `alertLabels` name Prometheus would refuse, as a sentence naming the field. (The
/// API server cannot check map keys cheaply; see `api::alerting`.)
pub fn label_problem(common: &AlertingCommon) -> Option<String> {
    let valid = |name: &str| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    common
        .alert_labels
        .keys()
        .find(|name| !valid(name))
        .map(|name| {
            format!(
                "spec.alerting.alertLabels: `{name}` is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common() -> AlertingCommon {
        AlertingCommon {
            enabled: Some(true),
            alert_labels: BTreeMap::from([("team".into(), "desk".into())]),
            ..AlertingCommon::default()
        }
    }

    fn owner(common: &AlertingCommon) -> Owner<'_> {
        Owner {
            namespace: "prod",
            label: "strategy",
            name: "momentum",
            common,
        }
    }

    const DEFAULTS: Defaults = Defaults {
        threshold: 5.0,
        for_: "1m",
        severity: Severity::Warning,
    };

    #[test]
    fn a_rule_takes_the_defaults_and_carries_the_owner_severity_team_and_runbook() {
        let common = common();
        let rule = owner(&common)
            .rule("X", None, DEFAULTS, "x", |t| format!("x > {t}"))
            .expect("on by default");
        assert_eq!(rule.expr, "x > 5");
        assert_eq!(rule.for_, "1m");
        assert_eq!(rule.labels["severity"], "warning");
        assert_eq!(rule.labels["strategy"], "momentum");
        assert_eq!(rule.labels["namespace"], "prod");
        assert_eq!(rule.labels["team"], "desk");
        assert_eq!(
            rule.annotations["runbook_url"],
            format!("{DEFAULT_RUNBOOK_BASE}#x")
        );
    }

    #[test]
    fn settings_override_defaults_and_enabled_false_drops_the_rule() {
        let common = AlertingCommon {
            runbook_base_url: Some("https://wiki.example/runbooks".into()),
            ..common()
        };
        let settings = AlertRuleSpec {
            threshold: Some(2.5),
            for_: Some("10m".into()),
            severity: Some(Severity::Critical),
            ..AlertRuleSpec::default()
        };
        let rule = owner(&common)
            .rule("Y", Some(&settings), DEFAULTS, "y", |t| format!("y > {t}"))
            .expect("enabled");
        assert_eq!((rule.expr.as_str(), rule.for_.as_str()), ("y > 2.5", "10m"));
        assert_eq!(rule.labels["severity"], "critical");
        assert_eq!(
            rule.annotations["runbook_url"],
            "https://wiki.example/runbooks#y"
        );
        let off = AlertRuleSpec {
            enabled: Some(false),
            ..settings
        };
        assert!(
            owner(&common)
                .rule("Y", Some(&off), DEFAULTS, "y", |_| String::new())
                .is_none()
        );
    }

    #[test]
    fn alert_label_names_prometheus_would_refuse_are_named() {
        let mut common = common();
        assert_eq!(label_problem(&common), None);
        common.alert_labels.insert("cost-center".into(), "x".into());
        let problem = label_problem(&common).expect("a dash is refused");
        assert!(
            problem.contains("spec.alerting.alertLabels: `cost-center`"),
            "{problem}"
        );
    }

    #[test]
    fn the_pod_monitor_relabels_the_owner_label_and_scrapes_the_http_port() {
        let common = AlertingCommon {
            scrape_interval: Some("15s".into()),
            ..common()
        };
        let selector = BTreeMap::from([("tradeplane.io/strategy".into(), "momentum".into())]);
        let monitor = pod_monitor(
            ObjectMeta::default(),
            &owner(&common),
            &selector,
            "tradeplane.io/strategy",
        );
        let endpoint = &monitor.data["spec"]["podMetricsEndpoints"][0];
        assert_eq!(endpoint["port"], "http");
        assert_eq!(endpoint["interval"], "15s");
        assert_eq!(
            endpoint["relabelings"][0]["sourceLabels"][0],
            "__meta_kubernetes_pod_label_tradeplane_io_strategy"
        );
        assert_eq!(endpoint["relabelings"][0]["targetLabel"], "strategy");
        assert_eq!(
            monitor.data["spec"]["selector"]["matchLabels"]["tradeplane.io/strategy"],
            "momentum"
        );
        let types = monitor.types.expect("typed");
        assert_eq!(
            (types.api_version.as_str(), types.kind.as_str()),
            ("monitoring.coreos.com/v1", "PodMonitor")
        );
    }
}
