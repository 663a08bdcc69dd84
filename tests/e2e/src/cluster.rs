//! Handles on control planes: the shared one `make test` started, and private ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The repository's root directory (this crate lives at `tests/e2e`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A client for the cluster in `KUBECONFIG`, which `make test` points at its local cluster.
pub async fn shared_client() -> anyhow::Result<Client> {
    if std::env::var_os("KUBECONFIG").is_none() {
        bail!(
            "KUBECONFIG is not set: these tests need a control plane. Run them with `make test`, \
             which starts a local one, or see README.md to use a cluster of your own"
        );
    }
    Client::try_default()
        .await
        .context("building a client from KUBECONFIG")
}

/// A control plane of a test's own, in a temporary state directory, stopped when dropped.
///
/// It runs beside the shared cluster (every port is chosen free), which is what lets a test
/// kill its API server without disturbing the others.
pub struct PrivateCluster {
    state: PathBuf,
    _dir: TempDir,
}

impl PrivateCluster {
    /// Starts the given components (see `TP_COMPONENTS` in tests/cluster/up.sh).
    pub fn start(components: &str) -> anyhow::Result<Self> {
        Self::start_with_nodes(components, 2)
    }

    /// Starts the given components with `nodes` kwok nodes (110 pods each).
    pub fn start_with_nodes(components: &str, nodes: usize) -> anyhow::Result<Self> {
        Self::start_up(components, nodes, false)
    }

    /// Starts the given components (two kwok nodes) with the API server writing an audit
    /// log ([`Self::audit_log`]): who sent which request, for a bench to count by user.
    pub fn start_audited(components: &str) -> anyhow::Result<Self> {
        Self::start_up(components, 2, true)
    }

    fn start_up(components: &str, nodes: usize, audited: bool) -> anyhow::Result<Self> {
        let dir = TempDir::new("tradeplane-private-cluster")?;
        let state = dir.path.join("state");
        let status = Command::new(repo_root().join("tests/cluster/up.sh"))
            .arg(&state)
            .env("TP_COMPONENTS", components)
            .env("TP_NODES", nodes.to_string())
            .env("TP_AUDIT_LOG", if audited { "1" } else { "0" })
            .env_remove("TRADEPLANE_USE_EXISTING_CLUSTER")
            .status()
            .context("running tests/cluster/up.sh")?;
        if !status.success() {
            bail!("tests/cluster/up.sh failed ({status}); see its output above");
        }
        Ok(Self { state, _dir: dir })
    }

    pub async fn client(&self) -> anyhow::Result<Client> {
        let kubeconfig = Kubeconfig::read_from(self.state.join("kubeconfig"))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// The admin kubeconfig file, for processes the test starts.
    pub fn kubeconfig(&self) -> PathBuf {
        self.state.join("kubeconfig")
    }

    /// The API server's audit log (a cluster from [`Self::start_audited`]; see
    /// [`crate::audit`]).
    pub fn audit_log(&self) -> PathBuf {
        self.state.join("logs/audit.log")
    }

    /// The pid of a component's process (`apiserver`, `etcd`, ...).
    pub fn pid(&self, component: &str) -> anyhow::Result<i32> {
        let file = self.state.join("pids").join(format!("{component}.pid"));
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        Ok(text.trim().parse()?)
    }

    /// Sends SIGKILL to a component: no goodbye, no cleanup, as when a machine dies.
    pub fn kill_hard(&self, component: &str) -> anyhow::Result<()> {
        let pid = self.pid(component)?;
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -9 {pid} ({component}) failed");
        }
        Ok(())
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("tests/cluster/down.sh"))
            .arg(&self.state)
            .status();
    }
}

/// A directory under the system temp dir, removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(prefix: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("{prefix}-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
