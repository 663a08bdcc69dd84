//! An Alpaca-compatible trading REST API.
//!
//! Speaks the wire format of Alpaca's trading API v2 for what the runtime uses: `GET
//! /v2/account`, `GET /v2/positions`, `POST /v2/orders`, `GET /v2/orders?status=open`, `GET
//! /v2/orders:by_client_order_id?client_order_id=...` and `GET /v2/clock` — numbers as strings,
//! errors as `{"code": ..., "message": ...}`, 401 without the right `APCA-API-KEY-ID` /
//! `APCA-API-SECRET-KEY`, 422 "client_order_id must be unique" for a repeated id. Market
//! orders fill at once at the price set with [`AlpacaStandin::set_price`]; a symbol without a
//! price leaves its orders open (`new`).
//!
//! The market data API (`GET /v2/stocks/{symbol}/bars`, Alpaca's data host) is served on the
//! same port, with the same keys: bars set with [`AlpacaStandin::set_bars`], filtered by
//! `start`/`end`, ordered by `sort`, paged by `limit` and `page_token`, `"bars": null` when
//! there are none — as the real one answers.
//!
//! Orders can also fill the way real ones do when the market is thin: [`FillPlan`]s set with
//! [`AlpacaStandin::set_fill_plans`] fill each order in parts, some parts at placement and the
//! rest at later ticks of the standin's clock ([`AlpacaStandin::advance`]: the test says when
//! time passes, so a fill lands between two cycles and never during one), at the price of the
//! moment, and may expire the rest (status `expired`). `DELETE /v2/orders/{id}` cancels an
//! open order (204) and answers 422 "order is not cancelable" for a final one.
//!
//! Knobs for the cases a real broker produces only by bad luck: [`AlpacaStandin::fail_next`]
//! answers the next requests with an error status *without acting on them*;
//! [`AlpacaStandin::delay_next`] acts on the next requests and answers only after a delay —
//! so a client that times out has in fact placed its order (the "unknown outcome" case).
//! Every request is recorded ([`AlpacaStandin::requests`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// One request the standin received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The `client_order_id` of a POST /v2/orders body.
    pub client_order_id: Option<String>,
}

/// One OHLCV bar of the market data API.
#[derive(Clone, Debug, PartialEq)]
pub struct StandinBar {
    pub time: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// An order the standin holds.
#[derive(Clone, Debug, PartialEq)]
pub struct StandinOrder {
    pub id: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub qty: f64,
    pub filled_qty: f64,
    pub filled_avg_price: Option<f64>,
    pub status: String,
    pub time_in_force: String,
    pub submitted_at: DateTime<Utc>,
    pub filled_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    /// How the rest fills, and the tick it was placed at.
    plan: Option<(FillPlan, u64)>,
}

impl StandinOrder {
    /// Filled, canceled, expired or rejected: it changes no more.
    pub fn is_final(&self) -> bool {
        matches!(
            self.status.as_str(),
            "filled" | "canceled" | "expired" | "rejected"
        )
    }
}

/// How an order fills: `steps` of (ticks after placement, fraction of the quantity), and the
/// tick after placement at which whatever is left expires (`None`: it stays open).
#[derive(Clone, Debug, PartialEq)]
pub struct FillPlan {
    pub steps: Vec<(u64, f64)>,
    pub expire_after: Option<u64>,
}

impl FillPlan {
    /// All at once, at placement (what orders do without a plan).
    pub fn whole() -> Self {
        Self {
            steps: vec![(0, 1.0)],
            expire_after: None,
        }
    }
}

#[derive(Default)]
struct Books {
    key_id: String,
    secret_key: String,
    cash: f64,
    prices: HashMap<String, f64>,
    /// symbol → (qty, average entry price)
    positions: BTreeMap<String, (f64, f64)>,
    orders: Vec<StandinOrder>,
    clock_open: bool,
    /// symbol → bars, oldest first.
    bars: BTreeMap<String, Vec<StandinBar>>,
    fail_next: Vec<u16>,
    delay_next: Vec<Duration>,
    requests: Vec<RecordedRequest>,
    /// Plans new orders follow in turn; empty: each fills whole at once.
    fill_plans: Vec<FillPlan>,
    /// Orders placed with a plan so far (which plan the next one takes).
    planned: usize,
    /// The standin's clock, moved by `advance`.
    tick: u64,
}

type Shared = Arc<Mutex<Books>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Books> {
    // A test that panicked while holding the lock already failed; keep serving the others.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running standin; stops when dropped or with [`AlpacaStandin::stop`].
pub struct AlpacaStandin {
    base_url: String,
    shared: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl AlpacaStandin {
    /// Starts on 127.0.0.1 on a free port, accepting only this key pair, with 100 000 cash.
    pub async fn start(key_id: &str, secret_key: &str) -> std::io::Result<Self> {
        let shared: Shared = Arc::new(Mutex::new(Books {
            key_id: key_id.into(),
            secret_key: secret_key.into(),
            cash: 100_000.0,
            clock_open: true,
            ..Books::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(err) = server.await {
                tracing::warn!(%err, "alpaca standin stopped with an error");
            }
        });
        Ok(Self {
            base_url,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Market orders for `symbol` fill at `price` from now on.
    pub fn set_price(&self, symbol: &str, price: f64) {
        lock(&self.shared).prices.insert(symbol.into(), price);
    }

    pub fn set_cash(&self, cash: f64) {
        lock(&self.shared).cash = cash;
    }

    /// Sets a position directly (as if traded outside the runtime); 0 removes it.
    pub fn set_position(&self, symbol: &str, qty: f64, avg_entry_price: f64) {
        let mut books = lock(&self.shared);
        if qty == 0.0 {
            books.positions.remove(symbol);
        } else {
            books
                .positions
                .insert(symbol.into(), (qty, avg_entry_price));
        }
    }

    /// The market data API serves these bars for `symbol` (any order; kept sorted by time).
    pub fn set_bars(&self, symbol: &str, mut bars: Vec<StandinBar>) {
        bars.sort_by_key(|bar| bar.time);
        lock(&self.shared).bars.insert(symbol.into(), bars);
    }

    pub fn set_clock_open(&self, open: bool) {
        lock(&self.shared).clock_open = open;
    }

    /// The next `n` requests are answered with `status` (e.g. 500, 429) and not acted on.
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.shared)
            .fail_next
            .extend(std::iter::repeat_n(status, n));
    }

    /// Forgets the failures [`Self::fail_next`] queued and not yet answered.
    pub fn stop_failing(&self) {
        lock(&self.shared).fail_next.clear();
    }

    /// The next `n` requests are acted on, then answered after `delay`.
    pub fn delay_next(&self, n: usize, delay: Duration) {
        lock(&self.shared)
            .delay_next
            .extend(std::iter::repeat_n(delay, n));
    }

    /// Orders placed from now on fill as `plans` say, the n-th taking `plans[n % len]`
    /// (empty: whole, at once). A symbol without a price still leaves its orders open.
    pub fn set_fill_plans(&self, plans: Vec<FillPlan>) {
        let mut books = lock(&self.shared);
        books.fill_plans = plans;
        books.planned = 0;
    }

    /// One tick of the standin's clock: the fills and expiries due happen now, at the
    /// current prices. Returns the number of fills made.
    pub fn advance(&self) -> usize {
        let mut books = lock(&self.shared);
        books.tick += 1;
        let tick = books.tick;
        work_orders(&mut books, tick)
    }

    /// Positions as symbol → (quantity, average entry price).
    pub fn positions(&self) -> BTreeMap<String, (f64, f64)> {
        lock(&self.shared).positions.clone()
    }

    pub fn orders(&self) -> Vec<StandinOrder> {
        lock(&self.shared).orders.clone()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    /// Forgets an order (as if it never arrived); true if there was one.
    pub fn forget_order(&self, client_order_id: &str) -> bool {
        let mut books = lock(&self.shared);
        let before = books.orders.len();
        books
            .orders
            .retain(|o| o.client_order_id != client_order_id);
        books.orders.len() != before
    }

    /// Stops the server and waits until it has.
    pub async fn stop(mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for AlpacaStandin {
    fn drop(&mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let (delay, response) = {
        let mut books = lock(&shared);
        books.requests.push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            client_order_id: parsed
                .as_ref()
                .and_then(|b| b.get("client_order_id"))
                .and_then(Value::as_str)
                .map(str::to_string),
        });
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if header("APCA-API-KEY-ID") != Some(books.key_id.as_str())
            || header("APCA-API-SECRET-KEY") != Some(books.secret_key.as_str())
        {
            return error(
                StatusCode::UNAUTHORIZED,
                40110000,
                "request is not authorized",
            );
        }
        if !books.fail_next.is_empty() {
            let status = books.fail_next.remove(0);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(status, 50010000, "injected failure");
        }
        let delay = (!books.delay_next.is_empty()).then(|| books.delay_next.remove(0));
        (delay, route(&mut books, &method, &uri, parsed.as_ref()))
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

fn route(books: &mut Books, method: &Method, uri: &Uri, body: Option<&Value>) -> Response {
    let query = |key: &str| {
        uri.query().and_then(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| percent_decode(v))
        })
    };
    match (method.as_str(), uri.path()) {
        ("GET", "/v2/account") => axum::Json(account_json(books)).into_response(),
        ("GET", "/v2/positions") => {
            let positions: Vec<Value> = books
                .positions
                .iter()
                .map(|(symbol, (qty, avg))| position_json(books, symbol, *qty, *avg))
                .collect();
            axum::Json(positions).into_response()
        }
        ("GET", "/v2/clock") => {
            let now = Utc::now();
            axum::Json(json!({
                "timestamp": now.to_rfc3339(),
                "is_open": books.clock_open,
                "next_open": (now + chrono::Duration::hours(16)).to_rfc3339(),
                "next_close": (now + chrono::Duration::hours(6)).to_rfc3339(),
            }))
            .into_response()
        }
        ("GET", path) if path.starts_with("/v2/stocks/") && path.ends_with("/bars") => {
            let symbol = percent_decode(&path["/v2/stocks/".len()..path.len() - "/bars".len()]);
            bars(books, &symbol, &query)
        }
        ("DELETE", path) if path.starts_with("/v2/orders/") => {
            let id = percent_decode(&path["/v2/orders/".len()..]);
            match books.orders.iter_mut().find(|o| o.id == id) {
                None => error(StatusCode::NOT_FOUND, 40410000, "order not found"),
                Some(order) if order.is_final() => error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    42210000,
                    "order is not cancelable",
                ),
                Some(order) => {
                    order.status = "canceled".into();
                    order.canceled_at = Some(Utc::now());
                    StatusCode::NO_CONTENT.into_response()
                }
            }
        }
        ("GET", "/v2/orders:by_client_order_id") => {
            let id = query("client_order_id").unwrap_or_default();
            match books.orders.iter().find(|o| o.client_order_id == id) {
                Some(order) => axum::Json(order_json(order)).into_response(),
                None => error(StatusCode::NOT_FOUND, 40410000, "order not found"),
            }
        }
        ("GET", "/v2/orders") => {
            let open = query("status").as_deref() != Some("all");
            let orders: Vec<Value> = books
                .orders
                .iter()
                .filter(|o| {
                    !open
                        || !matches!(
                            o.status.as_str(),
                            "filled" | "canceled" | "expired" | "rejected"
                        )
                })
                .map(order_json)
                .collect();
            axum::Json(orders).into_response()
        }
        ("POST", "/v2/orders") => match body {
            Some(body) => place(books, body),
            None => error(
                StatusCode::UNPROCESSABLE_ENTITY,
                40010000,
                "invalid JSON body",
            ),
        },
        _ => error(StatusCode::NOT_FOUND, 40410000, "endpoint not found"),
    }
}

/// `GET /v2/stocks/{symbol}/bars`, as the real API pages it.
fn bars(books: &Books, symbol: &str, query: &dyn Fn(&str) -> Option<String>) -> Response {
    let invalid = |message: &str| error(StatusCode::UNPROCESSABLE_ENTITY, 42210000, message);
    let Some(timeframe) = query("timeframe") else {
        return invalid("timeframe is required");
    };
    let units = timeframe.trim_start_matches(|c: char| c.is_ascii_digit());
    let amount = &timeframe[..timeframe.len() - units.len()];
    if amount.is_empty()
        || !matches!(
            units,
            "Min" | "T" | "Hour" | "H" | "Day" | "D" | "Week" | "W" | "Month" | "M"
        )
    {
        return invalid("invalid timeframe");
    }
    // `Err` names the bad parameter; the response is built once, below.
    let time = |key: &'static str| -> Result<Option<DateTime<Utc>>, &'static str> {
        match query(key) {
            None => Ok(None),
            Some(text) => DateTime::parse_from_rfc3339(&text)
                .map(|t| Some(t.with_timezone(&Utc)))
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
                })
                .map_err(|_| key),
        }
    };
    let (start, end) = match (time("start"), time("end")) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(key), _) | (_, Err(key)) => return invalid(&format!("invalid {key}")),
    };
    let limit = match query("limit").map(|l| l.parse::<usize>()) {
        None => 1000,
        Some(Ok(limit)) if (1..=10_000).contains(&limit) => limit,
        Some(_) => return invalid("invalid limit"),
    };
    let descending = match query("sort").as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return invalid("invalid sort"),
    };
    let offset = match query("page_token").map(|t| t.parse::<usize>()) {
        None => 0,
        Some(Ok(offset)) => offset,
        Some(Err(_)) => return invalid("invalid page_token"),
    };
    let mut selected: Vec<&StandinBar> = books
        .bars
        .get(symbol)
        .map(|bars| {
            bars.iter()
                .filter(|b| start.is_none_or(|s| b.time >= s) && end.is_none_or(|e| b.time <= e))
                .collect()
        })
        .unwrap_or_default();
    if descending {
        selected.reverse();
    }
    let page: Vec<Value> = selected
        .iter()
        .skip(offset)
        .take(limit)
        .map(|b| {
            json!({
                "t": b.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "o": b.open, "h": b.high, "l": b.low, "c": b.close,
                "v": b.volume, "n": 1, "vw": b.close,
            })
        })
        .collect();
    let next = (offset + limit < selected.len()).then(|| (offset + limit).to_string());
    axum::Json(json!({
        "bars": if page.is_empty() { Value::Null } else { Value::Array(page) },
        "symbol": symbol,
        "next_page_token": next,
    }))
    .into_response()
}

fn place(books: &mut Books, body: &Value) -> Response {
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let invalid = |message: &str| error(StatusCode::UNPROCESSABLE_ENTITY, 40010001, message);
    let client_order_id = text("client_order_id");
    if client_order_id.len() > 48 {
        return invalid("client_order_id must be no more than 48 characters");
    }
    if !client_order_id.is_empty()
        && books
            .orders
            .iter()
            .any(|o| o.client_order_id == client_order_id)
    {
        return invalid("client_order_id must be unique");
    }
    let qty: f64 = match text("qty").parse() {
        Ok(q) if q > 0.0 => q,
        _ => return invalid("qty must be > 0"),
    };
    let side = text("side");
    if side != "buy" && side != "sell" {
        return invalid("invalid side");
    }
    if text("type") != "market" {
        return invalid("only market orders are supported by this standin");
    }
    let symbol = text("symbol");
    let price = books.prices.get(&symbol).copied();
    if let Some(price) = price {
        let held = books.positions.get(&symbol).map_or(0.0, |p| p.0);
        if side == "buy" && qty * price > books.cash {
            return error(StatusCode::FORBIDDEN, 40310000, "insufficient buying power");
        }
        if side == "sell" && qty > held + 1e-9 {
            return error(
                StatusCode::FORBIDDEN,
                40310000,
                "insufficient qty available for order",
            );
        }
    }
    let now = Utc::now();
    let n = books.orders.len() + 1;
    let mut order = StandinOrder {
        id: format!("61e69015-8549-4bfd-b9c3-{n:012}"),
        client_order_id: if client_order_id.is_empty() {
            format!("standin-{n}")
        } else {
            client_order_id
        },
        symbol: symbol.clone(),
        side: side.clone(),
        qty,
        filled_qty: 0.0,
        filled_avg_price: None,
        status: "new".into(),
        time_in_force: text("time_in_force"),
        submitted_at: now,
        filled_at: None,
        canceled_at: None,
        expired_at: None,
        plan: None,
    };
    if price.is_some() {
        let plan = match books.fill_plans.len() {
            0 => FillPlan::whole(),
            n => {
                let plan = books.fill_plans[books.planned % n].clone();
                books.planned += 1;
                plan
            }
        };
        order.plan = Some((plan, books.tick));
    }
    books.orders.push(order);
    let tick = books.tick;
    work_orders(books, tick);
    match books.orders.last() {
        Some(order) => axum::Json(order_json(order)).into_response(),
        None => error(StatusCode::INTERNAL_SERVER_ERROR, 50010000, "order lost"),
    }
}

/// Makes the fills and expiries of every open order's plan due at `tick`; returns the number
/// of fills.
fn work_orders(books: &mut Books, tick: u64) -> usize {
    let mut fills = 0;
    for index in 0..books.orders.len() {
        let order = &books.orders[index];
        let Some((plan, placed)) = order.plan.clone() else {
            continue;
        };
        if order.is_final() {
            continue;
        }
        let age = tick - placed;
        let due: f64 = plan
            .steps
            .iter()
            .filter(|(after, _)| *after <= age)
            .map(|(_, fraction)| fraction)
            .sum::<f64>()
            .min(1.0);
        let quantity = due * order.qty - order.filled_qty;
        if quantity > 1e-9
            && let Some(price) = books.prices.get(&order.symbol).copied()
        {
            fill(books, index, quantity, price);
            fills += 1;
        }
        let order = &mut books.orders[index];
        if !order.is_final() && plan.expire_after.is_some_and(|after| age >= after) {
            order.status = "expired".into();
            order.expired_at = Some(Utc::now());
        }
    }
    fills
}

/// Fills `quantity` more of order `index` at `price`: its cumulative figures, cash, position.
fn fill(books: &mut Books, index: usize, quantity: f64, price: f64) {
    let now = Utc::now();
    let order = &mut books.orders[index];
    let before = order.filled_qty;
    let average = order.filled_avg_price.unwrap_or(0.0);
    order.filled_qty = before + quantity;
    order.filled_avg_price = Some((before * average + quantity * price) / order.filled_qty);
    order.filled_at = Some(now);
    order.status = if order.filled_qty >= order.qty - 1e-9 {
        "filled".into()
    } else {
        "partially_filled".into()
    };
    let (symbol, buy) = (order.symbol.clone(), order.side == "buy");
    let (held, avg) = books.positions.get(&symbol).copied().unwrap_or((0.0, 0.0));
    let (after, new_avg) = if buy {
        (
            held + quantity,
            (held * avg + quantity * price) / (held + quantity),
        )
    } else {
        (held - quantity, avg)
    };
    books.cash += if buy {
        -quantity * price
    } else {
        quantity * price
    };
    if after.abs() < 1e-9 {
        books.positions.remove(&symbol);
    } else {
        books.positions.insert(symbol, (after, new_avg));
    }
}

fn market_value(books: &Books, symbol: &str, qty: f64, avg: f64) -> f64 {
    qty * books.prices.get(symbol).copied().unwrap_or(avg)
}

fn account_json(books: &Books) -> Value {
    let long: f64 = books
        .positions
        .iter()
        .map(|(s, (q, a))| market_value(books, s, *q, *a))
        .sum();
    let equity = books.cash + long;
    json!({
        "id": "904837e3-3b76-47ec-b432-046db621571b",
        "account_number": "PA0STANDIN",
        "status": "ACTIVE",
        "currency": "USD",
        "cash": books.cash.to_string(),
        "portfolio_value": equity.to_string(),
        "equity": equity.to_string(),
        "last_equity": equity.to_string(),
        "long_market_value": long.to_string(),
        "short_market_value": "0",
        "buying_power": books.cash.to_string(),
        "pattern_day_trader": false,
        "trading_blocked": false,
        "transfers_blocked": false,
        "account_blocked": false,
        "created_at": "2026-01-01T00:00:00Z",
    })
}

fn position_json(books: &Books, symbol: &str, qty: f64, avg: f64) -> Value {
    let price = books.prices.get(symbol).copied().unwrap_or(avg);
    json!({
        "asset_id": format!("asset-{symbol}"),
        "symbol": symbol,
        "exchange": "NASDAQ",
        "asset_class": if symbol.contains('/') { "crypto" } else { "us_equity" },
        "avg_entry_price": avg.to_string(),
        "qty": qty.to_string(),
        "qty_available": qty.to_string(),
        "side": if qty >= 0.0 { "long" } else { "short" },
        "market_value": (qty * price).to_string(),
        "cost_basis": (qty * avg).to_string(),
        "unrealized_pl": (qty * (price - avg)).to_string(),
        "current_price": price.to_string(),
    })
}

fn order_json(order: &StandinOrder) -> Value {
    let at = order.filled_at.unwrap_or(order.submitted_at).to_rfc3339();
    json!({
        "id": order.id,
        "client_order_id": order.client_order_id,
        "created_at": order.submitted_at.to_rfc3339(),
        "updated_at": at,
        "submitted_at": order.submitted_at.to_rfc3339(),
        "filled_at": order.filled_at.map(|t| t.to_rfc3339()),
        "expired_at": order.expired_at.map(|t| t.to_rfc3339()),
        "canceled_at": order.canceled_at.map(|t| t.to_rfc3339()),
        "failed_at": null,
        "asset_id": format!("asset-{}", order.symbol),
        "symbol": order.symbol,
        "asset_class": if order.symbol.contains('/') { "crypto" } else { "us_equity" },
        "qty": order.qty.to_string(),
        "filled_qty": order.filled_qty.to_string(),
        "filled_avg_price": order.filled_avg_price.map(|p| p.to_string()),
        "order_class": "",
        "order_type": "market",
        "type": "market",
        "side": order.side,
        "time_in_force": order.time_in_force,
        "limit_price": null,
        "stop_price": null,
        "status": order.status,
        "extended_hours": false,
    })
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (decoded, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
