//! Market data: CSV layouts, the replay feed over CSV, and the Alpaca-compatible client
//! against a local server that checks the request the way the real API would.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_runtime::market::csv::{BarSet, load, parse_into, write_long};
use agent_runtime::market::{AlpacaMarketData, MarketData, MarketDataError, ReplayFeed, synthetic};
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tp-market-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn one_file_per_symbol_and_one_long_file_load_alike() {
    let dir = temp_dir("layouts");
    std::fs::write(
        dir.join("AAPL.csv"),
        "Date,Open,High,Low,Close,Volume\n2025-01-03,2,3,1,2.5,10\n2025-01-02,1,2,0.5,1.5,20\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("MSFT.csv"),
        "timestamp,o,h,l,c\n2025-01-02T00:00:00Z,5,6,4,5.5\n",
    )
    .unwrap();
    let per_file = load(&dir).unwrap();
    assert_eq!(per_file["AAPL"].len(), 2);
    assert_eq!(per_file["AAPL"][0].close, 1.5, "sorted by time");
    assert_eq!(per_file["MSFT"][0].volume, 0.0, "volume is optional");

    let long = dir.join("long");
    std::fs::create_dir_all(&long).unwrap();
    let mut text = Vec::new();
    write_long(&per_file, &mut text).unwrap();
    std::fs::write(long.join("all.csv"), &text).unwrap();
    assert_eq!(load(&long.join("all.csv")).unwrap(), per_file);
}

#[test]
fn a_bad_row_fails_with_its_line() {
    let mut set = BarSet::new();
    let err = parse_into(
        "symbol,time,open,high,low,close\nX,2025-01-02,1,2,0.5,1\nX,2025-01-03,1,2,0.5,abc\n",
        "mem.csv",
        None,
        &mut set,
    )
    .unwrap_err();
    match err {
        MarketDataError::Parse { line, message, .. } => {
            assert_eq!(line, 3);
            assert!(message.contains("close"), "{message}");
        }
        other => panic!("expected a parse error, got {other}"),
    }
    let err = parse_into("time,open,high,low\n", "mem.csv", Some("X"), &mut set).unwrap_err();
    assert!(err.to_string().contains("no close column"), "{err}");
}

#[tokio::test]
async fn replay_over_csv_needs_every_symbol() {
    let dir = temp_dir("replay");
    let symbols = vec!["AAA".to_string()];
    let mut text = Vec::new();
    write_long(
        &synthetic::generate(&symbols, synthetic::default_start(), 30),
        &mut text,
    )
    .unwrap();
    std::fs::write(dir.join("bars.csv"), &text).unwrap();
    let feed = ReplayFeed::from_csv(&dir, &symbols, 10).unwrap();
    assert_eq!(feed.latest_bars("AAA", 100).await.unwrap().len(), 10);
    assert!(ReplayFeed::from_csv(&dir, &["AAA".to_string(), "BBB".to_string()], 10).is_err());
}

type Seen = Arc<Mutex<Vec<(String, HashMap<String, String>, Option<String>)>>>;

async fn fake_alpaca(seen: Seen) -> String {
    let app = Router::new().route(
        "/v2/stocks/{symbol}/bars",
        get(move |Path(symbol): Path<String>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let key = headers.get("APCA-API-KEY-ID").and_then(|v| v.to_str().ok()).map(str::to_string);
                let authorized = key.as_deref() == Some("key-id")
                    && headers.get("APCA-API-SECRET-KEY").and_then(|v| v.to_str().ok()) == Some("secret");
                seen.lock().unwrap().push((symbol.clone(), query, key));
                if !authorized {
                    return (axum::http::StatusCode::FORBIDDEN, Json(json!({"message": "forbidden"})));
                }
                // Newest first, as asked with sort=desc.
                let bars = json!([
                    {"t": "2025-01-06T05:00:00Z", "o": 3.0, "h": 3.5, "l": 2.5, "c": 3.2, "v": 300, "n": 9, "vw": 3.1},
                    {"t": "2025-01-03T05:00:00Z", "o": 2.0, "h": 2.5, "l": 1.5, "c": 2.2, "v": 200, "n": 9, "vw": 2.1},
                    {"t": "2025-01-02T05:00:00Z", "o": 1.0, "h": 1.5, "l": 0.5, "c": 1.2, "v": 100, "n": 9, "vw": 1.1}
                ]);
                (axum::http::StatusCode::OK, Json(json!({"bars": bars, "symbol": symbol, "next_page_token": null})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test]
async fn alpaca_client_asks_for_the_latest_bars_with_the_keys() {
    let seen = Seen::default();
    let base = fake_alpaca(seen.clone()).await;
    let client =
        AlpacaMarketData::new(&base, "1Day", "key-id\n", "secret", Duration::from_secs(5)).unwrap();
    let bars = client.latest_bars("AAPL", 2).await.unwrap();
    assert_eq!(bars.len(), 2, "only the latest `limit` bars");
    assert_eq!((bars[0].close, bars[1].close), (2.2, 3.2), "oldest first");
    assert_eq!(bars[1].symbol, "AAPL");
    let (symbol, query, key) = seen.lock().unwrap()[0].clone();
    assert_eq!(symbol, "AAPL");
    assert_eq!(query["timeframe"], "1Day");
    assert_eq!(query["limit"], "2");
    assert_eq!(query["sort"], "desc");
    assert!(query.contains_key("start"));
    assert_eq!(
        key.as_deref(),
        Some("key-id"),
        "key files' trailing newline is trimmed"
    );

    let wrong =
        AlpacaMarketData::new(&base, "1Day", "nope", "secret", Duration::from_secs(5)).unwrap();
    match wrong.latest_bars("AAPL", 2).await {
        Err(MarketDataError::Status { status, .. }) => assert_eq!(status, 403),
        other => panic!("expected a 403, got {other:?}"),
    }
}
