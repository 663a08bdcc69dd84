//! Semantic validation of a [`RuntimeConfig`], beyond what its types say.
//!
//! Serde already rejects unknown fields and wrong types; this catches what is well-typed but
//! wrong (a drawdown of 1.5, an analyst naming a provider that does not exist, a cron
//! expression that does not parse) before anything starts, so a bad config fails at
//! `check-config` or start-up — never mid-trade. Every error names the field by its path in the
//! rendered file (`risk.maxDrawdown`, `analysts[1].providers[0]`), and all errors are reported
//! at once so one round trip fixes them all. The operator can run the same checks before it
//! renders the Secret.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use super::{
    AnalystKind, BrokerConfig, CONFIG_API_VERSION, JournalConfig, MarketDataConfig, RuntimeConfig,
};

/// One problem in a config, at one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Path of the field in the config file, camelCase, e.g. `risk.maxDrawdown`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// What the config is for: a strategy trades symbols, an agent pool only serves analyses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigPurpose {
    /// `trader` and `cycle` modes.
    Strategy,
    /// `worker` mode.
    AgentPool,
}

/// Bar sizes the Alpaca-compatible market data API accepts.
pub const TIMEFRAMES: &[&str] = &[
    "1Min", "5Min", "15Min", "30Min", "1Hour", "4Hour", "1Day", "1Week",
];

/// The most debate rounds allowed; each round costs two LLM calls per symbol.
pub const MAX_DEBATE_ROUNDS: u32 = 10;

impl RuntimeConfig {
    /// Checks a strategy's config; see [`RuntimeConfig::validate_for`].
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        self.validate_for(ConfigPurpose::Strategy)
    }

    /// Checks every field and every cross-field rule; returns all problems found.
    pub fn validate_for(&self, purpose: ConfigPurpose) -> Result<(), Vec<ConfigError>> {
        let mut v = Validator::default();
        if self.api_version != CONFIG_API_VERSION {
            v.error(
                "apiVersion",
                format!("must be {CONFIG_API_VERSION:?}, got {:?}", self.api_version),
            );
        }
        v.non_empty("identity.namespace", &self.identity.namespace);
        v.non_empty("identity.name", &self.identity.name);
        self.check_symbols(&mut v, purpose);
        self.check_schedule(&mut v);
        self.check_market_data(&mut v);
        self.check_analysts(&mut v, purpose);
        self.check_providers(&mut v);
        self.check_llm_record(&mut v);
        self.check_decision(&mut v);
        self.check_risk(&mut v);
        self.check_broker(&mut v);
        if self.orders.cancel_after_seconds == Some(0) {
            v.error(
                "orders.cancelAfterSeconds",
                "must be at least 1, got 0 (leave it out to keep open orders working)",
            );
        }
        self.check_journal(&mut v);
        self.check_server(&mut v);
        self.check_shadow(&mut v);
        v.finish()
    }

    /// A shadow decides on paper beside the live pods: a broker other than its own paper
    /// account would let it place orders on the live (or any real) account, and the Lease
    /// would let it take the live strategy's place. Both are refused, naming the field.
    fn check_shadow(&self, v: &mut Validator) {
        let Some(shadow) = &self.shadow else { return };
        v.non_empty("shadow.liveRevision", &shadow.live_revision);
        if let BrokerConfig::Alpaca { live, .. } = &self.broker {
            let account = if *live { "a live" } else { "an Alpaca" };
            v.error(
                "broker.kind",
                format!(
                    "a shadow trades on a paper account of its own (kind Paper), never on {account} \
                     broker account"
                ),
            );
        }
        if self.leader_election.is_some() {
            v.error(
                "leaderElection",
                "a shadow never takes part in the live strategy's leader election; leave it out",
            );
        }
        let mut seen = HashSet::new();
        for (i, seed) in shadow.seed_positions.iter().enumerate() {
            let path = format!("shadow.seedPositions[{i}]");
            if !self.symbols.contains(&seed.symbol) {
                v.error(
                    &format!("{path}.symbol"),
                    format!("{:?} is not one of the strategy's symbols", seed.symbol),
                );
            } else if !seen.insert(seed.symbol.as_str()) {
                v.error(
                    &format!("{path}.symbol"),
                    format!("{:?} is listed twice", seed.symbol),
                );
            }
            v.positive(&format!("{path}.quantity"), seed.quantity);
            v.positive(&format!("{path}.averagePrice"), seed.average_price);
        }
    }

    /// Recording keeps the in-process seats' answers: without one there is nothing to keep,
    /// and with an agent pool the answers are the pool's, not this process's.
    fn check_llm_record(&self, v: &mut Validator) {
        if !self.llm.record {
            return;
        }
        if self.agent_pool.is_some() {
            v.error(
                "llm.record",
                "the analyses run in the agent pool, so this process has no LLM answers to \
                 record; leave it out",
            );
        } else if !self
            .analysts
            .iter()
            .any(|a| matches!(a.kind, AnalystKind::Llm { .. }))
        {
            v.error(
                "llm.record",
                "no analyst is an LLM seat, so there are no answers to record; leave it out",
            );
        }
    }

    fn check_symbols(&self, v: &mut Validator, purpose: ConfigPurpose) {
        if purpose == ConfigPurpose::Strategy && self.symbols.is_empty() {
            v.error("symbols", "a strategy needs at least one symbol");
        }
        let mut seen = HashSet::new();
        for (i, symbol) in self.symbols.iter().enumerate() {
            let path = format!("symbols[{i}]");
            if symbol.trim().is_empty() || symbol.chars().any(char::is_whitespace) {
                v.error(
                    &path,
                    format!("must be a non-empty symbol without spaces, got {symbol:?}"),
                );
            } else if !seen.insert(symbol.as_str()) {
                v.error(&path, format!("{symbol:?} is listed twice"));
            }
        }
    }

    fn check_schedule(&self, v: &mut Validator) {
        let schedule = &self.schedule;
        if schedule.interval_seconds == 0 {
            v.error("schedule.intervalSeconds", "must be at least 1, got 0");
        }
        if chrono_tz::Tz::from_str(&schedule.time_zone).is_err() {
            v.error(
                "schedule.timeZone",
                format!(
                    "must be an IANA time zone such as \"America/New_York\", got {:?}",
                    schedule.time_zone
                ),
            );
        }
        if let Some(cron) = &schedule.cron
            && let Err(err) = crate::cron::parse_cron(cron)
        {
            v.error("schedule.cron", err.to_string());
        }
    }

    fn check_market_data(&self, v: &mut Validator) {
        match &self.market_data {
            MarketDataConfig::Replay { bars_per_cycle, .. } => {
                if *bars_per_cycle == 0 {
                    v.error("marketData.barsPerCycle", "must be at least 1, got 0");
                }
            }
            MarketDataConfig::Broker {
                base_url,
                timeframe,
                history_bars,
            } => {
                v.url("marketData.baseUrl", base_url);
                if !TIMEFRAMES.contains(&timeframe.as_str()) {
                    v.error(
                        "marketData.timeframe",
                        format!(
                            "must be one of {}, got {timeframe:?}",
                            TIMEFRAMES.join(", ")
                        ),
                    );
                }
                if *history_bars == 0 {
                    v.error("marketData.historyBars", "must be at least 1, got 0");
                }
                if !matches!(self.broker, BrokerConfig::Alpaca { .. }) {
                    v.error(
                        "marketData.source",
                        "\"broker\" market data needs an alpaca broker (it uses the broker's keys)",
                    );
                }
            }
        }
    }

    fn check_analysts(&self, v: &mut Validator, purpose: ConfigPurpose) {
        if self.analysts.is_empty() && self.agent_pool.is_none() {
            let who = match purpose {
                ConfigPurpose::Strategy => "a strategy needs at least one analyst or an agentPool",
                ConfigPurpose::AgentPool => "an agent pool needs at least one analyst",
            };
            v.error("analysts", who);
        }
        let providers: HashSet<&str> = self.providers.iter().map(|p| p.name.as_str()).collect();
        let mut roles = HashSet::new();
        for (i, analyst) in self.analysts.iter().enumerate() {
            let at = format!("analysts[{i}]");
            v.non_empty(&format!("{at}.role"), &analyst.role);
            if !analyst.role.is_empty() && !roles.insert(analyst.role.as_str()) {
                v.error(
                    &format!("{at}.role"),
                    format!("{:?} is used by another analyst", analyst.role),
                );
            }
            if !analyst.weight.is_finite() || analyst.weight < 0.0 {
                v.error(
                    &format!("{at}.weight"),
                    format!("must be 0 or more, got {}", analyst.weight),
                );
            }
            if let AnalystKind::Quant { params, .. } = &analyst.kind {
                for (field, problem) in params.problems() {
                    v.error(&format!("{at}.params.{field}"), problem);
                }
            }
            if let AnalystKind::Llm {
                providers: names,
                model,
                temperature,
                ..
            } = &analyst.kind
            {
                if names.is_empty() {
                    v.error(
                        &format!("{at}.providers"),
                        "an llm analyst needs at least one provider",
                    );
                }
                for (j, name) in names.iter().enumerate() {
                    if !providers.contains(name.as_str()) {
                        v.error(
                            &format!("{at}.providers[{j}]"),
                            format!("no provider named {name:?} in providers"),
                        );
                    }
                }
                v.non_empty(&format!("{at}.model"), model);
                v.range(&format!("{at}.temperature"), *temperature, 0.0, 2.0);
            }
        }
        if purpose == ConfigPurpose::Strategy
            && !self.analysts.is_empty()
            && self.analysts.iter().all(|a| a.weight == 0.0)
        {
            v.error("analysts", "at least one analyst needs a weight above 0");
        }
        if let Some(pool) = &self.agent_pool {
            v.url("agentPool.url", &pool.url);
            if pool.timeout_seconds == 0 {
                v.error("agentPool.timeoutSeconds", "must be at least 1, got 0");
            }
        }
    }

    fn check_providers(&self, v: &mut Validator) {
        let mut names = HashSet::new();
        for (i, provider) in self.providers.iter().enumerate() {
            let at = format!("providers[{i}]");
            v.non_empty(&format!("{at}.name"), &provider.name);
            if !provider.name.is_empty() && !names.insert(provider.name.as_str()) {
                v.error(
                    &format!("{at}.name"),
                    format!("{:?} is listed twice", provider.name),
                );
            }
            v.url(&format!("{at}.baseUrl"), &provider.base_url);
            if provider.requests_per_minute == Some(0) {
                v.error(
                    &format!("{at}.requestsPerMinute"),
                    "must be at least 1, got 0",
                );
            }
            if let Some(budget) = provider.daily_budget_usd {
                v.non_negative(&format!("{at}.dailyBudgetUsd"), budget);
            }
            v.non_negative(
                &format!("{at}.inputPricePerMillion"),
                provider.input_price_per_million,
            );
            v.non_negative(
                &format!("{at}.outputPricePerMillion"),
                provider.output_price_per_million,
            );
            if provider.timeout_seconds == 0 {
                v.error(&format!("{at}.timeoutSeconds"), "must be at least 1, got 0");
            }
        }
        if let Some(budget) = self.llm_daily_budget_usd {
            v.non_negative("llmDailyBudgetUsd", budget);
        }
        if let Some(ledger) = &self.spend_ledger {
            v.non_empty("spendLedger.configMap", &ledger.config_map);
            if ledger.refresh_seconds == 0 {
                v.error("spendLedger.refreshSeconds", "must be at least 1, got 0");
            }
            if !(ledger.publish_every_usd.is_finite() && ledger.publish_every_usd > 0.0) {
                v.error(
                    "spendLedger.publishEveryUsd",
                    format!("must be above 0, got {}", ledger.publish_every_usd),
                );
            }
        }
    }

    fn check_decision(&self, v: &mut Validator) {
        let decision = &self.decision;
        if decision.debate_rounds > MAX_DEBATE_ROUNDS {
            v.error(
                "decision.debateRounds",
                format!(
                    "must be at most {MAX_DEBATE_ROUNDS}, got {}",
                    decision.debate_rounds
                ),
            );
        }
        v.range("decision.minConfidence", decision.min_confidence, 0.0, 1.0);
        v.range(
            "decision.targetPositionFraction",
            decision.target_position_fraction,
            0.0,
            1.0,
        );
    }

    fn check_risk(&self, v: &mut Validator) {
        let risk = &self.risk;
        for (path, value) in [
            ("risk.maxOrderNotional", risk.max_order_notional),
            ("risk.maxPositionNotional", risk.max_position_notional),
            ("risk.maxDailyLoss", risk.max_daily_loss),
        ] {
            if let Some(value) = value {
                v.positive(path, value);
            }
        }
        if let Some(drawdown) = risk.max_drawdown {
            v.range("risk.maxDrawdown", drawdown, 0.0, 1.0);
        }
        if let Some(stop) = risk.stop_loss {
            v.range("risk.stopLoss", stop, 0.0, 1.0);
        }
        if risk.max_orders_per_minute == Some(0) {
            v.error(
                "risk.maxOrdersPerMinute",
                "must be at least 1, got 0 (use tradingState: Halted to stop trading)",
            );
        }
        let symbols: HashSet<&str> = self.symbols.iter().map(String::as_str).collect();
        for (i, symbol) in risk.allowed_symbols.iter().enumerate() {
            if !symbols.contains(symbol.as_str()) {
                v.error(
                    &format!("risk.allowedSymbols[{i}]"),
                    format!("{symbol:?} is not one of the strategy's symbols"),
                );
            }
        }
    }

    fn check_broker(&self, v: &mut Validator) {
        match &self.broker {
            BrokerConfig::Paper {
                starting_cash,
                commission_bps,
                slippage_bps,
            } => {
                v.positive("broker.startingCash", *starting_cash);
                v.range("broker.commissionBps", *commission_bps, 0.0, 10_000.0);
                v.range("broker.slippageBps", *slippage_bps, 0.0, 10_000.0);
            }
            BrokerConfig::Alpaca {
                base_url,
                live,
                key_id_file,
                secret_key_file,
                timeout_seconds,
                // Any value of the enum is valid.
                time_in_force: _,
            } => {
                v.url("broker.baseUrl", base_url);
                check_alpaca_environment(v, base_url, *live);
                v.non_empty("broker.keyIdFile", &key_id_file.to_string_lossy());
                v.non_empty("broker.secretKeyFile", &secret_key_file.to_string_lossy());
                if *timeout_seconds == 0 {
                    v.error("broker.timeoutSeconds", "must be at least 1, got 0");
                }
            }
        }
    }

    fn check_journal(&self, v: &mut Validator) {
        match &self.journal {
            JournalConfig::Sqlite { path } => {
                // A lease next to a SQLite journal is fine: the operator sets one for every
                // strategy, and the CRD (not this file, which cannot see the replica count)
                // is what refuses more than one replica on SQLite.
                v.non_empty("journal.path", &path.to_string_lossy());
            }
            JournalConfig::Postgres { url_file } => {
                v.non_empty("journal.urlFile", &url_file.to_string_lossy())
            }
        }
        if let Some(election) = &self.leader_election {
            v.non_empty("leaderElection.leaseName", &election.lease_name);
            if election.lease_duration_seconds < 2 {
                v.error(
                    "leaderElection.leaseDurationSeconds",
                    format!(
                        "must be at least 2, got {}",
                        election.lease_duration_seconds
                    ),
                );
            }
            if election.retry_period_seconds == 0 {
                v.error(
                    "leaderElection.retryPeriodSeconds",
                    "must be at least 1, got 0",
                );
            }
            // A leader must have stopped before a standby may start, and must get at least
            // one retry in before it gives up.
            if election.renew_deadline_seconds >= election.lease_duration_seconds {
                v.error(
                    "leaderElection.renewDeadlineSeconds",
                    format!(
                        "must be less than leaseDurationSeconds ({}), got {}",
                        election.lease_duration_seconds, election.renew_deadline_seconds
                    ),
                );
            }
            if election.retry_period_seconds >= election.renew_deadline_seconds {
                v.error(
                    "leaderElection.retryPeriodSeconds",
                    format!(
                        "must be less than renewDeadlineSeconds ({}), got {}",
                        election.renew_deadline_seconds, election.retry_period_seconds
                    ),
                );
            }
        }
    }

    fn check_server(&self, v: &mut Validator) {
        if SocketAddr::from_str(&self.server.listen).is_err() {
            v.error(
                "server.listen",
                format!(
                    "must be an address such as \"0.0.0.0:8080\", got {:?}",
                    self.server.listen
                ),
            );
        }
        if self.server.max_in_flight == 0 {
            v.error("server.maxInFlight", "must be at least 1, got 0");
        }
        if self.server.stale_after_intervals == 0 {
            v.error("server.staleAfterIntervals", "must be at least 1, got 0");
        }
    }
}

/// Alpaca's live trading host. Orders sent there are real.
pub const ALPACA_LIVE_HOST: &str = "api.alpaca.markets";
/// Alpaca's paper trading host.
pub const ALPACA_PAPER_HOST: &str = "paper-api.alpaca.markets";

/// The second lock on live trading: a live base URL without `live: true` (the BrokerAccount's
/// explicit opt-in) is refused, and so is `live: true` pointed at the paper API, which would
/// make a user believe they trade live when they do not.
fn check_alpaca_environment(v: &mut Validator, base_url: &str, live: bool) {
    let host = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if host == ALPACA_LIVE_HOST && !live {
        v.error(
            "broker.baseUrl",
            format!("{host} is the live trading API, but live is false (paper accounts use {ALPACA_PAPER_HOST})"),
        );
    }
    if host == ALPACA_PAPER_HOST && live {
        v.error(
            "broker.live",
            format!("true, but baseUrl is the paper trading API {host}"),
        );
    }
}

/// Collects errors; small helpers keep the messages uniform.
#[derive(Default)]
struct Validator {
    errors: Vec<ConfigError>,
}

impl Validator {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.to_string(),
            message: message.into(),
        });
    }

    fn finish(self) -> Result<(), Vec<ConfigError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }

    fn non_empty(&mut self, path: &str, value: &str) {
        if value.trim().is_empty() {
            self.error(path, "must not be empty");
        }
    }

    fn range(&mut self, path: &str, value: f64, low: f64, high: f64) {
        if !(value.is_finite() && (low..=high).contains(&value)) {
            self.error(
                path,
                format!("must be between {low} and {high}, got {value}"),
            );
        }
    }

    fn positive(&mut self, path: &str, value: f64) {
        if !(value.is_finite() && value > 0.0) {
            self.error(path, format!("must be above 0, got {value}"));
        }
    }

    fn non_negative(&mut self, path: &str, value: f64) {
        if !(value.is_finite() && value >= 0.0) {
            self.error(path, format!("must be 0 or more, got {value}"));
        }
    }

    fn url(&mut self, path: &str, value: &str) {
        let scheme_ok = value.starts_with("http://") || value.starts_with("https://");
        let host = value.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        if !scheme_ok || host.is_empty() {
            self.error(path, format!("must be an http(s) URL, got {value:?}"));
        }
    }
}
