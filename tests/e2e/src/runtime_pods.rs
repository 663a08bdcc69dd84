//! Host processes standing in for a strategy's trader pods, until real nodes run them.
//!
//! kwok creates the pods the operator's Deployment asks for but runs nothing. For each such pod
//! [`RuntimePod::start`] runs one `agent-runtime trader` as the pod would: the config the
//! operator rendered into the strategy's config Secret, the credentials Secret's keys as files,
//! the pod's name as `POD_NAME`, and — for the Kubernetes API — only a token for the strategy's
//! own ServiceAccount from the TokenRequest API, so the Role the operator rendered is what is
//! tested. The one thing adapted is where files live and which port it listens on: paths under
//! the pod's mount points move into the process's own directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use tokio::process::{Child, Command};

use crate::cli;
use crate::http::{self, free_port};

/// The mount points of a trader pod (see `tradeplane_contract::layout`).
const CREDENTIALS_DIR: &str = "/etc/tradeplane/credentials";
const JOURNAL_DIR: &str = "/var/lib/tradeplane";

/// How long a pod may go without an IP before the test gives up on it: kwok addresses a
/// pod within a second or two, far longer only on a machine busy building.
pub const POD_IP_WITHIN: Duration = Duration::from_secs(60);

/// Pod `name` once it has an IP, with that IP.
async fn addressed_pod(pods: &Api<Pod>, name: &str) -> anyhow::Result<(Pod, String)> {
    let deadline = tokio::time::Instant::now() + POD_IP_WITHIN;
    loop {
        let pod = pods
            .get(name)
            .await
            .with_context(|| format!("Pod {name}"))?;
        if let Some(ip) = pod.status.as_ref().and_then(|status| status.pod_ip.clone()) {
            return Ok((pod, ip));
        }
        if tokio::time::Instant::now() > deadline {
            bail!("Pod {name} has no IP after {POD_IP_WITHIN:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One runtime process in place of pod `name`.
pub struct RuntimePod {
    pub name: String,
    /// Where `/healthz`, `/readyz` and `/metrics` answer: `host:port`.
    pub host: String,
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// The pod's IP, put on `lo` for this process and taken off again on drop.
    _pod_address: Option<PodAddress>,
}

/// What every pod of one strategy shares.
pub struct StrategyPods {
    pub namespace: String,
    pub strategy: String,
    /// The admin kubeconfig, for the cluster's address and CA only.
    pub admin_kubeconfig: PathBuf,
    pub binary: PathBuf,
    /// Parent of every pod's directory.
    pub root: PathBuf,
}

impl StrategyPods {
    /// Starts the process for pod `name` on a free loopback port.
    pub async fn start(&self, client: &kube::Client, name: &str) -> anyhow::Result<RuntimePod> {
        let listen = ("127.0.0.1".to_string(), free_port()?);
        self.start_listening(client, name, listen, None).await
    }

    /// Starts the process for pod `name` where the pod's Endpoints say it is: the pod IP kwok
    /// gave it (added to `lo`; root needed) and the container's port. The API server's service
    /// proxy then reaches it through the strategy's Service, as it reaches a real pod; it
    /// refuses loopback addresses and any address that is not a Pod's IP. A pod just created
    /// has no IP until kwok "starts" it, so this waits up to [`POD_IP_WITHIN`] for one.
    pub async fn start_on_pod_ip(
        &self,
        client: &kube::Client,
        name: &str,
    ) -> anyhow::Result<RuntimePod> {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &self.namespace);
        let (pod, ip) = addressed_pod(&pods, name).await?;
        let port = pod
            .spec
            .into_iter()
            .flat_map(|spec| spec.containers)
            .flat_map(|container| container.ports.unwrap_or_default())
            .map(|port| port.container_port)
            .next()
            .and_then(|port| u16::try_from(port).ok())
            .with_context(|| format!("Pod {name} declares no container port"))?;
        let address = PodAddress::add(&ip)?;
        self.start_listening(client, name, (ip, port), Some(address))
            .await
    }

    async fn start_listening(
        &self,
        client: &kube::Client,
        name: &str,
        (host, port): (String, u16),
        pod_address: Option<PodAddress>,
    ) -> anyhow::Result<RuntimePod> {
        let dir = self.root.join(name);
        std::fs::create_dir_all(dir.join("credentials"))?;
        std::fs::create_dir_all(dir.join("journal"))?;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &self.namespace);
        for (key, value) in secret_data(&secrets, &format!("{}-credentials", self.strategy)).await?
        {
            std::fs::write(dir.join("credentials").join(key), value)?;
        }
        let config = secret_data(&secrets, &format!("{}-config", self.strategy)).await?;
        let text = config
            .get("config.yaml")
            .context("the config Secret has no config.yaml")?;
        let config = adapt_config(std::str::from_utf8(text)?, &dir, &host, port)?;
        let config_path = dir.join("config.yaml");
        std::fs::write(&config_path, config)?;
        let token = cli::run_ok(
            "kubectl",
            &[
                "--kubeconfig",
                &self.admin_kubeconfig.to_string_lossy(),
                "-n",
                &self.namespace,
                "create",
                "token",
                &format!("{}-runtime", self.strategy),
            ],
            None,
        )
        .await?;
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            cli::token_kubeconfig(&self.admin_kubeconfig, token.trim())?,
        )?;
        let mut pod = RuntimePod {
            name: name.to_string(),
            host,
            port,
            dir,
            child: None,
            _pod_address: pod_address,
        };
        pod.spawn(&self.binary, &config_path, &kubeconfig)?;
        Ok(pod)
    }
}

impl RuntimePod {
    fn spawn(&mut self, binary: &Path, config: &Path, kubeconfig: &Path) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log"))?;
        let child = Command::new(binary)
            .args(["trader", "--config"])
            .arg(config)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env("POD_NAME", &self.name)
            .env("RUST_LOG", "info")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Starts the process again under the same name, as the kubelet restarts a container.
    pub fn restart(&mut self, binary: &Path) -> anyhow::Result<()> {
        let (config, kubeconfig) = (self.dir.join("config.yaml"), self.dir.join("kubeconfig"));
        self.spawn(binary, &config, &kubeconfig)
    }

    pub fn pid(&self) -> Option<i32> {
        self.child
            .as_ref()
            .and_then(Child::id)
            .and_then(|pid| i32::try_from(pid).ok())
    }

    /// Sends `signal` (`KILL`, `TERM`, `STOP`, `CONT`).
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.pid().context("the process is not running")?;
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -{signal} {pid} failed");
        }
        Ok(())
    }

    /// Waits for the process to exit; its exit code.
    pub async fn wait(&mut self) -> anyhow::Result<Option<i32>> {
        let child = self.child.as_mut().context("the process is not running")?;
        let status = child.wait().await?;
        self.child = None;
        Ok(status.code())
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// A metric's value from `/metrics`, summed over matching label sets; 0 when absent.
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let url = format!("http://{}:{}/metrics", self.host, self.port);
        let Ok(response) = http::client().get(&url).send().await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with(name) && line.contains(labels))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The `/readyz` status code, 0 when it does not answer.
    pub async fn readyz(&self) -> u16 {
        http::status(&self.readyz_url()).await
    }

    /// Waits until the process answers `/readyz` with 200 (a hot standby, or the leader);
    /// returns how long that took.
    pub async fn wait_ready(&self, within: Duration) -> anyhow::Result<Duration> {
        http::wait_ready(&self.readyz_url(), within, || {
            format!("the log of {}:\n{}", self.name, self.log())
        })
        .await
    }

    fn readyz_url(&self) -> String {
        format!("http://{}:{}/readyz", self.host, self.port)
    }
}

async fn secret_data(
    secrets: &Api<Secret>,
    name: &str,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let secret = secrets
        .get(name)
        .await
        .with_context(|| format!("Secret {name}"))?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, value.0))
        .collect())
}

/// The rendered config with the pod's mount points moved into `dir` and the server on
/// `host:port` (every process shares the host's network).
pub fn adapt_config(text: &str, dir: &Path, host: &str, port: u16) -> anyhow::Result<String> {
    let mut config: serde_yaml::Value = serde_yaml::from_str(text)?;
    relocate(&mut config, CREDENTIALS_DIR, &dir.join("credentials"));
    relocate(&mut config, JOURNAL_DIR, &dir.join("journal"));
    config["server"]["listen"] = serde_yaml::Value::String(format!("{host}:{port}"));
    Ok(serde_yaml::to_string(&config)?)
}

fn relocate(value: &mut serde_yaml::Value, from: &str, to: &Path) {
    match value {
        serde_yaml::Value::String(text) if text.starts_with(from) => {
            *text = format!("{}{}", to.display(), &text[from.len()..]);
        }
        serde_yaml::Value::Mapping(map) => map.values_mut().for_each(|v| relocate(v, from, to)),
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(|v| relocate(v, from, to)),
        _ => {}
    }
}

/// A pod IP on the host's `lo`, removed again when dropped (unless it was there before).
pub struct PodAddress {
    ip: String,
    added: bool,
}

impl PodAddress {
    /// Puts `ip` on `lo` (root needed).
    pub fn add(ip: &str) -> anyhow::Result<Self> {
        let cidr = format!("{ip}/32");
        let shown = std::process::Command::new("ip")
            .args(["-o", "addr", "show", "dev", "lo"])
            .output()
            .context("running `ip addr show`")?;
        if String::from_utf8_lossy(&shown.stdout).contains(&format!(" {cidr} ")) {
            return Ok(Self {
                ip: ip.to_string(),
                added: false,
            });
        }
        let added = std::process::Command::new("ip")
            .args(["addr", "add", &cidr, "dev", "lo"])
            .status()
            .context("running `ip addr add`")?;
        if !added.success() {
            bail!("could not add {cidr} to lo (the test needs root)");
        }
        Ok(Self {
            ip: ip.to_string(),
            added: true,
        })
    }
}

impl Drop for PodAddress {
    fn drop(&mut self) {
        if self.added {
            let _ = std::process::Command::new("ip")
                .args(["addr", "del", &format!("{}/32", self.ip), "dev", "lo"])
                .status();
        }
    }
}
