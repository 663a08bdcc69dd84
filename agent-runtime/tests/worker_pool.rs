//! The worker mode over real HTTP: the in-flight limit and its gauge, the trader-side pool
//! client (including its retry of a busy replica), a worker built from config against the
//! OpenAI stand-in, and graceful shutdown.

#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

mod llm_support;

use std::sync::Arc;

use agent_runtime::agents::llm::{LlmEvent, Seat};
use agent_runtime::agents::{Analyst, Snapshot};
use agent_runtime::config::{
    AgentPoolEndpoint, AnalystConfig, AnalystKind, CONFIG_API_VERSION, LlmFallback, QuantMethod,
    RuntimeConfig,
};
use agent_runtime::domain::{AnalystReport, Signal};
use agent_runtime::worker::{self, POOL_FALLBACK_SOURCE, PoolClient, Worker};
use futures::FutureExt;
use futures::future::BoxFuture;
use llm_support::{MODEL, fast_retries, provider, seat, snapshot};
use prometheus::Registry;
use standins::openai::{OpenAiStandin, Reply};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// An analyst that reports only when the test releases it, and says when it started.
struct Gate {
    entered: mpsc::UnboundedSender<()>,
    release: Arc<Semaphore>,
}

impl Analyst for Gate {
    fn role(&self) -> &str {
        "gate"
    }

    fn analyze<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, AnalystReport> {
        async move {
            let _ = self.entered.send(());
            self.release.acquire().await.unwrap().forget();
            AnalystReport {
                role: "gate".into(),
                source: "test:gate".into(),
                signal: Signal::Bullish,
                confidence: 0.5,
                rationale: format!("{} bars", snapshot.bars.len()),
                usage: None,
            }
        }
        .boxed()
    }
}

struct Running {
    url: String,
    registry: Registry,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<Result<(), worker::WorkerError>>,
}

async fn start(worker_for: impl FnOnce(Registry) -> Worker) -> Running {
    let registry = Registry::new_custom(Some("tradeplane".into()), None).unwrap();
    let worker = worker_for(registry.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(worker::serve(listener, worker, async move {
        let _ = stopped.await;
    }));
    Running {
        url,
        registry,
        stop,
        served,
    }
}

fn gated(
    max_in_flight: u32,
) -> (
    impl FnOnce(Registry) -> Worker,
    mpsc::UnboundedReceiver<()>,
    Arc<Semaphore>,
) {
    let (entered, entered_rx) = mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let gate = Gate {
        entered,
        release: release.clone(),
    };
    let build = move |registry| {
        Worker::new(vec![Seat::Plain(Box::new(gate))], max_in_flight, registry).unwrap()
    };
    (build, entered_rx, release)
}

fn client(url: &str, timeout_seconds: u64) -> PoolClient {
    let endpoint = AgentPoolEndpoint {
        url: url.into(),
        timeout_seconds,
    };
    PoolClient::new(&endpoint, "trading/momentum").unwrap()
}

async fn metric(url: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn requests_beyond_max_in_flight_get_429_and_the_gauge_follows() {
    let (build, mut entered, release) = gated(2);
    let worker = start(build).await;
    let pool = client(&worker.url, 30);
    let snapshot = snapshot();
    let running: Vec<_> = (0..2)
        .map(|_| {
            let (pool, snapshot) = (pool.clone(), snapshot.clone());
            tokio::spawn(async move { pool.analyze(&snapshot).await })
        })
        .collect();
    for _ in 0..2 {
        entered.recv().await.unwrap();
    }
    assert_eq!(
        metric(&worker.url, "tradeplane_worker_inflight_analyses").await,
        Some(2.0)
    );

    let refused = reqwest::Client::new()
        .post(format!("{}/v1/analyses", worker.url))
        .json(&serde_json::json!({"strategy": "s", "symbol": "AAPL", "bars": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy");

    worker.stop.send(()).unwrap(); // in-flight analyses must still finish
    release.add_permits(2);
    for task in running {
        let analysis = task.await.unwrap().unwrap();
        assert_eq!(analysis.reports.len(), 1);
        assert_eq!(analysis.reports[0].rationale, "60 bars");
    }
    worker.served.await.unwrap().unwrap();
    let busy = worker
        .registry
        .gather()
        .iter()
        .find(|f| f.name() == "tradeplane_worker_inflight_analyses")
        .map(|f| f.get_metric()[0].get_gauge().get_value());
    assert_eq!(busy, Some(0.0));
}

#[tokio::test]
async fn the_pool_client_retries_a_busy_replica() {
    let (build, mut entered, release) = gated(1);
    let worker = start(build).await;
    let pool = client(&worker.url, 30);
    let snapshot = snapshot();
    let first = {
        let (pool, snapshot) = (pool.clone(), snapshot.clone());
        tokio::spawn(async move { pool.analyze(&snapshot).await })
    };
    entered.recv().await.unwrap();
    let second = {
        let (pool, snapshot) = (pool.clone(), snapshot.clone());
        tokio::spawn(async move { pool.analyze(&snapshot).await })
    };
    // The second is refused once before the first is let go.
    while metric(
        &worker.url,
        "tradeplane_worker_analyses_total{outcome=\"busy\"}",
    )
    .await
        != Some(1.0)
    {
        tokio::task::yield_now().await;
    }
    release.add_permits(2);

    assert!(first.await.unwrap().is_ok());
    let second = second.await.unwrap().unwrap();
    assert_eq!(second.reports[0].source, "test:gate".into());
}

#[tokio::test]
async fn a_pool_that_cannot_answer_yields_a_hold_report() {
    let (build, _entered, _release) = gated(1);
    let worker = start(build).await;
    let url = worker.url.clone();
    worker.stop.send(()).unwrap();
    worker.served.await.unwrap().unwrap();

    let analysis = client(&url, 2).reports_or_hold(&snapshot()).await;

    assert_eq!(analysis.reports.len(), 1);
    let report = &analysis.reports[0];
    assert_eq!(report.source, POOL_FALLBACK_SOURCE.into());
    assert_eq!((report.signal, report.confidence), (Signal::Neutral, 0.0));
}

fn pool_config(llm_url: &str) -> RuntimeConfig {
    let mut config: RuntimeConfig = serde_json::from_value(serde_json::json!({
        "apiVersion": CONFIG_API_VERSION,
        "identity": {"namespace": "trading", "name": "research"},
    }))
    .unwrap();
    config.providers = vec![provider("local", llm_url)];
    config.analysts = vec![
        seat("technical", &["local"], LlmFallback::Hold),
        AnalystConfig {
            role: "trend".into(),
            kind: AnalystKind::Quant {
                method: QuantMethod::Trend,
                params: Default::default(),
            },
            weight: 1.0,
        },
    ];
    config
}

#[tokio::test]
async fn a_worker_from_config_serves_llm_and_quant_reports_with_events() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::content("{not json"));
    llm.push(Reply::verdict("bearish", 0.65, "overbought"));
    let config = pool_config(&llm.base_url());
    let worker =
        start(|registry| Worker::from_config(&config, &registry, fast_retries()).unwrap()).await;
    for probe in ["healthz", "readyz"] {
        let status = reqwest::get(format!("{}/{probe}", worker.url))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{probe}");
    }

    let analysis = client(&worker.url, 10).analyze(&snapshot()).await.unwrap();

    let roles: Vec<_> = analysis
        .reports
        .iter()
        .map(|r| (r.role.as_ref(), r.source.as_ref()))
        .collect();
    let llm_source = format!("llm:local/{MODEL}");
    assert_eq!(
        roles,
        vec![("technical", llm_source.as_str()), ("trend", "quant:trend")]
    );
    assert_eq!(analysis.reports[0].signal, Signal::Bearish);
    assert!(
        matches!(analysis.events.as_slice(), [LlmEvent::Malformed { provider, .. }] if provider == "local")
    );
    let user = llm.requests()[1].user_prompt().unwrap().to_string();
    assert!(
        user.contains("Symbol: AAPL") && user.contains("Last close: 159.0000"),
        "{user}"
    );
    let calls = metric(
        &worker.url,
        "tradeplane_llm_calls_total{outcome=\"ok\",provider=\"local\",role=\"technical\"}",
    )
    .await;
    assert_eq!(calls, Some(1.0));
}
