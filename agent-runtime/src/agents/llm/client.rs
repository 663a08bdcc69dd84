//! One HTTP exchange with an OpenAI-compatible chat completions API.
//!
//! This layer sends a request and classifies what came back; it does not retry, wait or
//! count money — [`super::provider`] does, so the policy lives in one place and this file
//! stays a faithful picture of the wire format. The classification is what the policy
//! needs: which failures are worth retrying (429, 5xx, timeouts, broken connections), and
//! what the server asked us to wait (`Retry-After`, in seconds, or OpenAI's
//! `retry-after-ms`).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An API key. Its `Debug` never shows the value, so a key cannot reach a log by accident.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads a key from a mounted Secret file, trimming the trailing newline editors add.
    pub fn from_file(path: &Path) -> std::io::Result<Self> {
        Ok(Self(std::fs::read_to_string(path)?.trim().to_string()))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A chat message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: "system".into(),
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }
}

/// The body of `POST /chat/completions`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub temperature: f64,
    pub response_format: Value,
}

impl ChatRequest {
    /// A request for a structured answer matching `schema` (strict JSON schema mode).
    pub fn structured(
        model: &str,
        temperature: f64,
        messages: Vec<Message>,
        schema_name: &str,
        schema: Value,
    ) -> Self {
        Self {
            model: model.to_string(),
            messages,
            temperature,
            response_format: serde_json::json!({
                "type": "json_schema",
                "json_schema": {"name": schema_name, "strict": true, "schema": schema},
            }),
        }
    }
}

/// Token counts the provider billed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}

/// A successful exchange: the first choice's content (possibly empty) and the usage.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub content: String,
    pub usage: Usage,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("rate limited (429): {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("server error ({status}): {message}")]
    Server {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("transport: {0}")]
    Transport(String),
    #[error("refused ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the response is not a chat completion: {0}")]
    Decode(String),
    /// Replaying: the answer store has no answer to this question (nothing was sent).
    #[error("replay: {0}")]
    NotRecorded(String),
    /// The run's spending cap could be passed by this call, so it was not made.
    #[error("not called: the next call could pass the run's LLM spending cap of ${cap_usd}")]
    OverCap { cap_usd: f64 },
}

impl CallError {
    /// Worth trying again on the same provider.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout(_) | Self::Transport(_)
        )
    }

    /// What the server asked us to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Server { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// A stable label for metrics and events.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Server { .. } => "server_error",
            Self::Timeout(_) => "timeout",
            Self::Transport(_) => "transport_error",
            Self::Refused { .. } => "refused",
            Self::Decode(_) => "bad_response",
            Self::NotRecorded(_) => "replay_miss",
            Self::OverCap { .. } => "cost_cap",
        }
    }
}

/// A client for one provider's base URL.
#[derive(Clone, Debug)]
pub struct ChatClient {
    http: reqwest::Client,
    url: String,
    key: Option<ApiKey>,
    timeout: Duration,
}

impl ChatClient {
    pub fn new(
        base_url: &str,
        key: Option<ApiKey>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!(
                "tradeplane-agent-runtime/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Self {
            http,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            key,
            timeout,
        })
    }

    /// Sends one request; no retry.
    pub async fn complete(&self, request: &ChatRequest) -> Result<Completion, CallError> {
        let mut builder = self.http.post(&self.url).json(request);
        if let Some(ApiKey(key)) = &self.key {
            builder = builder.bearer_auth(key);
        }
        let response = builder.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        if status.is_success() {
            let parsed: ChatResponse =
                serde_json::from_slice(&body).map_err(|e| CallError::Decode(e.to_string()))?;
            let choice = parsed
                .choices
                .into_iter()
                .next()
                .ok_or_else(|| CallError::Decode("no choices".into()))?;
            return Ok(Completion {
                content: choice.message.content.unwrap_or_default(),
                usage: parsed.usage.unwrap_or_default(),
            });
        }
        let message = error_message(&body);
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => CallError::RateLimited {
                retry_after,
                message,
            },
            s if s.is_server_error() => CallError::Server {
                status: s.as_u16(),
                retry_after,
                message,
            },
            s => CallError::Refused {
                status: s.as_u16(),
                message,
            },
        })
    }

    fn transport(&self, err: reqwest::Error) -> CallError {
        if err.is_timeout() {
            CallError::Timeout(self.timeout)
        } else {
            // Without the URL: it is ours, and the error chain is what explains the failure.
            CallError::Transport(err.without_url().to_string())
        }
    }
}

/// `retry-after-ms` (OpenAI) wins over `Retry-After` (seconds); HTTP dates are ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let duration =
        |secs: f64| (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    header("retry-after-ms")
        .and_then(|ms| duration(ms / 1000.0))
        .or_else(|| header("retry-after").and_then(duration))
}

/// The `error.message` of OpenAI's error body, else the start of whatever came back.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match parsed.as_ref().and_then(|v| v["error"]["message"].as_str()) {
        Some(message) => message.to_string(),
        None => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn a_key_never_shows_in_debug() {
        let client = ChatClient::new(
            "http://x/v1",
            Some(ApiKey::new("sk-secret")),
            Duration::from_secs(1),
        );
        assert!(!format!("{client:?}").contains("sk-secret"));
    }

    #[test]
    fn reads_retry_after_in_seconds_or_milliseconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        headers.remove("retry-after-ms");
        headers.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn reads_openai_error_messages() {
        let body = br#"{"error":{"message":"slow down","type":"rate_limit_exceeded"}}"#;
        assert_eq!(error_message(body), "slow down");
        assert_eq!(
            error_message(b"<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
    }
}
