//! Worker throughput per core, excluding LLM time: `cargo bench -p tradeplane-agent-runtime`.
//!
//! One worker replica (the four quant analysts as its seats, so the figure is the runtime's
//! own cost — HTTP, JSON, the in-flight limit, the analysts — not a model's latency) is served
//! from a single-threaded runtime, i.e. one core. Clients on another thread keep
//! [`CONNECTIONS`] requests in flight, each with a 60-bar snapshot, for [`WINDOW`]; the
//! median over [`RUNS`] windows of the answered requests per second is printed, with the
//! latency median. An AgentPool's HPA target (in-flight analyses per replica) and its replica
//! count can be sized from it. Printed, not asserted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent_runtime::agents::llm::Seat;
use agent_runtime::agents::quant::quant_analyst;
use agent_runtime::config::QuantMethod;
use agent_runtime::market::synthetic;
use agent_runtime::worker::{ANALYSES_PATH, AnalysisRequest, Worker, serve};

const CONNECTIONS: usize = 16;
const WINDOW: Duration = Duration::from_secs(3);
const RUNS: usize = 5;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Starts a worker on its own single-threaded runtime (one core); returns its URL and a
/// handle that stops it when dropped.
fn start_worker() -> BenchResult<(String, tokio::sync::oneshot::Sender<()>)> {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let run = || -> BenchResult<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let seats = [
                    QuantMethod::Trend,
                    QuantMethod::Momentum,
                    QuantMethod::MeanReversion,
                    QuantMethod::Volatility,
                ]
                .into_iter()
                .map(|method| Seat::Plain(quant_analyst(format!("{method:?}"), method)))
                .collect();
                let worker = Worker::new(seats, 1_024, prometheus::Registry::new())?;
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                url_tx.send(format!("http://{}{ANALYSES_PATH}", listener.local_addr()?))?;
                serve(listener, worker, async move {
                    let _ = stop_rx.await;
                })
                .await?;
                Ok(())
            })
        };
        if let Err(err) = run() {
            eprintln!("worker failed: {err}");
        }
    });
    let url = url_rx.recv_timeout(Duration::from_secs(10))?;
    Ok((url, stop_tx))
}

/// Requests answered per second over one window, and their median latency.
async fn window(client: &reqwest::Client, url: &str, body: Arc<Vec<u8>>) -> (f64, Duration) {
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.to_string(), body.clone());
            let (done, answered) = (done.clone(), answered.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone())
                        .send()
                        .await;
                    if let Ok(response) = response
                        && response.status().is_success()
                        && response.bytes().await.is_ok()
                    {
                        answered.fetch_add(1, Ordering::Relaxed);
                        latencies.push(sent.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(WINDOW).await;
    done.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let latency = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    (
        answered.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        latency,
    )
}

fn main() -> BenchResult<()> {
    let (url, _stop) = start_worker()?;
    let symbols = vec!["AAPL".to_string()];
    let bars = synthetic::generate(&symbols, synthetic::default_start(), 60)
        .remove("AAPL")
        .unwrap_or_default();
    let request = AnalysisRequest {
        strategy: "bench/worker".into(),
        symbol: "AAPL".into(),
        bars,
        position: None,
        strategy_budget_usd: None,
    };
    let body = Arc::new(serde_json::to_vec(&request)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()?;
    runtime.block_on(async {
        // Warm up connections and caches.
        let _ = window(&client, &url, body.clone()).await;
        let mut rates = Vec::new();
        let mut latencies = Vec::new();
        for _ in 0..RUNS {
            let (rate, latency) = window(&client, &url, body.clone()).await;
            rates.push(rate);
            latencies.push(latency);
        }
        rates.sort_by(f64::total_cmp);
        latencies.sort();
        println!(
            "== worker: one replica on one core, quant seats, {CONNECTIONS} requests in flight =="
        );
        println!(
            "{:>9.0} analyses/s per core (median of {RUNS} × {WINDOW:?}), median latency {:.2?}",
            rates[RUNS / 2],
            latencies[RUNS / 2],
        );
    });
    Ok(())
}
