//! The operator binary: flags, logs, the health and metrics server, leader election, and the
//! three controllers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::{Parser, ValueEnum};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tradeplane_operator::api::TradingStrategy;
use tradeplane_operator::controllers::feed::Feed;
use tradeplane_operator::controllers::scope::Scope;
use tradeplane_operator::controllers::{
    Context, DEFAULT_CONCURRENCY, DEFAULT_RUNTIME_IMAGE, Settings, agent_pool, backtest,
    broker_account, trading_strategy,
};
use tradeplane_operator::leader::LeaderElector;
use tradeplane_operator::telemetry::Metrics;

#[derive(Parser, Debug)]
#[command(
    name = "tradeplane-operator",
    version,
    about = "Reconciles TradingStrategies, BrokerAccounts and AgentPools"
)]
struct Flags {
    /// Namespaces to watch, comma-separated; empty watches all.
    #[arg(
        long,
        env = "TRADEPLANE_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    namespaces: Vec<String>,
    /// Log format: `json` for clusters, `text` for a terminal.
    #[arg(long, env = "TRADEPLANE_LOG_FORMAT", default_value = "json")]
    log_format: LogFormat,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "TRADEPLANE_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Image of the runtime pods when a resource names none.
    #[arg(long, env = "TRADEPLANE_RUNTIME_IMAGE", default_value = DEFAULT_RUNTIME_IMAGE)]
    runtime_image: String,
    /// Reconciles of one kind that run at the same time.
    #[arg(long, env = "TRADEPLANE_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY,
          value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Elect a leader through a Lease so several replicas can run; only the leader reconciles.
    #[arg(long, env = "TRADEPLANE_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Namespace of the leader Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(
        long,
        env = "TRADEPLANE_LEASE_NAME",
        default_value = "tradeplane-operator"
    )]
    lease_name: String,
    /// Seconds a leader holds the Lease without renewing it.
    #[arg(long, default_value_t = 15)]
    lease_seconds: u64,
    /// This replica's name in the Lease and in Events (the pod name in a cluster).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    init_logs(flags.log_format);
    let identity = flags
        .identity
        .clone()
        .unwrap_or_else(|| format!("tradeplane-operator-{}", std::process::id()));
    let metrics = Arc::new(Metrics::new()?);
    let client = counting_client(&metrics).await?;
    let settings = Settings {
        runtime_image: flags.runtime_image.clone(),
        concurrency: flags.concurrency,
    };
    let context = Arc::new(Context::new(
        client.clone(),
        metrics.clone(),
        settings,
        Some(identity.clone()),
    ));
    serve(flags.listen, &identity, metrics.clone()).await?;
    let stop_rx = stop_on_signal();

    let elector = flags.leader_election.then(|| {
        LeaderElector::new(
            client.clone(),
            &flags.lease_namespace,
            &flags.lease_name,
            &identity,
            Duration::from_secs(flags.lease_seconds),
        )
    });
    if let Some(elector) = &elector {
        tracing::info!(lease = %flags.lease_name, "waiting to become leader");
        if !elector.acquire(&stop_rx).await {
            return Ok(());
        }
    }
    lead(
        &context,
        &metrics,
        &flags.namespaces,
        elector.as_ref(),
        &stop_rx,
    )
    .await
}

/// JSON lines or text; `RUST_LOG` overrides the default filter.
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube=warn".into());
    match format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
}

/// The Kubernetes client. Every request it sends is counted, so "a no-op reconcile writes
/// nothing" and "requests per reconcile" can be read off /metrics.
async fn counting_client(metrics: &Arc<Metrics>) -> anyhow::Result<kube::Client> {
    let counting = tower::util::MapRequestLayer::new({
        let metrics = metrics.clone();
        move |request: http::Request<kube::client::Body>| {
            metrics.api_request(request.method().as_str());
            request
        }
    });
    let config = kube::Config::infer().await?;
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&counting)
        .build())
}

/// Serves `/healthz`, `/readyz` and `/metrics` in the background, from before the Lease is
/// won: a standby is healthy too. Fails only when the address cannot be bound.
async fn serve(listen: SocketAddr, identity: &str, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, %identity, "serving /healthz, /readyz, /metrics");
    let server = axum::serve(listener, router(metrics));
    tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::error!(%error, "the health and metrics server stopped");
        }
    });
    Ok(())
}

/// A flag that turns true once, on SIGTERM or SIGINT.
fn stop_on_signal() -> watch::Receiver<bool> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    stop_rx
}

/// Reconciles while this replica leads: until the signal, or until the Lease is lost. Then
/// waits for the controllers to stop and gives the Lease back.
async fn lead(
    context: &Arc<Context>,
    metrics: &Metrics,
    namespaces: &[String],
    elector: Option<&LeaderElector>,
    stop_rx: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    metrics.set_leader(true);
    tracing::info!("leading: reconciling");
    let (lost_tx, lost_rx) = watch::channel(false);
    let controllers = spawn_controllers(context, &watched(namespaces), stop_rx, &lost_rx);
    if let Some(elector) = elector {
        elector.hold(stop_rx).await;
        let _ = lost_tx.send(true);
    }
    for controller in controllers {
        let _ = controller.await;
    }
    metrics.set_leader(false);
    if let Some(elector) = elector
        && let Err(error) = elector.release().await
    {
        tracing::warn!(%error, "could not release the leader Lease; a standby takes over when it expires");
    }
    if *stop_rx.borrow() {
        Ok(())
    } else {
        // Lost leadership: exit non-zero so the pod restarts as a standby with clean state.
        anyhow::bail!("lost the leader Lease")
    }
}

/// The namespaces to watch, as the controllers take them: `None` watches all, which is what
/// an empty `--namespaces` asks for.
fn watched(namespaces: &[String]) -> Vec<Option<String>> {
    if namespaces.iter().all(|n| n.is_empty()) {
        vec![None]
    } else {
        namespaces
            .iter()
            .filter(|n| !n.is_empty())
            .cloned()
            .map(Some)
            .collect()
    }
}

/// The four controllers for each watched namespace. They stop on the signal, or when
/// leadership is lost.
fn spawn_controllers(
    context: &Arc<Context>,
    namespaces: &[Option<String>],
    stop: &watch::Receiver<bool>,
    lost: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let shutdown = || stopped(stop.clone(), lost.clone());
    let mut controllers = Vec::new();
    for namespace in namespaces {
        // One watch of the strategies for both controllers that follow them.
        let strategies: std::sync::Arc<Feed<TradingStrategy>> =
            Feed::start(Scope::new(namespace.as_deref()).api(&context.client));
        controllers.push(tokio::spawn({
            let (context, shutdown, namespace) = (context.clone(), shutdown(), namespace.clone());
            let strategies = strategies.clone();
            async move {
                trading_strategy::run_on(context, namespace.as_deref(), &strategies, shutdown).await
            }
        }));
        controllers.push(tokio::spawn({
            let (context, shutdown, namespace) = (context.clone(), shutdown(), namespace.clone());
            async move {
                broker_account::run_on(context, namespace.as_deref(), &strategies, shutdown).await
            }
        }));
        controllers.push(tokio::spawn({
            let (context, shutdown, namespace) = (context.clone(), shutdown(), namespace.clone());
            async move { agent_pool::run(context, namespace.as_deref(), shutdown).await }
        }));
        controllers.push(tokio::spawn({
            let (context, shutdown, namespace) = (context.clone(), shutdown(), namespace.clone());
            async move { backtest::run(context, namespace.as_deref(), shutdown).await }
        }));
    }
    controllers
}

/// Resolves when either the stop signal or the loss of leadership fires.
async fn stopped(mut stop: watch::Receiver<bool>, mut lost: watch::Receiver<bool>) {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => {}
        _ = lost.wait_for(|l| *l) => {}
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        // A standby is ready too: it is healthy and waiting for the Lease.
        .route("/readyz", get(|| async { "ok" }))
        .route("/metrics", get(|State(metrics): State<Arc<Metrics>>| async move { (StatusCode::OK, metrics.render()) }))
        .with_state(metrics)
}
