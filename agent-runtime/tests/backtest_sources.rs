//! `agent-runtime backtest` reading its bars from an object of a real S3-compatible server
//! (versitygw, as the backup tests run it) or from the Alpaca-compatible market data API (its
//! stand-in) between two times: the same summary as the same bars read from disk, a bad row
//! refused naming the object's line, a missing object or an end before the start refused
//! naming it — and the keys never printed. And the results artifact (`--results FILE`,
//! `--results-s3-*`) written to both a file and an object of that server, identically.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

mod backup_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agent_runtime::backup::store;
use backup_support::{S3Server, Scratch, binary};
use chrono::{Duration, NaiveDate};
use serde_json::Value;
use tradeplane_contract::backtest_results::{MAX_CURVE_POINTS, RunResults};
use tradeplane_contract::backup::{Destination, S3Location};

const KEY: &str = "bars/daily/SPY.csv";

/// `n` daily bars of a deterministic walk, as the CSV reader takes them.
fn bars_csv(n: usize) -> String {
    let mut seed = 7u64;
    let mut close = 100.0_f64;
    let start = NaiveDate::from_ymd_opt(2021, 1, 1).unwrap();
    let mut text = String::from("date,open,high,low,close,volume\n");
    for i in 0..n {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let step = ((seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
        let open = close;
        close = ((open * (1.0 + 0.04 * step)) * 100.0).round() / 100.0;
        let day = start + Duration::days(i as i64);
        let (high, low) = (open.max(close) + 0.5, open.min(close) - 0.5);
        text.push_str(&format!("{day},{open},{high},{low},{close},1000\n"));
    }
    text
}

fn config(dir: &Path) -> PathBuf {
    let yaml = "apiVersion: runtime.tradeplane.io/v1alpha1
identity: {namespace: test, name: crossover}
symbols: [SPY]
analysts:
  - role: trend
    kind: quant
    method: trend
    params: {fastPeriod: 5, slowPeriod: 20, neutralBand: 0, baseConfidence: 1,
             spreadGain: 0, crossoverBonus: 0}
decision: {minConfidence: 0.5, targetPositionFraction: 0.95}
broker: {kind: paper, startingCash: 100000, commissionBps: 5, slippageBps: 3}
";
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

async fn put(server: &S3Server, key: &str, text: &str) {
    let location = S3Location {
        bucket: server.bucket.clone(),
        prefix: String::new(),
        endpoint: Some(server.endpoint.clone()),
        region: Some("us-east-1".into()),
        credentials_dir: server.credentials.clone(),
    };
    let bucket = store::open(&Destination::S3(location), false).unwrap();
    let path = object_store::path::Path::from(key);
    bucket
        .put(&path, text.as_bytes().to_vec().into())
        .await
        .unwrap();
}

fn backtest(config: &Path, data: &[String]) -> Output {
    Command::new(binary())
        .arg("backtest")
        .arg("--config")
        .arg(config)
        .args(data)
        .output()
        .unwrap()
}

fn s3_flags(server: &S3Server, key: &str) -> Vec<String> {
    [
        "--data-s3-bucket",
        &server.bucket,
        "--data-s3-key",
        key,
        "--data-s3-endpoint",
        &server.endpoint,
        "--data-s3-credentials-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([server.credentials.display().to_string()])
    .collect()
}

fn summary(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn bars_from_an_s3_object_give_the_same_run_as_the_same_file_on_disk() {
    let server = S3Server::start();
    let dir = Scratch::new("bt-s3");
    let config = config(&dir.0);
    let csv = bars_csv(300);
    put(&server, KEY, &csv).await;
    let local = dir.path("SPY.csv");
    std::fs::write(&local, &csv).unwrap();

    let from_s3 = summary(&backtest(&config, &s3_flags(&server, KEY)));
    let from_disk = summary(&backtest(
        &config,
        &["--data".to_string(), local.display().to_string()],
    ));
    assert_eq!(from_s3["bars"], 300);
    assert!(from_s3["fills"].as_u64().unwrap() > 0, "{from_s3}");
    for field in [
        "bars",
        "cycles",
        "fills",
        "trades",
        "finalEquity",
        "firstBar",
        "lastBar",
    ] {
        assert_eq!(from_s3[field], from_disk[field], "{field}");
    }
}

#[tokio::test]
async fn a_bad_row_in_the_object_is_refused_naming_its_line_and_no_key_is_printed() {
    let server = S3Server::start();
    let dir = Scratch::new("bt-s3-bad");
    let config = config(&dir.0);
    let mut lines: Vec<String> = bars_csv(60).lines().map(str::to_string).collect();
    // Line 1 is the header: bar 30 is on line 31.
    lines[30] = lines[30].replace(",1000", ",lots");
    put(&server, "bad/SPY.csv", &lines.join("\n")).await;

    let output = backtest(&config, &s3_flags(&server, "bad/SPY.csv"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SPY.csv line 31"), "{stderr}");
    assert!(
        !stderr.contains(&server.secret()),
        "the secret key was printed"
    );

    let output = backtest(&config, &s3_flags(&server, "missing/SPY.csv"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("s3://{}/missing/SPY.csv", server.bucket)),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&server.secret()),
        "the secret key was printed"
    );
}

/// Bars of `csv` as the market data stand-in serves them.
fn standin_bars(csv: &str) -> Vec<standins::alpaca::StandinBar> {
    csv.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let day = NaiveDate::parse_from_str(f[0], "%Y-%m-%d").unwrap();
            let n = |i: usize| f[i].parse::<f64>().unwrap();
            standins::alpaca::StandinBar {
                time: day.and_hms_opt(0, 0, 0).unwrap().and_utc(),
                open: n(1),
                high: n(2),
                low: n(3),
                close: n(4),
                volume: n(5),
            }
        })
        .collect()
}

async fn backtest_async(config: &Path, data: &[String]) -> Output {
    tokio::process::Command::new(binary())
        .arg("backtest")
        .arg("--config")
        .arg(config)
        .args(data)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn bars_from_the_market_data_api_between_start_and_end_page_through_and_match_disk() {
    let standin = standins::alpaca::AlpacaStandin::start("key-id", "secret-key-xyz")
        .await
        .unwrap();
    // 12 000 days: more than one page of 10 000, and bars outside the range on both sides.
    let csv = bars_csv(12_000);
    standin.set_bars("SPY", standin_bars(&csv));
    let dir = Scratch::new("bt-api");
    let config = config(&dir.0);
    let keys = dir.path("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("broker-key-id"), "key-id\n").unwrap();
    std::fs::write(keys.join("broker-secret-key"), "secret-key-xyz\n").unwrap();
    let flags = |start: &str, end: &str| -> Vec<String> {
        [
            "--data-api-url",
            standin.base_url(),
            "--data-api-start",
            start,
            "--data-api-end",
            end,
            "--data-api-credentials-dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([keys.display().to_string()])
        .collect()
    };

    // 2021-01-01 + 100 days .. + 10 599 days: bars 100..=10 599 of the walk.
    let start = NaiveDate::from_ymd_opt(2021, 1, 1).unwrap() + Duration::days(100);
    let end = start + Duration::days(10_499);
    let (start_text, end_text) = (format!("{start}T00:00:00Z"), format!("{end}T00:00:00Z"));
    let from_api = summary(&backtest_async(&config, &flags(&start_text, &end_text)).await);
    let in_range: Vec<&str> = csv.lines().skip(1 + 100).take(10_500).collect();
    let local = dir.path("SPY.csv");
    std::fs::write(
        &local,
        format!("date,open,high,low,close,volume\n{}\n", in_range.join("\n")),
    )
    .unwrap();
    let from_disk = summary(
        &backtest_async(
            &config,
            &["--data".to_string(), local.display().to_string()],
        )
        .await,
    );
    assert_eq!(from_api["bars"], 10_500, "{from_api}");
    assert!(from_api["fills"].as_u64().unwrap() > 0, "{from_api}");
    for field in [
        "bars",
        "cycles",
        "fills",
        "trades",
        "finalEquity",
        "firstBar",
        "lastBar",
    ] {
        assert_eq!(from_api[field], from_disk[field], "{field}");
    }
    let pages = standin
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v2/stocks/SPY/bars")
        .collect::<Vec<_>>();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(
        pages[1]
            .query
            .as_deref()
            .unwrap_or_default()
            .contains("page_token=")
    );

    // An end before the start: refused naming the flag, nothing fetched.
    let before = standin.requests().len();
    let output = backtest_async(&config, &flags(&end_text, &start_text)).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--data-api-end: "), "{stderr}");
    assert_eq!(standin.requests().len(), before);
    assert!(
        !stderr.contains("secret-key-xyz"),
        "the secret key was printed"
    );
}

async fn get(server: &S3Server, key: &str) -> Vec<u8> {
    let location = S3Location {
        bucket: server.bucket.clone(),
        prefix: String::new(),
        endpoint: Some(server.endpoint.clone()),
        region: Some("us-east-1".into()),
        credentials_dir: server.credentials.clone(),
    };
    let bucket = store::open(&Destination::S3(location), false).unwrap();
    let path = object_store::path::Path::from(key);
    let object = bucket.get(&path).await.unwrap();
    object.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn the_results_artifact_goes_to_a_file_and_an_object_and_agrees_with_the_summary() {
    let server = S3Server::start();
    let dir = Scratch::new("bt-results");
    let config = config(&dir.0);
    // More bars than the curve keeps points: the sample must stride and keep the ends.
    let bars = 3000;
    let local = dir.path("SPY.csv");
    let csv = bars_csv(bars);
    std::fs::write(&local, &csv).unwrap();
    let file = dir.path("results.json");
    let key = "backtests/sma/uid-1/run-0.json";
    let mut flags = vec![
        "--data".to_string(),
        local.display().to_string(),
        "--results".to_string(),
        file.display().to_string(),
        "--results-s3-bucket".to_string(),
        server.bucket.clone(),
        "--results-s3-key".to_string(),
        key.to_string(),
        "--results-s3-endpoint".to_string(),
        server.endpoint.clone(),
        "--results-s3-credentials-dir".to_string(),
    ];
    flags.push(server.credentials.display().to_string());
    let output = backtest(&config, &flags);
    let summary = summary(&output);
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(&server.secret()),
        "the secret key was printed"
    );

    let written = std::fs::read(&file).unwrap();
    let uploaded = get(&server, key).await;
    assert_eq!(
        String::from_utf8_lossy(&written).trim_end(),
        String::from_utf8_lossy(&uploaded).trim_end()
    );
    let results: RunResults = serde_json::from_slice(&written).unwrap();
    assert_eq!(
        results.final_equity,
        summary["finalEquity"].as_f64().unwrap()
    );
    assert_eq!(results.trades, summary["trades"].as_u64().unwrap());
    assert_eq!(results.fill_count(), summary["fills"].as_u64().unwrap());
    assert!(results.trades > 0, "{summary}");
    assert_eq!(results.cycles, bars as u64);
    assert!(results.equity.len() <= MAX_CURVE_POINTS);
    assert!(results.equity.len() > MAX_CURVE_POINTS / 4);
    assert!(results.equity_every > 1);
    let first = results.equity.first().unwrap();
    let last = results.equity.last().unwrap();
    assert_eq!(serde_json::json!(first.time), summary["firstBar"]);
    assert_eq!(serde_json::json!(last.time), summary["lastBar"]);
    assert_eq!(last.equity, results.final_equity);
    assert_eq!(first.buy_and_hold, results.starting_equity);
    // Buy-and-hold at the last bar is the summary's buy-and-hold return on the cash.
    let hold = summary["buyAndHoldReturn"].as_f64().unwrap();
    let expected = results.starting_equity * (1.0 + hold);
    assert!(
        (last.buy_and_hold - expected).abs() < 1e-6 * expected,
        "{} vs {expected}",
        last.buy_and_hold
    );
    // The fills are the broker's, in time order, each priced.
    assert!(results.fills.windows(2).all(|w| w[0].time <= w[1].time));
    assert!(
        results
            .fills
            .iter()
            .all(|f| f.price > 0.0 && f.quantity > 0.0)
    );
    assert_eq!(results.fills[0].side, "buy");
}
