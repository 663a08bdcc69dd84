//! The API server's audit log (`TP_AUDIT_LOG=1`, see tests/cluster/up.sh), read as requests
//! per user: its `/metrics` count requests by verb and resource but not by who sent them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One request as the audit log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub user: String,
    pub user_agent: String,
    pub verb: String,
    /// `resource` or `resource/subresource`; `-` for a request to no resource (`/metrics`).
    pub resource: String,
    pub received: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "auditID")]
    audit_id: String,
    verb: String,
    user: User,
    #[serde(default)]
    user_agent: String,
    #[serde(default)]
    object_ref: Option<ObjectRef>,
    request_received_timestamp: DateTime<Utc>,
}

#[derive(Deserialize)]
struct User {
    username: String,
}

#[derive(Deserialize)]
struct ObjectRef {
    #[serde(default)]
    resource: String,
    #[serde(default)]
    subresource: Option<String>,
}

/// The requests of an audit log's text, each once: a watch or a proxied request has one event
/// when its response started and another when it completed, with the same audit id.
pub fn parse(text: &str) -> anyhow::Result<Vec<Request>> {
    let mut seen = BTreeSet::new();
    let mut requests = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(line)
            .with_context(|| format!("audit log line {}: not an audit event", n + 1))?;
        if !seen.insert(event.audit_id) {
            continue;
        }
        let resource = match event.object_ref {
            Some(ObjectRef {
                resource,
                subresource: Some(sub),
            }) => format!("{resource}/{sub}"),
            Some(ObjectRef { resource, .. }) if !resource.is_empty() => resource,
            _ => "-".to_string(),
        };
        requests.push(Request {
            user: event.user.username,
            user_agent: event.user_agent,
            verb: event.verb,
            resource,
            received: event.request_received_timestamp,
        });
    }
    Ok(requests)
}

/// The requests in the audit log at `path` so far. The last line may be half written: the
/// API server appends as it goes, so a line that does not parse at the very end is left out.
pub fn read(path: &Path) -> anyhow::Result<Vec<Request>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    parse(complete)
}

/// A stretch of time, start included, end not.
pub type Window = (DateTime<Utc>, DateTime<Utc>);

/// Requests per second received within `windows` (their lengths summed), counted by the key
/// `key` gives each request (`None`: not counted).
pub fn rates<F>(requests: &[Request], windows: &[Window], key: F) -> BTreeMap<String, f64>
where
    F: Fn(&Request) -> Option<String>,
{
    let seconds: f64 = windows
        .iter()
        .map(|(from, to)| (*to - *from).as_seconds_f64())
        .sum();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    if seconds <= 0.0 {
        return counts;
    }
    let within = |r: &Request| {
        windows
            .iter()
            .any(|(f, t)| r.received >= *f && r.received < *t)
    };
    for request in requests.iter().filter(|r| within(r)) {
        if let Some(key) = key(request) {
            *counts.entry(key).or_insert(0.0) += 1.0 / seconds;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, stage: &str, verb: &str, object: &str, at: &str) -> String {
        format!(
            r#"{{"kind":"Event","auditID":"{id}","stage":"{stage}","verb":"{verb}","user":{{"username":"system:serviceaccount:ns:a-runtime","groups":[]}},"userAgent":"ua",{object}"requestReceivedTimestamp":"{at}","stageTimestamp":"{at}"}}"#
        )
    }

    #[test]
    fn one_request_per_audit_id_with_its_subresource() {
        let proxy = r#""objectRef":{"resource":"services","subresource":"proxy","name":"x"},"#;
        let lease = r#""objectRef":{"resource":"leases","name":"x"},"#;
        let text = [
            event(
                "1",
                "ResponseStarted",
                "get",
                proxy,
                "2026-01-01T00:00:00.5Z",
            ),
            event(
                "1",
                "ResponseComplete",
                "get",
                proxy,
                "2026-01-01T00:00:00.5Z",
            ),
            event(
                "2",
                "ResponseComplete",
                "update",
                lease,
                "2026-01-01T00:00:01Z",
            ),
            event("3", "ResponseComplete", "get", "", "2026-01-01T00:00:03Z"),
        ]
        .join("\n");
        let requests = parse(&text).unwrap();
        let seen: Vec<(&str, &str)> = requests
            .iter()
            .map(|r| (r.verb.as_str(), r.resource.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("get", "services/proxy"),
                ("update", "leases"),
                ("get", "-")
            ]
        );
        assert_eq!(requests[1].user, "system:serviceaccount:ns:a-runtime");

        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // Two windows of a second each: the request at 3 s falls in neither.
        let windows = [
            (at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:01Z")),
            (at("2026-01-01T00:00:01Z"), at("2026-01-01T00:00:02Z")),
        ];
        let by_verb = rates(&requests, &windows, |r| Some(r.verb.clone()));
        assert_eq!(by_verb.get("get"), Some(&0.5));
        assert_eq!(by_verb.get("update"), Some(&0.5));
    }

    #[test]
    fn a_line_that_is_no_event_is_named() {
        let error = parse("{\"kind\":\"Event\"}\n").unwrap_err().to_string();
        assert!(error.contains("audit log line 1"), "{error}");
    }

    #[test]
    fn a_half_written_last_line_is_left_for_later() {
        let dir = std::env::temp_dir().join(format!("audit-test-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        let whole = event("1", "ResponseComplete", "get", "", "2026-01-01T00:00:00Z");
        std::fs::write(&path, format!("{whole}\n{{\"kind\":\"Ev")).unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
