//! The runtime configuration a strategy's pods read, rendered from the TradingStrategy, its
//! BrokerAccount and (when it uses one) its AgentPool. Pure: no I/O.
//!
//! The config never holds a credential; it names files under [`CREDENTIALS_DIR`], where the
//! strategy's credentials Secret is mounted.

use std::path::PathBuf;

use tradeplane_contract::config as runtime;

use super::names::leader_lease;
use crate::api::broker_account::{Broker, BrokerAccount};
use crate::api::trading_strategy::{JournalBackend, OrdersSpec, TimeInForce};
use crate::api::trading_strategy::{MarketDataSource, TradingState, TradingStrategy};
use crate::controllers::runtime_config::{
    BROKER_KEY_ID, BROKER_SECRET_KEY, CREDENTIALS_DIR, ConfigProblem, HTTP_PORT, JOURNAL_DIR,
    JOURNAL_URL, agent_pool_service, is_live, render_analysts,
};

const ALPACA_PAPER_URL: &str = "https://paper-api.alpaca.markets";
const ALPACA_LIVE_URL: &str = "https://api.alpaca.markets";
const ALPACA_DATA_URL: &str = "https://data.alpaca.markets";

/// Renders the strategy's runtime config and checks it with the runtime's own validation, so
/// a config the trader would refuse at start is a condition rather than a crash-looping pod.
pub fn render(
    strategy: &TradingStrategy,
    account: &BrokerAccount,
    namespace: &str,
) -> Result<runtime::RuntimeConfig, ConfigProblem> {
    let config = render_unchecked(strategy, account, namespace)?;
    config
        .validate_for(runtime::ConfigPurpose::Strategy)
        .map_err(|errors| ConfigProblem::Invalid { errors })?;
    Ok(config)
}

/// The runtime config, field by field from the spec and the account.
///
/// Long on purpose: one section per field of the runtime config, in the contract's order, so
/// a reader can check each against `tradeplane_contract::config`.
fn render_unchecked(
    strategy: &TradingStrategy,
    account: &BrokerAccount,
    namespace: &str,
) -> Result<runtime::RuntimeConfig, ConfigProblem> {
    let spec = &strategy.spec;
    let name = strategy.metadata.name.clone().unwrap_or_default();
    let account_name = account.metadata.name.clone().unwrap_or_default();
    let limits = account.spec.limits.clone().unwrap_or_default();
    let risk = spec.risk.clone().unwrap_or_default();

    let allowed_symbols = allowed_symbols(
        &spec.symbols,
        &risk.allowed_symbols,
        &limits.allowed_symbols,
    )
    .ok_or_else(|| ConfigProblem::NoSymbolAllowed {
        account: account_name.clone(),
        symbols: spec.symbols.clone(),
    })?;

    let trading_state = if spec.suspend == Some(true) {
        runtime::TradingState::Halted
    } else {
        match spec.trading_state.unwrap_or_default() {
            TradingState::Active => runtime::TradingState::Active,
            TradingState::Reducing => runtime::TradingState::Reducing,
            TradingState::Halted => runtime::TradingState::Halted,
        }
    };

    let schedule_spec = spec.schedule.clone().unwrap_or_default();
    let mut schedule = runtime::Schedule {
        cron: schedule_spec.cron.clone(),
        market_hours_only: schedule_spec.market_hours_only.unwrap_or(false),
        ..runtime::Schedule::default()
    };
    if let Some(seconds) = schedule_spec.interval_seconds {
        schedule.interval_seconds = u64::try_from(seconds).unwrap_or(1).max(1);
    }
    if let Some(zone) = schedule_spec.time_zone {
        schedule.time_zone = zone;
    }

    let market_data = render_market_data(strategy, account, &account_name)?;
    let (analysts, providers) = if spec.agent_pool_ref.is_some() {
        (Vec::new(), Vec::new())
    } else {
        render_analysts(&spec.analysts, &spec.providers)?
    };
    let agent_pool = spec
        .agent_pool_ref
        .as_ref()
        .map(|pool| runtime::AgentPoolEndpoint {
            url: format!(
                "http://{}.{namespace}.svc:{HTTP_PORT}",
                agent_pool_service(&pool.name)
            ),
            timeout_seconds: 30,
        });

    let decision_spec = spec.decision.clone().unwrap_or_default();
    let mut decision = runtime::DecisionConfig::default();
    if let Some(rounds) = decision_spec.debate_rounds {
        decision.debate_rounds = u32::try_from(rounds).unwrap_or(0);
    }
    if let Some(confidence) = decision_spec.min_confidence {
        decision.min_confidence = confidence;
    }
    if let Some(percent) = risk.position_size_percent {
        decision.target_position_fraction = percent / 100.0;
    }

    let risk = runtime::RiskConfig {
        max_order_notional: stricter(risk.max_order_notional, limits.max_order_notional),
        max_position_notional: limits.max_position_notional,
        max_daily_loss: stricter(risk.max_daily_loss, limits.max_daily_loss),
        max_drawdown: risk.max_drawdown_percent.map(|p| p / 100.0),
        stop_loss: risk.stop_loss_percent.map(|p| p / 100.0),
        allowed_symbols,
        max_orders_per_minute: stricter(
            risk.max_orders_per_minute
                .and_then(|n| u32::try_from(n).ok()),
            limits.max_orders_per_minute,
        ),
    };

    let journal = match spec.journal.as_ref().map(|j| j.backend) {
        Some(JournalBackend::Postgres) => runtime::JournalConfig::Postgres {
            url_file: PathBuf::from(CREDENTIALS_DIR).join(JOURNAL_URL),
        },
        Some(JournalBackend::Sqlite) | None => runtime::JournalConfig::Sqlite {
            path: PathBuf::from(JOURNAL_DIR).join("journal.db"),
        },
    };

    Ok(runtime::RuntimeConfig {
        api_version: runtime::CONFIG_API_VERSION.to_string(),
        identity: runtime::Identity {
            namespace: namespace.to_string(),
            name: name.clone(),
        },
        symbols: spec.symbols.clone(),
        trading_state,
        schedule,
        market_data,
        analysts,
        providers,
        llm: runtime::LlmSettings {
            record: spec.record_llm_answers.unwrap_or(false),
        },
        agent_pool,
        spend_ledger: None,
        llm_daily_budget_usd: spec.llm_daily_budget_usd,
        decision,
        risk,
        broker: render_broker(account, spec.orders.as_ref()),
        orders: runtime::OrderPolicy {
            cancel_after_seconds: spec
                .orders
                .as_ref()
                .and_then(|o| o.cancel_after_seconds)
                .and_then(|n| u64::try_from(n).ok()),
        },
        journal,
        leader_election: Some(leader_election(&name, spec.failover.as_ref())),
        shadow: None,
        server: runtime::ServerConfig::default(),
    })
}

/// The leader election settings: `spec.failover`'s timings, those not set derived from the
/// lease duration as the runtime's contract says.
fn leader_election(
    strategy: &str,
    failover: Option<&crate::api::trading_strategy::FailoverSpec>,
) -> runtime::LeaderElectionConfig {
    // The schema bounds every timing to 1..=120, so the conversion cannot fail; an impossible
    // value is treated as unset rather than a panic.
    let seconds = |value: Option<i32>| value.and_then(|v| u32::try_from(v).ok());
    runtime::LeaderElectionConfig::derived(
        leader_lease(strategy),
        seconds(failover.and_then(|f| f.lease_duration_seconds)),
        seconds(failover.and_then(|f| f.renew_deadline_seconds)),
        seconds(failover.and_then(|f| f.retry_period_seconds)),
    )
}

fn render_broker(account: &BrokerAccount, orders: Option<&OrdersSpec>) -> runtime::BrokerConfig {
    match account.spec.broker {
        Broker::Paper => {
            let paper = account.spec.paper.clone().unwrap_or_default();
            let mut config = runtime::BrokerConfig::default();
            if let runtime::BrokerConfig::Paper {
                starting_cash,
                commission_bps,
                slippage_bps,
            } = &mut config
            {
                if let Some(cash) = paper.starting_cash {
                    *starting_cash = cash;
                }
                *commission_bps = paper.commission_bps.unwrap_or(0.0);
                *slippage_bps = paper.slippage_bps.unwrap_or(0.0);
            }
            config
        }
        Broker::Alpaca => {
            let live = is_live(account);
            let default_url = if live {
                ALPACA_LIVE_URL
            } else {
                ALPACA_PAPER_URL
            };
            runtime::BrokerConfig::Alpaca {
                base_url: account
                    .spec
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| default_url.to_string()),
                live,
                key_id_file: PathBuf::from(CREDENTIALS_DIR).join(BROKER_KEY_ID),
                secret_key_file: PathBuf::from(CREDENTIALS_DIR).join(BROKER_SECRET_KEY),
                timeout_seconds: 10,
                time_in_force: match orders.and_then(|o| o.time_in_force) {
                    Some(TimeInForce::GoodTillCanceled) => runtime::TimeInForce::Gtc,
                    Some(TimeInForce::Day) | None => runtime::TimeInForce::Day,
                },
            }
        }
    }
}

fn render_market_data(
    strategy: &TradingStrategy,
    account: &BrokerAccount,
    account_name: &str,
) -> Result<runtime::MarketDataConfig, ConfigProblem> {
    let spec = strategy.spec.market_data.clone().unwrap_or_default();
    let replay = spec.replay.clone().unwrap_or_default();
    let warmup = replay.warmup_bars.and_then(|n| u32::try_from(n).ok());
    match spec.source {
        MarketDataSource::Replay => {
            let mut config = runtime::MarketDataConfig::default();
            if let runtime::MarketDataConfig::Replay {
                bars_per_cycle,
                warmup_bars,
                ..
            } = &mut config
            {
                if let Some(n) = replay.bars_per_cycle.and_then(|n| u32::try_from(n).ok()) {
                    *bars_per_cycle = n;
                }
                if let Some(n) = warmup {
                    *warmup_bars = n;
                }
            }
            Ok(config)
        }
        MarketDataSource::Broker => {
            if account.spec.broker != Broker::Alpaca {
                return Err(ConfigProblem::BrokerMarketDataOnPaper {
                    account: account_name.to_string(),
                });
            }
            Ok(runtime::MarketDataConfig::Broker {
                // A custom endpoint (a proxy, a stand-in) serves market data too; Alpaca's
                // own data API lives on a host of its own.
                base_url: account
                    .spec
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| ALPACA_DATA_URL.to_string()),
                timeframe: spec.timeframe.clone().unwrap_or_else(|| "1Day".to_string()),
                history_bars: warmup.unwrap_or(60),
            })
        }
    }
}

/// The stricter of two optional limits (the smaller); absent means no limit.
fn stricter<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y < x { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The symbols the runtime may trade: the strategy's allow-list (or all its symbols), cut
/// down to the account's allow-list when it has one. `None` when the cut leaves nothing —
/// the runtime reads an empty list as "all", so that must never be rendered. An empty
/// result without any account list is fine: it means all of the strategy's symbols.
fn allowed_symbols(
    symbols: &[String],
    strategy_allowed: &[String],
    account_allowed: &[String],
) -> Option<Vec<String>> {
    if account_allowed.is_empty() {
        return Some(strategy_allowed.to_vec());
    }
    let base = if strategy_allowed.is_empty() {
        symbols
    } else {
        strategy_allowed
    };
    let cut: Vec<String> = base
        .iter()
        .filter(|s| account_allowed.contains(s))
        .cloned()
        .collect();
    if cut.is_empty() { None } else { Some(cut) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_stricter_limit_wins_and_absent_means_unlimited() {
        assert_eq!(stricter(Some(5.0), Some(3.0)), Some(3.0));
        assert_eq!(stricter(Some(5.0), None), Some(5.0));
        assert_eq!(stricter(None, Some(3)), Some(3));
        assert_eq!(stricter::<u32>(None, None), None);
    }

    #[test]
    fn an_account_allow_list_cuts_the_symbols_and_never_renders_an_empty_list_for_it() {
        let symbols = strings(&["AAPL", "MSFT"]);
        assert_eq!(allowed_symbols(&symbols, &[], &[]), Some(vec![]));
        assert_eq!(
            allowed_symbols(&symbols, &[], &strings(&["MSFT", "TSLA"])),
            Some(strings(&["MSFT"]))
        );
        assert_eq!(
            allowed_symbols(&symbols, &strings(&["AAPL"]), &strings(&["MSFT"])),
            None
        );
    }
}
