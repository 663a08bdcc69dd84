//! The operator binary run as a process, as in a cluster: for the tests of leader election
//! and crash recovery, and for the benchmarks that measure its memory.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};

pub struct OperatorProcess {
    child: Child,
    metrics: String,
}

impl OperatorProcess {
    /// Starts `binary` watching `namespace`, with its leader Lease there too (a short one, so
    /// tests see takeovers quickly). `kubeconfig` overrides the inherited `KUBECONFIG`.
    pub fn start(
        binary: &Path,
        kubeconfig: Option<&Path>,
        namespace: &str,
        identity: &str,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new(binary);
        command
            .args(["--namespaces", namespace, "--lease-namespace", namespace])
            .args([
                "--lease-name",
                "tradeplane-operator",
                "--lease-seconds",
                "4",
            ])
            .args(["--log-format", "text", "--identity", identity])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--runtime-image", "agent-runtime:test"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(path) = kubeconfig {
            command.env("KUBECONFIG", path);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            child,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The whole `/metrics` text.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        Ok(reqwest::get(&self.metrics).await?.text().await?)
    }

    /// `host:port` of `/metrics`, for a scrape config.
    pub fn metrics_address(&self) -> &str {
        self.metrics
            .trim_start_matches("http://")
            .trim_end_matches("/metrics")
    }

    /// The sum of one metric's samples whose labels contain `labels` (e.g. `method="GET"`, or
    /// "" for all); 0 when it has none or the process does not answer.
    pub async fn metric_where(&self, name: &str, labels: &str) -> f64 {
        let Ok(response) = reqwest::get(&self.metrics).await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|l| {
                l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn metric(&self, name: &str) -> f64 {
        self.metric_where(name, "").await
    }

    /// Waits up to `timeout` for a metric to satisfy `holds`.
    pub async fn wait_metric(
        &self,
        name: &str,
        timeout: Duration,
        holds: impl Fn(f64) -> bool,
    ) -> anyhow::Result<()> {
        self.wait_metric_where(name, "", timeout, holds).await
    }

    /// Waits up to `timeout` for the samples of a metric with `labels` to satisfy `holds`.
    pub async fn wait_metric_where(
        &self,
        name: &str,
        labels: &str,
        timeout: Duration,
        holds: impl Fn(f64) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let value = self.metric_where(name, labels).await;
            if holds(value) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("{name}{{{labels}}} is still {value} after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Peak and current resident memory in KiB, from /proc (Linux).
    pub fn memory_kib(&self) -> Option<(u64, u64)> {
        crate::procfs::memory_kib(self.pid()?)
    }

    /// SIGTERM: the graceful path (the leader releases its Lease).
    pub async fn terminate(&self) -> anyhow::Result<()> {
        let pid = self.pid().context("the process has exited")?;
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        Ok(())
    }

    /// SIGKILL: no goodbye.
    pub async fn kill_hard(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}
