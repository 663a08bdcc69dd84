//! Support for the chart tests: rendering charts/tradeplane with `helm template`, picking
//! objects out of the rendering, and the operator binary started the way the chart's
//! Deployment starts it, with a ServiceAccount's token as its only credential.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::Value;

use crate::cli::{self, operator_binary};
use crate::{repo_root, yaml_documents};

pub fn chart_dir() -> PathBuf {
    repo_root().join("charts/tradeplane")
}

/// The chart's directory as a `helm` argument.
pub fn chart() -> String {
    chart_dir().to_string_lossy().into_owned()
}

/// The chart's appVersion, the default tag of both images.
pub fn app_version() -> anyhow::Result<String> {
    let text = std::fs::read_to_string(chart_dir().join("Chart.yaml"))?;
    let chart: Value = serde_yaml::from_str(&text)?;
    chart["appVersion"]
        .as_str()
        .map(str::to_string)
        .context("Chart.yaml has no appVersion")
}

/// `helm template` of the chart with `values` (YAML), as release `tp` in namespace
/// `tradeplane`: the objects, or Helm's error message.
pub async fn render(values: &str) -> anyhow::Result<Result<Vec<Value>, String>> {
    let chart = chart();
    let args = [
        "template",
        "tp",
        &chart,
        "--namespace",
        "tradeplane",
        "-f",
        "-",
    ];
    let output = cli::run("helm", &args, Some(values)).await?;
    if !output.success {
        return Ok(Err(output.stderr));
    }
    Ok(Ok(yaml_documents(&output.stdout)?))
}

pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The names of the `.yaml` files in `dir`, sorted.
pub fn yaml_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Copies a directory tree (to change a copy of the chart).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The operator binary on the host, started as the chart's Deployment starts its container:
/// the same arguments (but a free loopback port to listen on), the same environment, and the
/// credential of `kubeconfig` only. Killed when dropped.
pub struct ChartOperator {
    child: tokio::process::Child,
    log: PathBuf,
    pub args: Vec<String>,
}

impl ChartOperator {
    pub async fn start(
        deployment: &Deployment,
        namespace: &str,
        kubeconfig: &Path,
    ) -> anyhow::Result<Self> {
        let container = deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .context("the Deployment has no container")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let args: Vec<String> = container
            .args
            .iter()
            .flatten()
            .map(|arg| match arg.starts_with("--listen=") {
                true => format!("--listen=127.0.0.1:{port}"),
                false => arg.clone(),
            })
            .collect();
        let mut command = tokio::process::Command::new(operator_binary().await?);
        for var in container.env.iter().flatten() {
            if let Some(value) = &var.value {
                command.env(&var.name, value);
            }
        }
        // What the downward API gives the pod.
        command
            .env("POD_NAMESPACE", namespace)
            .env("POD_NAME", "chart-test-operator");
        let log = kubeconfig.with_extension("operator.log");
        let file = std::fs::File::create(&log)?;
        let child = command
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self { child, log, args })
    }

    /// Everything it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let _ = std::fs::remove_file(&self.log);
    }
}
