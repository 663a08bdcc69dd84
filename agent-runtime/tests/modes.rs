//! The binary's modes as a pod runs them: `trader` and `cycle` serve `/healthz`, `/readyz`
//! and `/metrics`, log JSON lines, never log a secret, and stop cleanly on SIGTERM; `cycle`
//! against the Alpaca stand-in reads bars from its market data API, asks its clock, and
//! trades with client order ids.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod journal_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use agent_runtime::journal::Journal;
use chrono::Utc;
use e2e::http::{free_port, wait_ready};
use journal_support::TempDir;
use standins::alpaca::{AlpacaStandin, StandinBar};
use standins::openai::OpenAiStandin;

const KEY_ID: &str = "PKTESTKEYID7Q2W";
const SECRET_KEY: &str = "secret-never-logged-5d1c9b";
const LLM_KEY: &str = "sk-never-logged-8e4f2a";
/// How long a runtime may take to answer `/readyz` with 200.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running `agent-runtime`, its output going to files (a pipe nobody reads could fill up
/// and stall it).
struct Runtime {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Runtime {
    fn start(dir: &Path, tag: &str, args: &[&str]) -> Self {
        let stdout = dir.join(format!("{tag}.out"));
        let stderr = dir.join(format!("{tag}.err"));
        let child = Command::new(env!("CARGO_BIN_EXE_agent-runtime"))
            .args(args)
            // As chatty as it gets, our code and the HTTP stack both: a secret in any
            // event at any level fails the test.
            .env("RUST_LOG", "trace")
            .env_remove("TRADEPLANE_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            stdout,
            stderr,
        }
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {timeout:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn output(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            self.logs()
        )
    }

    /// Waits until the logs contain `text`.
    async fn wait_for_log(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.logs().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every line of the logs is a JSON object with a level and a message, and no secret
    /// appears anywhere in the output.
    fn check_logs(&self) {
        let logs = self.logs();
        assert!(!logs.is_empty());
        for line in logs.lines().filter(|l| !l.trim().is_empty()) {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            assert!(event["level"].is_string(), "{line}");
            assert!(event.get("timestamp").is_some(), "{line}");
        }
        let output = self.output();
        for secret in [KEY_ID, SECRET_KEY, LLM_KEY] {
            assert!(!output.contains(secret), "{secret} was logged");
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

#[tokio::test(flavor = "multi_thread")]
async fn trader_serves_probes_and_metrics_logs_json_and_stops_on_sigterm() {
    let dir = TempDir::new("modes-trader");
    let port = free_port().unwrap();
    let db = dir.0.join("journal.db");
    let config = dir.0.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: runtime.tradeplane.io/v1alpha1\n\
             identity: {{namespace: test, name: trader}}\n\
             symbols: [AAPL, MSFT]\n\
             schedule: {{intervalSeconds: 1}}\n\
             analysts: [{{role: trend, kind: quant, method: trend}}, {{role: momentum, kind: quant, method: momentum}}]\n\
             journal: {{backend: sqlite, path: \"{}\"}}\n\
             server: {{listen: \"127.0.0.1:{port}\"}}\n",
            db.display()
        ),
    )
    .unwrap();
    let mut trader = Runtime::start(
        &dir.0,
        "trader",
        &["trader", "--config", config.to_str().unwrap()],
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/readyz"), READY_WITHIN, || trader.logs())
        .await
        .unwrap();

    assert_eq!(
        get(&format!("{base}/healthz")).await.unwrap(),
        (200, "ok".into())
    );
    trader
        .wait_for_log("cycle complete", Duration::from_secs(20))
        .await;
    let (status, metrics) = get(&format!("{base}/metrics")).await.unwrap();
    assert_eq!(status, 200);
    for name in [
        "tradeplane_cycles_total{outcome=\"ok\"}",
        "tradeplane_decisions_total{action=",
        "tradeplane_equity_usd ",
        "tradeplane_drawdown_ratio ",
        "tradeplane_daily_pnl_usd ",
        "tradeplane_broker_up 1",
        "tradeplane_kill_switch_tripped{switch=\"max_drawdown\"} 0",
        "tradeplane_trading_state 0",
        "tradeplane_leader 1",
    ] {
        assert!(metrics.contains(name), "no {name} in\n{metrics}");
    }

    trader.sigterm();
    let status = trader.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}\n{}", trader.logs());
    let logs = trader.logs();
    assert!(logs.contains("SIGTERM: shutting down"), "{logs}");
    assert!(logs.contains("trader stopped"), "{logs}");
    trader.check_logs();
    assert!(
        get(&format!("{base}/healthz")).await.is_none(),
        "the server stopped"
    );

    // What it did is in the journal.
    let journal = Journal::open_sqlite(&db).await.unwrap();
    assert!(!journal.equity_curve(None).await.unwrap().is_empty());
    journal.close().await;
}

/// 120 daily bars rising from 100, the last one yesterday: the trend analyst says buy.
fn rising_bars() -> Vec<StandinBar> {
    let last = Utc::now()
        .date_naive()
        .and_hms_opt(5, 0, 0)
        .unwrap()
        .and_utc()
        - chrono::Duration::days(1);
    (0..120)
        .map(|i| {
            let close = 100.0 + f64::from(i) * 0.5;
            StandinBar {
                time: last - chrono::Duration::days(i64::from(119 - i)),
                open: close - 0.2,
                high: close + 0.6,
                low: close - 0.6,
                close,
                volume: 10_000.0,
            }
        })
        .collect()
}

/// The key files and journal of a strategy on the Alpaca stand-in.
struct Files {
    key_id: PathBuf,
    secret: PathBuf,
    llm_key: PathBuf,
    db: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> Self {
        Self {
            key_id: write_secret(dir, "key-id", KEY_ID),
            secret: write_secret(dir, "secret-key", SECRET_KEY),
            llm_key: write_secret(dir, "llm-key", LLM_KEY),
            db: dir.join("journal.db"),
        }
    }
}

/// A strategy trading AAPL on the Alpaca stand-in (its bars, its clock), with a trend seat
/// and an LLM seat on the OpenAI stand-in.
fn alpaca_config(
    alpaca: &AlpacaStandin,
    llm: &OpenAiStandin,
    files: &Files,
    secret: &Path,
    schedule: &str,
    port: u16,
) -> String {
    format!(
        "apiVersion: runtime.tradeplane.io/v1alpha1\n\
         identity: {{namespace: test, name: cron}}\n\
         symbols: [AAPL]\n\
         schedule: {schedule}\n\
         marketData: {{source: broker, baseUrl: \"{url}\", timeframe: 1Day, historyBars: 60}}\n\
         analysts:\n\
         - {{role: trend, kind: quant, method: trend, weight: 3}}\n\
         - {{role: news, kind: llm, providers: [local], model: test-model}}\n\
         providers: [{{name: local, baseUrl: \"{llm}\", apiKeyFile: \"{llm_key}\"}}]\n\
         decision: {{minConfidence: 0.05, targetPositionFraction: 0.2}}\n\
         broker: {{kind: alpaca, baseUrl: \"{url}\", keyIdFile: \"{key_id}\", secretKeyFile: \"{secret}\"}}\n\
         journal: {{backend: sqlite, path: \"{db}\"}}\n\
         server: {{listen: \"127.0.0.1:{port}\"}}\n",
        url = alpaca.base_url(),
        llm = llm.base_url(),
        llm_key = files.llm_key.display(),
        key_id = files.key_id.display(),
        secret = secret.display(),
        db = files.db.display(),
    )
}

fn write_secret(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn cycle_against_the_alpaca_standin_obeys_its_clock_trades_once_and_keeps_keys_secret() {
    let alpaca = AlpacaStandin::start(KEY_ID, SECRET_KEY).await.unwrap();
    let bars = rising_bars();
    alpaca.set_price("AAPL", bars.last().unwrap().close);
    alpaca.set_bars("AAPL", bars);
    let llm = OpenAiStandin::start().await.unwrap();
    let dir = TempDir::new("modes-cycle");
    let port = free_port().unwrap();
    let files = Files::new(&dir.0);
    let config = |secret: &Path| {
        alpaca_config(
            &alpaca,
            &llm,
            &files,
            secret,
            "{cron: \"*/5 * * * *\", timeZone: America/New_York, marketHoursOnly: true}",
            port,
        )
    };
    let path = dir.0.join("config.yaml");
    std::fs::write(&path, config(&files.secret)).unwrap();
    let args = ["cycle", "--config", path.to_str().unwrap()];

    // Market closed: the cycle asks the clock, trades nothing, and succeeds.
    alpaca.set_clock_open(false);
    let mut closed = Runtime::start(&dir.0, "closed", &args);
    assert!(
        closed.wait(Duration::from_secs(30)).await.success(),
        "{}",
        closed.logs()
    );
    assert!(closed.logs().contains("market closed"), "{}", closed.logs());
    assert!(alpaca.requests().iter().any(|r| r.path == "/v2/clock"));
    assert!(alpaca.orders().is_empty());
    closed.check_logs();

    // Market open: bars from the data API, one buy with a derived client order id.
    alpaca.set_clock_open(true);
    let mut open = Runtime::start(&dir.0, "open", &args);
    assert!(
        open.wait(Duration::from_secs(30)).await.success(),
        "{}",
        open.logs()
    );
    assert!(
        alpaca
            .requests()
            .iter()
            .any(|r| r.path == "/v2/stocks/AAPL/bars")
    );
    let orders = alpaca.orders();
    assert_eq!(orders.len(), 1, "{}", open.logs());
    assert_eq!(orders[0].side, "buy");
    assert_eq!(orders[0].client_order_id.len(), 48);
    assert!(orders[0].client_order_id.starts_with("tp1-"));
    let asked = llm.requests();
    assert_eq!(asked.len(), 1, "the LLM seat was asked");
    assert_eq!(
        asked[0].header("authorization"),
        Some(format!("Bearer {LLM_KEY}").as_str())
    );
    open.check_logs();

    // Refused credentials: it keeps retrying reconciliation (not ready, not trading), says
    // why without the keys, and a SIGTERM ends it.
    let wrong = write_secret(&dir.0, "wrong-secret", "wrong-secret-value");
    std::fs::write(&path, config(&wrong)).unwrap();
    let mut refused = Runtime::start(&dir.0, "refused", &args);
    refused
        .wait_for_log("cannot reconcile with the broker", Duration::from_secs(30))
        .await;
    let (status, body) = get(&format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("not reconciled"), "{body}");
    refused.sigterm();
    let status = refused.wait(Duration::from_secs(15)).await;
    assert!(!status.success(), "a cycle that never ran is a failure");
    assert!(refused.logs().contains("SIGTERM"), "{}", refused.logs());
    refused.check_logs();
    assert_eq!(alpaca.orders().len(), 1, "nothing more was placed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trader_waiting_for_the_open_skips_the_slot_and_stays_ready() {
    let alpaca = AlpacaStandin::start(KEY_ID, SECRET_KEY).await.unwrap();
    alpaca.set_bars("AAPL", rising_bars());
    alpaca.set_price("AAPL", 159.5);
    alpaca.set_clock_open(false);
    let llm = OpenAiStandin::start().await.unwrap();
    let dir = TempDir::new("modes-closed");
    let files = Files::new(&dir.0);
    let port = free_port().unwrap();
    let path = dir.0.join("config.yaml");
    let schedule = "{intervalSeconds: 1, marketHoursOnly: true}";
    std::fs::write(
        &path,
        alpaca_config(&alpaca, &llm, &files, &files.secret, schedule, port),
    )
    .unwrap();
    let mut trader = Runtime::start(
        &dir.0,
        "trader",
        &["trader", "--config", path.to_str().unwrap()],
    );
    let base = format!("http://127.0.0.1:{port}");
    trader
        .wait_for_log("market closed", Duration::from_secs(30))
        .await;
    // The clock said the market opens in 16 hours: the trader sleeps until then, ready, and
    // does not ask the clock at every one-second slot meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_ready(&format!("{base}/readyz"), READY_WITHIN, || trader.logs())
        .await
        .unwrap();
    let clock_calls = alpaca
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/clock")
        .count();
    assert!(clock_calls <= 3, "{clock_calls} clock calls");
    let (_, metrics) = get(&format!("{base}/metrics")).await.unwrap();
    assert!(
        metrics.contains("tradeplane_cycles_total{outcome=\"skipped\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tradeplane_cycles_total{outcome=\"ok\"} 0"),
        "{metrics}"
    );
    assert!(alpaca.orders().is_empty());
    assert!(llm.requests().is_empty(), "no analysis while closed");
    trader.sigterm();
    assert!(
        trader.wait(Duration::from_secs(15)).await.success(),
        "{}",
        trader.logs()
    );
    trader.check_logs();
}
