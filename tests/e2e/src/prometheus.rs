//! The real Prometheus tools for the alerting tests: `promtool` (check and unit-test rule
//! files), `amtool` (check an Alertmanager configuration) and a `prometheus` server on
//! loopback that scrapes processes the test started and evaluates rules.
//!
//! All three come from Debian's packages through `tests/prometheus/install.sh`, which
//! `make test` runs before the tests; [`tool`] runs it too when a tool is missing, so a test
//! run alone works the same.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

use crate::http::free_port;
use crate::runtime_process::temp_dir;

static INSTALLED: OnceCell<()> = OnceCell::const_new();

/// The path of `promtool`, `amtool` or `prometheus`, installing them first when missing.
pub async fn tool(name: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = on_path(name) {
        return Ok(path);
    }
    INSTALLED
        .get_or_try_init(|| async {
            let script = crate::repo_root().join("tests/prometheus/install.sh");
            let status = Command::new(&script)
                .stdout(Stdio::null())
                .status()
                .await
                .with_context(|| format!("running {}", script.display()))?;
            if !status.success() {
                bail!("{} failed ({status})", script.display());
            }
            anyhow::Ok(())
        })
        .await?;
    on_path(name).with_context(|| format!("{name} is still missing after install.sh"))
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// Runs `tool args…` in `dir`; its output, or an error holding it.
pub async fn run_tool(name: &str, args: &[&str], dir: &Path) -> anyhow::Result<String> {
    let output = Command::new(tool(name).await?)
        .args(args)
        .current_dir(dir)
        .output()
        .await?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        bail!("`{name} {}` failed:\n{text}", args.join(" "));
    }
    Ok(text)
}

/// The chart's operator alerts (`metrics.prometheusRule`), rendered with `values` as
/// release `tp` in namespace `tradeplane`, as a Prometheus rule file (the PrometheusRule's
/// `spec` is that format).
pub async fn chart_rule_file(values: &str) -> anyhow::Result<String> {
    let objects = match crate::helm::render(values).await? {
        Ok(objects) => objects,
        Err(message) => bail!("helm template: {message}"),
    };
    let rules = crate::helm::of_kind(&objects, "PrometheusRule");
    let [rule] = rules[..] else {
        bail!("expected one PrometheusRule, found {}", rules.len());
    };
    Ok(serde_yaml::to_string(&rule["spec"])?)
}

/// A `prometheus` server on a free loopback port with its storage in a temp dir, removed on
/// drop (unless `TRADEPLANE_KEEP_TEST_DIRS` is set).
pub struct PrometheusServer {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl PrometheusServer {
    /// Starts Prometheus scraping `scrape_configs` (Prometheus's YAML, as JSON) every second,
    /// evaluating the rule files given as (file name, YAML) every second.
    pub async fn start(scrape_configs: Value, rules: &[(String, String)]) -> anyhow::Result<Self> {
        let binary = tool("prometheus").await?;
        let dir = temp_dir("prometheus")?;
        let mut rule_files = Vec::new();
        for (name, yaml) in rules {
            let path = dir.join(name);
            std::fs::write(&path, yaml)?;
            rule_files.push(path.to_string_lossy().into_owned());
        }
        let config = serde_json::json!({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": rule_files,
            "scrape_configs": scrape_configs,
        });
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, serde_yaml::to_string(&config)?)?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("log"))?;
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1h")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let server = Self { child, port, dir };
        crate::http::wait_ready(
            &format!("http://127.0.0.1:{port}/-/ready"),
            Duration::from_secs(60),
            || format!("prometheus' log:\n{}", server.log()),
        )
        .await?;
        Ok(server)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// `GET /api/v1/<path>`'s `data`.
    pub async fn api(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("http://127.0.0.1:{}/api/v1/{path}", self.port);
        let body: Value = reqwest::get(&url).await?.json().await?;
        if body["status"] != "success" {
            bail!("{url}: {body}");
        }
        Ok(body["data"].clone())
    }

    /// The alerts Prometheus holds now (pending and firing).
    pub async fn alerts(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self.api("alerts").await?["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Waits for an alert named `name` in `state` (`pending` or `firing`) for which `holds`
    /// is true; returns it.
    pub async fn wait_alert(
        &self,
        name: &str,
        state: &str,
        timeout: Duration,
        holds: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let alerts = self.alerts().await.unwrap_or_default();
            if let Some(alert) = alerts
                .iter()
                .find(|a| a["labels"]["alertname"] == name && a["state"] == state && holds(a))
            {
                return Ok(alert.clone());
            }
            if tokio::time::Instant::now() >= deadline {
                let targets = self.api("targets").await.unwrap_or_default();
                bail!(
                    "no {state} {name} after {timeout:?}; alerts: {alerts:#?}\ntargets: {targets:#}\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::env::var_os("TRADEPLANE_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
