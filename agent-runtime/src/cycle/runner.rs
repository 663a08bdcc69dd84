//! Putting a [`CycleRunner`] together: the one way to make one, so the rules the pipeline
//! relies on are checked once, here, instead of assumed at every use.
//!
//! The runner's fields are private to the `cycle` module; everything else builds it with
//! [`CycleRunner::builder`] and reads it through the accessors below. What `build` refuses,
//! and why the pipeline needs it:
//!
//! - an identity with an empty namespace or name: every client order id is derived from it,
//!   so an unnamed strategy's ids would collide with another unnamed one's;
//! - no symbols, a blank symbol or one listed twice: a cycle places at most one order per
//!   (strategy, cycle, symbol, side), so a second entry for a symbol would reuse the first
//!   one's client order id and the broker would refuse it as a duplicate;
//! - no analyst seat and no agent pool: every decision would be a hold with no reports;
//! - a history window shorter than a seat needs (`Analyst::history_needed`; [`MIN_HISTORY`]
//!   for a pool's seats, which the runner cannot ask): the analyst would say nothing but
//!   neutral;
//! - a debate with zero rounds: the pipeline runs the debate whenever there is one.
//!
//! Config validation rejects all of these in a user's config first, with the field's path;
//! these checks catch a caller (a test, a bench, a new mode) that builds a runner by hand.

use std::collections::HashSet;
use std::sync::Arc;

use super::CycleRunner;
use super::ports::{Debate, Execution, Recorder};
use crate::agents::quant::MIN_HISTORY;
use crate::agents::{Analyst, Snapshot};
use crate::config::{Identity, TradingStateWatch};
use crate::decision::PortfolioManager;
use crate::domain::BarWindow;
use crate::leadership::Leadership;
use crate::market::MarketData;
use crate::metrics::Metrics;
use crate::risk::RiskManager;
use crate::worker::PoolClient;

/// The seams a cycle talks through: where bars come from, where orders go, where the
/// journal is written, and who may place orders.
pub struct Ports {
    pub market: Arc<dyn MarketData>,
    pub broker: Arc<dyn Execution>,
    pub journal: Arc<dyn Recorder>,
    pub leadership: Arc<dyn Leadership>,
}

/// A runner that [`CycleRunnerBuilder::build`] refused, naming what is wrong.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum RunnerError {
    #[error("identity: {field} is empty; client order ids are derived from it")]
    Unnamed { field: &'static str },
    #[error("symbols: a cycle runner needs at least one symbol")]
    NoSymbols,
    #[error("symbols[{index}]: must be a non-empty symbol without spaces, got {symbol:?}")]
    BlankSymbol { index: usize, symbol: String },
    #[error("symbols[{index}]: {symbol:?} is listed twice")]
    DuplicateSymbol { index: usize, symbol: String },
    #[error("analysts: no analyst seat and no agent pool; every decision would be a hold")]
    NoAnalysts,
    #[error("history: {bars} bars is shorter than the {needed} the analysts need")]
    ShortHistory { bars: usize, needed: usize },
    #[error("debate rounds: a debate needs at least one round")]
    NoDebateRounds,
}

/// Collects a runner's parts; [`build`](Self::build) checks them.
pub struct CycleRunnerBuilder {
    identity: Identity,
    symbols: Vec<String>,
    manager: PortfolioManager,
    risk: RiskManager,
    ports: Ports,
    metrics: Metrics,
    analysts: Vec<Box<dyn Analyst>>,
    debate: Option<(Box<dyn Debate>, u32)>,
    pool: Option<PoolClient>,
    history: usize,
    state_watch: Option<TradingStateWatch>,
}

impl CycleRunner {
    /// Starts a runner for `identity` trading `symbols`, deciding with `manager` under
    /// `risk`. Without further parts it has no analyst seat (so `build` fails until it gets
    /// seats or a pool), no debate, a history of [`MIN_HISTORY`] bars and no config watch.
    pub fn builder(
        identity: Identity,
        symbols: Vec<String>,
        manager: PortfolioManager,
        risk: RiskManager,
        ports: Ports,
        metrics: Metrics,
    ) -> CycleRunnerBuilder {
        CycleRunnerBuilder {
            identity,
            symbols,
            manager,
            risk,
            ports,
            metrics,
            analysts: Vec::new(),
            debate: None,
            pool: None,
            history: MIN_HISTORY,
            state_watch: None,
        }
    }

    /// The broker, as the cycle uses it.
    pub fn broker(&self) -> &dyn Execution {
        self.broker.as_ref()
    }

    /// The lease this runner places orders under.
    pub fn leadership(&self) -> &dyn Leadership {
        self.leadership.as_ref()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The journal the cycle writes to.
    pub fn journal(&self) -> &dyn Recorder {
        self.journal.as_ref()
    }

    /// The trading state in force: the configured one, or stricter if a limit tripped.
    pub fn trading_state(&self) -> crate::config::TradingState {
        self.risk.state()
    }

    /// Bars of history each analyst sees per cycle.
    pub fn window(&self) -> usize {
        self.history
    }
}

impl CycleRunnerBuilder {
    /// The in-process analyst seats, in config order.
    pub fn analysts(mut self, analysts: Vec<Box<dyn Analyst>>) -> Self {
        self.analysts = analysts;
        self
    }

    /// A bull/bear debate of `rounds` rounds before each decision.
    pub fn debate(mut self, debate: Box<dyn Debate>, rounds: u32) -> Self {
        self.debate = Some((debate, rounds));
        self
    }

    /// The AgentPool that serves this strategy's analyses; its reports join the seats'.
    pub fn pool(mut self, pool: PoolClient) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Bars of history each analyst sees (at least [`MIN_HISTORY`]).
    pub fn history(mut self, bars: usize) -> Self {
        self.history = bars;
        self
    }

    /// The mounted config file, re-read for a new `tradingState` before each cycle and each
    /// order.
    pub fn state_watch(mut self, watch: TradingStateWatch) -> Self {
        self.state_watch = Some(watch);
        self
    }

    /// The runner, or the first rule its parts break (see the module docs). The
    /// trading-state gauge shows the runner's state from here on.
    pub fn build(self) -> Result<CycleRunner, RunnerError> {
        self.check()?;
        self.metrics.trading_state.set(self.risk.state() as i64);
        // Each symbol's correction count is exported at zero from the start, so a rule on
        // its increase has a series to watch before the first correction.
        for symbol in &self.symbols {
            self.metrics
                .position_corrections
                .with_label_values(&[symbol.as_str()]);
        }
        let Ports {
            market,
            broker,
            journal,
            leadership,
        } = self.ports;
        let windows = self
            .symbols
            .iter()
            .map(|symbol| Snapshot {
                symbol: symbol.clone(),
                bars: BarWindow::default(),
                position: None,
            })
            .collect();
        Ok(CycleRunner {
            identity: self.identity,
            windows,
            marks: Default::default(),
            placement_order: Vec::new(),
            settlement: None,
            analysts: self.analysts,
            debate: self.debate,
            manager: self.manager,
            risk: self.risk,
            market,
            broker,
            journal,
            leadership,
            metrics: self.metrics,
            history: self.history,
            pool: self.pool,
            state_watch: self.state_watch,
        })
    }

    /// The longest history a seat needs ([`MIN_HISTORY`] with a pool, whose seats are
    /// remote).
    fn history_needed(&self) -> usize {
        let seats = self.analysts.iter().map(|a| a.history_needed()).max();
        let pool = self.pool.as_ref().map(|_| MIN_HISTORY);
        seats.into_iter().chain(pool).max().unwrap_or(0).max(1)
    }

    fn check(&self) -> Result<(), RunnerError> {
        for (field, value) in [
            ("namespace", &self.identity.namespace),
            ("name", &self.identity.name),
        ] {
            if value.trim().is_empty() {
                return Err(RunnerError::Unnamed { field });
            }
        }
        check_symbols(&self.symbols)?;
        if self.analysts.is_empty() && self.pool.is_none() {
            return Err(RunnerError::NoAnalysts);
        }
        let needed = self.history_needed();
        if self.history < needed {
            return Err(RunnerError::ShortHistory {
                bars: self.history,
                needed,
            });
        }
        if matches!(self.debate, Some((_, 0))) {
            return Err(RunnerError::NoDebateRounds);
        }
        Ok(())
    }
}

fn check_symbols(symbols: &[String]) -> Result<(), RunnerError> {
    if symbols.is_empty() {
        return Err(RunnerError::NoSymbols);
    }
    let mut seen = HashSet::new();
    for (index, symbol) in symbols.iter().enumerate() {
        if symbol.trim().is_empty() || symbol.chars().any(char::is_whitespace) {
            return Err(RunnerError::BlankSymbol {
                index,
                symbol: symbol.clone(),
            });
        }
        if !seen.insert(symbol.as_str()) {
            return Err(RunnerError::DuplicateSymbol {
                index,
                symbol: symbol.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;
    use futures::future::BoxFuture;

    use super::*;
    use crate::agents::Snapshot;
    use crate::agents::quant::quant_analyst;
    use crate::config::{AgentPoolEndpoint, DecisionConfig, QuantMethod, RiskConfig, TradingState};
    use crate::cycle::backtest::BacktestBroker;
    use crate::cycle::ports::MemoryJournal;
    use crate::domain::AnalystReport;
    use crate::leadership::AlwaysLeader;
    use crate::market::ReplayFeed;

    struct NoVerdict;

    impl Debate for NoVerdict {
        fn debate<'a>(
            &'a self,
            _: &'a Snapshot,
            _: &'a [AnalystReport],
            _: u32,
        ) -> BoxFuture<'a, Option<AnalystReport>> {
            futures::future::ready(None).boxed()
        }
    }

    fn builder(namespace: &str, name: &str, symbols: &[&str]) -> CycleRunnerBuilder {
        let identity = Identity {
            namespace: namespace.into(),
            name: name.into(),
        };
        let ports = Ports {
            market: Arc::new(ReplayFeed::new(Default::default(), 1)),
            broker: Arc::new(BacktestBroker::new(100_000.0, 0.0, 0.0)),
            journal: Arc::new(MemoryJournal::default()),
            leadership: Arc::new(AlwaysLeader),
        };
        CycleRunner::builder(
            identity,
            symbols.iter().map(|s| s.to_string()).collect(),
            PortfolioManager::new(&DecisionConfig::default(), &[]),
            RiskManager::new(&RiskConfig::default(), TradingState::Reducing),
            ports,
            Metrics::new().expect("metrics"),
        )
    }

    fn seated(namespace: &str, name: &str, symbols: &[&str]) -> CycleRunnerBuilder {
        builder(namespace, name, symbols).analysts(vec![quant_analyst("trend", QuantMethod::Trend)])
    }

    fn refusal(builder: CycleRunnerBuilder) -> RunnerError {
        match builder.build() {
            Ok(_) => panic!("the builder accepted a runner that breaks a rule"),
            Err(err) => err,
        }
    }

    #[test]
    fn a_complete_runner_builds_and_shows_its_trading_state() {
        let runner = seated("trading", "momentum", &["AAPL", "MSFT"])
            .history(MIN_HISTORY + 10)
            .debate(Box::new(NoVerdict), 2)
            .build()
            .expect("a valid runner");
        assert_eq!(runner.window(), MIN_HISTORY + 10);
        assert_eq!(
            runner.metrics().trading_state.get(),
            TradingState::Reducing as i64
        );
    }

    #[test]
    fn refuses_an_unnamed_strategy() {
        assert_eq!(
            refusal(seated("", "momentum", &["AAPL"])),
            RunnerError::Unnamed { field: "namespace" }
        );
        assert_eq!(
            refusal(seated("trading", " ", &["AAPL"])),
            RunnerError::Unnamed { field: "name" }
        );
    }

    #[test]
    fn refuses_no_symbols() {
        assert_eq!(refusal(seated("t", "s", &[])), RunnerError::NoSymbols);
    }

    #[test]
    fn refuses_a_blank_symbol() {
        let err = refusal(seated("t", "s", &["AAPL", "BRK B"]));
        assert_eq!(
            err,
            RunnerError::BlankSymbol {
                index: 1,
                symbol: "BRK B".into()
            }
        );
        assert!(err.to_string().starts_with("symbols[1]: "), "{err}");
    }

    #[test]
    fn refuses_a_symbol_listed_twice() {
        let err = refusal(seated("t", "s", &["AAPL", "MSFT", "AAPL"]));
        assert_eq!(
            err,
            RunnerError::DuplicateSymbol {
                index: 2,
                symbol: "AAPL".into()
            }
        );
        assert!(err.to_string().starts_with("symbols[2]: "), "{err}");
    }

    #[test]
    fn refuses_no_analysts_without_a_pool_but_takes_a_pool_alone() {
        assert_eq!(
            refusal(builder("t", "s", &["AAPL"])),
            RunnerError::NoAnalysts
        );
        let endpoint = AgentPoolEndpoint {
            url: "http://127.0.0.1:9".into(),
            timeout_seconds: 1,
        };
        let pool = PoolClient::new(&endpoint, "t/s").expect("pool client");
        assert!(builder("t", "s", &["AAPL"]).pool(pool).build().is_ok());
    }

    #[test]
    fn refuses_a_history_shorter_than_the_analysts_need() {
        assert_eq!(
            refusal(seated("t", "s", &["AAPL"]).history(MIN_HISTORY - 1)),
            RunnerError::ShortHistory {
                bars: MIN_HISTORY - 1,
                needed: MIN_HISTORY
            }
        );
        assert_eq!(
            refusal(seated("t", "s", &["AAPL"]).history(0)),
            RunnerError::ShortHistory {
                bars: 0,
                needed: MIN_HISTORY
            }
        );
    }

    #[test]
    fn refuses_a_debate_without_rounds() {
        assert_eq!(
            refusal(seated("t", "s", &["AAPL"]).debate(Box::new(NoVerdict), 0)),
            RunnerError::NoDebateRounds
        );
    }
}
