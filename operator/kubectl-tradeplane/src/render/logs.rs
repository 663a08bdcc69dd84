//! One log line made readable. The runtime logs JSON objects, one a line, with the event's
//! fields flattened in (`tracing-subscriber`'s JSON with `flatten_event`):
//! `{"timestamp":…,"level":"INFO","message":…,"symbol":"AAPL",…,"target":…,"span":…}`.
//! They become `time level message key=value …`; anything else (a panic, a line from before
//! logging started, another format) is printed as it is.

use serde_json::{Map, Value};

/// Fields shown in their own place, or not at all: where the event came from and the spans
/// it was in are for developers, the line is for whoever runs the strategy.
const PLACED: &[&str] = &[
    "timestamp",
    "level",
    "message",
    "target",
    "span",
    "spans",
    "threadName",
    "threadId",
    "filename",
    "line_number",
];

/// The readable form of `line`; `prefix` (e.g. the pod's name with `--all`) goes first.
pub fn readable(line: &str, prefix: Option<&str>) -> String {
    let body = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(fields)) => fields_line(&fields),
        _ => line.to_string(),
    };
    match prefix {
        Some(prefix) => format!("[{prefix}] {body}"),
        None => body,
    }
}

fn fields_line(fields: &Map<String, Value>) -> String {
    let text = |key: &str| fields.get(key).map(scalar).unwrap_or_default();
    let mut parts = vec![
        text("timestamp"),
        format!("{:<5}", text("level")),
        text("message"),
    ];
    parts.retain(|p| !p.trim().is_empty());
    let mut rest: Vec<(&String, &Value)> = fields
        .iter()
        .filter(|(k, _)| !PLACED.contains(&k.as_str()))
        .collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    parts.extend(
        rest.into_iter()
            .map(|(k, v)| format!("{k}={}", quoted(&scalar(v)))),
    );
    parts.join(" ")
}

/// A value as text: strings without their JSON quotes, anything else as JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Quotes a value that has a space or a quote, so `key=value` pairs stay apart.
fn quoted(text: &str) -> String {
    if text.is_empty() || text.contains([' ', '"', '=']) {
        format!("{text:?}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_becomes_time_level_message_and_sorted_fields() {
        let line = r#"{"timestamp":"2030-01-01T00:00:01.5Z","level":"INFO","message":"order placed","symbol":"AAPL","qty":12,"target":"agent_runtime::orders","span":{"name":"cycle"},"reason":"risk approved"}"#;
        assert_eq!(
            readable(line, None),
            r#"2030-01-01T00:00:01.5Z INFO  order placed qty=12 reason="risk approved" symbol=AAPL"#
        );
        assert_eq!(
            readable(line, Some("momo-trader-1")),
            format!("[momo-trader-1] {}", readable(line, None))
        );
    }

    #[test]
    fn other_lines_are_printed_as_they_are() {
        for line in [
            "thread 'main' panicked at src/main.rs:1:1",
            "",
            "[1, 2]",
            "{not json",
        ] {
            assert_eq!(readable(line, None), line);
        }
    }

    #[test]
    fn missing_parts_leave_no_gaps() {
        assert_eq!(readable(r#"{"message":"hi","n":1}"#, None), "hi n=1");
        assert_eq!(
            readable(r#"{"level":"WARN","e":""}"#, None),
            r#"WARN  e="""#
        );
    }
}
