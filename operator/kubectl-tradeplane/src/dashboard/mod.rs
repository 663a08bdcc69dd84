//! `dashboard`: a web console served on this machine with the user's kubeconfig, after
//! `kubectl argo rollouts dashboard`. Every read and every action is a request of the user's
//! to the API server (or, for the journal, through its service proxy), so Kubernetes RBAC is
//! the whole permission model: the console holds no credential of its own and adds no power.
//!
//! Layout: [`guard`] who may ask (Host, token, Origin); [`handlers`] the JSON endpoints, the
//! live feed and the actions, each a thin call into the plugin's own functions; [`rows`] the
//! overview's row (pure); [`backtests`] the Backtests' rows and results; [`assets`] the
//! page, embedded in the binary.

pub mod assets;
pub mod backtests;
pub mod error;
pub mod guard;
pub mod handlers;
pub mod resources;
pub mod rows;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use clap::Args;
use kube::Client;
use tokio::net::TcpListener;

use crate::cluster::Target;
use crate::error::Error;

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The local port to serve on; 0 picks a free one.
    #[arg(long, default_value_t = 9898)]
    pub port: u16,
    /// The address to listen on. Default: 127.0.0.1 (this machine only). Another address
    /// lets others on the network reach the console, acting as you: give it only on purpose.
    #[arg(long)]
    pub address: Option<IpAddr>,
    /// Every namespace you can read, instead of one.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

/// Which strategies the console shows and acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

impl Scope {
    /// Whether `namespace` is within reach; outside it, requests are refused so the console
    /// shows what it was started for and nothing else.
    pub fn covers(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespace(n) => n == namespace,
        }
    }
}

/// What every handler shares.
pub struct Console {
    pub client: Client,
    pub scope: Scope,
    pub token: String,
    /// The Host values requests must carry (guard::allowed_hosts).
    pub hosts: Vec<String>,
}

impl Console {
    pub fn new(client: Client, scope: Scope, bound: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            client,
            scope,
            token: guard::new_token(),
            hosts: guard::allowed_hosts(bound),
        })
    }

    pub fn target(&self, namespace: &str) -> Target {
        Target::new(self.client.clone(), namespace)
    }
}

/// The console's routes behind its guard. Answers are gzipped for a browser that takes it;
/// the layer's default predicate leaves the event stream alone (a compressor would hold its
/// events back until a block fills).
pub fn router(console: Arc<Console>) -> Router {
    handlers::routes()
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            guard::check,
        ))
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(console)
}

/// Binds, prints the address to open, and serves until Ctrl-C.
pub async fn run(target: &Target, args: &DashboardArgs, out: &mut dyn Write) -> Result<(), Error> {
    let address = guard::listen_address(args.address);
    let listener = TcpListener::bind((address, args.port)).await.map_err(|e| {
        Error::NotApplicable(format!(
            "cannot listen on {address}:{}: {e}; pick another port with --port",
            args.port
        ))
    })?;
    let bound = listener.local_addr()?;
    let scope = if args.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(target.namespace.clone())
    };
    let shown = match &scope {
        Scope::All => "all namespaces".to_string(),
        Scope::Namespace(n) => format!("namespace {n}"),
    };
    writeln!(
        out,
        "Tradeplane console for {shown}: http://{bound}/  (acting with your kubeconfig; Ctrl-C stops it)"
    )?;
    if !address.is_loopback() {
        eprintln!("warning: listening on {address}: anyone who can reach it acts as you");
    }
    out.flush()?;
    let console = Console::new(target.client.clone(), scope, bound);
    axum::serve(listener, router(console))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
