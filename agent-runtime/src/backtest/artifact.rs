//! Where a run's results artifact goes (`--results*`): a local file, the ConfigMap a
//! Backtest's operator created for the run (patched with the pod's token, whose Role may
//! patch only the ConfigMaps of its own Backtest's runs), or an object of an S3-compatible
//! bucket (the backups' client). And how the run's status entry names it.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tradeplane_contract::backtest_results::{RESULTS_KEY, RunResults};
use tradeplane_contract::backup::{Destination, S3Location};
use tradeplane_contract::command::BacktestArgs;

use crate::backup::store;
use crate::cluster;

/// One place the artifact is written to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    ConfigMap { namespace: String, name: String },
    S3 { location: S3Location, key: String },
}

/// Why the artifact was not written; names the place, never the keys.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("the results do not serialise: {0}")]
    Json(#[from] serde_json::Error),
    #[error("--results {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("--results-config-map {name}: {message}")]
    ConfigMap { name: String, message: String },
    #[error("--results-s3-bucket: {0}")]
    Store(#[from] crate::backup::BackupError),
    #[error("s3://{bucket}/{key}: {source}")]
    Upload {
        bucket: String,
        key: String,
        source: object_store::Error,
    },
}

/// Every place the flags name (a file and one of the cluster places may both be asked).
pub fn targets(args: &BacktestArgs, namespace: &str) -> Vec<Target> {
    let mut targets = Vec::new();
    if let Some(path) = &args.results {
        targets.push(Target::File(path.clone()));
    }
    if let Some(name) = &args.results_config_map {
        targets.push(Target::ConfigMap {
            namespace: namespace.to_string(),
            name: name.clone(),
        });
    }
    if let Some(bucket) = &args.results_s3_bucket {
        targets.push(Target::S3 {
            location: S3Location {
                bucket: bucket.clone(),
                prefix: String::new(),
                endpoint: args.results_s3_endpoint.clone(),
                region: args.results_s3_region.clone(),
                credentials_dir: args.results_s3_credentials_dir.clone().unwrap_or_default(),
            },
            key: args.results_s3_key.clone().unwrap_or_default(),
        });
    }
    targets
}

impl Target {
    /// What the Backtest's `status.runs[i].artifact` says of a cluster place; `None` for a
    /// local file, which nobody else can read.
    pub fn status(&self) -> Option<Value> {
        match self {
            Target::File(_) => None,
            Target::ConfigMap { name, .. } => Some(json!({"configMap": name, "key": RESULTS_KEY})),
            Target::S3 { location, key } => {
                let mut s3 = json!({"bucket": location.bucket, "key": key});
                if let Some(endpoint) = &location.endpoint {
                    s3["endpoint"] = json!(endpoint);
                }
                Some(json!({"s3": s3}))
            }
        }
    }

    pub async fn write(&self, results: &RunResults) -> Result<(), ArtifactError> {
        let json = serde_json::to_string(results)?;
        match self {
            Target::File(path) => {
                tokio::fs::write(path, format!("{json}\n"))
                    .await
                    .map_err(|source| ArtifactError::File {
                        path: path.display().to_string(),
                        source,
                    })
            }
            Target::ConfigMap { namespace, name } => write_config_map(namespace, name, json).await,
            Target::S3 { location, key } => {
                let bucket = store::open(&Destination::S3(location.clone()), false)?;
                let path = object_store::path::Path::from(key.as_str());
                bucket
                    .put(&path, json.into_bytes().into())
                    .await
                    .map(|_| ())
                    .map_err(|source| ArtifactError::Upload {
                        bucket: location.bucket.clone(),
                        key: key.clone(),
                        source,
                    })
            }
        }
    }
}

/// A merge patch of the one key: the run's Role allows `patch` of this ConfigMap and no
/// other verb, so the operator's metadata (owner, labels) stays as it made it.
async fn write_config_map(namespace: &str, name: &str, json: String) -> Result<(), ArtifactError> {
    let failed = |message: String| ArtifactError::ConfigMap {
        name: name.to_string(),
        message,
    };
    let client = cluster::connect(None)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let patch = json!({"data": {RESULTS_KEY: json}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use tradeplane_contract::command::{Command, Mode};

    fn args(extra: &[&str]) -> BacktestArgs {
        let argv = ["agent-runtime", "backtest", "--config", "c.yaml"];
        let cli = Command::try_parse_from(argv.iter().chain(extra)).unwrap();
        match cli.mode {
            Mode::Backtest(args) => *args,
            _ => panic!("not a backtest"),
        }
    }

    #[test]
    fn the_status_names_the_config_map_or_the_object_never_a_local_file() {
        let found = targets(
            &args(&["--results", "r.json", "--results-config-map", "sma-run-3"]),
            "desk",
        );
        assert_eq!(found[0].status(), None);
        assert_eq!(
            found[1].status(),
            Some(json!({"configMap": "sma-run-3", "key": "results.json"}))
        );
        let s3 = targets(
            &args(&[
                "--results-s3-bucket",
                "res",
                "--results-s3-key",
                "bt/sma/u1/run-3.json",
                "--results-s3-endpoint",
                "http://minio:9000",
                "--results-s3-credentials-dir",
                "/keys",
            ]),
            "desk",
        );
        assert_eq!(
            s3[0].status(),
            Some(
                json!({"s3": {"bucket": "res", "key": "bt/sma/u1/run-3.json", "endpoint": "http://minio:9000"}})
            )
        );
    }

    #[test]
    fn an_s3_target_needs_its_key_and_keys_directory() {
        let argv = [
            "agent-runtime",
            "backtest",
            "--config",
            "c.yaml",
            "--results-s3-bucket",
            "res",
        ];
        assert!(Command::try_parse_from(argv).is_err());
    }
}
