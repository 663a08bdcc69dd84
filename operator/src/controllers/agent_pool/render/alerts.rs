//! An AgentPool's alerts and the scrape of its workers, from `spec.alerting`: pure, checked
//! by the unit tests below and by `promtool` (tests/e2e/tests/alert_rules.rs).
//!
//! The pool's own signals: failing analyses, failing LLM calls, each budgeted provider's spend
//! against its `dailyBudgetUSD`, and no worker up at all (from Prometheus's own `up` series of
//! the PodMonitor's targets, so it holds even when every worker is gone).

use crate::api::agent_pool::AgentPool;
use crate::api::alerting::{PoolAlertingSpec, Severity};
use crate::controllers::agent_pool::names::POOL_LABEL;
use crate::controllers::agent_pool::scale::Scale;
use crate::controllers::meta::{Component, selector_labels};
use crate::controllers::resources::ChildMeta;
use crate::controllers::resources::monitoring::{self, Defaults, Monitoring, Owner, Rule, metrics};

/// Whether the pool asks for alerts.
pub fn enabled(pool: &AgentPool) -> bool {
    pool.spec
        .alerting
        .as_ref()
        .is_some_and(|a| a.common.enabled == Some(true))
}

/// The names of the PrometheusRule and the PodMonitor.
pub fn names(pool: &str) -> (String, String) {
    monitoring::names(pool)
}

/// The PrometheusRule and PodMonitor, or `None` when alerting is off.
pub fn render(pool: &AgentPool) -> Option<Monitoring> {
    let alerting = pool.spec.alerting.as_ref().filter(|_| enabled(pool))?;
    let meta = ChildMeta::new(pool, POOL_LABEL);
    let namespace = pool.metadata.namespace.as_deref().unwrap_or_default();
    let owner = Owner {
        namespace,
        label: "pool",
        name: meta.owner(),
        common: &alerting.common,
    };
    let rules = rules(pool, alerting, &owner);
    let selector = selector_labels(POOL_LABEL, meta.owner(), Component::Worker);
    Some(monitoring::assemble(
        &meta,
        &owner,
        Component::Worker,
        &selector,
        &rules,
    ))
}

/// Every alert the spec asks for, in a fixed order (spend: one rule per budgeted provider).
pub fn rules(pool: &AgentPool, alerting: &PoolAlertingSpec, owner: &Owner<'_>) -> Vec<Rule> {
    use metrics::*;
    let by = owner.by();
    let series = |metric: &str, extra: &str| owner.series(metric, extra);
    let mut rules = Vec::new();
    rules.extend(owner.rule(
        "AgentPoolWorkerErrors",
        alerting.worker_errors.as_ref(),
        defaults(5.0, "10m", Severity::Warning),
        "too many analysis requests fail or are turned away (percent over 10 minutes)",
        |t| {
            format!(
                "sum by ({by}) (rate({}[10m])) / sum by ({by}) (rate({}[10m])) * 100 > {t}",
                series(ANALYSES, "outcome!=\"ok\""),
                series(ANALYSES, ""),
            )
        },
    ));
    rules.extend(owner.rule(
        "AgentPoolLLMErrors",
        alerting.llm_errors.as_ref(),
        defaults(10.0, "10m", Severity::Warning),
        "too many LLM calls fail (percent over 10 minutes)",
        |t| {
            format!(
                "sum by ({by}) (rate({}[10m])) / sum by ({by}) (rate({}[10m])) * 100 > {t}",
                series(LLM_CALLS, &format!("outcome!~\"ok|{LLM_NOT_CALLED}\"")),
                series(LLM_CALLS, &format!("outcome!~\"{LLM_NOT_CALLED}\"")),
            )
        },
    ));
    for provider in &pool.spec.providers {
        let Some(budget) = provider.daily_budget_usd.filter(|b| *b > 0.0) else {
            continue;
        };
        // The name is a DNS label (schema pattern), safe inside a PromQL string.
        let matcher = format!("provider=\"{}\"", provider.name);
        rules.extend(owner.rule(
            "AgentPoolLLMSpend",
            alerting.llm_spend.as_ref(),
            defaults(80.0, "0s", Severity::Warning),
            "a provider's spend today is close to its daily budget (US dollars)",
            |t| {
                format!(
                    "max by ({by}, provider) ({}) >= {}",
                    series(LLM_SPENT_TODAY, &matcher),
                    (budget * t).round() / 100.0
                )
            },
        ));
    }
    if Scale::of(&pool.spec).wants_workers() {
        rules.extend(owner.rule(
            "AgentPoolNoWorkers",
            alerting.no_workers.as_ref(),
            defaults(0.0, "5m", Severity::Critical),
            "no worker of the pool is up, so strategies using it get no analyses",
            |_| {
                format!(
                    "sum by ({by}) ({}) < 1 or absent({})",
                    series(UP, ""),
                    series(UP, "")
                )
            },
        ));
    }
    rules
}

fn defaults(threshold: f64, for_: &'static str, severity: Severity) -> Defaults {
    Defaults {
        threshold,
        for_,
        severity,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::render;
    use crate::api::agent_pool::AgentPool;

    fn pool(extra: serde_json::Value) -> AgentPool {
        let mut spec = json!({
            "agents": [{"role": "news", "providers": ["openai"], "model": "m"}],
            "providers": [
                {"name": "openai", "kind": "OpenAICompatible", "baseURL": "https://x.example", "dailyBudgetUSD": 20.0},
                {"name": "rules", "kind": "Rules"},
            ],
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "AgentPool",
            "metadata": {"name": "analysts", "namespace": "desk", "uid": "uid-p"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn rules(extra: serde_json::Value) -> Vec<(String, String)> {
        let rendered = render(&pool(extra)).expect("alerting on");
        rendered.file["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["alert"].as_str().unwrap().into(),
                    r["expr"].as_str().unwrap().into(),
                )
            })
            .collect()
    }

    #[test]
    fn off_unless_enabled() {
        assert!(render(&pool(json!({}))).is_none());
        assert!(render(&pool(json!({"alerting": {"enabled": false}}))).is_none());
    }

    #[test]
    fn the_pool_signals_with_spend_only_for_budgeted_providers() {
        let rules = rules(json!({"alerting": {"enabled": true, "llmSpend": {"threshold": 50}}}));
        let names: Vec<&str> = rules.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            names,
            [
                "AgentPoolWorkerErrors",
                "AgentPoolLLMErrors",
                "AgentPoolLLMSpend",
                "AgentPoolNoWorkers"
            ]
        );
        let sel = r#"namespace="desk",pool="analysts""#;
        assert_eq!(
            rules[2].1,
            format!(
                "max by (namespace, pool, provider) (tradeplane_llm_spent_today_usd{{{sel},provider=\"openai\"}}) >= 10"
            )
        );
        assert_eq!(
            rules[3].1,
            format!("sum by (namespace, pool) (up{{{sel}}}) < 1 or absent(up{{{sel}}})")
        );
    }

    #[test]
    fn a_pool_scaled_to_zero_has_no_missing_worker_alert() {
        let rules = rules(json!({"replicas": 0, "alerting": {"enabled": true}}));
        assert!(rules.iter().all(|(a, _)| a != "AgentPoolNoWorkers"));
    }

    #[test]
    fn the_pod_monitor_selects_the_workers_and_is_owned_by_the_pool() {
        let rendered = render(&pool(
            json!({"alerting": {"enabled": true, "labels": {"release": "kp"}}}),
        ))
        .unwrap();
        let spec = &rendered.monitor.data["spec"];
        assert_eq!(
            spec["selector"]["matchLabels"]["tradeplane.io/agent-pool"],
            "analysts"
        );
        assert_eq!(
            spec["selector"]["matchLabels"]["app.kubernetes.io/component"],
            "worker"
        );
        assert_eq!(
            spec["podMetricsEndpoints"][0]["relabelings"][0]["targetLabel"],
            "pool"
        );
        let owner = &rendered.monitor.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("AgentPool", "analysts")
        );
        assert_eq!(
            rendered.rule.metadata.labels.as_ref().unwrap()["release"],
            "kp"
        );
    }
}
