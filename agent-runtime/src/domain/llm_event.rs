//! What happened on the way to an LLM report, for the journal.
//!
//! A report says what the seat concluded; these events say why it took the path it did
//! (a retry after a 429, a malformed answer, a provider given up, a budget spent, a
//! fallback). The analyst returns them with the report (`LlmAnalyst::analyze_detailed`)
//! and, when given a channel, sends them there too, so the pipeline can journal them next to
//! the decision without this module knowing about the journal. They serialise as tagged JSON,
//! which is also how the worker hands them to a trader.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum LlmEvent {
    /// A retryable failure; the call is repeated after `wait_ms`.
    #[serde(rename_all = "camelCase")]
    Retry {
        provider: String,
        role: String,
        attempt: u32,
        reason: String,
        wait_ms: u64,
    },
    /// The provider's gate (a 429's hold, or its rate limit) would open only after the
    /// seat's deadline; the provider is given up without a call.
    #[serde(rename_all = "camelCase")]
    Held {
        provider: String,
        role: String,
        wait_ms: u64,
    },
    /// The model answered, but not in the schema; the call is repeated once.
    #[serde(rename_all = "camelCase")]
    Malformed {
        provider: String,
        role: String,
        error: String,
    },
    /// This provider could not answer; the next one in the list is tried.
    #[serde(rename_all = "camelCase")]
    ProviderFailed {
        provider: String,
        role: String,
        reason: String,
    },
    /// Today's budget is spent; the provider is skipped until UTC midnight.
    #[serde(rename_all = "camelCase")]
    BudgetExhausted {
        provider: String,
        role: String,
        spent_usd: f64,
        limit_usd: f64,
    },
    /// The strategy's own daily LLM budget (`llmDailyBudgetUsd`) is spent; no provider is
    /// called for it until UTC midnight.
    #[serde(rename_all = "camelCase")]
    StrategyBudgetExhausted {
        role: String,
        spent_usd: f64,
        limit_usd: f64,
    },
    /// No provider answered; the seat reported its fallback.
    #[serde(rename_all = "camelCase")]
    Fallback {
        role: String,
        fallback: String,
        reason: String,
    },
}

impl LlmEvent {
    /// A stable snake_case name, used as the journal event kind (`llm_<kind>`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Retry { .. } => "retry",
            Self::Held { .. } => "held",
            Self::Malformed { .. } => "malformed",
            Self::ProviderFailed { .. } => "provider_failed",
            Self::BudgetExhausted { .. } => "budget_exhausted",
            Self::StrategyBudgetExhausted { .. } => "strategy_budget_exhausted",
            Self::Fallback { .. } => "fallback",
        }
    }
}

impl fmt::Display for LlmEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retry {
                provider,
                role,
                attempt,
                reason,
                wait_ms,
            } => write!(
                f,
                "{role}: {provider} attempt {attempt} failed ({reason}); retrying in {wait_ms} ms"
            ),
            Self::Held {
                provider,
                role,
                wait_ms,
            } => write!(
                f,
                "{role}: {provider} held back for {wait_ms} ms, past the seat's deadline"
            ),
            Self::Malformed {
                provider,
                role,
                error,
            } => write!(f, "{role}: {provider} answered outside the schema: {error}"),
            Self::ProviderFailed {
                provider,
                role,
                reason,
            } => write!(f, "{role}: gave up on {provider}: {reason}"),
            Self::BudgetExhausted {
                provider,
                role,
                spent_usd,
                limit_usd,
            } => write!(
                f,
                "{role}: {provider} skipped, daily budget spent (${spent_usd:.4} of ${limit_usd:.4})"
            ),
            Self::StrategyBudgetExhausted {
                role,
                spent_usd,
                limit_usd,
            } => write!(
                f,
                "{role}: the strategy's daily LLM budget is spent (${spent_usd:.4} of ${limit_usd:.4})"
            ),
            Self::Fallback {
                role,
                fallback,
                reason,
            } => write!(f, "{role}: reported fallback {fallback}: {reason}"),
        }
    }
}
