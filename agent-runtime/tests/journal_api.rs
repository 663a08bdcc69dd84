//! The read-only journal API over real HTTP, on a real SQLite journal and a real PostgreSQL
//! one, each filled by the real cycle pipeline (a replay of the demo strategy through the
//! paper broker) and by the journal's own write API (a risk rejection, LLM calls). Every
//! endpoint's content is checked against what the journal holds; lists are walked page by
//! page (no duplicate, no gap), time ranges and caps checked, every refusal must name its
//! parameter, and no response may carry a secret planted in the journal's URL or path.
//!
//! The PostgreSQL half uses the server `TRADEPLANE_TEST_POSTGRES_URL` names, or a private one
//! (`tests/postgres/up.sh`); it never skips.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod journal_support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_runtime::api::JournalApi;
use agent_runtime::broker;
use agent_runtime::config::RuntimeConfig;
use agent_runtime::cycle::adapters::{BrokerExecution, JournalRecorder};
use agent_runtime::cycle::build::runner;
use agent_runtime::domain::{Action, AnalystReport, Decision, LlmCall, ReportUsage, Signal};
use agent_runtime::journal::{CycleRecord, CycleStatus, Journal, RejectionRecord};
use agent_runtime::leadership::AlwaysLeader;
use agent_runtime::market::{ReplayFeed, synthetic};
use agent_runtime::metrics::Metrics;
use agent_runtime::replay;
use agent_runtime::server::{Health, router_with_api};
use chrono::{DateTime, TimeZone, Utc};
use journal_support::{Postgres, TempDir};
use serde_json::Value;
use tradeplane_contract::journal_api::{
    ChartSeries, CycleDetail, CycleView, EquitySeries, FillView, LlmSpendView, OrderView, Page,
    PositionView, StrategySummary,
};

const BARS: usize = 100;
const WARMUP: usize = 60;
/// The cycle the test journals a risk rejection in, by hand.
const REJECTED_CYCLE: &str = "20300101T000000Z";
/// Planted where a careless API could leak it: the journal's path or URL, a key file.
const CANARY: &str = "tpcanary7731";

fn demo_config() -> RuntimeConfig {
    RuntimeConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo.yaml"))
        .unwrap()
}

/// Fills `journal` as a trader would: the demo strategy replayed through the paper broker,
/// then what the replay does not produce, through the journal's write API.
async fn fill(journal: &Journal) {
    let config = demo_config();
    let feed = Arc::new(ReplayFeed::new(
        synthetic::generate(&config.symbols, synthetic::default_start(), BARS),
        WARMUP,
    ));
    let paper = broker::connect(&config.broker, journal).await.unwrap();
    let mut runner = runner(
        &config,
        feed.clone(),
        Arc::new(BrokerExecution::new(paper, journal.clone())),
        Arc::new(JournalRecorder::new(journal.clone())),
        Arc::new(AlwaysLeader),
        Metrics::new().unwrap(),
    )
    .unwrap();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    replay::run(&mut runner, &feed, 1, None, Duration::ZERO, stop)
        .await
        .unwrap();
    journal_a_rejection(journal).await;
    for (day, provider, cost) in [(1, "openai", 0.5), (1, "local", 0.0), (2, "openai", 0.25)] {
        for call in 0..3 {
            let at = Utc.with_ymd_and_hms(2030, 1, day, 9, call, 0).unwrap();
            let call = LlmCall {
                provider: provider.into(),
                role: "news".into(),
                at,
                prompt_tokens: 100,
                completion_tokens: 10,
                cost_usd: cost,
            };
            journal.record_llm_call(&call).await.unwrap();
        }
    }
}

async fn journal_a_rejection(journal: &Journal) {
    let at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let cycle = CycleRecord {
        cycle_id: REJECTED_CYCLE.into(),
        started_at: at,
        finished_at: Some(at),
        status: CycleStatus::Completed,
        summary: Some("1 decisions, 0 orders, 1 rejections".into()),
    };
    journal.record_cycle(&cycle).await.unwrap();
    let report = |role: &str, source: &str| AnalystReport {
        role: role.into(),
        source: source.into(),
        signal: Signal::Bullish,
        confidence: 0.8,
        rationale: format!("{role} says up"),
        usage: source.starts_with("llm:").then_some(ReportUsage {
            prompt_tokens: 1200,
            completion_tokens: 80,
            cost_usd: 0.00024,
        }),
    };
    let decision = Decision {
        symbol: "AAPL".into(),
        action: Action::Buy,
        target_quantity: 1000.0,
        confidence: 0.8,
        rationale: "buy".into(),
        reports: vec![
            report("news", "llm:openai/gpt-4o-mini"),
            report("debate", "debate:llm/gpt-4o"),
        ],
    };
    journal
        .record_decision(REJECTED_CYCLE, at, &decision)
        .await
        .unwrap();
    let rejection = RejectionRecord {
        cycle_id: REJECTED_CYCLE.into(),
        symbol: "AAPL".into(),
        reason: "order_notional".into(),
        detail: "order 150000 above the 50000 limit".into(),
        rejected_at: at,
    };
    journal.record_rejection(&rejection).await.unwrap();
}

/// Serves the probes and the API over `journal` on a free port; its base URL.
async fn serve(journal: &Journal) -> String {
    let metrics = Metrics::new().unwrap();
    metrics.leader.set(1);
    let api = JournalApi {
        journal: journal.clone(),
        identity: demo_config().identity,
        metrics: metrics.clone(),
        pnl_baseline: Some(100_000.0),
    };
    let health = Arc::new(Health::new(Duration::from_secs(60)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = router_with_api(health, metrics, Some(api));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/api/v1")
}

/// Status and body of `GET base + path`; every body must be JSON.
async fn get(base: &str, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!(!text.contains(CANARY), "{path} leaked a secret: {text}");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
    (status, body)
}

async fn ok<T: serde::de::DeserializeOwned>(base: &str, path: &str) -> T {
    let (status, body) = get(base, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_value(body).unwrap()
}

/// Every item of a list, page by page with `limit`; asserts each page is full but the last.
async fn walk<T: serde::de::DeserializeOwned>(base: &str, path: &str, limit: usize) -> Vec<T> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}{separator}limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Page<T> = ok(base, &url).await;
        let last = page.next_cursor.is_none();
        assert!(
            page.items.len() == limit || last,
            "{url}: a short page mid-list"
        );
        items.extend(page.items);
        if last {
            return items;
        }
        cursor = page.next_cursor;
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn check_cycles(base: &str, journal: &Journal) {
    let mut expected: Vec<String> = journal
        .cycles()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.cycle_id)
        .collect();
    expected.reverse(); // newest first
    assert!(expected.len() > BARS - WARMUP, "{}", expected.len());
    let walked: Vec<CycleView> = walk(base, "/cycles", 7).await;
    let ids: Vec<String> = walked.iter().map(|c| c.id.clone()).collect();
    assert_eq!(
        ids, expected,
        "pages must cover every cycle once, newest first"
    );

    // A time range: [since, until) of the walked start times.
    let (since, until) = (walked[30].started_at, walked[10].started_at);
    let path = format!("/cycles?since={}&until={}", rfc3339(since), rfc3339(until));
    let ranged: Vec<CycleView> = walk(base, &path, 6).await;
    let inside: Vec<&CycleView> = walked
        .iter()
        .filter(|c| c.started_at >= since && c.started_at < until)
        .collect();
    assert_eq!(ranged.len(), inside.len());
    assert_eq!(ranged.len(), 20);
    assert!(ranged.iter().zip(inside).all(|(a, b)| a == b));
}

async fn check_orders_and_fills(base: &str, journal: &Journal) {
    let journalled = journal.orders().await.unwrap();
    assert!(journalled.len() >= 3, "the replay placed too few orders");
    let orders: Vec<OrderView> = walk(base, "/orders", 2).await;
    let mut expected: Vec<(DateTime<Utc>, String)> = journalled
        .iter()
        .map(|o| (o.created_at, o.request.client_order_id.clone()))
        .collect();
    expected.sort();
    expected.reverse();
    let got: Vec<(DateTime<Utc>, String)> = orders
        .iter()
        .map(|o| (o.created_at, o.client_order_id.clone()))
        .collect();
    assert_eq!(got, expected);
    let by_id: BTreeMap<&str, _> = journalled
        .iter()
        .map(|o| (o.request.client_order_id.as_str(), o))
        .collect();
    for order in &orders {
        let record = by_id[order.client_order_id.as_str()];
        assert_eq!(order.symbol, record.request.symbol);
        assert_eq!(order.quantity, record.request.quantity);
        assert_eq!(order.status, record.status.as_str());
    }
    let aapl: Vec<OrderView> = walk(base, "/orders?symbol=AAPL", 3).await;
    assert!(aapl.iter().all(|o| o.symbol == "AAPL"));
    let aapl_count = journalled
        .iter()
        .filter(|o| o.request.symbol == "AAPL")
        .count();
    assert_eq!(aapl.len(), aapl_count);

    let fills: Vec<FillView> = walk(base, "/fills", 3).await;
    let journal_fills = journal.fills().await.unwrap();
    assert_eq!(fills.len(), journal_fills.len());
    let ids: HashSet<&str> = fills.iter().map(|f| f.fill_id.as_str()).collect();
    assert_eq!(ids.len(), fills.len(), "a fill listed twice");
    for fill in &journal_fills {
        let listed = fills.iter().find(|f| f.fill_id == fill.fill_id).unwrap();
        assert_eq!(
            (listed.quantity, listed.price, listed.filled_at),
            (fill.quantity, fill.price, fill.time)
        );
    }
    assert!(fills.windows(2).all(|w| w[0].filled_at >= w[1].filled_at));
}

async fn check_positions_and_summary(base: &str, journal: &Journal) {
    let positions: Vec<PositionView> = walk(base, "/positions", 1).await;
    let held = journal.positions().await.unwrap();
    assert_eq!(positions.len(), held.len());
    for (listed, held) in positions.iter().zip(&held) {
        assert_eq!(
            (&listed.symbol, listed.quantity, listed.average_price),
            (&held.symbol, held.quantity, held.average_price)
        );
    }
    let summary: StrategySummary = ok(base, "/summary").await;
    let curve = journal.equity_curve(None).await.unwrap();
    let latest = curve.last().unwrap();
    assert_eq!(summary.api_version, "v1");
    assert_eq!(summary.strategy, "momentum-demo");
    assert_eq!(summary.journal_backend, journal.backend_name());
    assert_eq!(summary.journal_schema_version, 8);
    assert_eq!(serde_json::to_value(summary.role).unwrap(), "leader");
    assert_eq!(summary.trading_state, "Active");
    assert_eq!(summary.equity, Some(latest.equity));
    assert_eq!(summary.profit_and_loss, Some(latest.equity - 100_000.0));
    // The replay's snapshots are stamped with its history's times, none of them today.
    assert_eq!(summary.profit_and_loss_today, None);
    let peak = curve.iter().map(|s| s.equity).fold(f64::MIN, f64::max);
    let drawdown = summary.drawdown.unwrap();
    assert!((drawdown - (peak - latest.equity) / peak).abs() < 1e-12);
    assert_eq!(summary.positions, positions);
    assert_eq!(
        summary.last_cycle.map(|c| c.id).as_deref(),
        Some(REJECTED_CYCLE)
    );
}

async fn check_equity(base: &str, journal: &Journal) {
    let curve = journal.equity_curve(None).await.unwrap();
    let (first, last) = (curve.first().unwrap(), curve.last().unwrap());
    let series: EquitySeries = ok(base, "/equity?points=10").await;
    assert_eq!(series.max_points, 10);
    assert!(series.points.len() <= 10 && series.points.len() >= 5);
    assert_eq!(series.points.first().map(|p| p.at), Some(first.taken_at));
    assert_eq!(series.points.last().map(|p| p.at), Some(last.taken_at));
    assert!(series.points.windows(2).all(|w| w[0].at < w[1].at));
    let whole: EquitySeries = ok(base, "/equity?points=1000").await;
    assert_eq!(
        whole.points.len(),
        curve.len(),
        "fewer snapshots than points: all of them"
    );
    let (since, until) = (curve[5].taken_at, curve[15].taken_at);
    let path = format!("/equity?since={}&until={}", rfc3339(since), rfc3339(until));
    let ranged: EquitySeries = ok(base, &path).await;
    assert_eq!(ranged.points.len(), 10);
    assert_eq!(ranged.points[0].equity, curve[5].equity);
    assert_eq!(ranged.points[9].equity, curve[14].equity);
}

async fn check_llm_spend(base: &str) {
    let spend: Vec<LlmSpendView> = walk(base, "/llm-spend", 2).await;
    let rows: Vec<(String, String, u64, u64, f64)> = spend
        .iter()
        .map(|r| {
            let day = r.day.to_string();
            (
                day,
                r.provider.clone(),
                r.calls,
                r.prompt_tokens,
                r.cost_usd,
            )
        })
        .collect();
    let expected = [
        ("2030-01-02", "openai", 3, 300, 0.75),
        ("2030-01-01", "openai", 3, 300, 1.5),
        ("2030-01-01", "local", 3, 300, 0.0),
    ];
    assert_eq!(rows.len(), expected.len(), "{rows:?}");
    for (row, want) in rows.iter().zip(expected) {
        assert_eq!(
            (row.0.as_str(), row.1.as_str(), row.2, row.3),
            (want.0, want.1, want.2, want.3)
        );
        assert!((row.4 - want.4).abs() < 1e-9);
    }
    let day_two: Page<LlmSpendView> = ok(base, "/llm-spend?since=2030-01-02T00:00:00Z").await;
    assert_eq!(day_two.items.len(), 1);
}

/// A cycle of the replay that placed an order: every part of the audit is there.
async fn check_cycle_detail(base: &str, journal: &Journal) {
    let order = journal.orders().await.unwrap().into_iter().next().unwrap();
    let cycle_id = order.cycle_id.clone().unwrap();
    let detail: CycleDetail = ok(base, &format!("/cycles/{cycle_id}")).await;
    assert_eq!(detail.cycle.id, cycle_id);
    assert_eq!(detail.decisions.len(), 2, "one decision per symbol");
    let decision = detail
        .decisions
        .iter()
        .find(|d| d.symbol == order.request.symbol)
        .unwrap();
    let roles: Vec<&str> = decision.analysts.iter().map(|a| a.role.as_ref()).collect();
    assert_eq!(roles, ["trend", "momentum", "meanReversion", "volatility"]);
    assert!(
        decision
            .analysts
            .iter()
            .all(|a| a.source.starts_with("quant:"))
    );
    let window = decision
        .data_window
        .as_ref()
        .expect("the data window is journalled");
    assert_eq!(window.symbol, order.request.symbol);
    assert_eq!(window.timeframe.as_deref(), Some("1d"));
    assert!(window.bar_count >= WARMUP as u64, "{}", window.bar_count);
    assert!(window.first_bar_at < window.last_bar_at);
    let trend = window
        .indicators
        .iter()
        .find(|s| s.role == "trend")
        .unwrap();
    assert!(trend.values.contains_key("sma20") && trend.values.contains_key("sma50"));
    let momentum = window
        .indicators
        .iter()
        .find(|s| s.role == "momentum")
        .unwrap();
    assert!(momentum.values.contains_key("rsi14"));
    assert!(["approved", "clipped"].contains(&decision.risk.outcome.as_str()));
    let placed = &decision.orders[0];
    assert_eq!(placed.client_order_id, order.request.client_order_id);
    let fills = journal.fills().await.unwrap();
    let order_fills = fills
        .iter()
        .filter(|f| f.client_order_id == placed.client_order_id)
        .count();
    assert_eq!(placed.fills.len(), order_fills);
    assert!(order_fills > 0, "the paper broker fills at once");

    let rejected: CycleDetail = ok(base, &format!("/cycles/{REJECTED_CYCLE}")).await;
    let decision = &rejected.decisions[0];
    assert_eq!(decision.risk.outcome, "rejected");
    assert_eq!(decision.risk.limits, ["order_notional"]);
    assert!(decision.orders.is_empty() && decision.data_window.is_none());
    let news = &decision.analysts[0];
    assert_eq!(
        (news.provider.as_deref(), news.model.as_deref()),
        (Some("openai"), Some("gpt-4o-mini"))
    );
    assert_eq!(
        (news.prompt_tokens, news.completion_tokens, news.cost_usd),
        (Some(1200), Some(80), Some(0.00024)),
        "the report's own billed usage"
    );
    let debate = decision.debate.as_ref().unwrap();
    assert_eq!(debate.cost_usd, None, "nothing billed, nothing shown");
    assert_eq!(
        (debate.role.as_ref(), debate.model.as_deref()),
        ("debate", Some("gpt-4o"))
    );
}

/// `/chart` holds, in one answer, exactly the closes and trades the newest cycles' details
/// show one request per cycle, and nothing of older cycles.
async fn check_chart(base: &str, journal: &Journal) {
    const CYCLES: usize = 20;
    let chart: ChartSeries = ok(base, &format!("/chart?cycles={CYCLES}")).await;
    assert_eq!(chart.cycles, CYCLES as u32);
    let newest: Page<CycleView> = ok(base, &format!("/cycles?limit={CYCLES}")).await;
    let mut closes = Vec::new();
    let mut trades = Vec::new();
    for cycle in &newest.items {
        let detail: CycleDetail = ok(base, &format!("/cycles/{}", cycle.id)).await;
        for decision in detail.decisions {
            let Some(window) = decision.data_window else {
                continue;
            };
            closes.push((decision.symbol, window.last_bar_at, window.last_close));
            for order in decision.orders {
                for fill in order.fills {
                    trades.push((fill.fill_id, Some(window.last_bar_at)));
                }
            }
        }
    }
    let mut got: Vec<_> = chart
        .closes
        .iter()
        .map(|c| (c.symbol.clone(), c.bar_at, c.close))
        .collect();
    let key = |a: &(String, DateTime<Utc>, f64), b: &(String, DateTime<Utc>, f64)| {
        (&a.0, a.1).cmp(&(&b.0, b.1))
    };
    got.sort_by(key);
    closes.sort_by(key);
    assert_eq!(got, closes);
    assert!(closes.len() >= CYCLES, "the replay decides on every bar");
    let mut got: Vec<_> = chart
        .trades
        .iter()
        .map(|t| (t.fill.fill_id.clone(), t.bar_at))
        .collect();
    got.sort();
    trades.sort();
    assert_eq!(got, trades);
    assert!(!trades.is_empty(), "the newest cycles traded");
    let every: ChartSeries = ok(base, "/chart?cycles=1000").await;
    assert!(
        every.closes.len() > closes.len(),
        "older cycles are left out"
    );
    let fills = journal.fills().await.unwrap();
    assert_eq!(every.trades.len(), fills.len(), "every fill, once");
}

/// Bad input is a 400 naming the parameter; unknown things are JSON 404s.
async fn check_refusals(base: &str) {
    for (path, parameter) in [
        ("/cycles?limit=0", "limit"),
        ("/cycles?limit=1001", "limit"),
        ("/orders?limit=many", "limit"),
        ("/fills?cursor=not-a-cursor", "cursor"),
        ("/cycles?since=yesterday", "since"),
        ("/orders?until=2024-13-01T00:00:00Z", "until"),
        ("/orders?symbol=aapl%3Bdrop", "symbol"),
        ("/cycles?symbol=AAPL", "symbol"),
        ("/equity?points=1001", "points"),
        ("/chart?cycles=0", "cycles"),
        ("/chart?limit=5", "limit"),
        ("/positions?since=2024-01-01T00:00:00Z", "since"),
        ("/summary?verbose=1", "verbose"),
    ] {
        let (status, body) = get(base, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "bad_parameter", "{path}");
        assert_eq!(body["parameter"], parameter, "{path}: {body}");
    }
    for path in ["/cycles/19990101T000000Z", "/no-such-endpoint"] {
        let (status, body) = get(base, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"], "not_found");
    }
    let (status, _) = get(base, "/cycles?limit=1000").await;
    assert_eq!(status, 200, "the cap itself is allowed");
}

/// Every endpoint (the helpers refuse any body holding the canary).
async fn check_every_endpoint(base: &str, journal: &Journal) {
    check_cycles(base, journal).await;
    check_orders_and_fills(base, journal).await;
    check_positions_and_summary(base, journal).await;
    check_equity(base, journal).await;
    check_llm_spend(base).await;
    check_cycle_detail(base, journal).await;
    check_chart(base, journal).await;
    check_refusals(base).await;
}

/// With `TRADEPLANE_PRINT_API_EXAMPLES` set, prints a few real answers (the examples in
/// `docs/journal-api.md` come from here).
async fn print_examples(base: &str) {
    if std::env::var_os("TRADEPLANE_PRINT_API_EXAMPLES").is_none() {
        return;
    }
    for path in [
        "/summary",
        "/cycles?limit=2",
        "/orders?limit=1&symbol=AAPL",
        "/fills?limit=1",
        "/positions",
        "/equity?points=3",
        "/llm-spend?limit=2",
        "/orders?limit=5000",
        "/fills?cursor=zz",
    ] {
        let (status, body) = get(base, path).await;
        println!("GET /api/v1{path} -> {status}\n{body:#}\n");
    }
    let (_, cycles) = get(base, "/cycles?limit=3").await;
    let id = cycles["items"][2]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, body) = get(base, &format!("/cycles/{id}")).await;
    println!("GET /api/v1/cycles/{id} -> {status}\n{body:#}\n");
}

#[tokio::test]
async fn journal_api_on_sqlite() {
    let dir = TempDir::new(&format!("journal-api-{CANARY}"));
    let journal = Journal::open_sqlite(&dir.0.join(format!("{CANARY}.db")))
        .await
        .unwrap();
    fill(&journal).await;
    let base = serve(&journal).await;
    check_every_endpoint(&base, &journal).await;
    print_examples(&base).await;
    journal.close().await;

    // A journal that cannot be read answers 503 without its error's text.
    let (status, body) = get(&base, "/summary").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "journal_unavailable");
}

/// P&L today is measured from the day's first snapshot, as the risk manager's daily loss is;
/// yesterday's snapshots count only for the total.
#[tokio::test]
async fn summary_pnl_today_starts_at_the_days_first_snapshot() {
    let dir = TempDir::new("journal-api-today");
    let journal = Journal::open_sqlite(&dir.0.join("today.db")).await.unwrap();
    let now = Utc::now();
    let midnight = now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    let latest = now.max(midnight + chrono::Duration::seconds(2));
    for (at, equity) in [
        (midnight - chrono::Duration::hours(1), 100_000.0),
        (midnight, 100_200.0),
        (latest, 100_500.0),
    ] {
        journal.record_equity(at, equity, equity).await.unwrap();
    }
    let base = serve(&journal).await;
    let summary: StrategySummary = ok(&base, "/summary").await;
    assert_eq!(summary.profit_and_loss_today, Some(300.0));
    assert_eq!(summary.profit_and_loss, Some(500.0));
    journal.close().await;
}

/// A standby's view: the shared PostgreSQL journal, read by a second process's pool while
/// the leader's wrote it. Its URL holds a password and a database name that must not leak.
#[tokio::test]
async fn journal_api_on_postgres() {
    let server = Postgres::start();
    let files = TempDir::new("journal-api-pg");
    let url = server.fresh_database(CANARY).await;
    let url = url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{CANARY}@"),
        1,
    );
    let config = journal_support::postgres_config(&url, &files);
    let leader = Journal::open(&config).await.unwrap();
    fill(&leader).await;
    let standby = Journal::open(&config).await.unwrap();
    let base = serve(&standby).await;
    check_every_endpoint(&base, &standby).await;
    standby.close().await;
    leader.close().await;
}
