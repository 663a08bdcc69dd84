//! The bull/bear debate: two LLM personas argue over the analysts' reports for N rounds,
//! and the debate concludes with one report (role `debate`) the decision weighs.
//!
//! The pipeline calls it through the cycle's `Debate` port (implemented in `cycle::debate`);
//! [`LlmDebate::run`] returns the whole transcript too, for the journal. Each turn is an ordinary structured verdict
//! call (same schema, same providers, failover and budget as the analysts): the argument is
//! the rationale, and signal and confidence are the persona's honest view after hearing the
//! other side. The conclusion is computed, not asked for — the mean of direction × confidence
//! over the last round's turns — so a third "judge" call cannot add cost or bias, and a
//! bull who concedes moves the result. A turn whose providers all fail is recorded as
//! silent; if nobody spoke at all the debate returns no conclusion and the decision goes
//! without it.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use super::metrics::LlmMetrics;
use super::prompts::{builtin_system_prompt, debate_user_prompt};
use super::provider::{LlmBuildError, Provider, ProviderPool, ask_in_order, verdict_request};
use crate::agents::Snapshot;
use crate::config::{AnalystKind, RuntimeConfig};
use crate::domain::{AnalystReport, Signal};
use crate::domain::{LlmEvent, ReportUsage};

/// Rounds beyond this are not run: each round is two paid calls, and arguments repeat.
pub const MAX_ROUNDS: u32 = 5;

/// |mean direction × confidence| below this concludes neutral.
pub const NEUTRAL_BAND: f64 = 0.1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DebateSide {
    Bull,
    Bear,
}

impl DebateSide {
    fn name(self) -> &'static str {
        match self {
            Self::Bull => "bull",
            Self::Bear => "bear",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DebateTurn {
    /// 1-based.
    pub round: u32,
    pub side: DebateSide,
    /// The provider that answered; `None` when no provider could.
    pub provider: Option<String>,
    pub signal: Signal,
    pub confidence: f64,
    pub argument: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DebateOutcome {
    pub transcript: Vec<DebateTurn>,
    /// The conclusion as a report with role `debate`; `None` when nobody could speak.
    pub conclusion: Option<AnalystReport>,
    pub events: Vec<LlmEvent>,
}

pub struct LlmDebate {
    model: String,
    temperature: f64,
    providers: Vec<Arc<Provider>>,
    metrics: LlmMetrics,
    events: Option<UnboundedSender<LlmEvent>>,
}

impl LlmDebate {
    pub fn new(
        providers: Vec<Arc<Provider>>,
        model: impl Into<String>,
        temperature: f64,
        metrics: &LlmMetrics,
    ) -> Self {
        Self {
            model: model.into(),
            temperature,
            providers,
            metrics: metrics.clone(),
            events: None,
        }
    }

    /// A debate using the first LLM seat's providers, model and temperature; `None` when
    /// `decision.debateRounds` is 0 or no seat is an LLM (there is nobody to debate with).
    pub fn from_config(
        config: &RuntimeConfig,
        pool: &ProviderPool,
        metrics: &LlmMetrics,
    ) -> Result<Option<Self>, LlmBuildError> {
        if config.decision.debate_rounds == 0 {
            return Ok(None);
        }
        let seat = config.analysts.iter().find_map(|seat| match &seat.kind {
            AnalystKind::Llm {
                providers,
                model,
                temperature,
                ..
            } => Some((providers, model, *temperature)),
            AnalystKind::Quant { .. } => None,
        });
        let Some((names, model, temperature)) = seat else {
            return Ok(None);
        };
        let providers = pool.resolve("debate", names)?;
        Ok(Some(Self::new(
            providers,
            model.clone(),
            temperature,
            metrics,
        )))
    }

    /// Also sends every event to `events`.
    pub fn with_events(mut self, events: UnboundedSender<LlmEvent>) -> Self {
        self.events = Some(events);
        self
    }

    /// Runs `rounds` rounds (at most [`MAX_ROUNDS`]), bull first in each.
    pub async fn run(
        &self,
        snapshot: &Snapshot,
        reports: &[AnalystReport],
        rounds: u32,
    ) -> DebateOutcome {
        let rounds = rounds.min(MAX_ROUNDS);
        let mut transcript: Vec<DebateTurn> = Vec::new();
        let mut events = Vec::new();
        let mut usage = ReportUsage::default();
        for round in 1..=rounds {
            for side in [DebateSide::Bull, DebateSide::Bear] {
                let role = side.name();
                let user = debate_user_prompt(
                    role,
                    round,
                    rounds,
                    snapshot,
                    reports,
                    &render(&transcript),
                );
                let request = verdict_request(
                    &self.model,
                    self.temperature,
                    &builtin_system_prompt(role),
                    user,
                );
                let answer = ask_in_order(
                    &self.providers,
                    role,
                    &request,
                    &self.metrics,
                    &mut events,
                    &mut usage,
                )
                .await;
                transcript.push(match answer {
                    Ok(answer) => DebateTurn {
                        round,
                        side,
                        provider: Some(answer.provider),
                        signal: answer.verdict.signal,
                        confidence: answer.verdict.confidence,
                        argument: answer.verdict.rationale,
                    },
                    Err(_) => DebateTurn {
                        round,
                        side,
                        provider: None,
                        signal: Signal::Neutral,
                        confidence: 0.0,
                        argument: "(no provider could answer)".into(),
                    },
                });
            }
        }
        if let Some(tx) = &self.events {
            for event in &events {
                let _ = tx.send(event.clone());
            }
        }
        let conclusion = conclude(&self.model, &transcript).map(|report| AnalystReport {
            usage: usage.billed(),
            ..report
        });
        DebateOutcome {
            conclusion,
            transcript,
            events,
        }
    }
}

fn render(transcript: &[DebateTurn]) -> String {
    let mut out = String::new();
    for turn in transcript.iter().filter(|t| t.provider.is_some()) {
        let _ = writeln!(
            out,
            "[round {} {}] ({:?}, {:.2}) {}",
            turn.round,
            turn.side.name(),
            turn.signal,
            turn.confidence,
            turn.argument
        );
    }
    out
}

/// The conclusion from the last round's turns that were spoken (see the module docs).
pub fn conclude(model: &str, transcript: &[DebateTurn]) -> Option<AnalystReport> {
    let last_round = transcript.iter().map(|t| t.round).max()?;
    let spoken: Vec<&DebateTurn> = transcript
        .iter()
        .filter(|t| t.round == last_round && t.provider.is_some())
        .collect();
    if spoken.is_empty() {
        return None;
    }
    let net = spoken
        .iter()
        .map(|t| t.signal.direction() * t.confidence)
        .sum::<f64>()
        / spoken.len() as f64;
    let signal = if net > NEUTRAL_BAND {
        Signal::Bullish
    } else if net < -NEUTRAL_BAND {
        Signal::Bearish
    } else {
        Signal::Neutral
    };
    let rationale = spoken
        .iter()
        .map(|t| format!("{}: {}", t.side.name(), t.argument))
        .collect::<Vec<_>>()
        .join(" | ");
    Some(AnalystReport {
        role: "debate".into(),
        source: format!("debate:llm/{model}").into(),
        signal,
        confidence: net.abs().min(1.0),
        rationale,
        usage: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(round: u32, side: DebateSide, signal: Signal, confidence: f64) -> DebateTurn {
        DebateTurn {
            round,
            side,
            provider: Some("p".into()),
            signal,
            confidence,
            argument: format!("{side:?} {round}"),
        }
    }

    #[test]
    fn concludes_from_the_last_round() {
        let transcript = vec![
            turn(1, DebateSide::Bull, Signal::Bullish, 0.9),
            turn(1, DebateSide::Bear, Signal::Bearish, 0.9),
            turn(2, DebateSide::Bull, Signal::Bullish, 0.8),
            turn(2, DebateSide::Bear, Signal::Neutral, 0.6),
        ];
        let report = conclude("m", &transcript);
        assert_eq!(report.as_ref().map(|r| r.signal), Some(Signal::Bullish));
        assert_eq!(report.as_ref().map(|r| r.confidence), Some(0.4));
        assert_eq!(
            report.map(|r| r.role.to_string()),
            Some("debate".to_string())
        );
    }

    #[test]
    fn a_balanced_debate_is_neutral_and_a_silent_one_concludes_nothing() {
        let balanced = vec![
            turn(1, DebateSide::Bull, Signal::Bullish, 0.7),
            turn(1, DebateSide::Bear, Signal::Bearish, 0.6),
        ];
        assert_eq!(
            conclude("m", &balanced).map(|r| r.signal),
            Some(Signal::Neutral)
        );
        let mut silent = balanced;
        for t in &mut silent {
            t.provider = None;
        }
        assert_eq!(conclude("m", &silent), None);
        assert_eq!(conclude("m", &[]), None);
    }
}
