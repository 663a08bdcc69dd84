//! `agent-runtime backtest` throughput and memory: `cargo bench -p tradeplane-agent-runtime
//! --bench backtest` (part of `make bench`).
//!
//! Prints, on the same synthetic daily bars in one run: bars per second of the real binary
//! (`agent-runtime backtest`, the full pipeline with the four quant analysts) at 50,000 and
//! 1,000,000 bars against the 2,000,000 bars/s goal; its peak RSS at 1,000,000 bars against
//! the 64 MiB goal; and the same moving-average crossover run by the engine and by
//! backtesting.py, with the ratio against the 10× goal. backtesting.py is installed from PyPI
//! into a venv under `$TRADEPLANE_CACHE` (default `~/.cache/tradeplane`), never the
//! repository; without Python or the network that row says why and is skipped. Figures are
//! printed, never asserted. `TRADEPLANE_BENCH_BACKTEST_BARS` overrides the sizes (comma
//! separated).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const GOAL_BARS_PER_SECOND: f64 = 2_000_000.0;
const GOAL_RSS_MIB: f64 = 64.0;
const GOAL_RATIO: f64 = 10.0;
const CROSSOVER: (u32, u32) = (10, 30);

fn cache_dir() -> PathBuf {
    std::env::var_os("TRADEPLANE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tradeplane")))
        .unwrap_or_else(|| std::env::temp_dir().join("tradeplane"))
}

/// `n` daily bars of a deterministic random walk in pandas' layout (index column `date`).
fn write_bars(path: &Path, n: usize) -> BenchResult<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "date,open,high,low,close,volume")?;
    let start = chrono::NaiveDate::from_ymd_opt(1000, 1, 1).ok_or("start date")?;
    let (mut seed, mut close) = (7u64, 100.0_f64);
    for i in 0..n {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let step = ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.04;
        let open = close;
        close = (open * (1.0 + step)).clamp(1.0, 1e6);
        let day = start + chrono::Duration::days(i as i64);
        let (high, low) = (open.max(close) * 1.005, open.min(close) * 0.995);
        writeln!(out, "{day},{open:.4},{high:.4},{low:.4},{close:.4},1000")?;
    }
    out.flush()?;
    Ok(())
}

const QUANT_SEATS: &str = "  - {role: trend, kind: quant, method: trend}
  - {role: momentum, kind: quant, method: momentum}
  - {role: meanReversion, kind: quant, method: meanReversion, weight: 0.5}
  - {role: volatility, kind: quant, method: volatility, weight: 0.5}
";

fn crossover_seat() -> String {
    let (fast, slow) = CROSSOVER;
    format!(
        "  - role: trend\n    kind: quant\n    method: trend\n    params: {{fastPeriod: {fast}, \
         slowPeriod: {slow}, neutralBand: 0, baseConfidence: 1, spreadGain: 0, crossoverBonus: 0}}\n"
    )
}

fn write_config(path: &Path, seats: &str, min_confidence: f64, fraction: f64) -> BenchResult<()> {
    let text = format!(
        "apiVersion: runtime.tradeplane.io/v1alpha1
identity: {{namespace: bench, name: backtest}}
symbols: [SPY]
analysts:
{seats}decision: {{minConfidence: {min_confidence}, targetPositionFraction: {fraction}}}
broker: {{kind: paper, startingCash: 100000, commissionBps: 2, slippageBps: 0}}
"
    );
    std::fs::write(path, text)?;
    Ok(())
}

/// Runs the binary; its JSON summary.
fn backtest(config: &Path, data: &Path) -> BenchResult<serde_json::Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_agent-runtime"))
        .args([
            "--log-format",
            "text",
            "backtest",
            "--fill",
            "next-open",
            "--config",
        ])
        .arg(config)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "error")
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "backtest failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn number(summary: &serde_json::Value, key: &str) -> f64 {
    summary
        .get(key)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(f64::NAN)
}

/// A venv with backtesting.py, created once under the cache; its python.
fn backtesting_py() -> BenchResult<PathBuf> {
    let venv = cache_dir().join("venvs/backtesting-py");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import backtesting"])
        .output();
    if ready.is_ok_and(|o| o.status.success()) {
        return Ok(python);
    }
    let created = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status()?;
    if !created.success() {
        return Err("python3 -m venv failed".into());
    }
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "backtesting"])
        .status()?;
    if !installed.success() {
        return Err("pip install backtesting failed".into());
    }
    Ok(python)
}

fn reference_run(data: &Path) -> BenchResult<serde_json::Value> {
    let python = backtesting_py()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/backtesting_py.py");
    let (fast, slow) = CROSSOVER;
    let output = Command::new(python)
        .arg(script)
        .arg(data)
        .args([
            fast.to_string(),
            slow.to_string(),
            "100000".into(),
            "0.0002".into(),
        ])
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "backtesting.py: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let last = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    Ok(serde_json::from_str(&last)?)
}

fn sizes() -> Vec<usize> {
    std::env::var("TRADEPLANE_BENCH_BACKTEST_BARS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![50_000, 1_000_000])
}

fn main() -> BenchResult<()> {
    let dir = std::env::temp_dir().join(format!("tp-bench-backtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (quant, crossover) = (dir.join("quant.yaml"), dir.join("crossover.yaml"));
    write_config(&quant, QUANT_SEATS, 0.3, 0.4)?;
    write_config(&crossover, &crossover_seat(), 0.5, 0.95)?;
    println!("== agent-runtime backtest (full pipeline, next-open fills) ==");
    let mut largest = None;
    for bars in sizes() {
        // The file's name is the symbol's.
        let size_dir = dir.join(bars.to_string());
        std::fs::create_dir_all(&size_dir)?;
        let data = size_dir.join("SPY.csv");
        write_bars(&data, bars)?;
        let summary = backtest(&quant, &data)?;
        let rate = number(&summary, "barsPerSecond");
        let rss = number(&summary, "peakRssBytes") / (1024.0 * 1024.0);
        println!(
            "{bars:>9} bars, four quant analysts: {rate:>12.0} bars/s (goal {GOAL_BARS_PER_SECOND:.0}), \
             peak RSS {rss:.1} MiB (goal ≤ {GOAL_RSS_MIB} MiB), {} trades",
            number(&summary, "trades")
        );
        largest = Some(data);
    }
    if let Some(data) = largest {
        compare_with_backtesting_py(&crossover, &data)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn compare_with_backtesting_py(config: &Path, data: &Path) -> BenchResult<()> {
    println!(
        "== the same SMA({},{}) crossover, same bars ==",
        CROSSOVER.0, CROSSOVER.1
    );
    let ours = backtest(config, data)?;
    let rate = number(&ours, "barsPerSecond");
    println!(
        "agent-runtime backtest: {rate:>12.0} bars/s, {} trades, final equity {:.2}",
        number(&ours, "trades"),
        number(&ours, "finalEquity")
    );
    match reference_run(data) {
        Ok(theirs) => {
            let their_rate = number(&theirs, "bars_per_second");
            println!(
                "backtesting.py:         {their_rate:>12.0} bars/s, {} trades, final equity {:.2}",
                number(&theirs, "trades"),
                number(&theirs, "final_equity")
            );
            println!("ratio: {:.1}× (goal ≥ {GOAL_RATIO}×)", rate / their_rate);
        }
        Err(err) => println!("backtesting.py: skipped ({err})"),
    }
    Ok(())
}
