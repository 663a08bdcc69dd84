//! An Alpaca-compatible trading REST client (`/v2/account`, `/v2/positions`, `/v2/orders`,
//! `/v2/orders:by_client_order_id`, `/v2/clock`).
//!
//! What matters here is classifying every answer so the trader never places an order twice:
//! a 2xx is the order; a 422 "client_order_id must be unique" means the broker already has it,
//! so it is looked up and returned as placed; other 4xx are definite rejections; a timeout, a
//! lost connection, a 5xx or a 429 is [`BrokerError::OutcomeUnknown`] — the request may have
//! been acted on — and the caller looks the order up by client order id before resending.
//!
//! The API keys are read from the mounted Secret files and never logged: [`Credentials`] and
//! [`AlpacaBroker`] print as `<redacted>`, and the header values are marked sensitive.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Account, Broker, BrokerError, BrokerOrder, MarketClock};
use crate::config::TimeInForce;
use crate::domain::{OrderRequest, OrderStatus, Position, Side};

/// An API key pair. Debug output never shows them.
#[derive(Clone)]
pub struct Credentials {
    key_id: String,
    secret_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { key_id: <redacted>, secret_key: <redacted> }")
    }
}

impl Credentials {
    pub fn new(key_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            secret_key: secret_key.into(),
        }
    }

    /// Reads the key id and secret from files (surrounding whitespace trimmed).
    pub fn from_files(key_id_file: &Path, secret_key_file: &Path) -> Result<Self, BrokerError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|source| BrokerError::Credentials {
                    path: path.to_path_buf(),
                    source,
                })
        };
        Ok(Self::new(read(key_id_file)?, read(secret_key_file)?))
    }

    fn headers(&self) -> Result<HeaderMap, BrokerError> {
        let value = |s: &str| {
            let mut v = HeaderValue::from_str(s).map_err(|_| BrokerError::Config {
                message: "an API key holds characters not allowed in a header".into(),
            })?;
            v.set_sensitive(true);
            Ok::<_, BrokerError>(v)
        };
        let mut headers = HeaderMap::new();
        headers.insert("APCA-API-KEY-ID", value(&self.key_id)?);
        headers.insert("APCA-API-SECRET-KEY", value(&self.secret_key)?);
        Ok(headers)
    }
}

/// The client. Every request has the configured timeout.
pub struct AlpacaBroker {
    base_url: String,
    client: reqwest::Client,
    /// For equity orders; crypto orders are always `gtc`.
    time_in_force: TimeInForce,
}

impl std::fmt::Debug for AlpacaBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlpacaBroker")
            .field("base_url", &self.base_url)
            .field("credentials", &"<redacted>")
            .finish()
    }
}

impl AlpacaBroker {
    /// A client for the API at `base_url` (e.g. `https://paper-api.alpaca.markets`).
    pub fn new(
        base_url: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<Self, BrokerError> {
        let client = reqwest::Client::builder()
            .default_headers(credentials.headers()?)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|err| BrokerError::Config {
                message: format!("cannot build the HTTP client: {err}"),
            })?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            client,
            time_in_force: TimeInForce::Day,
        })
    }

    /// Equity orders work at the broker for `time_in_force` (`day` unless set).
    pub fn with_time_in_force(mut self, time_in_force: TimeInForce) -> Self {
        self.time_in_force = time_in_force;
        self
    }

    /// Sends a request; transport failures are `OutcomeUnknown`, the answer is returned raw.
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, String), BrokerError> {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base_url, path_and_query));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| unknown(path_and_query, &err))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|err| unknown(path_and_query, &err))?;
        Ok((status, text))
    }

    /// A GET whose non-2xx answers are errors (404 → `Ok(None)`).
    async fn get<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<Option<T>, BrokerError> {
        let (status, body) = self.send(Method::GET, path_and_query, None).await?;
        match status {
            s if s.is_success() => parse(&body).map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(BrokerError::Unauthorized {
                message: format!("{status} on {path_and_query}: {}", message_of(&body)),
            }),
            s if transient(s) => Err(BrokerError::OutcomeUnknown {
                message: format!("{status} on {path_and_query}: {}", message_of(&body)),
            }),
            _ => Err(BrokerError::InvalidResponse {
                message: format!("{status} on {path_and_query}: {}", message_of(&body)),
            }),
        }
    }

    async fn get_required<T: DeserializeOwned>(&self, path: &str) -> Result<T, BrokerError> {
        self.get(path)
            .await?
            .ok_or_else(|| BrokerError::InvalidResponse {
                message: format!("404 on {path}"),
            })
    }

    async fn lookup(&self, client_order_id: &str) -> Result<Option<BrokerOrder>, BrokerError> {
        let path = format!(
            "/v2/orders:by_client_order_id?client_order_id={}",
            query_escape(client_order_id)
        );
        let order: Option<WireOrder> = self.get(&path).await?;
        order.map(WireOrder::into_order).transpose()
    }

    async fn submit(&self, order: &OrderRequest) -> Result<BrokerOrder, BrokerError> {
        let body = serde_json::json!({
            "symbol": order.symbol,
            "qty": order.quantity.to_string(),
            "side": match order.side { Side::Buy => "buy", Side::Sell => "sell" },
            "type": "market",
            // Crypto (`BTC/USD`) takes gtc only; equities' orders as the strategy says.
            "time_in_force": if order.symbol.contains('/') { "gtc" } else { self.time_in_force.as_str() },
            "client_order_id": order.client_order_id,
        });
        let (status, text) = self.send(Method::POST, "/v2/orders", Some(&body)).await?;
        let message = || format!("{status}: {}", message_of(&text));
        match status {
            s if s.is_success() => parse::<WireOrder>(&text)
                .and_then(WireOrder::into_order)
                // The broker took it but we cannot read the answer: look it up.
                .map_err(|err| BrokerError::OutcomeUnknown {
                    message: err.to_string(),
                }),
            StatusCode::UNPROCESSABLE_ENTITY if is_duplicate_client_order_id(&text) => {
                tracing::info!(
                    client_order_id = order.client_order_id,
                    "client order id already used: the order is already placed, looking it up"
                );
                self.lookup(&order.client_order_id).await?.ok_or_else(|| {
                    BrokerError::OutcomeUnknown {
                        message: "broker says the client order id exists but cannot find it".into(),
                    }
                })
            }
            StatusCode::UNAUTHORIZED => Err(BrokerError::Unauthorized { message: message() }),
            s if transient(s) => Err(BrokerError::OutcomeUnknown { message: message() }),
            // 403 (insufficient buying power), 422 (invalid order), other 4xx: not placed.
            _ => Err(BrokerError::Rejected { message: message() }),
        }
    }

    /// `DELETE /v2/orders/{id}`: 204 when the broker takes the request; 422 when the order
    /// can no longer be canceled (it filled or ended meanwhile), which is no error here.
    async fn cancel(&self, order: &BrokerOrder) -> Result<(), BrokerError> {
        let path = format!("/v2/orders/{}", query_escape(&order.id));
        let (status, text) = self.send(Method::DELETE, &path, None).await?;
        let message = || format!("{status} on {path}: {}", message_of(&text));
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::UNPROCESSABLE_ENTITY => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(BrokerError::Unauthorized { message: message() })
            }
            s if transient(s) => Err(BrokerError::OutcomeUnknown { message: message() }),
            _ => Err(BrokerError::InvalidResponse { message: message() }),
        }
    }
}

impl Broker for AlpacaBroker {
    fn kind(&self) -> &'static str {
        "alpaca"
    }

    fn account(&self) -> BoxFuture<'_, Result<Account, BrokerError>> {
        async move {
            let account: WireAccount = self.get_required("/v2/account").await?;
            Ok(Account {
                cash: number("cash", &account.cash)?,
                equity: number("equity", &account.equity)?,
                buying_power: number("buying_power", &account.buying_power)?,
            })
        }
        .boxed()
    }

    fn positions(&self) -> BoxFuture<'_, Result<Vec<Position>, BrokerError>> {
        async move {
            let positions: Vec<WirePosition> = self.get_required("/v2/positions").await?;
            positions
                .into_iter()
                .map(WirePosition::into_position)
                .collect()
        }
        .boxed()
    }

    fn submit_order<'a>(
        &'a self,
        order: &'a OrderRequest,
    ) -> BoxFuture<'a, Result<BrokerOrder, BrokerError>> {
        self.submit(order).boxed()
    }

    fn order_by_client_id<'a>(
        &'a self,
        client_order_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<BrokerOrder>, BrokerError>> {
        self.lookup(client_order_id).boxed()
    }

    fn cancel_order<'a>(
        &'a self,
        order: &'a BrokerOrder,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        self.cancel(order).boxed()
    }

    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<BrokerOrder>, BrokerError>> {
        async move {
            let orders: Vec<WireOrder> = self
                .get_required("/v2/orders?status=open&limit=500")
                .await?;
            orders.into_iter().map(WireOrder::into_order).collect()
        }
        .boxed()
    }

    fn clock(&self) -> BoxFuture<'_, Result<Option<MarketClock>, BrokerError>> {
        async move {
            let clock: WireClock = self.get_required("/v2/clock").await?;
            Ok(Some(MarketClock {
                is_open: clock.is_open,
                timestamp: clock.timestamp,
                next_open: clock.next_open,
                next_close: clock.next_close,
            }))
        }
        .boxed()
    }
}

fn unknown(path: &str, err: &reqwest::Error) -> BrokerError {
    let what = if err.is_timeout() {
        "timed out"
    } else {
        "failed"
    };
    // reqwest errors carry the URL, never the headers: safe to show.
    BrokerError::OutcomeUnknown {
        message: format!("{path} {what}: {err}"),
    }
}

fn transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, BrokerError> {
    serde_json::from_str(body).map_err(|err| BrokerError::InvalidResponse {
        message: format!("{err} in {}", truncate(body)),
    })
}

/// Alpaca errors are `{"code": 40010001, "message": "..."}`.
fn message_of(body: &str) -> String {
    #[derive(Deserialize)]
    struct ApiError {
        message: String,
    }
    serde_json::from_str::<ApiError>(body)
        .map(|e| e.message)
        .unwrap_or_else(|_| truncate(body))
}

fn is_duplicate_client_order_id(body: &str) -> bool {
    let message = message_of(body).to_ascii_lowercase();
    message.contains("client_order_id") && message.contains("unique")
}

fn truncate(body: &str) -> String {
    body.chars().take(300).collect()
}

fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn number(field: &str, text: &str) -> Result<f64, BrokerError> {
    text.trim()
        .parse()
        .map_err(|_| BrokerError::InvalidResponse {
            message: format!("{field} is not a number: {text:?}"),
        })
}

#[derive(Deserialize)]
struct WireAccount {
    cash: String,
    equity: String,
    buying_power: String,
}

#[derive(Deserialize)]
struct WirePosition {
    symbol: String,
    qty: String,
    avg_entry_price: String,
    #[serde(default)]
    side: Option<String>,
}

impl WirePosition {
    fn into_position(self) -> Result<Position, BrokerError> {
        let mut quantity = number("qty", &self.qty)?;
        if self.side.as_deref() == Some("short") && quantity > 0.0 {
            quantity = -quantity;
        }
        Ok(Position {
            average_price: number("avg_entry_price", &self.avg_entry_price)?,
            symbol: self.symbol,
            quantity,
        })
    }
}

#[derive(Deserialize)]
struct WireOrder {
    id: String,
    client_order_id: String,
    symbol: String,
    #[serde(default)]
    qty: Option<String>,
    #[serde(default)]
    filled_qty: Option<String>,
    #[serde(default)]
    filled_avg_price: Option<String>,
    side: String,
    status: String,
    #[serde(default)]
    submitted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    filled_at: Option<DateTime<Utc>>,
}

impl WireOrder {
    fn into_order(self) -> Result<BrokerOrder, BrokerError> {
        let side = match self.side.as_str() {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => {
                return Err(BrokerError::InvalidResponse {
                    message: format!("unknown order side {other:?}"),
                });
            }
        };
        let optional = |field, text: &Option<String>| {
            text.as_deref()
                .filter(|t| !t.is_empty())
                .map(|t| number(field, t))
                .transpose()
        };
        Ok(BrokerOrder {
            status: order_status(&self.status),
            quantity: optional("qty", &self.qty)?.unwrap_or(0.0),
            filled_quantity: optional("filled_qty", &self.filled_qty)?.unwrap_or(0.0),
            filled_average_price: optional("filled_avg_price", &self.filled_avg_price)?,
            commission: 0.0,
            id: self.id,
            client_order_id: self.client_order_id,
            symbol: self.symbol,
            side,
            submitted_at: self.submitted_at,
            filled_at: self.filled_at,
        })
    }
}

/// Alpaca's order statuses, folded into ours.
fn order_status(status: &str) -> OrderStatus {
    match status {
        "filled" => OrderStatus::Filled,
        "partially_filled" => OrderStatus::PartiallyFilled,
        "canceled" | "replaced" | "done_for_day" => OrderStatus::Canceled,
        "expired" => OrderStatus::Expired,
        "rejected" | "suspended" => OrderStatus::Rejected,
        // new, accepted, pending_new, accepted_for_bidding, pending_cancel, pending_replace,
        // stopped, calculated, held: the broker has it and it is still live.
        _ => OrderStatus::Accepted,
    }
}

#[derive(Deserialize)]
struct WireClock {
    timestamp: DateTime<Utc>,
    is_open: bool,
    #[serde(default)]
    next_open: Option<DateTime<Utc>>,
    #[serde(default)]
    next_close: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_keys() {
        let credentials = Credentials::new("AKID-visible", "s3cr3t-visible");
        let broker =
            AlpacaBroker::new("http://x/", credentials.clone(), Duration::from_secs(1)).unwrap();
        for text in [format!("{credentials:?}"), format!("{broker:?}")] {
            assert!(!text.contains("visible"), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
        assert_eq!(broker.base_url, "http://x");
    }

    #[test]
    fn duplicate_client_order_id_is_recognised() {
        assert!(is_duplicate_client_order_id(
            r#"{"code":40010001,"message":"client_order_id must be unique"}"#
        ));
        assert!(!is_duplicate_client_order_id(
            r#"{"code":40010001,"message":"qty must be > 0"}"#
        ));
    }

    #[test]
    fn statuses_fold_into_ours() {
        assert_eq!(order_status("filled"), OrderStatus::Filled);
        assert_eq!(order_status("pending_new"), OrderStatus::Accepted);
        assert_eq!(order_status("expired"), OrderStatus::Expired);
        assert_eq!(order_status("rejected"), OrderStatus::Rejected);
        assert!(transient(StatusCode::TOO_MANY_REQUESTS));
        assert!(transient(StatusCode::BAD_GATEWAY));
        assert!(!transient(StatusCode::UNPROCESSABLE_ENTITY));
    }

    #[test]
    fn client_order_ids_are_escaped_in_queries() {
        assert_eq!(query_escape("tp1-ab_c"), "tp1-ab_c");
        assert_eq!(query_escape("a b&c"), "a%20b%26c");
    }

    #[test]
    fn short_positions_are_negative() {
        let p = WirePosition {
            symbol: "X".into(),
            qty: "5".into(),
            avg_entry_price: "10.5".into(),
            side: Some("short".into()),
        }
        .into_position()
        .unwrap();
        assert_eq!((p.quantity, p.average_price), (-5.0, 10.5));
    }
}
