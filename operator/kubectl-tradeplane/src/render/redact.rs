//! What the support bundle must not carry: Secret values, credential-looking env values and
//! annotations, `last-applied-configuration` (a Secret's holds its data in the clear), and
//! credentials inside URLs. Pure, so the rules are unit-tested; the bundle also replaces every
//! Secret value it has seen wherever else it turns up (a log line, an Event), by text.

use serde_json::{Map, Value};

pub const REDACTED: &str = "REDACTED";

/// Name parts that mark a value as a credential.
const CREDENTIAL_WORDS: &[&str] = &[
    "key",
    "secret",
    "token",
    "password",
    "passwd",
    "credential",
    "auth",
    "dsn",
    "cert",
];

pub fn looks_like_credential(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    CREDENTIAL_WORDS.iter().any(|w| lower.contains(w))
}

/// `scheme://user:password@host…`: a URL carrying a password.
pub fn has_url_credentials(value: &str) -> bool {
    value.split("://").skip(1).any(|rest| {
        let authority = rest.split('/').next().unwrap_or_default();
        authority.contains('@') && authority.split('@').next().is_some_and(|u| u.contains(':'))
    })
}

/// Redacts one object (as JSON) in place: its managed fields go, its annotations and any
/// `{name, value}` pair (env) that look like credentials are replaced, and a Secret keeps
/// only its keys.
pub fn object(value: &mut Value) {
    let is_secret = value.get("kind").and_then(Value::as_str) == Some("Secret");
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            for (key, v) in annotations.iter_mut() {
                if key.ends_with("last-applied-configuration") || looks_like_credential(key) {
                    *v = Value::from(REDACTED);
                }
            }
        }
    }
    if is_secret && let Some(object) = value.as_object_mut() {
        for field in ["data", "stringData"] {
            if let Some(data) = object.get_mut(field).and_then(Value::as_object_mut) {
                data.values_mut().for_each(|v| *v = Value::from(REDACTED));
            }
        }
    }
    walk(value);
}

/// Every `{name, value}` pair whose name looks like a credential, and every string holding a
/// URL with a password, anywhere in the object.
fn walk(value: &mut Value) {
    match value {
        Value::Object(map) => {
            redact_pair(map);
            map.values_mut().for_each(walk);
        }
        Value::Array(items) => items.iter_mut().for_each(walk),
        Value::String(text) if has_url_credentials(text) => *text = REDACTED.to_string(),
        _ => {}
    }
}

fn redact_pair(map: &mut Map<String, Value>) {
    let named = map
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(looks_like_credential);
    if named && let Some(v) = map.get_mut("value").filter(|v| v.is_string()) {
        *v = Value::from(REDACTED);
    }
}

/// Replaces each of `secrets` (values of at least 4 characters) in `text`.
pub fn text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret.as_str(), REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_keeps_its_keys_and_nothing_else_of_its_values() {
        let mut secret = json!({"kind": "Secret", "metadata": {"name": "s",
            "managedFields": [{"manager": "x"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"k\":\"c2VjcmV0\"}}",
                            "team": "desk"}},
            "data": {"apiKey": "c2VjcmV0"}, "stringData": {"url": "postgres://u:p@h/db"}});
        object(&mut secret);
        assert_eq!(
            secret,
            json!({"kind": "Secret", "metadata": {"name": "s",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "REDACTED",
                                "team": "desk"}},
                "data": {"apiKey": "REDACTED"}, "stringData": {"url": "REDACTED"}})
        );
    }

    #[test]
    fn credential_env_values_and_urls_with_passwords_are_redacted_anywhere() {
        let mut pod = json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "env": [
            {"name": "BROKER_API_SECRET", "value": "s3cr3t"},
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "JOURNAL", "value": "postgres://app:pw@db:5432/j"},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "n", "key": "k"}}},
        ]}]}});
        object(&mut pod);
        let env = &pod["spec"]["containers"][0]["env"];
        assert_eq!(env[0]["value"], "REDACTED");
        assert_eq!(env[1]["value"], "info");
        assert_eq!(env[2]["value"], "REDACTED");
        assert_eq!(env[3]["valueFrom"]["secretKeyRef"]["key"], "k");
        assert!(!has_url_credentials("https://example.com/a@b"));
        assert!(!has_url_credentials("https://user@example.com/"));
    }

    #[test]
    fn seen_values_are_replaced_in_any_text() {
        let secrets = vec!["hunter22".to_string(), "ab".to_string()];
        assert_eq!(
            text("login hunter22 ab", &secrets),
            "login REDACTED ab",
            "values under 4 characters are too common to replace"
        );
    }
}
