//! The trader's side of an AgentPool: asks the pool for a symbol's reports over HTTP.
//!
//! One request per symbol returns every pool analyst's report, so this is a function over a
//! snapshot rather than one [`crate::agents::Analyst`] per seat (which would send one request
//! per seat). A busy replica (429) is retried after its `Retry-After` while the endpoint's
//! timeout allows — the Service spreads the retry to another replica. When the pool cannot
//! answer, [`PoolClient::reports_or_hold`] gives the pipeline a single neutral,
//! zero-confidence report that says so, keeping the rule that analysis never fails a cycle.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

use super::api::{ANALYSES_PATH, AnalysisRequest, AnalysisResponse, ErrorBody};
use crate::agents::Snapshot;
use crate::agents::llm::LlmEvent;
use crate::config::AgentPoolEndpoint;
use crate::domain::{AnalystReport, Signal};

/// The `source` of the report made when the pool could not answer.
pub const POOL_FALLBACK_SOURCE: &str = "fallback:agent-pool-unavailable";

/// Wait after a 429 without `Retry-After`.
const DEFAULT_BUSY_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot build an HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("the pool is busy and the timeout leaves no time to retry")]
    Busy,
    #[error("the pool did not answer within {0:?}")]
    Timeout(Duration),
    #[error("transport: {0}")]
    Transport(String),
    #[error("the pool answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the pool's answer is not an analysis: {0}")]
    Decode(String),
}

/// What the pool said about one symbol.
pub type PoolAnalysis = AnalysisResponse;

#[derive(Clone, Debug)]
pub struct PoolClient {
    http: reqwest::Client,
    url: String,
    strategy: String,
    /// The strategy's `llmDailyBudgetUsd`, sent with each request (the pool enforces it).
    budget_usd: Option<f64>,
    timeout: Duration,
}

impl PoolClient {
    /// A client for `endpoint`, asking on behalf of `strategy` (`namespace/name`).
    pub fn new(
        endpoint: &AgentPoolEndpoint,
        strategy: impl Into<String>,
    ) -> Result<Self, PoolError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "tradeplane-agent-runtime/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(PoolError::Client)?;
        Ok(Self {
            http,
            url: format!("{}{ANALYSES_PATH}", endpoint.url.trim_end_matches('/')),
            strategy: strategy.into(),
            budget_usd: None,
            timeout: Duration::from_secs(endpoint.timeout_seconds.max(1)),
        })
    }

    /// Sends the strategy's `llmDailyBudgetUsd` with each request: its share of the pool.
    pub fn with_budget(mut self, budget_usd: Option<f64>) -> Self {
        self.budget_usd = budget_usd;
        self
    }

    /// The pool's reports (and events) for `snapshot`, within the endpoint's timeout.
    pub async fn analyze(&self, snapshot: &Snapshot) -> Result<PoolAnalysis, PoolError> {
        let request = AnalysisRequest {
            strategy: self.strategy.clone(),
            strategy_budget_usd: self.budget_usd,
            symbol: snapshot.symbol.clone(),
            bars: snapshot.bars.to_vec(),
            position: snapshot.position.clone(),
        };
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PoolError::Timeout(self.timeout));
            }
            let response = self
                .http
                .post(&self.url)
                .timeout(left)
                .json(&request)
                .send()
                .await
                .map_err(|e| self.transport(e))?;
            let status = response.status();
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                .map_or(DEFAULT_BUSY_WAIT, Duration::from_secs);
            let body = response.bytes().await.map_err(|e| self.transport(e))?;
            if status.is_success() {
                return serde_json::from_slice(&body).map_err(|e| PoolError::Decode(e.to_string()));
            }
            if status != StatusCode::TOO_MANY_REQUESTS {
                let message = serde_json::from_slice::<ErrorBody>(&body)
                    .map(|e| e.error.message)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
                return Err(PoolError::Status {
                    status: status.as_u16(),
                    message,
                });
            }
            if Instant::now() + wait >= deadline {
                return Err(PoolError::Busy);
            }
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "agent pool busy; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// The pool's reports, or one neutral zero-confidence report saying why there are none.
    pub async fn reports_or_hold(&self, snapshot: &Snapshot) -> PoolAnalysis {
        match self.analyze(snapshot).await {
            Ok(analysis) => analysis,
            Err(err) => {
                tracing::warn!(symbol = snapshot.symbol, %err, "agent pool unavailable; holding");
                PoolAnalysis {
                    cost_usd: 0.0,
                    reports: vec![AnalystReport {
                        role: "agent-pool".into(),
                        source: POOL_FALLBACK_SOURCE.into(),
                        signal: Signal::Neutral,
                        confidence: 0.0,
                        rationale: format!("the agent pool could not answer ({err}); holding"),
                        usage: None,
                    }],
                    events: vec![LlmEvent::Fallback {
                        role: "agent-pool".into(),
                        fallback: "hold".into(),
                        reason: err.to_string(),
                    }],
                }
            }
        }
    }

    fn transport(&self, err: reqwest::Error) -> PoolError {
        if err.is_timeout() {
            PoolError::Timeout(self.timeout)
        } else {
            PoolError::Transport(err.without_url().to_string())
        }
    }
}
