//! A backtest run started by a Backtest's Indexed Job reports into that Backtest's status:
//! its own entry of `status.runs` (keyed by its index), written by server-side apply under a
//! field manager of its own, so the runs of one Job never conflict with each other or with
//! the operator. The pod's token may do nothing else (its Role: `get`/`patch` of this
//! Backtest's status).
//!
//! The Backtest is named by `TRADEPLANE_BACKTEST` and the run by `JOB_COMPLETION_INDEX`, both
//! set in the pod; without the first, a backtest (a developer's, say) reports nothing.

use std::path::Path;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Map, Value, json};
use tradeplane_contract::backtest_job::{BACKTEST_ENV, INDEX_ENV, field_manager};

use super::Summary;
use crate::cluster;
use crate::config::RuntimeConfig;

/// The Backtest entry a run writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunTarget {
    pub namespace: String,
    pub backtest: String,
    pub index: u32,
}

impl RunTarget {
    /// The run this process is, from the environment; `Ok(None)` outside a Backtest's Job.
    pub fn from_env(config: &RuntimeConfig) -> Result<Option<Self>, String> {
        Self::from_vars(&config.identity.namespace, |name| std::env::var(name).ok())
    }

    fn from_vars(
        namespace: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        let Some(backtest) = var(BACKTEST_ENV).filter(|b| !b.is_empty()) else {
            return Ok(None);
        };
        let index = var(INDEX_ENV).ok_or_else(|| format!("{INDEX_ENV}: not set"))?;
        let index = index
            .parse()
            .map_err(|_| format!("{INDEX_ENV}: not a run index: {index:?}"))?;
        Ok(Some(Self {
            namespace: namespace.to_string(),
            backtest,
            index,
        }))
    }
}

/// The entry of a run that started.
pub fn running(target: &RunTarget) -> Value {
    json!({"index": target.index, "phase": "Running"})
}

/// The entry of a run that finished: its statistics and where its results artifact is, or
/// why it failed. A run whose artifact could not be written failed (its statistics are still
/// reported): what a sweep keeps of it is incomplete.
pub fn finished<E: std::fmt::Display>(
    target: &RunTarget,
    result: &Result<Summary, E>,
    artifact: &Result<Option<Value>, String>,
) -> Value {
    match (result, artifact) {
        (Ok(summary), Ok(place)) => {
            let mut entry = json!({
                "index": target.index,
                "phase": "Succeeded",
                "stats": stats(summary),
            });
            if let Some(place) = place {
                entry["artifact"] = place.clone();
            }
            entry
        }
        (Ok(summary), Err(problem)) => json!({
            "index": target.index,
            "phase": "Failed",
            "message": format!("the results artifact was not written: {problem}"),
            "stats": stats(summary),
        }),
        (Err(error), _) => json!({
            "index": target.index,
            "phase": "Failed",
            "message": error.to_string(),
        }),
    }
}

/// The summary's statistics under the Backtest status's names; an undefined one is left out.
pub fn stats(summary: &Summary) -> Value {
    let Ok(Value::Object(all)) = serde_json::to_value(summary) else {
        return Value::Object(Map::new());
    };
    const FIELDS: [(&str, &str); 15] = [
        ("totalReturn", "totalReturn"),
        ("cagr", "cagr"),
        ("volatility", "volatility"),
        ("sharpe", "sharpe"),
        ("sortino", "sortino"),
        ("maxDrawdown", "maxDrawdown"),
        ("winRate", "winRate"),
        ("profitFactor", "profitFactor"),
        ("exposure", "exposure"),
        ("trades", "trades"),
        ("buyAndHoldReturn", "buyAndHoldReturn"),
        ("llmCostUsd", "llmCostUSD"),
        ("barsPerSecond", "barsPerSecond"),
        ("bars", "bars"),
        ("finalEquity", "finalEquity"),
    ];
    let picked = FIELDS
        .iter()
        .filter_map(|(from, to)| {
            all.get(*from)
                .filter(|v| !v.is_null())
                .map(|v| (to.to_string(), v.clone()))
        })
        .collect();
    Value::Object(picked)
}

/// Writes `entry` into the Backtest's `status.runs`, trying three times; a failure is logged
/// and returned as `false` (the Job's own record of the pod still counts the run).
pub async fn report(target: &RunTarget, kubeconfig: Option<&Path>, entry: Value) -> bool {
    let client = match cluster::connect(kubeconfig).await {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot reach the API server to report the run");
            return false;
        }
    };
    let api: Api<DynamicObject> =
        Api::namespaced_with(client, &target.namespace, &backtest_resource());
    let patch = json!({
        "apiVersion": "tradeplane.io/v1alpha1",
        "kind": "Backtest",
        "status": {"runs": [entry]},
    });
    // Forced: this entry is this run's by contract.
    let params = PatchParams::apply(&field_manager(target.index)).force();
    for attempt in 1..=3u64 {
        match api
            .patch_status(&target.backtest, &params, &Patch::Apply(&patch))
            .await
        {
            Ok(_) => return true,
            Err(error) => {
                tracing::warn!(%error, attempt, "cannot write the run into the Backtest's status");
                tokio::time::sleep(Duration::from_secs(attempt)).await;
            }
        }
    }
    false
}

fn backtest_resource() -> ApiResource {
    ApiResource {
        group: "tradeplane.io".into(),
        version: "v1alpha1".into(),
        api_version: "tradeplane.io/v1alpha1".into(),
        kind: "Backtest".into(),
        plural: "backtests".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_is_read_from_the_pod_environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(RunTarget::from_vars("desk", vars(&[])), Ok(None));
        assert_eq!(
            RunTarget::from_vars(
                "desk",
                vars(&[
                    ("TRADEPLANE_BACKTEST", "sma"),
                    ("JOB_COMPLETION_INDEX", "7")
                ])
            ),
            Ok(Some(RunTarget {
                namespace: "desk".to_string(),
                backtest: "sma".to_string(),
                index: 7
            }))
        );
        assert_eq!(
            RunTarget::from_vars(
                "desk",
                vars(&[
                    ("TRADEPLANE_BACKTEST", "sma"),
                    ("JOB_COMPLETION_INDEX", "x")
                ])
            ),
            Err("JOB_COMPLETION_INDEX: not a run index: \"x\"".to_string())
        );
    }

    #[test]
    fn a_failed_run_reports_why() {
        let target = RunTarget {
            namespace: "desk".to_string(),
            backtest: "sma".to_string(),
            index: 3,
        };
        let result: Result<Summary, String> = Err("bars: AAPL.csv line 9: low above high".into());
        assert_eq!(
            finished(&target, &result, &Ok(None)),
            json!({"index": 3, "phase": "Failed", "message": "bars: AAPL.csv line 9: low above high"})
        );
    }
}
