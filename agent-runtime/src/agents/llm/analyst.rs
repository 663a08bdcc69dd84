//! The LLM analyst seat: prompts from the role and the snapshot, a verdict from the first
//! provider that can give one, and the configured fallback when none can.
//!
//! The fallback is part of the contract that an analyst never fails a cycle: `Hold` reports
//! neutral at zero confidence (so the decision ignores the seat), `Quant { method }` reports
//! what that quantitative method says. Either way the report's `source` starts with
//! `fallback:` and its rationale says why the model was not heard, so a journal reader sees
//! the difference between "the model thinks neutral" and "the model was not asked".

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc::UnboundedSender;

use super::metrics::LlmMetrics;
use super::prompts::{analyst_user_prompt, builtin_system_prompt};
use super::provider::{
    LlmBuildError, Provider, ProviderFailure, ProviderPool, ask_in_order, verdict_request,
};
use crate::agents::quant::{self, quant_analyst_with};
use crate::agents::{Analyst, Snapshot};
use crate::config::{AnalystConfig, AnalystKind, LlmFallback, RuntimeConfig};
use crate::domain::{AnalystReport, Signal};
use crate::domain::{LlmEvent, ReportUsage};

/// A report and the events that led to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    pub report: AnalystReport,
    pub events: Vec<LlmEvent>,
}

pub struct LlmAnalyst {
    role: String,
    model: String,
    temperature: f64,
    system_prompt: String,
    providers: Vec<Arc<Provider>>,
    fallback: LlmFallback,
    metrics: LlmMetrics,
    events: Option<UnboundedSender<LlmEvent>>,
}

impl LlmAnalyst {
    /// The seat `seat` (which must be `kind: llm`), with its providers taken from `pool`.
    pub fn from_seat(
        seat: &AnalystConfig,
        pool: &ProviderPool,
        metrics: &LlmMetrics,
    ) -> Result<Self, LlmBuildError> {
        let AnalystKind::Llm {
            providers,
            model,
            temperature,
            system_prompt,
            fallback,
        } = &seat.kind
        else {
            return Err(LlmBuildError::NotLlm {
                role: seat.role.clone(),
            });
        };
        Ok(Self {
            role: seat.role.clone(),
            model: model.clone(),
            temperature: *temperature,
            system_prompt: system_prompt
                .clone()
                .unwrap_or_else(|| builtin_system_prompt(&seat.role)),
            providers: pool.resolve(&seat.role, providers)?,
            fallback: fallback.clone(),
            metrics: metrics.clone(),
            events: None,
        })
    }

    /// Also sends every event to `events` (for a journal writer); a closed channel is ignored.
    pub fn with_events(mut self, events: UnboundedSender<LlmEvent>) -> Self {
        self.events = Some(events);
        self
    }

    /// The report, and the events on the way to it.
    pub async fn analyze_detailed(&self, snapshot: &Snapshot) -> Analysis {
        let request = verdict_request(
            &self.model,
            self.temperature,
            &self.system_prompt,
            analyst_user_prompt(&self.role, snapshot),
        );
        let mut events = Vec::new();
        let mut usage = ReportUsage::default();
        let mut report = match ask_in_order(
            &self.providers,
            &self.role,
            &request,
            &self.metrics,
            &mut events,
            &mut usage,
        )
        .await
        {
            Ok(answer) => AnalystReport {
                role: self.role.clone().into(),
                source: format!("llm:{}/{}", answer.provider, self.model).into(),
                signal: answer.verdict.signal,
                confidence: answer.verdict.confidence,
                rationale: answer.verdict.rationale,
                usage: None,
            },
            Err(failures) => {
                let reason = describe(&failures);
                let report = self.fallback_report(snapshot, &reason);
                let fallback = report.source.trim_start_matches("fallback:").to_string();
                self.metrics
                    .fallbacks
                    .with_label_values(&[&self.role, &fallback])
                    .inc();
                tracing::warn!(role = self.role, %fallback, %reason, "LLM seat fell back");
                events.push(LlmEvent::Fallback {
                    role: self.role.clone(),
                    fallback,
                    reason,
                });
                report
            }
        };
        // Malformed answers before a fallback were billed too.
        report.usage = usage.billed();
        if let Some(tx) = &self.events {
            for event in &events {
                let _ = tx.send(event.clone());
            }
        }
        Analysis { report, events }
    }

    /// The fallback, without a call: the strategy this analysis is for has spent its daily
    /// LLM budget (`spent_usd` of `limit_usd`). Counted and evented like any fallback.
    pub fn budget_spent(&self, snapshot: &Snapshot, spent_usd: f64, limit_usd: f64) -> Analysis {
        let exhausted = LlmEvent::StrategyBudgetExhausted {
            role: self.role.clone(),
            spent_usd,
            limit_usd,
        };
        let reason = "the strategy's daily LLM budget is spent".to_string();
        let report = self.fallback_report(snapshot, &reason);
        let fallback = report.source.trim_start_matches("fallback:").to_string();
        self.metrics
            .fallbacks
            .with_label_values(&[&self.role, &fallback])
            .inc();
        let events = vec![
            exhausted,
            LlmEvent::Fallback {
                role: self.role.clone(),
                fallback,
                reason,
            },
        ];
        Analysis { report, events }
    }

    fn fallback_report(&self, snapshot: &Snapshot, reason: &str) -> AnalystReport {
        match self.fallback {
            LlmFallback::Hold => AnalystReport {
                role: self.role.clone().into(),
                source: "fallback:hold".into(),
                signal: Signal::Neutral,
                confidence: 0.0,
                rationale: format!("no LLM answer ({reason}); holding"),
                usage: None,
            },
            LlmFallback::Quant { method } => {
                let quant = quant::analyze(&self.role, method, snapshot);
                AnalystReport {
                    source: format!("fallback:{}", quant::source_of(method)).into(),
                    rationale: format!(
                        "no LLM answer ({reason}); {} says: {}",
                        quant::source_of(method),
                        quant.rationale
                    ),
                    ..quant
                }
            }
        }
    }
}

fn describe(failures: &[(String, ProviderFailure)]) -> String {
    if failures.is_empty() {
        return "no providers".into();
    }
    failures
        .iter()
        .map(|(name, failure)| format!("{name}: {failure}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Analyst for LlmAnalyst {
    /// The bars its prompt shows and its quant fallback reads.
    fn history_needed(&self) -> usize {
        quant::MIN_HISTORY
    }

    fn role(&self) -> &str {
        &self.role
    }

    fn analyze<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, AnalystReport> {
        async move { LlmAnalyst::analyze_detailed(self, snapshot).await.report }.boxed()
    }

    fn analyze_detailed<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, Analysis> {
        LlmAnalyst::analyze_detailed(self, snapshot).boxed()
    }
}

/// A configured seat that can say what happened on the way to its report.
pub enum Seat {
    Llm(LlmAnalyst),
    /// Any other analyst (a quant seat, or one a test injects): no events.
    Plain(Box<dyn Analyst>),
}

impl Seat {
    pub fn role(&self) -> &str {
        match self {
            Self::Llm(llm) => llm.role(),
            Self::Plain(quant) => quant.role(),
        }
    }

    pub async fn analyze_detailed(&self, snapshot: &Snapshot) -> Analysis {
        match self {
            Self::Llm(llm) => llm.analyze_detailed(snapshot).await,
            Self::Plain(analyst) => analyst.analyze_detailed(snapshot).await,
        }
    }

    /// As [`Seat::analyze_detailed`] once the strategy's budget is spent: an LLM seat
    /// reports its fallback without a call; any other seat costs nothing and analyses.
    pub async fn budget_spent(
        &self,
        snapshot: &Snapshot,
        spent_usd: f64,
        limit_usd: f64,
    ) -> Analysis {
        match self {
            Self::Llm(llm) => llm.budget_spent(snapshot, spent_usd, limit_usd),
            Self::Plain(analyst) => analyst.analyze_detailed(snapshot).await,
        }
    }

    /// The seat as a plain [`Analyst`] (its events then only go to its channel, if any).
    pub fn into_analyst(self) -> Box<dyn Analyst> {
        match self {
            Self::Llm(llm) => Box::new(llm),
            Self::Plain(quant) => quant,
        }
    }
}

/// Every seat of `config.analysts`, in order. `events`, when given, receives every LLM
/// seat's events.
pub fn seats(
    config: &RuntimeConfig,
    pool: &ProviderPool,
    metrics: &LlmMetrics,
    events: Option<&UnboundedSender<LlmEvent>>,
) -> Result<Vec<Seat>, LlmBuildError> {
    config
        .analysts
        .iter()
        .map(|seat| match &seat.kind {
            AnalystKind::Quant { method, params } => Ok(Seat::Plain(quant_analyst_with(
                seat.role.clone(),
                *method,
                params.clone(),
            ))),
            AnalystKind::Llm { .. } => {
                let llm = LlmAnalyst::from_seat(seat, pool, metrics)?;
                Ok(Seat::Llm(match events {
                    Some(tx) => llm.with_events(tx.clone()),
                    None => llm,
                }))
            }
        })
        .collect()
}
