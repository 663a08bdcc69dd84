//! Providers: an LLM endpoint with its key, rate limit, budget and retry policy, and the
//! failover across a seat's ordered list of them.
//!
//! A provider is shared by every seat (and debate) in the process that names it, because its
//! rate limit and budget are per provider, not per seat. One call to [`ask_in_order`] walks
//! the list: a provider whose budget is spent is skipped; otherwise it is called with retries
//! (exponential backoff, or the server's `Retry-After` when it sends one) on 429, 5xx,
//! timeouts and broken connections, and one repeat for an answer outside the schema. When a
//! provider gives up, the next one is tried. Every step is counted and returned as an
//! [`LlmEvent`]; nothing here panics or returns a guess.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::Instant as TokioInstant;

use chrono::{DateTime, Utc};

use super::answers::{AnswerBook, LlmMode};
use super::budget::{DailyBudget, LlmCall, Pricing, SpendLedger, tally};
use super::client::{ApiKey, CallError, ChatClient, ChatRequest, Completion};
use super::metrics::LlmMetrics;
use super::ratelimit::{Gate, GateClosed};
use super::verdict::{Verdict, VerdictError, parse_verdict};
use crate::config::ProviderConfig;
use crate::domain::{LlmEvent, ReportUsage};

/// How long to wait between attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Wait before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the provider is given up instead,
    /// since a seat that sleeps for minutes has missed its cycle anyway.
    pub max_retry_after: Duration,
    /// The longest one seat's question may take across its providers — waiting at a gate,
    /// backing off, calling. A wait that would end after it is not started: the provider is
    /// given up (next provider, then the seat's fallback), and the event says so.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            deadline: Duration::from_secs(90),
        }
    }
}

impl RetryPolicy {
    /// Backoff before retry number `retry` (0-based): initial × 2^retry, capped.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2_u32.saturating_pow(retry.min(16));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LlmBuildError {
    #[error("provider {name}: cannot read the API key file {path}: {source}")]
    KeyFile {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("provider {name}: cannot build an HTTP client: {source}")]
    Client {
        name: String,
        source: reqwest::Error,
    },
    #[error("role {role}: unknown provider {name}")]
    UnknownProvider { role: String, name: String },
    #[error("role {role}: an LLM seat needs at least one provider")]
    NoProviders { role: String },
    #[error("role {role}: not an LLM seat")]
    NotLlm { role: String },
}

/// Why one provider did not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum ProviderFailure {
    #[error("daily budget spent")]
    BudgetExhausted,
    #[error("the strategy's daily LLM budget is spent")]
    StrategyBudgetExhausted,
    #[error("today's spend cannot be read from the ledger ({0}); failing closed")]
    SpendUnknown(String),
    #[error("held back: the provider's gate opens in {} ms, after the seat's deadline", .0.as_millis())]
    Held(Duration),
    #[error("{0}")]
    Call(CallError),
    #[error("answered outside the schema twice: {0}")]
    Malformed(VerdictError),
}

#[derive(Debug)]
pub struct Provider {
    name: String,
    client: ChatClient,
    gate: Gate,
    budget: DailyBudget,
    pricing: Pricing,
    max_retries: u32,
    policy: RetryPolicy,
    ledger: Option<Arc<dyn SpendLedger>>,
    /// The strategy's budget across all its providers (`llmDailyBudgetUsd`), shared by them.
    strategy: Option<Arc<DailyBudget>>,
    /// The UTC day whose spend was restored from the ledger (none yet: restore first).
    restored: tokio::sync::Mutex<Option<chrono::NaiveDate>>,
    /// Record/replay and the run's spending cap, when set (see `answers.rs`).
    answers: std::sync::OnceLock<Arc<AnswerBook>>,
}

impl Provider {
    /// A provider from its config; its spend goes to `ledger` when given.
    pub fn from_config(
        config: &ProviderConfig,
        policy: RetryPolicy,
        ledger: Option<Arc<dyn SpendLedger>>,
        strategy: Option<Arc<DailyBudget>>,
    ) -> Result<Self, LlmBuildError> {
        let key = match &config.api_key_file {
            Some(path) => {
                Some(
                    ApiKey::from_file(path).map_err(|source| LlmBuildError::KeyFile {
                        name: config.name.clone(),
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let timeout = Duration::from_secs(config.timeout_seconds.max(1));
        let client = ChatClient::new(&config.base_url, key, timeout).map_err(|source| {
            LlmBuildError::Client {
                name: config.name.clone(),
                source,
            }
        })?;
        Ok(Self {
            name: config.name.clone(),
            client,
            gate: Gate::new(config.requests_per_minute),
            budget: DailyBudget::new(config.daily_budget_usd),
            pricing: Pricing {
                input_per_million: config.input_price_per_million,
                output_per_million: config.output_price_per_million,
            },
            max_retries: config.max_retries,
            policy,
            ledger,
            strategy,
            restored: tokio::sync::Mutex::new(None),
            answers: std::sync::OnceLock::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn budget(&self) -> &DailyBudget {
        &self.budget
    }

    /// The provider's gate: its rate limit and the hold its 429s put on every caller.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// One verdict from this provider, with retries, by `deadline`; see the module docs.
    /// Every billed completion, answered or malformed, is added to `usage`.
    pub async fn ask(
        &self,
        role: &str,
        request: &ChatRequest,
        deadline: TokioInstant,
        metrics: &LlmMetrics,
        events: &mut Vec<LlmEvent>,
        usage: &mut ReportUsage,
    ) -> Result<Verdict, ProviderFailure> {
        let mut retries = 0;
        let mut malformed = 0;
        loop {
            // A replayed answer sends nothing and costs nothing: no budget or gate to pass.
            if !self.replaying() {
                self.admit(role, deadline, metrics, events).await?;
            }
            let started = Instant::now();
            let result = self.complete(request).await;
            metrics
                .latency
                .with_label_values(&[&self.name, role])
                .observe(started.elapsed().as_secs_f64());
            let error = match result {
                Ok(completion) => {
                    self.gate.answered();
                    usage.add(self.charge(metrics, role, &completion).await);
                    match parse_verdict(&completion.content) {
                        Ok(verdict) => {
                            self.count(metrics, role, "ok");
                            return Ok(verdict);
                        }
                        Err(error) => {
                            self.count(metrics, role, "malformed");
                            events.push(LlmEvent::Malformed {
                                provider: self.name.clone(),
                                role: role.to_string(),
                                error: error.to_string(),
                            });
                            malformed += 1;
                            if malformed > 1 {
                                return Err(ProviderFailure::Malformed(error));
                            }
                            continue;
                        }
                    }
                }
                Err(error) => error,
            };
            let retry = self
                .after_failure(role, error, retries, deadline, metrics)
                .await?;
            retries += 1;
            events.push(LlmEvent::Retry {
                provider: self.name.clone(),
                role: role.to_string(),
                attempt: retries,
                reason: retry.reason,
                wait_ms: millis(retry.wait),
            });
            if !retry.held {
                tokio::time::sleep(retry.wait).await;
            }
        }
    }

    /// One exchange: through the answer book when one is set, else straight to the client.
    async fn complete(&self, request: &ChatRequest) -> Result<Completion, CallError> {
        match self.answers.get() {
            Some(book) => {
                book.answer(&self.name, &self.pricing, request, || {
                    self.client.complete(request)
                })
                .await
            }
            None => self.client.complete(request).await,
        }
    }

    fn replaying(&self) -> bool {
        self.answers
            .get()
            .is_some_and(|book| book.mode() == LlmMode::Replay)
    }

    /// Whether a call may go out now: the spend restored and synced, neither this provider's
    /// nor the strategy's budget spent, and the provider's gate open by `deadline`. A refusal
    /// is counted, and journalled as an event where it is not a failure to read the ledger.
    async fn admit(
        &self,
        role: &str,
        deadline: TokioInstant,
        metrics: &LlmMetrics,
        events: &mut Vec<LlmEvent>,
    ) -> Result<(), ProviderFailure> {
        let now = Utc::now();
        if let Err(reason) = self.restore(now.date_naive()).await {
            self.count(metrics, role, "budget_exhausted");
            return Err(ProviderFailure::SpendUnknown(reason));
        }
        if let Some(ledger) = &self.ledger
            && let Err(reason) = ledger.before_call().await
        {
            if self.budget.limit_usd().is_some() || self.strategy.is_some() {
                self.count(metrics, role, "budget_exhausted");
                return Err(ProviderFailure::SpendUnknown(reason));
            }
            tracing::warn!(provider = self.name, %reason, "spend ledger not synced");
        }
        // Refreshed here too, so the gauge shows a new UTC day's budget before any spend.
        self.publish_budget(metrics, now);
        if self.budget.is_exhausted(now) {
            self.count(metrics, role, "budget_exhausted");
            events.push(LlmEvent::BudgetExhausted {
                provider: self.name.clone(),
                role: role.to_string(),
                spent_usd: self.budget.spent(now),
                limit_usd: self.budget.limit_usd().unwrap_or(0.0),
            });
            return Err(ProviderFailure::BudgetExhausted);
        }
        if let Some(strategy) = self.strategy.as_ref().filter(|b| b.is_exhausted(now)) {
            self.count(metrics, role, "budget_exhausted");
            events.push(LlmEvent::StrategyBudgetExhausted {
                role: role.to_string(),
                spent_usd: strategy.spent(now),
                limit_usd: strategy.limit_usd().unwrap_or(0.0),
            });
            return Err(ProviderFailure::StrategyBudgetExhausted);
        }
        if let Err(GateClosed { wait }) = self.gate.pass(deadline).await {
            self.count(metrics, role, "held");
            events.push(LlmEvent::Held {
                provider: self.name.clone(),
                role: role.to_string(),
                wait_ms: millis(wait),
            });
            return Err(ProviderFailure::Held(wait));
        }
        Ok(())
    }

    /// What a failed call leads to: the failure counted, a 429's hold put on the gate (and
    /// recorded), and either a retry after a wait or the failure given up on.
    async fn after_failure(
        &self,
        role: &str,
        error: CallError,
        retries: u32,
        deadline: TokioInstant,
        metrics: &LlmMetrics,
    ) -> Result<Retry, ProviderFailure> {
        self.count(metrics, role, error.outcome());
        // A 429, or any answer carrying `Retry-After`, closes the gate for every caller
        // — even when this one gives up — so the others do not collect 429s meanwhile.
        let held = match &error {
            CallError::RateLimited { retry_after, .. } => Some(
                self.gate
                    .rate_limited(*retry_after, |n| self.policy.backoff(n)),
            ),
            other => other.retry_after().map(|asked| {
                self.gate
                    .rate_limited(Some(asked), |n| self.policy.backoff(n))
            }),
        };
        if let Some(wait) = held {
            // Durable before anything else is done about the 429: a process killed from
            // here on still leaves the hold for its next life to wait out.
            self.record_hold(wait).await;
        }
        if !matches!(error, CallError::RateLimited { .. }) {
            self.gate.answered();
        }
        if !error.is_retryable() || retries >= self.max_retries {
            return Err(ProviderFailure::Call(error));
        }
        if error
            .retry_after()
            .is_some_and(|asked| asked > self.policy.max_retry_after)
        {
            return Err(ProviderFailure::Call(error));
        }
        // Held: the gate does the waiting (for everyone); otherwise this call backs off.
        let wait = held.unwrap_or_else(|| self.policy.backoff(retries));
        if TokioInstant::now() + wait > deadline {
            return Err(ProviderFailure::Call(error));
        }
        Ok(Retry {
            wait,
            held: held.is_some(),
            reason: error.to_string(),
        })
    }

    /// Restores `day`'s spend from the ledger once per day, before the first call. A
    /// budgeted provider whose ledger cannot be read fails closed; an unbudgeted one goes on.
    async fn restore(&self, day: chrono::NaiveDate) -> Result<(), String> {
        let Some(ledger) = &self.ledger else {
            return Ok(());
        };
        let mut restored = self.restored.lock().await;
        if *restored == Some(day) {
            return Ok(());
        }
        // The hold first: a provider that asked the previous life to wait is not called
        // before the end it gave, whatever the budget says.
        match ledger.holds(Utc::now()).await {
            Ok(holds) => {
                if let Some(until) = holds.get(&self.name) {
                    self.restore_hold(*until);
                }
            }
            // A courtesy to the provider, not a limit of ours: an unreadable hold does not
            // stop the calls (the provider answers 429 again if it still means it).
            Err(reason) => {
                tracing::warn!(provider = self.name, %reason, "provider hold not restored");
            }
        }
        match ledger.spent_on(day).await {
            Ok(spent) => {
                let own = spent.get(&self.name).copied().unwrap_or(0.0);
                self.budget.restore(day, own);
                if let Some(strategy) = &self.strategy {
                    // The strategy's spend is every provider's: restoring the total from each
                    // provider is idempotent, since a restore never lowers what is known.
                    strategy.restore(day, spent.values().sum());
                }
                *restored = Some(day);
                tracing::info!(provider = self.name, %day, spent_usd = own, "LLM spend restored");
                Ok(())
            }
            Err(reason) if self.budget.limit_usd().is_some() => Err(reason),
            Err(reason) => {
                tracing::warn!(provider = self.name, %reason, "LLM spend not restored");
                Ok(())
            }
        }
    }

    /// Closes this provider's gate until `until`, a hold read from the ledger (an earlier
    /// life's, another replica's); says so when it lengthened the gate's hold.
    pub fn restore_hold(&self, until: DateTime<Utc>) {
        if let Some(left) = self.gate.hold_until_wall(until) {
            tracing::info!(
                provider = self.name,
                %until,
                wait_ms = millis(left),
                "provider hold restored: no call before it ends"
            );
        }
    }

    /// Records the gate's hold, `wait` from now, in the ledger so it outlives the process.
    async fn record_hold(&self, wait: Duration) {
        let Some(ledger) = &self.ledger else {
            return;
        };
        let Some(until) = chrono::Duration::from_std(wait)
            .ok()
            .and_then(|wait| Utc::now().checked_add_signed(wait))
        else {
            tracing::warn!(
                provider = self.name,
                ?wait,
                "provider hold too long to record"
            );
            return;
        };
        if let Err(reason) = ledger.record_hold(&self.name, until).await {
            // The gate is closed in this process all the same; only its durability is lost.
            tracing::warn!(provider = self.name, %reason, "provider hold not recorded in the ledger");
        }
    }

    fn count(&self, metrics: &LlmMetrics, role: &str, outcome: &str) {
        metrics
            .calls
            .with_label_values(&[&self.name, role, outcome])
            .inc();
    }

    /// Charges the completion to every budget and ledger; what it was billed.
    async fn charge(
        &self,
        metrics: &LlmMetrics,
        role: &str,
        completion: &Completion,
    ) -> ReportUsage {
        let usage = completion.usage;
        let cost = self.pricing.cost(usage);
        let now = Utc::now();
        self.budget.charge(cost, now);
        if let Some(strategy) = &self.strategy {
            strategy.charge(cost, now);
        }
        tally(cost);
        if let Some(ledger) = &self.ledger {
            let call = LlmCall {
                provider: self.name.clone(),
                role: role.to_string(),
                at: now,
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                cost_usd: cost.max(0.0),
            };
            if let Err(reason) = ledger.record(&call).await {
                // The call happened and is charged in memory; only its durability is lost.
                tracing::warn!(provider = self.name, %reason, "LLM call not recorded in the ledger");
            }
        }
        let labels = |direction| [self.name.as_str(), role, direction];
        metrics
            .tokens
            .with_label_values(&labels("in"))
            .inc_by(usage.prompt_tokens);
        metrics
            .tokens
            .with_label_values(&labels("out"))
            .inc_by(usage.completion_tokens);
        metrics
            .cost_usd
            .with_label_values(&[&self.name, role])
            .inc_by(cost.max(0.0));
        self.publish_budget(metrics, now);
        ReportUsage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost_usd: cost.max(0.0),
        }
    }

    fn publish_budget(&self, metrics: &LlmMetrics, now: chrono::DateTime<Utc>) {
        metrics
            .spent_today_usd
            .with_label_values(&[&self.name])
            .set(self.budget.spent(now));
        if let Some(limit) = self.budget.limit_usd() {
            metrics
                .budget_usd
                .with_label_values(&[&self.name])
                .set(limit);
        }
        if let Some(left) = self.budget.remaining(now) {
            metrics
                .budget_remaining_usd
                .with_label_values(&[&self.name])
                .set(left);
        }
    }
}

/// The process's providers, by name; shared by all seats.
#[derive(Clone, Debug, Default)]
pub struct ProviderPool {
    providers: BTreeMap<String, Arc<Provider>>,
}

impl ProviderPool {
    /// Builds every configured provider, reading their key files now so a missing Secret
    /// fails the start, not the first cycle.
    pub fn from_config(
        providers: &[ProviderConfig],
        policy: RetryPolicy,
    ) -> Result<Self, LlmBuildError> {
        Self::with_ledger(providers, policy, None, None)
    }

    /// As [`ProviderPool::from_config`], each provider's spend recorded in and restored from
    /// `ledger`, and all of them limited together to `strategy_budget_usd` a day when given.
    pub fn with_ledger(
        providers: &[ProviderConfig],
        policy: RetryPolicy,
        ledger: Option<Arc<dyn SpendLedger>>,
        strategy_budget_usd: Option<f64>,
    ) -> Result<Self, LlmBuildError> {
        let strategy = strategy_budget_usd.map(|limit| Arc::new(DailyBudget::new(Some(limit))));
        let providers = providers
            .iter()
            .map(|config| {
                Ok((
                    config.name.clone(),
                    Arc::new(Provider::from_config(
                        config,
                        policy,
                        ledger.clone(),
                        strategy.clone(),
                    )?),
                ))
            })
            .collect::<Result<_, LlmBuildError>>()?;
        Ok(Self { providers })
    }

    /// Puts every provider's exchanges through `book` (record, replay, spending cap). Set
    /// once, before the first call; a second book is refused and said so.
    pub fn attach_answers(&self, book: &Arc<AnswerBook>) {
        for provider in self.providers.values() {
            if provider.answers.set(book.clone()).is_err() {
                tracing::warn!(provider = provider.name, "an answer book is already set");
            }
        }
    }

    /// Sets each budgeted provider's remaining-budget gauge, so it shows before any call.
    pub fn publish_budgets(&self, metrics: &LlmMetrics) {
        for provider in self.providers.values() {
            provider.publish_budget(metrics, Utc::now());
        }
    }

    /// Every provider, by name.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.providers.values()
    }

    /// The named providers, in order.
    pub fn resolve(
        &self,
        role: &str,
        names: &[String],
    ) -> Result<Vec<Arc<Provider>>, LlmBuildError> {
        if names.is_empty() {
            return Err(LlmBuildError::NoProviders { role: role.into() });
        }
        names
            .iter()
            .map(|name| {
                self.providers
                    .get(name)
                    .cloned()
                    .ok_or_else(|| LlmBuildError::UnknownProvider {
                        role: role.into(),
                        name: name.clone(),
                    })
            })
            .collect()
    }
}

/// A verdict and the provider that gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub provider: String,
    pub verdict: Verdict,
}

/// Asks each provider in turn until one answers; `Err` lists why each one did not. What
/// every provider billed on the way is added to `usage`, whichever way it ends.
pub async fn ask_in_order(
    providers: &[Arc<Provider>],
    role: &str,
    request: &ChatRequest,
    metrics: &LlmMetrics,
    events: &mut Vec<LlmEvent>,
    usage: &mut ReportUsage,
) -> Result<Answer, Vec<(String, ProviderFailure)>> {
    let mut failures = Vec::new();
    let deadline = TokioInstant::now()
        + providers
            .first()
            .map_or(Duration::ZERO, |provider| provider.policy.deadline);
    for provider in providers {
        match provider
            .ask(role, request, deadline, metrics, events, usage)
            .await
        {
            Ok(verdict) => {
                return Ok(Answer {
                    provider: provider.name.clone(),
                    verdict,
                });
            }
            Err(failure) => {
                if !matches!(
                    failure,
                    ProviderFailure::BudgetExhausted | ProviderFailure::StrategyBudgetExhausted
                ) {
                    events.push(LlmEvent::ProviderFailed {
                        provider: provider.name.clone(),
                        role: role.to_string(),
                        reason: failure.to_string(),
                    });
                }
                failures.push((provider.name.clone(), failure));
            }
        }
    }
    Err(failures)
}

fn millis(wait: Duration) -> u64 {
    u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
}

/// A structured-output request for a verdict.
pub fn verdict_request(model: &str, temperature: f64, system: &str, user: String) -> ChatRequest {
    ChatRequest::structured(
        model,
        temperature,
        vec![
            super::client::Message::system(system),
            super::client::Message::user(user),
        ],
        super::verdict::SCHEMA_NAME,
        super::verdict::verdict_schema(),
    )
}

/// A failed call that will be tried again: after `wait`, which the gate does when `held`
/// (a 429's hold, for every caller) and the caller sleeps otherwise.
struct Retry {
    wait: std::time::Duration,
    held: bool,
    reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(1),
            deadline: Duration::from_secs(1),
        };
        let waits: Vec<u128> = (0..5).map(|n| policy.backoff(n).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 500, 500]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_millis(500));
    }
}
