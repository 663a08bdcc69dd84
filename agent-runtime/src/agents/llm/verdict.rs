//! The structured answer an LLM analyst must give, and its validation.
//!
//! Providers are asked for JSON matching [`verdict_schema`] through `response_format`, but a
//! compatible server may ignore the schema and a model may still wander, so every answer is
//! checked here before it becomes a report: valid JSON, exactly the three fields, a known
//! signal, a confidence inside 0–1, a non-empty rationale. Anything else is a [`VerdictError`]
//! the caller counts and retries once — never a panic and never a guess.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::Signal;

/// The name the schema is sent under (`response_format.json_schema.name`).
pub const SCHEMA_NAME: &str = "analyst_verdict";

/// Longest rationale kept; longer ones are cut so a chatty model cannot bloat the journal.
pub const MAX_RATIONALE_CHARS: usize = 2_000;

/// A validated answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub signal: Signal,
    /// 0–1.
    pub confidence: f64,
    pub rationale: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VerdictError {
    #[error("the answer has no content")]
    Empty,
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    #[error("the answer does not match the schema: {0}")]
    OutOfSchema(String),
}

/// JSON Schema of a verdict, in the subset OpenAI's strict structured outputs accept.
pub fn verdict_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "signal": {"type": "string", "enum": ["bullish", "neutral", "bearish"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string"},
        },
        "required": ["signal", "confidence", "rationale"],
        "additionalProperties": false,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerdict {
    signal: Signal,
    confidence: f64,
    rationale: String,
}

/// Parses and validates a message's content. A JSON object wrapped in a Markdown code fence
/// is accepted (some servers add one even in JSON mode); nothing else is repaired.
pub fn parse_verdict(content: &str) -> Result<Verdict, VerdictError> {
    let text = strip_code_fence(content.trim());
    if text.is_empty() {
        return Err(VerdictError::Empty);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| VerdictError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(VerdictError::OutOfSchema("not a JSON object".into()));
    }
    // Through serde_path_to_error, so a bad value names its field ("signal: unknown
    // variant ..."), not only what was wrong with it.
    let raw: RawVerdict = serde_path_to_error::deserialize(value)
        .map_err(|e| VerdictError::OutOfSchema(e.to_string()))?;
    if !raw.confidence.is_finite() || !(0.0..=1.0).contains(&raw.confidence) {
        return Err(VerdictError::OutOfSchema(format!(
            "confidence {} is outside 0..1",
            raw.confidence
        )));
    }
    let rationale = raw.rationale.trim();
    if rationale.is_empty() {
        return Err(VerdictError::OutOfSchema("rationale is empty".into()));
    }
    Ok(Verdict {
        signal: raw.signal,
        confidence: raw.confidence,
        rationale: rationale.chars().take(MAX_RATIONALE_CHARS).collect(),
    })
}

fn strip_code_fence(text: &str) -> &str {
    let Some(inner) = text.strip_prefix("```") else {
        return text;
    };
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    inner.strip_suffix("```").unwrap_or(inner).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_valid_verdict() {
        let v = parse_verdict(r#"{"signal":"bearish","confidence":0.7,"rationale":" weak "}"#);
        assert_eq!(
            v,
            Ok(Verdict {
                signal: Signal::Bearish,
                confidence: 0.7,
                rationale: "weak".into()
            })
        );
    }

    #[test]
    fn accepts_a_fenced_verdict() {
        let v = parse_verdict(
            "```json\n{\"signal\":\"neutral\",\"confidence\":0,\"rationale\":\"x\"}\n```",
        );
        assert_eq!(v.map(|v| v.signal), Ok(Signal::Neutral));
    }

    #[test]
    fn rejects_what_is_not_a_verdict() {
        // Each case with what its message must name: the field, or what the answer is not.
        let cases = [
            ("", "empty", "no content"),
            ("I think bullish", "not json", "not JSON"),
            (
                r#"{"signal":"up","confidence":0.5,"rationale":"x"}"#,
                "signal",
                "signal: unknown variant `up`",
            ),
            (
                r#"{"signal":"bullish","confidence":1.5,"rationale":"x"}"#,
                "range",
                "confidence 1.5",
            ),
            (
                r#"{"signal":"bullish","confidence":0.5}"#,
                "missing",
                "rationale",
            ),
            (
                r#"{"signal":"bullish","confidence":0.5,"rationale":"  "}"#,
                "blank",
                "rationale is empty",
            ),
            (
                r#"{"signal":"bullish","confidence":0.5,"rationale":"x","extra":1}"#,
                "extra",
                "extra",
            ),
            (r#"["bullish",0.5,"x"]"#, "array", "not a JSON object"),
        ];
        for (content, why, named) in cases {
            let err = parse_verdict(content).unwrap_err().to_string();
            assert!(err.contains(named), "{why}: {content}: {err}");
        }
    }

    #[test]
    fn cuts_long_rationales() {
        let long = "a".repeat(MAX_RATIONALE_CHARS + 10);
        let content = json!({"signal":"bullish","confidence":0.5,"rationale":long}).to_string();
        let verdict = parse_verdict(&content).map(|v| v.rationale.len());
        assert_eq!(verdict, Ok(MAX_RATIONALE_CHARS));
    }
}
