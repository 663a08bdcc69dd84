//! `Backtest`: a strategy's own pipeline run over recorded bars, once or as a parameter sweep,
//! by Jobs of the runtime image against the simulated broker.

mod status;

pub use status::*;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    IMAGE_MESSAGE, IMAGE_NAME_LENGTH_MESSAGE, IMAGE_NAME_LENGTH_RULE, IMAGE_RULE,
    LocalObjectReference, NAME_PATTERN, PodPlacement,
};
use super::trading_strategy::TradingStrategySpec;

/// The most runs one Backtest may expand to (the product of its sweep's axes): each run is an
/// index of one Job and an entry of the status.
pub const MAX_RUNS: i64 = 256;

/// A backtest of a TradingStrategy (an existing one, or a template) over recorded bars. The
/// operator renders one runtime config per run — the strategy's own config, with the sweep
/// point's values applied and the broker forced to the simulated one — and runs them as one
/// Indexed Job of `agent-runtime backtest`. Each run reports its statistics into the status.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "tradeplane.io",
    version = "v1alpha1",
    kind = "Backtest",
    namespaced,
    status = "BacktestStatus",
    shortname = "bt",
    category = "trading",
    category = "tradeplane",
    doc = "A backtest of a TradingStrategy's own pipeline over recorded bars against the simulated broker, optionally swept over parameter values as an Indexed Job.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Progress",
        type_ = "string",
        json_path = ".status.progress",
        description = "Runs finished / runs"
    ),
    printcolumn(
        name = "Return",
        type_ = "string",
        json_path = ".status.totalReturn",
        description = "Total return of the best run"
    ),
    printcolumn(
        name = "Sharpe",
        type_ = "string",
        json_path = ".status.sharpe",
        description = "Sharpe ratio of the best run"
    ),
    printcolumn(
        name = "Max DD",
        type_ = "string",
        json_path = ".status.maxDrawdown",
        description = "Largest drawdown of the best run"
    ),
    printcolumn(
        name = "Trades",
        type_ = "integer",
        json_path = ".status.trades",
        description = "Closed round trips of the best run"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.strategyRef) != has(self.template)").message("exactly one of strategyRef and template must be set").reason(Reason::FieldValueInvalid).field_path(".strategyRef"),
    validation = Rule::new("self == oldSelf").message("a Backtest's spec is immutable: create a new Backtest to run another").reason(Reason::FieldValueForbidden),
)]
pub struct BacktestSpec {
    /// A TradingStrategy in this namespace whose spec is tested as it is (its broker account is
    /// not used: every run trades the simulated broker). Exactly one of `strategyRef` and
    /// `template`; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_ref: Option<LocalObjectReference>,
    /// A TradingStrategy spec written inline, as in a TradingStrategy (`brokerAccountRef` is
    /// required by its schema but not used: every run trades the simulated broker). Exactly one
    /// of `strategyRef` and `template`; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Box<TradingStrategySpec>>,
    /// The bars the runs read.
    pub data: BacktestData,
    /// The simulated broker's settings. Default: 100000 cash, no commission, no slippage,
    /// fills at the next bar's open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionSpec>,
    /// Parameter values to sweep: one run per point of the axes' cross product. Default: one
    /// run of the strategy as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSpec>,
    /// LLM answers during the runs. Default: `Disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmSpec>,
    /// Where each run keeps its results artifact (the sampled equity curve beside
    /// buy-and-hold, and the fills, as JSON; `docs/backtest.md`). Default: a ConfigMap
    /// `<name>-run-<index>` per run (key `results.json`, at most about 450 KiB; a long name
    /// is shortened, and `status.runs[].artifact` names each), owned by the Backtest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<ResultsSpec>,
    /// Overrides the agent-runtime image. Default: the image the operator was released with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(
        validation = Rule::new(IMAGE_RULE).message(IMAGE_MESSAGE).reason(Reason::FieldValueInvalid),
        validation = Rule::new(IMAGE_NAME_LENGTH_RULE).message(IMAGE_NAME_LENGTH_MESSAGE).reason(Reason::FieldValueInvalid),
    )]
    pub image: Option<String>,
    /// Where the run pods may run. Default: anywhere the scheduler likes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PodPlacement>,
}

/// Where the bars come from: exactly one source. The CSV layouts are the runtime's
/// (`docs/backtest.md`): one file per symbol named `SYMBOL.csv`, or a long file with a
/// `symbol` column.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("[has(self.configMap), has(self.volume), has(self.s3), has(self.api)].filter(x, x).size() == 1").message("exactly one of data.configMap, data.volume, data.s3 and data.api must be set").reason(Reason::FieldValueInvalid),
    validation = Rule::new("has(self.api) == (has(self.start) && has(self.end))").message("data.start and data.end are required with data.api, and only with it").reason(Reason::FieldValueInvalid),
    validation = Rule::new("!has(self.start) || !has(self.end) || timestamp(self.end) > timestamp(self.start)").field_path(".end").message("data.end must be after data.start").reason(Reason::FieldValueInvalid),
)]
pub struct BacktestData {
    /// A CSV file held in a key of a ConfigMap in this namespace (a ConfigMap holds at most
    /// 1 MiB: a few thousand daily bars). Exactly one of `configMap`, `volume`, `s3` and
    /// `api`; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapData>,
    /// A CSV file or a directory of them on a PersistentVolumeClaim in this namespace,
    /// mounted read-only. Exactly one of `configMap`, `volume`, `s3` and `api`; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeData>,
    /// A CSV file that is an object of an S3-compatible bucket; each run downloads it.
    /// Exactly one of `configMap`, `volume`, `s3` and `api`; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Data>,
    /// The strategy's symbols' bars from the Alpaca-compatible market data API, between
    /// `start` and `end`; each run fetches them. Exactly one of `configMap`, `volume`, `s3`
    /// and `api`; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiData>,
    /// With `api`: the first bar time to fetch, RFC 3339 (e.g. `2020-01-01T00:00:00Z`).
    /// Required with `api`, refused without it; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 10, max = 64), pattern(RFC3339_PATTERN))]
    pub start: Option<String>,
    /// With `api`: the end of the bars to fetch, RFC 3339; must be after `start`. Required
    /// with `api`, refused without it; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 10, max = 64), pattern(RFC3339_PATTERN))]
    pub end: Option<String>,
    /// Accept daily bars with missing days. Default false: a gap of more than 4 calendar days
    /// between two daily bars of a symbol fails the run naming the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_gaps: Option<bool>,
}

/// A key of a ConfigMap.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapData {
    /// Name of the ConfigMap, in this namespace.
    #[schemars(length(min = 1, max = 253), pattern(NAME_PATTERN))]
    pub name: String,
    /// The key holding the CSV, e.g. `AAPL.csv` (the file name the runtime sees: a long file
    /// with a `symbol` column, or `SYMBOL.csv`).
    #[schemars(length(min = 1, max = 253), pattern(r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// An RFC 3339 time with a zone (`Z` or an offset), as CEL's `timestamp()` reads it.
const RFC3339_PATTERN: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$";

/// The market data API of a BrokerAccount: its `endpoint` (default Alpaca's data host) and
/// its credentials Secret, as a trader with `marketData.source: Broker` reads them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiData {
    /// An `Alpaca` BrokerAccount in this namespace. Only its market data is read: the runs
    /// still trade the simulated broker, never this account.
    pub broker_account_ref: LocalObjectReference,
    /// Bar size: `1Min`, `5Min`, `15Min`, `1Hour` or `1Day`. Default `1Day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^(1Min|5Min|15Min|1Hour|1Day)$"))]
    pub timeframe: Option<String>,
}

/// An object of an S3-compatible bucket, reached as a TradingStrategy's backup bucket is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Data {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63), pattern(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"))]
    pub bucket: String,
    /// The object's key, e.g. `bars/daily/SPY.csv`. Its last segment is the file name the
    /// runtime reads: `SYMBOL.csv`, or a long file with a `symbol` column.
    #[schemars(length(min = 1, max = 1024), pattern(r"^[^/].*[^/]$|^[^/]$"))]
    pub key: String,
    /// Endpoint of an S3-compatible service (MinIO, Ceph, R2...). Default: AWS S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(crate::common::URL_PATTERN))]
    pub endpoint: Option<String>,
    /// Region. Default `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub region: Option<String>,
    /// Secret in this namespace with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`; only
    /// those two keys are mounted into the run pods.
    #[schemars(length(min = 1, max = 253), pattern(NAME_PATTERN))]
    pub credentials_secret_name: String,
}

/// Where the runs' results artifacts go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultsSpec {
    /// An S3-compatible bucket instead of the ConfigMaps: run *i* uploads
    /// `<prefix>/<backtest>/<uid>/run-<i>.json`. Default: unset (ConfigMaps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Results>,
}

/// A bucket prefix for the results, reached as a TradingStrategy's backup bucket is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Results {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63), pattern(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"))]
    pub bucket: String,
    /// Key prefix, without leading or trailing `/`, e.g. `backtests`. Default: the bucket's
    /// root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), pattern(r"^[^/](.*[^/])?$"))]
    pub prefix: Option<String>,
    /// Endpoint of an S3-compatible service (MinIO, Ceph, R2...). Default: AWS S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(crate::common::URL_PATTERN))]
    pub endpoint: Option<String>,
    /// Region. Default `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub region: Option<String>,
    /// Secret in this namespace with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`; only
    /// those two keys are mounted into the run pods.
    #[schemars(length(min = 1, max = 253), pattern(NAME_PATTERN))]
    pub credentials_secret_name: String,
}

/// A path on a PersistentVolumeClaim.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeData {
    /// Name of the PersistentVolumeClaim, in this namespace.
    #[schemars(length(min = 1, max = 253), pattern(NAME_PATTERN))]
    pub claim_name: String,
    /// A CSV file or directory, relative to the volume's root, e.g. `bars/daily`. Default: the
    /// volume's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(
        validation = Rule::new("!self.startsWith('/') && !self.split('/').exists(s, s == '..')").message("path must be relative to the volume's root, without '..'").reason(Reason::FieldValueInvalid),
    )]
    pub path: Option<String>,
}

/// The simulated broker of every run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSpec {
    /// Starting cash. Default 100000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.01, max = 1.0e12))]
    pub cash: Option<f64>,
    /// Commission in basis points of each fill's notional, 0–1000. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub commission_bps: Option<f64>,
    /// Slippage in basis points against the trader, 0–1000. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub slippage_bps: Option<f64>,
    /// When an order decided at a bar's close fills: `NextOpen` (the next bar's open,
    /// default) or `Close` (the deciding bar's close).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<FillModel>,
}

// When an order fills. (A plain comment: kube copies an enum's doc over the field's.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FillModel {
    /// At the next bar's open.
    #[default]
    NextOpen,
    /// At the deciding bar's close.
    Close,
}

/// A parameter sweep: the runs are the cross product of the axes' values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SweepSpec {
    /// The axes: each a field path into the strategy spec and the values it takes. At most
    /// 256 runs in all.
    #[schemars(length(min = 1, max = 8))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["path".into()]))]
    pub axes: Vec<SweepAxis>,
    /// Runs at once (the Job's `parallelism`). Default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 256))]
    pub parallelism: Option<i32>,
    /// The statistic the runs are ranked by, best first. Default `Sharpe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_by: Option<RankBy>,
    /// How many of the best runs `status.bestRuns` keeps, 1–50. Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50))]
    pub keep_best: Option<i32>,
}

impl SweepSpec {
    /// Runs the axes make: the product of their value counts.
    pub fn run_count(&self) -> u128 {
        self.axes.iter().map(|a| a.values.len() as u128).product()
    }

    /// The sweep point of run `index` (each axis's path and value), the first axis varying
    /// slowest: how the operator numbers the runs, so any reader of the spec can tell which
    /// values a run had. `None` past the last run.
    pub fn point(&self, index: usize) -> Option<std::collections::BTreeMap<String, f64>> {
        if index as u128 >= self.run_count() {
            return None;
        }
        let mut rest = index;
        let mut point = std::collections::BTreeMap::new();
        for axis in self.axes.iter().rev() {
            let len = axis.values.len();
            point.insert(axis.path.clone(), axis.values[rest % len]);
            rest /= len;
        }
        Some(point)
    }
}

/// One axis of a sweep.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SweepAxis {
    /// A field path into the strategy spec, e.g. `analysts[0].params.fastPeriod` or
    /// `risk.positionSizePercent`: field names as in the TradingStrategy, list items by index.
    /// A path the strategy spec does not have is refused naming it.
    #[schemars(
        length(min = 1, max = 256),
        pattern(r"^[a-zA-Z][a-zA-Z0-9]*(\[[0-9]+\])*(\.[a-zA-Z][a-zA-Z0-9]*(\[[0-9]+\])*)*$")
    )]
    pub path: String,
    /// The values the field takes, one run each (times the other axes' values).
    #[schemars(length(min = 1, max = 256))]
    pub values: Vec<f64>,
}

// The statistic runs are ranked by. (A plain comment: kube copies an enum's doc over the
// field's.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RankBy {
    /// Highest Sharpe ratio first.
    #[default]
    Sharpe,
    /// Highest Sortino ratio first.
    Sortino,
    /// Highest total return first.
    TotalReturn,
    /// Highest compound annual growth first.
    Cagr,
    /// Smallest maximum drawdown first.
    MaxDrawdown,
    /// Highest profit factor first.
    ProfitFactor,
}

/// LLM answers during the runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmSpec {
    /// `Disabled` (no provider is called: the runtime's `--llm off`; default), `Record` (call
    /// the providers and store every answer) or `Replay` (answer from the store only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<LlmMode>,
    /// Spend limit in US dollars for all runs' provider calls with `Record`; once spent the
    /// runs fail closed. Default: no limit beyond the providers' own budgets.
    #[serde(
        rename = "maxCostUSD",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0.0, max = 100000.0))]
    pub max_cost_usd: Option<f64>,
}

// How LLM seats answer. (A plain comment: kube copies an enum's doc over the field's.) Not
// `Off`: YAML 1.1, which kubectl and Helm read manifests with, takes an unquoted `Off` for
// `false`, and the manifest would be refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum LlmMode {
    /// No provider is called.
    #[default]
    Disabled,
    /// Providers are called and their answers stored.
    Record,
    /// Answers come from the store only.
    Replay,
}
