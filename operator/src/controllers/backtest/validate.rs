//! The validate step of a backtest: the strategy spec (resolved from `strategyRef` or the
//! template), the sweep's paths, and one runtime config per run, each rendered by the
//! strategy's own renderer (`trading_strategy::config::render`) and checked by the runtime's
//! own validation — so a backtest and a live trader run the same config code. Pure.
//!
//! Money first: every run's broker is the simulated paper broker, rendered from a BrokerAccount
//! made up here, never the strategy's own account; `marketData.source` is forced to `Replay`
//! (bars come from the Backtest's data). The runtime refuses any other broker again.

use kube::ResourceExt;
use kube::api::ObjectMeta;
use tradeplane_contract::backtest_job::{DataObject, ResultsPlace, RunSettings};
use tradeplane_contract::config::RuntimeConfig;

use super::sweep::{self, Point};
use crate::api::backtest::{Backtest, FillModel, LlmMode, RankBy};
use crate::api::broker_account::{Broker, BrokerAccount, BrokerAccountSpec, PaperSettings};
use crate::api::trading_strategy::{
    MarketDataSource, MarketDataSpec, TradingStrategy, TradingStrategySpec,
};
use crate::controllers::Blocker;
use crate::controllers::meta::child_name;
use crate::controllers::trading_strategy::config;
use crate::controllers::trading_strategy::shadow::revision::decision_revision;

/// Runs at once when `sweep.parallelism` is unset.
pub const DEFAULT_PARALLELISM: i32 = 4;
/// Best runs kept when `sweep.keepBest` is unset.
pub const DEFAULT_KEEP_BEST: usize = 5;

/// One run: its sweep point and its rendered config.
#[derive(Clone, Debug)]
pub struct Run {
    pub point: Point,
    pub config: RuntimeConfig,
}

/// A backtest that passed validation, with its defaults applied.
#[derive(Clone, Debug)]
pub struct ValidBacktest {
    pub image: String,
    pub runs: Vec<Run>,
    pub parallelism: i32,
    pub rank_by: RankBy,
    pub keep_best: usize,
    pub settings: RunSettings,
    /// The market data API's Secret keys, with `spec.data.api` ([`super::data_api::check`]).
    pub api_access: Option<super::data_api::ApiAccess>,
}

impl ValidBacktest {
    /// Gives the validated backtest its market data API (from [`super::data_api::check`]):
    /// the runs' flags and the Secret to mount.
    pub fn attach_api(&mut self, access: Option<super::data_api::ApiAccess>) {
        self.settings.api = access.as_ref().map(|a| a.settings.clone());
        self.api_access = access;
    }
}

/// The validated backtest, or what blocks it. `referenced` is the strategy `strategyRef`
/// names, as the resolve step read it.
pub fn validate(
    backtest: &Backtest,
    referenced: Option<&TradingStrategy>,
    namespace: &str,
    default_image: &str,
) -> Result<ValidBacktest, Blocker> {
    let spec = &backtest.spec;
    let strategy = match (&spec.template, referenced) {
        (Some(template), _) => template.as_ref().clone(),
        (None, Some(strategy)) => strategy.spec.clone(),
        (None, None) => {
            return Err(Blocker::new(
                "StrategyNotFound",
                "spec.strategyRef: the TradingStrategy does not exist",
            ));
        }
    };
    let axes = spec
        .sweep
        .as_ref()
        .map(|s| s.axes.clone())
        .unwrap_or_default();
    let invalid = |e: sweep::SweepError| Blocker::new("InvalidSweep", e.to_string());
    sweep::check_paths(&axes).map_err(invalid)?;
    let mut runs = Vec::new();
    for point in sweep::points(&axes).map_err(invalid)? {
        let swept = sweep::apply(&strategy, &axes, &point).map_err(invalid)?;
        let config = run_config(backtest, swept, namespace).map_err(|problem| {
            Blocker::new(
                "InvalidConfiguration",
                format!("run {} {:?}: {problem}", point.index, point.values),
            )
        })?;
        runs.push(Run { point, config });
    }
    let sweep = spec.sweep.clone().unwrap_or_default();
    Ok(ValidBacktest {
        image: spec
            .image
            .clone()
            .unwrap_or_else(|| default_image.to_string()),
        runs,
        parallelism: sweep.parallelism.unwrap_or(DEFAULT_PARALLELISM),
        rank_by: sweep.rank_by.unwrap_or_default(),
        keep_best: sweep
            .keep_best
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_KEEP_BEST),
        settings: settings(backtest),
        api_access: None,
    })
}

/// The decision revision (`shadow::revision`, the one a strategy's rollout and promotion
/// gates speak of) of `strategy`'s spec run with `image`: its runtime config rendered against
/// its own BrokerAccount, exactly as its own reconcile renders it, so the two agree. `None`
/// when the config does not render (the strategy is blocked then anyway).
pub fn tested_revision(
    strategy: &TradingStrategy,
    account: &BrokerAccount,
    namespace: &str,
    image: &str,
) -> Option<String> {
    let config = config::render(strategy, account, namespace).ok()?;
    Some(decision_revision(image, &config))
}

/// One run's config: the swept spec as a strategy named after the backtest, rendered against
/// the simulated broker.
fn run_config(
    backtest: &Backtest,
    mut spec: TradingStrategySpec,
    namespace: &str,
) -> Result<RuntimeConfig, String> {
    let market_data = spec.market_data.take().unwrap_or_default();
    spec.market_data = Some(MarketDataSpec {
        source: MarketDataSource::Replay,
        ..market_data
    });
    let strategy = TradingStrategy {
        metadata: ObjectMeta {
            name: backtest.metadata.name.clone(),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    };
    config::render(&strategy, &simulated_account(backtest), namespace).map_err(|p| p.to_string())
}

/// The BrokerAccount every run trades: the paper broker with the Backtest's execution
/// settings, and no limits of any real account.
fn simulated_account(backtest: &Backtest) -> BrokerAccount {
    let execution = backtest.spec.execution.clone().unwrap_or_default();
    BrokerAccount {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}-simulated",
                backtest.metadata.name.clone().unwrap_or_default()
            )),
            ..ObjectMeta::default()
        },
        spec: BrokerAccountSpec {
            broker: Broker::Paper,
            paper: Some(PaperSettings {
                starting_cash: execution.cash,
                commission_bps: execution.commission_bps,
                slippage_bps: execution.slippage_bps,
            }),
            environment: None,
            live_trading_acknowledged: None,
            endpoint: None,
            credentials_secret_ref: None,
            limits: None,
        },
        status: None,
    }
}

/// The flags every run's container gets.
fn settings(backtest: &Backtest) -> RunSettings {
    let spec = &backtest.spec;
    let execution = spec.execution.clone().unwrap_or_default();
    let data = match (&spec.data.config_map, &spec.data.volume) {
        (Some(map), _) => map.key.clone(),
        (None, Some(volume)) => volume.path.clone().unwrap_or_default(),
        (None, None) => String::new(),
    };
    RunSettings {
        data,
        s3: spec.data.s3.as_ref().map(|s3| DataObject {
            bucket: s3.bucket.clone(),
            key: s3.key.clone(),
            endpoint: s3.endpoint.clone(),
            region: s3.region.clone(),
        }),
        // Set with the checked BrokerAccount's endpoint by `data_api::check`.
        api: None,
        cash: execution.cash,
        commission_bps: execution.commission_bps,
        slippage_bps: execution.slippage_bps,
        fill: match execution.fill.unwrap_or_default() {
            FillModel::NextOpen => "next-open",
            FillModel::Close => "close",
        },
        allow_gaps: spec.data.allow_gaps.unwrap_or(false),
        llm: spec
            .llm
            .as_ref()
            .and_then(|l| l.mode)
            .map(|mode| match mode {
                LlmMode::Disabled => "off",
                LlmMode::Record => "record",
                LlmMode::Replay => "replay",
            }),
        max_cost_usd: spec.llm.as_ref().and_then(|l| l.max_cost_usd),
        results: results_place(backtest),
    }
}

/// `<backtest>-run`, the stem of the runs' results ConfigMaps, shortened by the child-name
/// rule so that `<stem>-<index>` stays within 63 characters for every index a sweep can have
/// (at most 3 digits).
pub fn results_stem(backtest: &str) -> String {
    let longest = child_name(backtest, "run-000");
    longest
        .strip_suffix("-000")
        .unwrap_or(longest.as_str())
        .to_string()
}

/// `results.s3` under `<prefix>/<backtest>/<uid>/` (the uid keeps a recreated Backtest of the
/// same name from overwriting the last one's), else the run ConfigMaps.
fn results_place(backtest: &Backtest) -> ResultsPlace {
    let name = backtest.name_any();
    match backtest.spec.results.as_ref().and_then(|r| r.s3.as_ref()) {
        Some(s3) => {
            let uid = backtest.metadata.uid.clone().unwrap_or_default();
            let prefix = [s3.prefix.as_deref().unwrap_or(""), &name, &uid]
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("/");
            ResultsPlace::S3 {
                bucket: s3.bucket.clone(),
                prefix,
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
            }
        }
        None => ResultsPlace::ConfigMaps {
            stem: results_stem(&name),
        },
    }
}
