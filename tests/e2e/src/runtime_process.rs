//! An `agent-runtime` process run from a config the test writes, for the tests that scrape
//! what it exports (the metrics contract, a real Prometheus).
//!
//! Unlike [`crate::runtime_pods`], which plays a pod of a strategy the operator rendered,
//! this runs any mode from any config: the test decides which broker, providers and risk
//! limits the process sees. It listens on a free loopback port and logs to a file in its own
//! directory (a pipe nobody reads could fill up and stall it); the directory is removed on
//! drop unless `TRADEPLANE_KEEP_TEST_DIRS` is set.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::http::free_port;

pub struct RuntimeProcess {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

/// A fresh directory under the system's temp dir, named after `prefix`.
pub fn temp_dir(prefix: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

impl RuntimeProcess {
    /// Writes `config` (YAML; `{port}` replaced by the port chosen for it, `{dir}` by its
    /// directory) and runs `agent-runtime MODE --config FILE` with `env` added.
    pub async fn start(
        mode: &str,
        name: &str,
        config: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let binary = crate::cli::runtime_binary().await?;
        let dir = temp_dir(&format!("runtime-{name}"))?;
        let port = free_port()?;
        let text = config
            .replace("{port}", &port.to_string())
            .replace("{dir}", &dir.to_string_lossy());
        let path = dir.join("config.yaml");
        std::fs::write(&path, text)?;
        let log = std::fs::File::create(dir.join("log"))?;
        let mut command = Command::new(&binary);
        command
            .args([mode, "--config", &path.to_string_lossy()])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self { child, port, dir })
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let response = reqwest::get(format!("{}/metrics", self.base())).await?;
        if !response.status().is_success() {
            bail!("/metrics answered {}", response.status());
        }
        Ok(response.text().await?)
    }

    /// Waits until `/metrics` answers with text for which `holds` is true; returns that text.
    pub async fn wait_metrics(
        &mut self,
        what: &str,
        timeout: Duration,
        holds: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(text) = self.metrics().await
                && holds(&text)
            {
                return Ok(text);
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the runtime exited ({status}) before {what}:\n{}",
                    self.log()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("no {what} after {timeout:?}:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGKILL and wait for the exit.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

impl Drop for RuntimeProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::env::var_os("TRADEPLANE_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The sum of the samples of `name` whose label text contains `labels` ("" for all).
pub fn sample_sum(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
