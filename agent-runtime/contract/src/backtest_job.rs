//! A Backtest's run pods: where each run finds its config and bars, how the operator writes
//! its command line, and what a run reports into the Backtest's status.
//!
//! One Indexed Job runs every run of a Backtest; the pod of index *i* reads
//! [`RUNS_DIR`]`/run-<i>.yaml`. The index comes from `JOB_COMPLETION_INDEX`, which the Job
//! controller sets in every pod of an Indexed Job; the operator writes it into the
//! container's arguments as `$(JOB_COMPLETION_INDEX)`, which the kubelet expands.

use std::path::{Path, PathBuf};

/// Where the runs' configs (one ConfigMap, a key per run) are mounted.
pub const RUNS_DIR: &str = "/etc/tradeplane/runs";
/// Where the bars (a ConfigMap key or a volume) are mounted.
pub const DATA_DIR: &str = "/var/lib/tradeplane-data";
/// Where the S3 keys of a Backtest's `data.s3` are mounted (two keys of its Secret).
pub const DATA_CREDENTIALS_DIR: &str = "/etc/tradeplane/data-credentials";
/// The variable the Job controller sets to a pod's index.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The variable naming the Backtest a run reports to; without it a backtest reports nothing.
pub const BACKTEST_ENV: &str = "TRADEPLANE_BACKTEST";
/// The field manager of run `index`'s status entry: one per run, so runs never conflict.
pub fn field_manager(index: u32) -> String {
    format!("tradeplane-backtest-run-{index}")
}

/// The key of run `index`'s config in the runs ConfigMap.
pub fn run_key(index: u32) -> String {
    format!("run-{index}.yaml")
}

/// The execution settings of every run, as `agent-runtime backtest` flags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSettings {
    /// The bars, relative to [`DATA_DIR`]; empty for the directory itself. Unused when
    /// `s3` is set.
    pub data: String,
    /// The bars as an object of an S3-compatible bucket, read with the keys mounted at
    /// [`DATA_CREDENTIALS_DIR`].
    pub s3: Option<DataObject>,
    /// The bars from an Alpaca-compatible market data API, read with the keys mounted at
    /// [`DATA_CREDENTIALS_DIR`].
    pub api: Option<DataApi>,
    pub cash: Option<f64>,
    pub commission_bps: Option<f64>,
    pub slippage_bps: Option<f64>,
    /// `next-open` or `close`.
    pub fill: &'static str,
    pub allow_gaps: bool,
    /// `off`, `record` or `replay`, when the Backtest sets it.
    pub llm: Option<&'static str>,
    pub max_cost_usd: Option<f64>,
    /// Where each run writes its results artifact.
    pub results: ResultsPlace,
}

/// Where the runs write their results artifacts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ResultsPlace {
    /// Nowhere (a run outside a Backtest, or a test).
    #[default]
    None,
    /// Run *i* patches the ConfigMap `<stem>-<i>` (created empty by the operator; the stem
    /// is `<backtest>-run`, shortened for a long name).
    ConfigMaps { stem: String },
    /// Run *i* uploads `<prefix>/run-<i>.json` with the keys mounted at
    /// [`RESULTS_CREDENTIALS_DIR`].
    S3 {
        bucket: String,
        /// Without a trailing `/`; may be empty.
        prefix: String,
        endpoint: Option<String>,
        region: Option<String>,
    },
}

/// Where the S3 keys of a Backtest's `results.s3` are mounted (two keys of its Secret).
pub const RESULTS_CREDENTIALS_DIR: &str = "/etc/tradeplane/results-credentials";

impl ResultsPlace {
    /// `--results-*` flags, the run's index as `$(JOB_COMPLETION_INDEX)` for the kubelet.
    pub fn args(&self) -> Vec<String> {
        let index = format!("$({INDEX_ENV})");
        match self {
            ResultsPlace::None => Vec::new(),
            ResultsPlace::ConfigMaps { stem } => vec![
                "--results-config-map".to_string(),
                format!("{stem}-{index}"),
            ],
            ResultsPlace::S3 {
                bucket,
                prefix,
                endpoint,
                region,
            } => {
                let key = match prefix.as_str() {
                    "" => format!("run-{index}.json"),
                    prefix => format!("{prefix}/run-{index}.json"),
                };
                let mut args = vec![
                    "--results-s3-bucket".to_string(),
                    bucket.clone(),
                    "--results-s3-key".to_string(),
                    key,
                ];
                if let Some(endpoint) = endpoint {
                    args.extend(["--results-s3-endpoint".to_string(), endpoint.clone()]);
                }
                if let Some(region) = region {
                    args.extend(["--results-s3-region".to_string(), region.clone()]);
                }
                args.extend([
                    "--results-s3-credentials-dir".to_string(),
                    RESULTS_CREDENTIALS_DIR.to_string(),
                ]);
                args
            }
        }
    }
}

/// An S3-compatible object holding a CSV of bars.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataObject {
    pub bucket: String,
    pub key: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

impl DataObject {
    /// `--data-s3-*` flags; the keys are files under [`DATA_CREDENTIALS_DIR`], never flags.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-s3-bucket".to_string(),
            self.bucket.clone(),
            "--data-s3-key".to_string(),
            self.key.clone(),
        ];
        if let Some(endpoint) = &self.endpoint {
            args.extend(["--data-s3-endpoint".to_string(), endpoint.clone()]);
        }
        if let Some(region) = &self.region {
            args.extend(["--data-s3-region".to_string(), region.clone()]);
        }
        args.extend([
            "--data-s3-credentials-dir".to_string(),
            DATA_CREDENTIALS_DIR.to_string(),
        ]);
        args
    }
}

/// Bars of the config's symbols from an Alpaca-compatible market data API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataApi {
    pub url: String,
    /// RFC 3339.
    pub start: String,
    /// RFC 3339, after `start`.
    pub end: String,
    pub timeframe: String,
}

impl DataApi {
    /// `--data-api-*` flags; the keys are files under [`DATA_CREDENTIALS_DIR`], never flags.
    pub fn args(&self) -> Vec<String> {
        [
            ("--data-api-url", self.url.as_str()),
            ("--data-api-start", self.start.as_str()),
            ("--data-api-end", self.end.as_str()),
            ("--data-api-timeframe", self.timeframe.as_str()),
            ("--data-api-credentials-dir", DATA_CREDENTIALS_DIR),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_string(), value.to_string()])
        .collect()
    }
}

impl RunSettings {
    /// The container's arguments; the config path holds `$(JOB_COMPLETION_INDEX)`.
    pub fn args(&self) -> Vec<String> {
        let data = if self.data.is_empty() {
            PathBuf::from(DATA_DIR)
        } else {
            Path::new(DATA_DIR).join(&self.data)
        };
        let mut args = vec![
            "backtest".to_string(),
            "--config".to_string(),
            format!("{RUNS_DIR}/run-$({INDEX_ENV}).yaml"),
        ];
        match (&self.s3, &self.api) {
            (Some(object), _) => args.extend(object.args()),
            (None, Some(api)) => args.extend(api.args()),
            (None, None) => args.extend(["--data".to_string(), data.display().to_string()]),
        }
        args.extend(["--fill".to_string(), self.fill.to_string()]);
        let numbers = [
            ("--cash", self.cash),
            ("--commission-bps", self.commission_bps),
            ("--slippage-bps", self.slippage_bps),
        ];
        for (flag, value) in numbers {
            if let Some(value) = value {
                args.extend([flag.to_string(), value.to_string()]);
            }
        }
        if self.allow_gaps {
            args.push("--allow-gaps".to_string());
        }
        if let Some(llm) = self.llm {
            args.extend(["--llm".to_string(), llm.to_string()]);
        }
        if let Some(cost) = self.max_cost_usd {
            args.extend(["--max-cost-usd".to_string(), cost.to_string()]);
        }
        args.extend(self.results.args());
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_object_replaces_the_data_path_and_names_only_the_keys_directory() {
        let settings = RunSettings {
            data: "ignored.csv".to_string(),
            s3: Some(DataObject {
                bucket: "bars".to_string(),
                key: "daily/SPY.csv".to_string(),
                endpoint: Some("http://minio:9000".to_string()),
                region: None,
            }),
            fill: "next-open",
            ..RunSettings::default()
        };
        let args = settings.args();
        assert!(!args.iter().any(|a| a == "--data"), "{args:?}");
        assert_eq!(
            args[3..],
            [
                "--data-s3-bucket",
                "bars",
                "--data-s3-key",
                "daily/SPY.csv",
                "--data-s3-endpoint",
                "http://minio:9000",
                "--data-s3-credentials-dir",
                "/etc/tradeplane/data-credentials",
                "--fill",
                "next-open",
            ]
        );
    }

    #[test]
    fn the_config_path_is_expanded_by_the_kubelet_and_numbers_are_flags() {
        let settings = RunSettings {
            data: "bars.csv".to_string(),
            cash: Some(5000.0),
            slippage_bps: Some(2.5),
            fill: "close",
            ..RunSettings::default()
        };
        assert_eq!(
            settings.args(),
            [
                "backtest",
                "--config",
                "/etc/tradeplane/runs/run-$(JOB_COMPLETION_INDEX).yaml",
                "--data",
                "/var/lib/tradeplane-data/bars.csv",
                "--fill",
                "close",
                "--cash",
                "5000",
                "--slippage-bps",
                "2.5",
            ]
        );
    }

    #[test]
    fn each_run_writes_the_config_map_or_object_of_its_own_index() {
        let maps = ResultsPlace::ConfigMaps {
            stem: "sma-run".to_string(),
        };
        assert_eq!(
            maps.args(),
            ["--results-config-map", "sma-run-$(JOB_COMPLETION_INDEX)"]
        );
        // The kubelet's expansion gives the name the operator created for that index.
        assert_eq!(
            maps.args()[1].replace("$(JOB_COMPLETION_INDEX)", "7"),
            crate::backtest_results::results_config_map("sma-run", 7)
        );
        let s3 = ResultsPlace::S3 {
            bucket: "res".to_string(),
            prefix: "backtests/sma/u-1".to_string(),
            endpoint: None,
            region: Some("eu-west-1".to_string()),
        };
        assert_eq!(
            s3.args(),
            [
                "--results-s3-bucket",
                "res",
                "--results-s3-key",
                "backtests/sma/u-1/run-$(JOB_COMPLETION_INDEX).json",
                "--results-s3-region",
                "eu-west-1",
                "--results-s3-credentials-dir",
                "/etc/tradeplane/results-credentials",
            ]
        );
    }
}
