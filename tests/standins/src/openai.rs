//! An OpenAI-compatible chat completions API (`POST /v1/chat/completions`).
//!
//! The runtime's LLM client is tested against this server rather than a mock of the client,
//! so the request it really sends (headers, `response_format`, prompts) and the way it reads
//! real answers (usage, errors in OpenAI's `{"error": {...}}` shape, `Retry-After`) are what
//! the tests exercise.
//!
//! Behaviour is scripted: tests push [`Reply`]s onto a queue, served one per request in
//! order. With the queue empty the server answers deterministically from the prompt (same
//! prompt → same signal and confidence), so tests that only need "an LLM" need no script.
//! Every request is recorded as it arrives — before any scripted delay — and tests can wait
//! for the n-th one instead of sleeping.
//!
//! It also keeps the score a real provider keeps against a key: once it has sent a
//! `Retry-After` (or `retry-after-ms`), every request that arrives before that time has passed
//! is counted ([`OpenAiStandin::calls_during_hold`]). One server is one provider, so a client
//! that honours a 429 provider-wide keeps that count at 0.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    kind: ReplyKind,
    delay: Option<Duration>,
    usage: Option<(u64, u64)>,
    retry_after: Option<String>,
    retry_after_ms: Option<u64>,
}

#[derive(Clone, Debug)]
enum ReplyKind {
    /// A 200 whose message content is this string, verbatim (valid JSON or not).
    Content(String),
    /// An error status with OpenAI's error body.
    Error {
        status: StatusCode,
        kind: &'static str,
        message: String,
    },
}

impl Reply {
    /// A successful answer whose `message.content` is `value` serialised.
    pub fn json(value: Value) -> Self {
        Self::content(value.to_string())
    }

    /// A successful answer with exactly this content (use it for malformed JSON).
    pub fn content(content: impl Into<String>) -> Self {
        Self {
            kind: ReplyKind::Content(content.into()),
            delay: None,
            usage: None,
            retry_after: None,
            retry_after_ms: None,
        }
    }

    /// A verdict in the runtime's schema.
    pub fn verdict(signal: &str, confidence: f64, rationale: &str) -> Self {
        Self::json(json!({"signal": signal, "confidence": confidence, "rationale": rationale}))
    }

    /// 429 `rate_limit_exceeded` with `Retry-After: seconds`.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        Self::error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "Rate limit reached for requests",
        )
        .retry_after(retry_after_seconds.to_string())
    }

    /// 500 `server_error`.
    pub fn server_error() -> Self {
        Self::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The server had an error while processing your request",
        )
    }

    /// Any status with OpenAI's error body; `kind` becomes both `type` and `code`.
    pub fn error(status: StatusCode, kind: &'static str, message: &str) -> Self {
        Self {
            kind: ReplyKind::Error {
                status,
                kind,
                message: message.to_string(),
            },
            delay: None,
            usage: None,
            retry_after: None,
            retry_after_ms: None,
        }
    }

    /// 429 `rate_limit_exceeded` with OpenAI's `retry-after-ms: millis`.
    pub fn rate_limited_ms(millis: u64) -> Self {
        let mut reply = Self::error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "Rate limit reached for requests",
        );
        reply.retry_after_ms = Some(millis);
        reply
    }

    /// 429 `rate_limit_exceeded` without any header saying how long to wait.
    pub fn rate_limited_bare() -> Self {
        Self::error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "Rate limit reached for requests",
        )
    }

    /// Waits this long before answering (beyond the client's timeout, to provoke one).
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Reports this usage instead of the word-count estimate.
    pub fn usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        self.usage = Some((prompt_tokens, completion_tokens));
        self
    }

    /// Adds a `Retry-After` header with this raw value.
    pub fn retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// When it arrived (before any scripted delay).
    pub at: Instant,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Content of the first message with this role.
    pub fn message(&self, role: &str) -> Option<&str> {
        self.body["messages"]
            .as_array()?
            .iter()
            .find(|m| m["role"] == role)?["content"]
            .as_str()
    }

    pub fn system_prompt(&self) -> Option<&str> {
        self.message("system")
    }

    pub fn user_prompt(&self) -> Option<&str> {
        self.message("user")
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<RecordedRequest>>,
    arrived: Notify,
    /// Until when the last `Retry-After` sent asks clients to stay away.
    hold: Mutex<Option<Instant>>,
    during_hold: Mutex<usize>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running stand-in; stops when dropped.
pub struct OpenAiStandin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl OpenAiStandin {
    /// Starts a server on 127.0.0.1 on a free port.
    pub async fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::warn!(%err, "openai stand-in stopped");
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// What a provider's `baseUrl` should be: `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues a reply; replies are served in the order pushed.
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.script).push_back(reply);
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Requests that arrived while a `Retry-After` this server sent was still running.
    pub fn calls_during_hold(&self) -> usize {
        *lock(&self.shared.during_hold)
    }

    /// When the last `Retry-After` sent ends, if one was sent.
    pub fn hold_ends(&self) -> Option<Instant> {
        *lock(&self.shared.hold)
    }

    /// Waits until at least `count` requests have arrived, or `timeout` passed; returns them.
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let requests = self.requests();
            if requests.len() >= count || tokio::time::Instant::now() >= deadline {
                return requests;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

impl Drop for OpenAiStandin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("We could not parse the JSON body of your request: {err}"),
                None,
            );
        }
    };
    let headers = headers
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or("<binary>").to_string();
            (name.as_str().to_ascii_lowercase(), value)
        })
        .collect();
    let arrived = Instant::now();
    if lock(&shared.hold).is_some_and(|until| arrived < until) {
        *lock(&shared.during_hold) += 1;
    }
    lock(&shared.requests).push(RecordedRequest {
        at: arrived,
        headers,
        body: body.clone(),
    });
    shared.arrived.notify_waiters();

    if body["model"].as_str().is_none() || body["messages"].as_array().is_none() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "'model' and 'messages' are required",
            None,
        );
    }
    let reply = lock(&shared.script)
        .pop_front()
        .unwrap_or_else(|| default_reply(&body));
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let asked = reply.retry_after_ms.map(Duration::from_millis).or_else(|| {
        let seconds = reply.retry_after.as_deref()?.trim().parse::<f64>().ok()?;
        (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
    });
    if let Some(asked) = asked {
        let until = Instant::now() + asked;
        let mut hold = lock(&shared.hold);
        if hold.is_none_or(|current| current < until) {
            *hold = Some(until);
        }
    }
    let mut response = match reply.kind {
        ReplyKind::Content(content) => {
            let usage = reply
                .usage
                .unwrap_or_else(|| (estimate_tokens(&body), words(&content)));
            let mut response = Json(completion(&body, &content, usage)).into_response();
            add_retry_after(&mut response, reply.retry_after.as_deref());
            response
        }
        ReplyKind::Error {
            status,
            kind,
            message,
        } => error_response(status, kind, &message, reply.retry_after.as_deref()),
    };
    if let Some(millis) = reply.retry_after_ms {
        response
            .headers_mut()
            .insert("retry-after-ms", HeaderValue::from(millis));
    }
    response
}

fn completion(request: &Value, content: &str, (prompt, completion): (u64, u64)) -> Value {
    let created = chrono::Utc::now().timestamp();
    json!({
        "id": format!("chatcmpl-standin-{created}"),
        "object": "chat.completion",
        "created": created,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    })
}

fn error_response(
    status: StatusCode,
    kind: &str,
    message: &str,
    retry_after: Option<&str>,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": kind}});
    let mut response = (status, Json(body)).into_response();
    add_retry_after(&mut response, retry_after);
    response
}

fn add_retry_after(response: &mut Response, value: Option<&str>) {
    if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert("retry-after", value);
    }
}

/// The deterministic answer: a hash of the prompts picks the signal and the confidence.
fn default_reply(request: &Value) -> Reply {
    let prompt: String = request["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["content"].as_str())
                .collect()
        })
        .unwrap_or_default();
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let hash = prompt.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let signal = ["bullish", "neutral", "bearish"][(hash % 3) as usize];
    let confidence = ((hash >> 8) % 101) as f64 / 100.0;
    Reply::verdict(
        signal,
        confidence,
        &format!(
            "stand-in verdict derived from a {}-byte prompt",
            prompt.len()
        ),
    )
}

fn estimate_tokens(request: &Value) -> u64 {
    request["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["content"].as_str())
                .map(words)
                .sum()
        })
        .unwrap_or(0)
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}
