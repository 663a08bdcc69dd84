//! What the runtime config of every kind shares: the analyst seats and LLM providers (a
//! strategy's own or an AgentPool's), the files the pods read, and the problems a spec can have
//! that the schema could not rule out. Pure.
//!
//! Each kind renders its own config (`trading_strategy::config`, `agent_pool::config`) from
//! these pieces; none of them reaches into another kind's controller for them.

use std::path::PathBuf;

use tradeplane_contract::config as runtime;

use crate::api::broker_account::{Broker, BrokerAccount, Environment};
use crate::api::common::{AnalystSpec, FallbackPolicy, ProviderKind, ProviderSpec, QuantMethod};
use crate::controllers::meta::child_name;

pub use tradeplane_contract::layout::{
    BROKER_KEY_ID, BROKER_SECRET_KEY, CONFIG_DIR, CONFIG_FILE, CREDENTIALS_DIR, HTTP_PORT,
    JOURNAL_DIR, JOURNAL_URL, provider_key,
};

/// A reason the config cannot be rendered: something in the user's input the schema could
/// not rule out. Reported as a condition; fixed by editing the resource.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    #[error("analysts[{role}]: every provider it lists is of kind Rules, so it needs `method`")]
    RulesAnalystWithoutMethod { role: String },
    #[error("analysts[{role}]: `model` is required for OpenAICompatible providers")]
    LlmAnalystWithoutModel { role: String },
    #[error("analysts[{role}]: provider {provider} is not defined in providers")]
    UnknownProvider { role: String, provider: String },
    #[error(
        "none of symbols {symbols:?} is allowed by BrokerAccount {account} (limits.allowedSymbols)"
    )]
    NoSymbolAllowed {
        account: String,
        symbols: Vec<String>,
    },
    #[error(
        "marketData.source Broker needs a BrokerAccount with broker Alpaca; {account} is Paper"
    )]
    BrokerMarketDataOnPaper { account: String },
    /// The rendered config fails the runtime's own validation: the runtime would refuse to
    /// start, so nothing is rolled out. Paths name fields of the runtime config.
    #[error("analysts[{role}].params: {problem}")]
    BadParams { role: String, problem: String },
    #[error("the runtime would refuse this config: {}", describe(errors))]
    Invalid { errors: Vec<runtime::ConfigError> },
}

/// The runtime's validation errors in one line, for a condition message.
pub fn describe(errors: &[runtime::ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The name of the Service in front of an AgentPool's workers: the pool renders it, a
/// strategy using the pool calls it.
pub fn agent_pool_service(pool: &str) -> String {
    child_name(pool, "agents")
}

/// Live orders only when the account is Alpaca, says Live, and acknowledged it. The API
/// server already refuses Live without the acknowledgement; this is the second lock.
pub fn is_live(account: &BrokerAccount) -> bool {
    account.spec.broker == Broker::Alpaca
        && account.spec.environment == Some(Environment::Live)
        && account.spec.live_trading_acknowledged == Some(true)
}

/// The analyst seats and the LLM providers they call. No seats: the four quantitative ones.
pub fn render_analysts(
    seats: &[AnalystSpec],
    providers: &[ProviderSpec],
) -> Result<(Vec<runtime::AnalystConfig>, Vec<runtime::ProviderConfig>), ConfigProblem> {
    if seats.is_empty() {
        return Ok((default_analysts(), Vec::new()));
    }
    let analysts = seats
        .iter()
        .map(|seat| render_seat(seat, providers))
        .collect::<Result<Vec<_>, _>>()?;
    let providers = providers
        .iter()
        .filter(|p| p.kind == ProviderKind::OpenAICompatible)
        .map(render_provider)
        .collect();
    Ok((analysts, providers))
}

/// The four quantitative analysts of a spec that names none.
fn default_analysts() -> Vec<runtime::AnalystConfig> {
    let defaults = [
        ("trend", runtime::QuantMethod::Trend),
        ("momentum", runtime::QuantMethod::Momentum),
        ("mean-reversion", runtime::QuantMethod::MeanReversion),
        ("volatility", runtime::QuantMethod::Volatility),
    ];
    defaults
        .into_iter()
        .map(|(role, method)| runtime::AnalystConfig {
            role: role.to_string(),
            kind: runtime::AnalystKind::Quant {
                method,
                params: Default::default(),
            },
            weight: 1.0,
        })
        .collect()
}

/// One seat: an LLM analyst when any provider it lists is an LLM, a quantitative one
/// otherwise.
fn render_seat(
    seat: &AnalystSpec,
    providers: &[ProviderSpec],
) -> Result<runtime::AnalystConfig, ConfigProblem> {
    let mut llm_providers = Vec::new();
    for provider_name in &seat.providers {
        let provider = providers
            .iter()
            .find(|p| &p.name == provider_name)
            .ok_or_else(|| ConfigProblem::UnknownProvider {
                role: seat.role.clone(),
                provider: provider_name.clone(),
            })?;
        if provider.kind == ProviderKind::OpenAICompatible {
            llm_providers.push(provider.name.clone());
        }
    }
    let kind = if llm_providers.is_empty() {
        let method = seat
            .method
            .ok_or_else(|| ConfigProblem::RulesAnalystWithoutMethod {
                role: seat.role.clone(),
            })?;
        runtime::AnalystKind::Quant {
            method: quant_method(method),
            params: quant_params(seat)?,
        }
    } else {
        llm_analyst(seat, llm_providers)?
    };
    Ok(runtime::AnalystConfig {
        role: seat.role.clone(),
        kind,
        weight: seat.weight.unwrap_or(1.0),
    })
}

/// An analyst asking the LLM `providers`, falling back to its quantitative method when the
/// seat says so, otherwise to holding.
fn llm_analyst(
    seat: &AnalystSpec,
    providers: Vec<String>,
) -> Result<runtime::AnalystKind, ConfigProblem> {
    let model = seat
        .model
        .clone()
        .ok_or_else(|| ConfigProblem::LlmAnalystWithoutModel {
            role: seat.role.clone(),
        })?;
    let fallback = match (seat.fallback, seat.method) {
        (Some(FallbackPolicy::Rules), Some(method)) => runtime::LlmFallback::Quant {
            method: quant_method(method),
        },
        _ => runtime::LlmFallback::Hold,
    };
    Ok(runtime::AnalystKind::Llm {
        providers,
        model,
        temperature: seat.temperature.unwrap_or(0.2),
        system_prompt: seat.system_prompt.clone(),
        fallback,
    })
}

/// An LLM provider; its key, when it has one, is a file of the mounted credentials.
fn render_provider(p: &ProviderSpec) -> runtime::ProviderConfig {
    runtime::ProviderConfig {
        name: p.name.clone(),
        base_url: p.base_url.clone().unwrap_or_default(),
        api_key_file: p
            .api_key_secret_ref
            .as_ref()
            .map(|_| PathBuf::from(CREDENTIALS_DIR).join(provider_key(&p.name))),
        requests_per_minute: p.requests_per_minute,
        daily_budget_usd: p.daily_budget_usd,
        input_price_per_million: p.input_price_per_million_usd.unwrap_or(0.0),
        output_price_per_million: p.output_price_per_million_usd.unwrap_or(0.0),
        timeout_seconds: u64::from(p.timeout_seconds.unwrap_or(30)),
        max_retries: 3,
    }
}

fn quant_method(method: QuantMethod) -> runtime::QuantMethod {
    match method {
        QuantMethod::Trend => runtime::QuantMethod::Trend,
        QuantMethod::Momentum => runtime::QuantMethod::Momentum,
        QuantMethod::MeanReversion => runtime::QuantMethod::MeanReversion,
        QuantMethod::Volatility => runtime::QuantMethod::Volatility,
    }
}

/// A seat's `params` as the runtime's [`runtime::QuantParams`]: the contract's own type reads
/// them, so an unknown name or a fraction where a period is counted in bars is refused naming
/// it. Whole numbers are written as integers first: the schema holds every value as a number,
/// and a period is an integer in the runtime config.
fn quant_params(seat: &AnalystSpec) -> Result<runtime::QuantParams, ConfigProblem> {
    let object: serde_json::Map<String, serde_json::Value> = seat
        .params
        .iter()
        .map(|(name, value)| (name.clone(), param_value(*value)))
        .collect();
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|err| {
        ConfigProblem::BadParams {
            role: seat.role.clone(),
            problem: err.to_string(),
        }
    })
}

fn param_value(value: f64) -> serde_json::Value {
    // Exact for every whole number a parameter can hold (periods are at most 10 000).
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serde_json::Value::from(value as i64)
    } else {
        serde_json::Value::from(value)
    }
}
