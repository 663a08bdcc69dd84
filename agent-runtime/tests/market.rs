//! Market data: CSV layouts, the replay feed over CSV, and the Alpaca-compatible client
//! against the Alpaca stand-in's market data API.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use agent_runtime::market::csv::{BarSet, load, parse_into, write_long};
use agent_runtime::market::{AlpacaMarketData, MarketData, MarketDataError, ReplayFeed, synthetic};
use chrono::Utc;
use standins::alpaca::{AlpacaStandin, StandinBar};

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

fn daily_bars(count: i64) -> Vec<StandinBar> {
    // Ending yesterday, so the client's `start` (a lookback from now) includes them.
    let last = Utc::now()
        .date_naive()
        .and_hms_opt(5, 0, 0)
        .unwrap()
        .and_utc()
        - chrono::Duration::days(1);
    (0..count)
        .map(|i| {
            let close = 100.0 + i as f64;
            StandinBar {
                time: last - chrono::Duration::days(count - 1 - i),
                open: close - 0.5,
                high: close + 1.0,
                low: close - 1.0,
                close,
                volume: 1_000.0 + i as f64,
            }
        })
        .collect()
}

#[tokio::test]
async fn alpaca_client_reads_the_latest_bars_from_the_standin() {
    let alpaca = AlpacaStandin::start("key-id", "secret").await.unwrap();
    alpaca.set_bars("AAPL", daily_bars(100));
    let client = AlpacaMarketData::new(
        alpaca.base_url(),
        "1Day",
        "key-id\n",
        "secret",
        Duration::from_secs(5),
    )
    .unwrap();

    let bars = client.latest_bars("AAPL", 60).await.unwrap();
    assert_eq!(bars.len(), 60, "only the latest `limit` bars");
    assert_eq!(bars[0].close, 140.0, "the 60 newest of 100, oldest first");
    assert_eq!(bars[59].close, 199.0);
    assert!(bars.windows(2).all(|w| w[0].time < w[1].time));
    assert_eq!(
        (bars[59].symbol.as_str(), bars[59].volume),
        ("AAPL", 1_099.0)
    );
    let request = alpaca.requests().pop().unwrap();
    assert_eq!(request.path, "/v2/stocks/AAPL/bars");
    let query = request.query.unwrap();
    for part in ["timeframe=1Day", "limit=60", "sort=desc", "start="] {
        assert!(query.contains(part), "{query}");
    }

    // A symbol without bars answers `"bars": null`: no bars, not an error.
    assert!(client.latest_bars("MSFT", 60).await.unwrap().is_empty());
    // More asked than exist: all of them.
    assert_eq!(client.latest_bars("AAPL", 500).await.unwrap().len(), 100);

    let minutes = AlpacaMarketData::new(
        alpaca.base_url(),
        "1Minute",
        "key-id",
        "secret",
        Duration::from_secs(5),
    )
    .unwrap();
    match minutes.latest_bars("AAPL", 5).await {
        Err(MarketDataError::Status { status, body }) => {
            assert_eq!(status, 422, "{body}");
            assert!(body.contains("invalid timeframe"), "{body}");
        }
        other => panic!("expected a 422, got {other:?}"),
    }
    let wrong = AlpacaMarketData::new(
        alpaca.base_url(),
        "1Day",
        "nope",
        "secret",
        Duration::from_secs(5),
    )
    .unwrap();
    match wrong.latest_bars("AAPL", 2).await {
        Err(MarketDataError::Status { status, .. }) => assert_eq!(status, 401),
        other => panic!("expected a 401, got {other:?}"),
    }
}
