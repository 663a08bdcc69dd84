//! LLM analysts: an OpenAI-compatible chat completions client with structured output, and
//! everything that makes it safe to put in a trading loop — schema validation, timeouts,
//! retries with backoff honouring `Retry-After`, per-provider rate limits, failover across
//! an ordered provider list, daily cost budgets that fail closed, and a configured fallback.
//!
//! Start here:
//! - [`ProviderPool::from_config`] once per process (reads the key files),
//!   [`LlmMetrics::register`] once per registry;
//! - [`seats`] (or [`LlmAnalyst::from_seat`]) for the analyst seats;
//! - [`LlmDebate::from_config`] for the bull/bear debate (implements
//!   the cycle's `Debate` port, in `cycle::debate`);
//! - events ([`LlmEvent`]) come back from [`LlmAnalyst::analyze_detailed`] and
//!   [`LlmDebate::run`], or through a channel given with `with_events`, for the journal.
//!
//! Layers, bottom up: `client` (one HTTP exchange, classified), `verdict` (the answer
//! schema), `prompts`, `ratelimit` and `budget` (per provider), `provider` (retry policy and
//! failover), then `analyst` and `debate`.

mod analyst;
mod answers;
mod budget;
mod client;
mod debate;
mod metrics;
mod prompts;
mod provider;
mod ratelimit;
mod verdict;

pub use crate::domain::LlmEvent;
pub use analyst::{Analysis, LlmAnalyst, Seat, seats};
pub use answers::{AnswerBook, AnswerKey, AnswerStore, BookCounts, LlmMode};
pub use budget::{DailyBudget, LlmCall, Pricing, SpendLedger, tally_cost};
pub use client::{ApiKey, CallError, ChatClient, ChatRequest, Completion, Message, Usage};
pub use debate::{DebateOutcome, DebateSide, DebateTurn, LlmDebate, MAX_ROUNDS, conclude};
pub use metrics::LlmMetrics;
pub use prompts::{ANSWER_CONTRACT, analyst_user_prompt, builtin_system_prompt};
pub use provider::{
    Answer, LlmBuildError, Provider, ProviderFailure, ProviderPool, RetryPolicy, ask_in_order,
    verdict_request,
};
pub use ratelimit::{Gate, GateClosed, TokenBucket};
pub use verdict::{Verdict, VerdictError, parse_verdict, verdict_schema};
