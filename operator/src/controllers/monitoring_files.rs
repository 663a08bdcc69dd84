//! The rule files the operator would put in the PrometheusRules of the strategies and pools
//! in a manifest, for tools that load rules without a cluster: `promtool check rules` /
//! `promtool test rules`, and a plain Prometheus in the scrape test. The `alert-rules` bin
//! writes them; the files are exactly the `spec` of the PrometheusRule the reconcile applies.

use serde::Deserialize;

use crate::api::agent_pool::AgentPool;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::agent_pool::render::alerts as pool_alerts;
use crate::controllers::trading_strategy::render::alerts as strategy_alerts;

#[derive(Debug, thiserror::Error)]
pub enum RuleFileError {
    #[error("document {index}: {source}")]
    Yaml {
        index: usize,
        source: serde_yaml::Error,
    },
    #[error(
        "document {index} ({kind} {name}): spec.alerting.enabled is not true, so it has no rules"
    )]
    NotEnabled {
        index: usize,
        kind: String,
        name: String,
    },
    #[error("no TradingStrategy or AgentPool in the manifest")]
    Empty,
}

/// One rendered rule file: a file name (`<kind>-<namespace>-<name>.rules.yaml`) and its YAML.
#[derive(Debug)]
pub struct RuleFile {
    pub name: String,
    pub yaml: String,
}

/// The rule file of every TradingStrategy and AgentPool in `manifest` (YAML, one or more
/// documents; other kinds are skipped). Objects without a namespace get `namespace`. An object
/// whose alerting is not enabled is an error, naming it: asking for its rules is a mistake.
pub fn render_manifest(manifest: &str, namespace: &str) -> Result<Vec<RuleFile>, RuleFileError> {
    let mut files = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(manifest).enumerate() {
        let yaml_error = |source| RuleFileError::Yaml { index, source };
        let value = serde_yaml::Value::deserialize(document).map_err(yaml_error)?;
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let (metadata, file) = match kind.as_str() {
            "TradingStrategy" => {
                let mut strategy: TradingStrategy =
                    serde_yaml::from_value(value).map_err(yaml_error)?;
                strategy
                    .metadata
                    .namespace
                    .get_or_insert_with(|| namespace.to_string());
                let file = strategy_alerts::render(&strategy).map(|m| m.file);
                (strategy.metadata, file)
            }
            "AgentPool" => {
                let mut pool: AgentPool = serde_yaml::from_value(value).map_err(yaml_error)?;
                pool.metadata
                    .namespace
                    .get_or_insert_with(|| namespace.to_string());
                let file = pool_alerts::render(&pool).map(|m| m.file);
                (pool.metadata, file)
            }
            _ => continue,
        };
        let name = metadata.name.unwrap_or_default();
        let file = file.ok_or_else(|| RuleFileError::NotEnabled {
            index,
            kind: kind.clone(),
            name: name.clone(),
        })?;
        let yaml = serde_yaml::to_string(&file).map_err(yaml_error)?;
        files.push(RuleFile {
            name: format!(
                "{}-{}-{name}.rules.yaml",
                kind.to_lowercase(),
                metadata.namespace.unwrap_or_default()
            ),
            yaml,
        });
    }
    if files.is_empty() {
        return Err(RuleFileError::Empty);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::{RuleFileError, render_manifest};

    #[test]
    fn every_strategy_and_pool_with_alerting_gets_a_file_and_other_kinds_are_skipped() {
        let manifest = r#"
apiVersion: tradeplane.io/v1alpha1
kind: BrokerAccount
metadata: {name: paper}
spec: {broker: Paper}
---
apiVersion: tradeplane.io/v1alpha1
kind: TradingStrategy
metadata: {name: momo}
spec:
  symbols: [AAPL]
  brokerAccountRef: {name: paper}
  alerting: {enabled: true}
"#;
        let files = render_manifest(manifest, "desk").expect("renders");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "tradingstrategy-desk-momo.rules.yaml");
        assert!(files[0].yaml.contains("TradingStrategyDrawdown"));
        assert!(files[0].yaml.contains(r#"strategy="momo""#));
    }

    #[test]
    fn a_strategy_without_alerting_is_named_in_the_error() {
        let manifest = "kind: TradingStrategy\nmetadata: {name: quiet}\nspec: {symbols: [AAPL], brokerAccountRef: {name: p}}\n";
        let error = render_manifest(manifest, "desk").unwrap_err();
        assert!(matches!(error, RuleFileError::NotEnabled { .. }), "{error}");
        assert!(
            error.to_string().contains("TradingStrategy quiet"),
            "{error}"
        );
        assert!(matches!(
            render_manifest("kind: Secret\n", "desk"),
            Err(RuleFileError::Empty)
        ));
    }
}
