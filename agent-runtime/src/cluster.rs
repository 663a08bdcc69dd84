//! The runtime's Kubernetes identity: a client for the API server, used for the strategy's
//! Lease and for the runtime's part of the status (and, for a pool, its shared spend ledger).
//!
//! In a pod the client uses the pod's service account (the token and CA the kubelet mounts),
//! so what the runtime may do is exactly what the operator's Role for it grants. A process
//! started outside a pod — a test standing in for a pod, a developer's shell — names a
//! kubeconfig instead. Every request has a bound: an API server that is down must never hold
//! up a cycle for longer than the bound, and the callers decide what a failure means (a
//! leader that cannot renew stops trading; a status write is retried on the next cycle).

use std::path::Path;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// How long one request to the API server may take, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a watch may go without a byte from the API server: longer than the server's own
/// watch timeout (the Lease watch asks for 290 s), so a quiet Lease — one renewal every few
/// seconds, or none while nobody leads — keeps its watch open; a connection that died is still
/// noticed, and a standby acting on a stale view meanwhile is refused by resourceVersion.
pub const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read the kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error(
        "no Kubernetes identity: not in a pod (no service account mounted) and no --kubeconfig: {0}"
    )]
    NoIdentity(String),
    #[error("cannot build the Kubernetes client: {0}")]
    Client(String),
}

/// A client from `kubeconfig` when given, otherwise from the pod's service account (or the
/// `KUBECONFIG` environment variable, as `kubectl` reads it).
pub async fn connect(kubeconfig: Option<&Path>) -> Result<kube::Client, ClusterError> {
    let mut config = configure(kubeconfig).await?;
    bound(&mut config);
    kube::Client::try_from(config).map_err(|e| ClusterError::Client(e.to_string()))
}

/// The same identity as [`connect`], for watches: reads may wait up to
/// [`WATCH_READ_TIMEOUT`] (with [`REQUEST_TIMEOUT`]'s a watch on a Lease nobody writes for
/// five seconds would be cut and opened again, a request each time).
pub async fn connect_for_watches(kubeconfig: Option<&Path>) -> Result<kube::Client, ClusterError> {
    let mut config = configure(kubeconfig).await?;
    bound(&mut config);
    config.read_timeout = Some(WATCH_READ_TIMEOUT);
    kube::Client::try_from(config).map_err(|e| ClusterError::Client(e.to_string()))
}

async fn configure(kubeconfig: Option<&Path>) -> Result<kube::Config, ClusterError> {
    let config = match kubeconfig {
        Some(path) => {
            let failed = |message: String| ClusterError::Kubeconfig {
                path: path.display().to_string(),
                message,
            };
            let file = Kubeconfig::read_from(path).map_err(|e| failed(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| failed(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| ClusterError::NoIdentity(e.to_string()))?,
    };
    Ok(config)
}

/// Bounds every phase of a request by [`REQUEST_TIMEOUT`].
fn bound(config: &mut kube::Config) {
    config.connect_timeout = Some(REQUEST_TIMEOUT);
    config.read_timeout = Some(REQUEST_TIMEOUT);
    config.write_timeout = Some(REQUEST_TIMEOUT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_kubeconfig_is_an_error_naming_the_file() {
        let Err(error) = connect(Some(Path::new("/nonexistent/kubeconfig"))).await else {
            panic!("a missing kubeconfig gave a client");
        };
        assert!(
            error.to_string().contains("/nonexistent/kubeconfig"),
            "{error}"
        );
    }

    #[test]
    fn every_request_phase_is_bounded() {
        let mut config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
        bound(&mut config);
        assert_eq!(config.connect_timeout, Some(REQUEST_TIMEOUT));
        assert_eq!(config.read_timeout, Some(REQUEST_TIMEOUT));
        assert_eq!(config.write_timeout, Some(REQUEST_TIMEOUT));
    }
}
