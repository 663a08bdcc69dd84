//! `runtime-pods NAMESPACE STRATEGY [STRATEGY …]`: runs one `agent-runtime trader` per trader
//! pod of each strategy, as `e2e::runtime_pods` does for the tests, until SIGTERM or SIGINT —
//! for `make demo`, where kwok's pods run nothing. Needs `KUBECONFIG` and `kubectl` on PATH;
//! `TRADEPLANE_RUNTIME_BIN` names the `agent-runtime` binary to run.

use std::time::Duration;

use anyhow::Context;
use e2e::cli;
use e2e::runtime_pods::{RuntimePod, StrategyPods};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let namespace = args
        .next()
        .context("usage: runtime-pods NAMESPACE STRATEGY…")?;
    let strategies: Vec<String> = args.collect();
    let client = e2e::shared_client().await?;
    let admin = std::env::var("KUBECONFIG").context("KUBECONFIG")?;
    // The demo names the binary it built; otherwise it is found as the tests find it.
    let binary = match std::env::var_os("TRADEPLANE_RUNTIME_BIN") {
        Some(path) => path.into(),
        None => cli::runtime_binary().await?,
    };
    let root = std::env::temp_dir().join(format!("tradeplane-runtime-pods-{namespace}"));
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let mut running: Vec<RuntimePod> = Vec::new();
    for strategy in &strategies {
        let group = StrategyPods {
            namespace: namespace.clone(),
            strategy: strategy.clone(),
            admin_kubeconfig: admin.clone().into(),
            binary: binary.clone(),
            root: root.join(strategy),
        };
        let selector =
            format!("tradeplane.io/strategy={strategy},app.kubernetes.io/component=trader");
        for pod in pods.list(&ListParams::default().labels(&selector)).await? {
            let name = pod.metadata.name.unwrap_or_default();
            let started = group.start(&client, &name).await?;
            println!(
                "{strategy}: pod {name} runs as pid {:?}, logs in {}",
                started.pid(),
                root.join(strategy).join(&name).join("log").display()
            );
            running.push(started);
        }
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    for pod in &running {
        let _ = pod.signal("TERM");
    }
    for pod in &mut running {
        let _ = tokio::time::timeout(Duration::from_secs(30), pod.wait()).await;
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
