//! The worker's wire format: `POST /v1/analyses`, shared by the server and the trader's
//! [`super::PoolClient`] so the two cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::agents::llm::LlmEvent;
use crate::domain::{AnalystReport, Bar, Position};

pub const ANALYSES_PATH: &str = "/v1/analyses";

/// One symbol to analyse, with the history the analysts should see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRequest {
    /// `namespace/name` of the asking strategy: names it in logs, and its share of the
    /// pool's spend when it has a budget.
    pub strategy: String,
    pub symbol: String,
    /// Oldest first.
    pub bars: Vec<Bar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// The strategy's `llmDailyBudgetUsd`: the pool stops calling LLMs for it once its share
    /// of the pool's spend today reaches this (its seats then report their fallbacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_budget_usd: Option<f64>,
}

/// Every configured analyst's report, in configuration order, and what happened on the way
/// (for the trader's journal).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisResponse {
    pub reports: Vec<AnalystReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<LlmEvent>,
    /// US dollars the LLM calls of this analysis cost.
    #[serde(default)]
    pub cost_usd: f64,
}

/// Error body, in the same `{"error": {...}}` shape as the LLM APIs the pool fronts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable: `busy`, `invalid_request`.
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}
