//! The prompts an LLM analyst sends: a system prompt per role and a user prompt that
//! summarises the snapshot.
//!
//! The system prompt sets the persona and is what a team tunes (the seat's `systemPrompt`
//! replaces the built-in one). The answer contract — JSON with signal, confidence and
//! rationale — is at the end of the user prompt instead, so an override cannot drop it and
//! servers that ignore `response_format` still know what to return. The snapshot summary is
//! plain text with a bounded number of bars: enough for a model to reason about, small
//! enough that token cost stays flat however long the history is.

use std::fmt::Write as _;

use crate::agents::Snapshot;
use crate::domain::{AnalystReport, Bar};

/// Bars listed in the user prompt (the statistics use the whole snapshot).
pub const PROMPT_BARS: usize = 20;

/// The answer contract, appended to every user prompt.
pub const ANSWER_CONTRACT: &str = "Answer with a single JSON object and nothing else: \
{\"signal\": \"bullish\" | \"neutral\" | \"bearish\", \"confidence\": a number from 0 to 1, \
\"rationale\": one or two sentences}. Use neutral with low confidence when the data does not \
support a view.";

const COMMON: &str = "You are one analyst on a trading desk. You judge one instrument over \
the next few bars from the data given, and nothing else: do not invent news, prices or facts. \
Be calibrated: confidence is how likely you think you are right.";

/// The built-in system prompt for a role; unknown roles get a general analyst.
pub fn builtin_system_prompt(role: &str) -> String {
    let focus = match role.to_ascii_lowercase().as_str() {
        "technical" | "technicals" | "market" => {
            "Your speciality is technical analysis: trend, momentum, support and resistance, \
             volume confirmation."
        }
        "fundamental" | "fundamentals" => {
            "Your speciality is fundamentals; with only price data, judge whether the price \
             path looks like a re-rating or noise, and say so with modest confidence."
        }
        "sentiment" | "news" | "social" => {
            "Your speciality is market sentiment; infer it from price and volume behaviour \
             (capitulation, euphoria, indifference)."
        }
        "risk" | "volatility" => {
            "Your speciality is risk: you look for fragile set-ups, stretched moves and \
             volatility regimes, and you favour neutral when risk is high."
        }
        "bull" => {
            "In this debate you argue the bullish case, honestly: concede what the data shows."
        }
        "bear" => {
            "In this debate you argue the bearish case, honestly: concede what the data shows."
        }
        _ => "You give a balanced view of where the price is heading.",
    };
    format!("{COMMON} {focus}")
}

/// The user prompt for an analyst seat.
pub fn analyst_user_prompt(role: &str, snapshot: &Snapshot) -> String {
    let mut prompt = format!("Role: {role}\n");
    push_snapshot(&mut prompt, snapshot);
    prompt.push('\n');
    prompt.push_str(ANSWER_CONTRACT);
    prompt
}

/// The snapshot summary shared by analysts and debaters.
pub fn push_snapshot(out: &mut String, snapshot: &Snapshot) {
    let _ = writeln!(out, "Symbol: {}", snapshot.symbol);
    match &snapshot.position {
        Some(p) if p.quantity != 0.0 => {
            let _ = writeln!(
                out,
                "Position: {} units at an average price of {:.4}",
                p.quantity, p.average_price
            );
        }
        _ => out.push_str("Position: none\n"),
    }
    push_stats(out, &snapshot.bars);
    let start = snapshot.bars.len().saturating_sub(PROMPT_BARS);
    let shown = &snapshot.bars[start..];
    if !shown.is_empty() {
        let _ = writeln!(
            out,
            "Last {} bars (time, open, high, low, close, volume):",
            shown.len()
        );
        for bar in shown {
            let _ = writeln!(
                out,
                "{} {:.4} {:.4} {:.4} {:.4} {:.0}",
                bar.time.format("%Y-%m-%dT%H:%M"),
                bar.open,
                bar.high,
                bar.low,
                bar.close,
                bar.volume
            );
        }
    }
}

fn push_stats(out: &mut String, bars: &[Bar]) {
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        out.push_str("No price history is available.\n");
        return;
    };
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let high = bars.iter().map(|b| b.high).fold(f64::MIN, f64::max);
    let low = bars.iter().map(|b| b.low).fold(f64::MAX, f64::min);
    let mean = closes.iter().sum::<f64>() / closes.len() as f64;
    let returns: Vec<f64> = closes
        .windows(2)
        .filter(|w| w[0] != 0.0)
        .map(|w| w[1] / w[0] - 1.0)
        .collect();
    let _ = writeln!(out, "Last close: {:.4}", last.close);
    if let Some(change) = returns.last() {
        let _ = writeln!(out, "Change over the last bar: {:+.2}%", change * 100.0);
    }
    if first.close != 0.0 {
        let _ = writeln!(
            out,
            "Change over {} bars: {:+.2}%",
            bars.len(),
            (last.close / first.close - 1.0) * 100.0
        );
    }
    let _ = writeln!(
        out,
        "Range over {} bars: low {low:.4}, high {high:.4}, mean close {mean:.4}",
        bars.len()
    );
    if returns.len() >= 2 {
        let avg = returns.iter().sum::<f64>() / returns.len() as f64;
        let var =
            returns.iter().map(|r| (r - avg).powi(2)).sum::<f64>() / (returns.len() - 1) as f64;
        let _ = writeln!(
            out,
            "Volatility (st. dev. of bar returns): {:.2}%",
            var.sqrt() * 100.0
        );
    }
}

/// One debater's prompt: the snapshot, the analysts' reports and the debate so far.
pub fn debate_user_prompt(
    side: &str,
    round: u32,
    rounds: u32,
    snapshot: &Snapshot,
    reports: &[AnalystReport],
    transcript: &str,
) -> String {
    let mut prompt = format!("Debate round {round} of {rounds}. You argue the {side} side.\n");
    push_snapshot(&mut prompt, snapshot);
    prompt.push_str("Analyst reports:\n");
    for r in reports {
        let _ = writeln!(
            prompt,
            "- {} ({}): {:?} at confidence {:.2}: {}",
            r.role, r.source, r.signal, r.confidence, r.rationale
        );
    }
    if transcript.is_empty() {
        prompt.push_str("You speak first.\n");
    } else {
        let _ = write!(prompt, "The debate so far:\n{transcript}");
    }
    prompt.push_str(
        "Put your argument in the rationale; signal and confidence are your honest view \
         after hearing the other side.\n",
    );
    prompt.push_str(ANSWER_CONTRACT);
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Position;
    use chrono::{TimeZone, Utc};

    fn bar(i: i64, close: f64) -> Bar {
        Bar {
            symbol: "AAPL".into(),
            time: Utc
                .timestamp_opt(1_700_000_000 + i * 86_400, 0)
                .single()
                .unwrap_or_default(),
            open: close,
            high: close + 1.0,
            low: close - 1.0,
            close,
            volume: 1000.0,
        }
    }

    #[test]
    fn the_user_prompt_summarises_the_snapshot() {
        let snapshot = Snapshot {
            symbol: "AAPL".into(),
            bars: (0..30).map(|i| bar(i, 100.0 + i as f64)).collect(),
            position: Some(Position {
                symbol: "AAPL".into(),
                quantity: 5.0,
                average_price: 101.5,
            }),
        };
        let prompt = analyst_user_prompt("technical", &snapshot);
        assert!(prompt.contains("Symbol: AAPL"));
        assert!(prompt.contains("Position: 5 units at an average price of 101.5000"));
        assert!(prompt.contains("Last close: 129.0000"));
        assert!(prompt.contains("Change over 30 bars: +29.00%"));
        assert!(prompt.contains(&format!("Last {PROMPT_BARS} bars")));
        let bar_lines = prompt
            .lines()
            .filter(|l| l.starts_with("2023-") || l.starts_with("2024-"));
        assert_eq!(
            bar_lines.count(),
            PROMPT_BARS,
            "only the last bars are listed"
        );
        assert!(prompt.ends_with(ANSWER_CONTRACT));
    }

    #[test]
    fn an_empty_snapshot_still_makes_a_prompt() {
        let snapshot = Snapshot {
            symbol: "BTC/USD".into(),
            bars: Default::default(),
            position: None,
        };
        let prompt = analyst_user_prompt("x", &snapshot);
        assert!(prompt.contains("No price history"));
        assert!(prompt.contains("Position: none"));
    }
}
