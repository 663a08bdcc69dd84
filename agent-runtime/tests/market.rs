//! Market data: CSV layouts, the replay feed over CSV, and the Alpaca-compatible client
//! against the Alpaca stand-in's market data API.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use agent_runtime::market::csv::{BarSet, load, parse_into, parse_time, write_long};
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

/// CSV files written by pandas' `DataFrame.to_csv` (see `fixtures/pandas/make_fixtures.py`).
fn pandas_fixture(layout: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pandas")
        .join(layout)
        .join("AAPL.csv")
}

fn times_and_closes(set: &BarSet) -> Vec<(String, f64)> {
    set["AAPL"]
        .iter()
        .map(|bar| (bar.time.to_rfc3339(), bar.close))
        .collect()
}

#[test]
fn pandas_exports_load_with_their_time_index() {
    let daily = [
        ("2024-01-02T00:00:00+00:00".to_string(), 100.0),
        ("2024-01-03T00:00:00+00:00".to_string(), 101.0),
        ("2024-01-04T00:00:00+00:00".to_string(), 102.0),
    ];
    let hourly = [
        ("2024-01-02T00:00:00+00:00".to_string(), 100.0),
        ("2024-01-02T01:00:00+00:00".to_string(), 101.0),
        ("2024-01-02T02:00:00+00:00".to_string(), 102.0),
    ];
    // Header `,open,...`, index `2024-01-02`; `2024-01-02 00:00:00`; `... 00:00:00+00:00`;
    // and yfinance's `Date,Open,...,Adj Close,Volume`.
    for (layout, expected) in [
        ("daily", &daily),
        ("hourly", &hourly),
        ("utc", &daily),
        ("named", &daily),
    ] {
        let set = load(&pandas_fixture(layout)).unwrap_or_else(|err| panic!("{layout}: {err}"));
        assert_eq!(set.keys().collect::<Vec<_>>(), ["AAPL"], "{layout}");
        assert_eq!(times_and_closes(&set), expected.to_vec(), "{layout}");
        assert_eq!(set["AAPL"][2].volume, 3000.0, "{layout}");
    }
}

#[test]
fn an_unnamed_first_column_that_is_not_a_time_is_refused_with_its_line() {
    // A frame that lost its time index: pandas writes its RangeIndex, 0, 1, 2.
    let path = pandas_fixture("range_index");
    match load(&path).unwrap_err() {
        MarketDataError::Parse {
            path: origin,
            line,
            message,
        } => {
            assert!(origin.ends_with("range_index/AAPL.csv"), "{origin}");
            assert_eq!(line, 2);
            assert!(message.contains("unnamed first column"), "{message}");
            assert!(message.contains("\"0\" is not a date"), "{message}");
        }
        other => panic!("expected a parse error, got {other}"),
    }
}

#[test]
fn a_named_time_column_wins_over_an_unnamed_index() {
    let mut set = BarSet::new();
    parse_into(
        ",date,open,high,low,close\n0,2024-01-03,1,2,0.5,1.5\n1,2024-01-02,1,2,0.5,1.25\n",
        "mem.csv",
        Some("AAPL"),
        &mut set,
    )
    .unwrap();
    let dates: Vec<String> = set["AAPL"]
        .iter()
        .map(|bar| bar.time.date_naive().to_string())
        .collect();
    assert_eq!(
        dates,
        ["2024-01-03", "2024-01-02"],
        "read from the date column"
    );
}

#[test]
fn without_a_time_column_the_error_says_so() {
    let mut set = BarSet::new();
    let err = parse_into(
        "when,open,high,low,close\n2024-01-02,1,2,0.5,1\n",
        "mem.csv",
        Some("X"),
        &mut set,
    )
    .unwrap_err();
    assert!(err.to_string().contains("line 1: no time column"), "{err}");
    // A byte order mark before the header does not hide pandas' unnamed index column.
    parse_into(
        "\u{feff},open,high,low,close\n2024-01-02,1,2,0.5,1\n",
        "mem.csv",
        Some("X"),
        &mut set,
    )
    .unwrap();
    assert_eq!(set["X"].len(), 1);
}

#[test]
fn malformed_csv_is_an_error_never_a_panic() {
    for text in [
        "",
        ",",
        "\u{feff}",
        ",\n,\n",
        ",open,high,low,close\n",
        ",open,high,low,close\n2024-01-02\n",
        ",open,high,low,close\n2024-01-02,1,2,0.5\n",
        ",open,high,low,close\n,1,2,0.5,1\n",
        ",open,high,low,close\n2024-13-45,1,2,0.5,1\n",
        ",open,high,low,close\n2024-01-02 25:00:00,1,2,0.5,1\n",
        ",open,high,low,close\n2024-01-02,NaN,2,0.5,1\n",
        ",,,,,\n2024-01-02,1,2,0.5,1,1\n",
        ",open,high,low,close\n\u{1F4A5},1,2,0.5,1\n",
    ] {
        let mut set = BarSet::new();
        let outcome =
            std::panic::catch_unwind(move || parse_into(text, "mem.csv", Some("X"), &mut set));
        match outcome {
            Ok(Ok(())) if text.lines().count() <= 1 => {}
            Ok(Ok(())) => panic!("{text:?} loaded"),
            Ok(Err(_)) => {}
            Err(_) => panic!("{text:?} panicked"),
        }
    }
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
    let Err(error) = ReplayFeed::from_csv(&dir, &["AAA".to_string(), "BBB".to_string()], 10) else {
        panic!("a replay without BBB's bars was accepted");
    };
    assert!(
        matches!(&error, MarketDataError::UnknownSymbol(symbol) if symbol == "BBB"),
        "{error:?}"
    );
    assert!(error.to_string().contains("BBB"), "{error}");
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

/// chrono's own reading of the layouts `parse_time` accepts, tried the slow way.
fn chrono_time(text: &str) -> Option<chrono::DateTime<Utc>> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time.and_utc());
        }
    }
    Some(
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)?
            .and_utc(),
    )
}

#[test]
fn times_read_the_fast_way_match_chrono() {
    let texts = [
        "2024-01-02",
        "1000-01-01",
        "2024-02-29",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-1-02",
        "2024/01/02",
        "2024-01-02T09:30:00",
        "2024-01-02 09:30:00",
        "2024-01-02T09:30:00Z",
        "2024-01-02 23:59:59Z",
        "2024-01-02T24:00:00",
        "2024-01-02T09:60:00",
        "2024-01-02T09:30:00.250",
        "2024-01-02T09:30:00+02:00",
        "2024-01-02x09:30:00",
        "2024-01-02T09-30-00",
        "2024-01-02T09:30:0a",
        "+024-01-02",
        "",
        "yesterday",
    ];
    for text in texts {
        assert_eq!(parse_time(text), chrono_time(text), "{text:?}");
    }
    assert!(parse_time("2024-01-02T09:30:00Z").is_some());
    assert!(parse_time("2023-02-29").is_none());
}
