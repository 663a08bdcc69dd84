//! Checking a BrokerAccount's credentials against the broker: reading them from the user's
//! Secret, calling the broker's account endpoint, and deciding what its answer means.
//!
//! Everything but [`verify`] is pure, so the meaning of every answer is unit-tested. The
//! credentials never leave this module in readable form: [`Credentials`] does not print
//! them, every message that could carry text from the broker passes through [`redact`], and
//! the only thing remembered about them is a hash held in memory ([`fingerprint`]), never
//! written to the cluster.

use std::fmt;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use reqwest::header::HeaderValue;

use crate::api::broker_account::{BrokerAccount, CredentialsSecretReference};
use crate::controllers::meta::content_hash;

/// Alpaca's own API hosts, as the runtime uses them (see `trading_strategy::config`).
pub const ALPACA_PAPER_URL: &str = "https://paper-api.alpaca.markets";
pub const ALPACA_LIVE_URL: &str = "https://api.alpaca.markets";
/// The account endpoint, below the base URL.
pub const ACCOUNT_PATH: &str = "/v2/account";
/// Headers Alpaca authenticates with.
pub const KEY_ID_HEADER: &str = "APCA-API-KEY-ID";
pub const SECRET_KEY_HEADER: &str = "APCA-API-SECRET-KEY";

/// How long one verification may take, connection included. A broker slower than this is
/// treated as unreachable and retried with backoff, so one slow broker cannot hold a
/// reconcile worker for long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often accepted (or rejected) credentials are checked again: keys get revoked and
/// accounts blocked without any change in the cluster.
pub const REVERIFY_EVERY: Duration = Duration::from_secs(600);

/// A problem with the user's input that stops verification before any request: the Secret
/// or one of its keys is missing or unusable. Messages name objects and keys, never values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// CamelCase, greppable.
    pub reason: &'static str,
    pub message: String,
}

/// An Alpaca key pair. `Debug` is written by hand so that the values never reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    key_id: String,
    secret_key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

impl Credentials {
    pub fn new(key_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            secret_key: secret_key.into(),
        }
    }
}

/// Reads the key pair of an Alpaca account from its credentials Secret (`None`: not found).
pub fn credentials(
    account: &BrokerAccount,
    secret: Option<&Secret>,
) -> Result<Credentials, Problem> {
    let Some(reference) = &account.spec.credentials_secret_ref else {
        // The API server's CEL rule requires it for Alpaca; an object stored before that rule
        // existed may still lack it.
        return Err(Problem {
            reason: "CredentialsMissing",
            message: "credentialsSecretRef is required for broker Alpaca".to_string(),
        });
    };
    let Some(secret) = secret else {
        return Err(Problem {
            reason: "SecretNotFound",
            message: format!("credentialsSecretRef: Secret {} not found", reference.name),
        });
    };
    Ok(Credentials {
        key_id: secret_value(secret, reference, reference.key_id_key())?,
        secret_key: secret_value(secret, reference, reference.secret_key_key())?,
    })
}

fn secret_value(
    secret: &Secret,
    reference: &CredentialsSecretReference,
    key: &str,
) -> Result<String, Problem> {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|value| value.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|data| data.get(key))
                .map(|value| value.clone().into_bytes())
        })
        .ok_or_else(|| Problem {
            reason: "SecretKeyMissing",
            message: format!(
                "credentialsSecretRef: Secret {} has no key {key}",
                reference.name
            ),
        })?;
    let invalid = |why: &str| Problem {
        reason: "SecretKeyInvalid",
        message: format!(
            "credentialsSecretRef: key {key} of Secret {} {why}",
            reference.name
        ),
    };
    let text = String::from_utf8(bytes).map_err(|_| invalid("is not text"))?;
    // `echo key | kubectl create secret --from-file` leaves a newline; a header cannot carry one.
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid("is empty"));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("must be printable ASCII without spaces"));
    }
    Ok(text.to_string())
}

/// What the broker's answer means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with an account. `blocked` says why the account cannot trade, if it cannot.
    Accepted {
        equity: Option<String>,
        blocked: Option<String>,
    },
    /// 401 or 403: the broker refused the key pair. Retried when the Secret changes, and
    /// every [`REVERIFY_EVERY`] in case the broker re-enabled it.
    Rejected { message: String },
    /// An answer that is neither an account nor a refusal (a 404 from a wrong endpoint, a body
    /// that is not an account): retrying soon will not help; fixing the spec will.
    Unexpected { message: String },
    /// No usable answer (connection refused, timeout, 408, 429, 5xx): retried with backoff.
    Unreachable { message: String },
}

impl Outcome {
    /// A failure that retrying may fix on its own.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    fn map_message(self, f: impl Fn(&str) -> String) -> Self {
        match self {
            Self::Accepted { equity, blocked } => Self::Accepted {
                equity,
                blocked: blocked.as_deref().map(&f),
            },
            Self::Rejected { message } => Self::Rejected {
                message: f(&message),
            },
            Self::Unexpected { message } => Self::Unexpected {
                message: f(&message),
            },
            Self::Unreachable { message } => Self::Unreachable {
                message: f(&message),
            },
        }
    }
}

/// Classifies the broker's answer to `GET /v2/account`.
pub fn classify(status: u16, body: &[u8]) -> Outcome {
    match status {
        200 => match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(account) if account.is_object() => accepted(&account),
            _ => Outcome::Unexpected {
                message: "the broker answered 200 but not with an account object".to_string(),
            },
        },
        401 | 403 => Outcome::Rejected {
            message: format!(
                "the broker refused the credentials (HTTP {status}: {})",
                broker_message(body)
            ),
        },
        408 | 429 | 500..=599 => Outcome::Unreachable {
            message: format!(
                "the broker answered HTTP {status} ({}); retrying",
                broker_message(body)
            ),
        },
        _ => Outcome::Unexpected {
            message: format!(
                "the broker answered HTTP {status} ({}); check spec.endpoint",
                broker_message(body)
            ),
        },
    }
}

fn accepted(account: &serde_json::Value) -> Outcome {
    // Alpaca sends numbers as strings; keep the broker's text, but only if it is a number,
    // so nothing else can end up in status.
    let equity = account
        .get("equity")
        .and_then(serde_json::Value::as_str)
        .filter(|text| text.parse::<f64>().is_ok_and(f64::is_finite))
        .map(str::to_string);
    let flag = |name: &str| {
        account
            .get(name)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    let status = account
        .get("status")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("ACTIVE");
    let blocked = if flag("account_blocked") {
        Some("the broker reports the account as blocked (account_blocked)".to_string())
    } else if flag("trading_blocked") {
        Some("the broker reports trading as blocked (trading_blocked)".to_string())
    } else if status != "ACTIVE" {
        Some(format!(
            "the broker reports the account status as {}, not ACTIVE",
            short(status)
        ))
    } else {
        None
    };
    Outcome::Accepted { equity, blocked }
}

/// The `message` of an Alpaca error body, shortened; or "no message".
fn broker_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(short))
        .unwrap_or_else(|| "no message".to_string())
}

fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

/// Replaces every occurrence of either credential in `text`. Applied to everything derived
/// from the broker's answer, which the operator does not control: a gateway that echoes the
/// request headers must not put a key into status or an Event.
pub fn redact(text: &str, credentials: &Credentials) -> String {
    let mut text = text.to_string();
    for value in [&credentials.secret_key, &credentials.key_id] {
        if !value.is_empty() {
            text = text.replace(value.as_str(), "[redacted]");
        }
    }
    text
}

/// Calls the broker's account endpoint once. Never fails: every failure is an [`Outcome`].
pub async fn verify(http: &reqwest::Client, url: &str, credentials: &Credentials) -> Outcome {
    let outcome = match request(http, url, credentials).await {
        Ok((status, body)) => classify(status, &body),
        Err(error) => Outcome::Unreachable {
            message: transport_message(&error),
        },
    };
    outcome.map_message(|message| redact(message, credentials))
}

async fn request(
    http: &reqwest::Client,
    url: &str,
    credentials: &Credentials,
) -> Result<(u16, Vec<u8>), reqwest::Error> {
    let header = |value: &str| {
        // Validated as printable ASCII by `credentials`, so this cannot fail; if it did, the
        // empty value makes the broker refuse, which is reported, not a panic.
        let mut value = HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static(""));
        value.set_sensitive(true);
        value
    };
    let response = http
        .get(url)
        .header(KEY_ID_HEADER, header(&credentials.key_id))
        .header(SECRET_KEY_HEADER, header(&credentials.secret_key))
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    Ok((status, body.to_vec()))
}

fn transport_message(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!(
            "the broker did not answer within {}s; retrying",
            REQUEST_TIMEOUT.as_secs()
        );
    }
    // The error names the URL (no credentials in it) and the cause, e.g. connection refused.
    let mut message = format!("could not reach the broker: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message.push_str("; retrying");
    message
}

/// A hash of what a verification depends on: the URL and the key pair. Kept in memory only,
/// to notice that the Secret (or the endpoint) changed since the last check.
pub fn fingerprint(url: &str, credentials: &Credentials) -> String {
    content_hash(&[
        url.as_bytes(),
        credentials.key_id.as_bytes(),
        credentials.secret_key.as_bytes(),
    ])
}

/// The last verification of one account, remembered between reconciles so that a reconcile
/// triggered by anything else (its own status write, a strategy binding to it) does not call
/// the broker again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub fingerprint: String,
    pub at: Timestamp,
    pub outcome: Outcome,
    /// When to check again: [`REVERIFY_EVERY`] after an answer, the backoff delay after a
    /// transient failure.
    pub next_due: Timestamp,
}

impl Verification {
    pub fn new(fingerprint: String, at: Timestamp, outcome: Outcome, retry_in: Duration) -> Self {
        Self {
            fingerprint,
            at,
            outcome,
            next_due: later(at, retry_in),
        }
    }

    /// Time left until the next check (zero when due).
    pub fn due_in(&self, now: Timestamp) -> Duration {
        Duration::try_from(now.duration_until(self.next_due)).unwrap_or(Duration::ZERO)
    }
}

/// Whether the broker must be asked now: never asked, the URL or keys changed, or the
/// last answer is due for renewal.
pub fn is_due(last: Option<&Verification>, fingerprint: &str, now: Timestamp) -> bool {
    match last {
        None => true,
        Some(last) => last.fingerprint != fingerprint || now >= last.next_due,
    }
}

fn later(at: Timestamp, by: Duration) -> Timestamp {
    let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
    at.checked_add(by).unwrap_or(Timestamp::MAX)
}

/// Now, to the second: statuses store times to the second, and a time with more precision
/// would never compare equal to what was read back, so every reconcile would write.
pub fn now_to_the_second() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}
