//! Host processes standing in for a Backtest's run pods. kwok runs nothing in a Job's pod,
//! so a test plays the kubelet: for each index of the Indexed Job it takes the container's
//! arguments and environment as rendered, expands `$(JOB_COMPLETION_INDEX)` as the kubelet
//! does, moves the mount points (the runs ConfigMap, the bars) into a directory of its own,
//! and runs the runtime with a token of the Backtest's run ServiceAccount — so the Role the
//! operator rendered is what the runs write with.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::{Path, PathBuf};
use std::process::Stdio;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Container};
use kube::Client;
use tradeplane_contract::backtest_job::{DATA_DIR, INDEX_ENV, RUNS_DIR};

use crate::{TestNamespace, cli};

/// A kubeconfig holding a token of the run ServiceAccount `account`.
pub async fn run_identity(namespace: &str, account: &str, dir: &Path) -> (PathBuf, Client) {
    cli::service_account_client(namespace, account, dir, "run-kubeconfig")
        .await
        .unwrap()
}

/// What the kubelet would start for the Job's pods, moved onto the host.
pub struct PlayedPod {
    binary: PathBuf,
    container: Container,
    runs_dir: PathBuf,
    data_dir: PathBuf,
    kubeconfig: PathBuf,
}

impl PlayedPod {
    /// Mounts the runs ConfigMap and the bars ConfigMap's key into `dir`.
    pub async fn new(namespace: &TestNamespace, job: &Job, bars: &str, dir: &Path) -> Self {
        let pod = job.spec.as_ref().unwrap().template.spec.clone().unwrap();
        let container = pod.containers[0].clone();
        let runs_map = pod
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == "runs")
            .unwrap();
        let runs_name = runs_map.config_map.as_ref().unwrap().name.clone();
        let maps = namespace.api::<ConfigMap>();
        let runs_dir = dir.join("runs");
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&runs_dir).unwrap();
        std::fs::create_dir_all(&data_dir).unwrap();
        for (key, value) in maps.get(&runs_name).await.unwrap().data.unwrap() {
            std::fs::write(runs_dir.join(key), value).unwrap();
        }
        for (key, value) in maps.get(bars).await.unwrap().data.unwrap() {
            std::fs::write(data_dir.join(key), value).unwrap();
        }
        let account = pod.service_account_name.clone().unwrap();
        let (kubeconfig, _) = run_identity(&namespace.name, &account, dir).await;
        Self {
            binary: cli::runtime_binary().await.unwrap(),
            container,
            runs_dir,
            data_dir,
            kubeconfig,
        }
    }

    /// Runs index `index` to its end, as its pod would; whether it exited successfully.
    pub async fn run(&self, namespace: &str, index: usize) -> (bool, String) {
        let index_text = index.to_string();
        let args: Vec<String> = self
            .container
            .args
            .clone()
            .unwrap()
            .into_iter()
            .map(|arg| {
                arg.replace(&format!("$({INDEX_ENV})"), &index_text)
                    .replace(RUNS_DIR, &self.runs_dir.to_string_lossy())
                    .replace(DATA_DIR, &self.data_dir.to_string_lossy())
            })
            .collect();
        let mut command = tokio::process::Command::new(&self.binary);
        command.args(&args);
        for env in self.container.env.clone().unwrap_or_default() {
            if let Some(value) = env.value {
                command.env(env.name, value);
            }
        }
        let output = command
            .env(INDEX_ENV, &index_text)
            .env("POD_NAME", format!("run-{index}"))
            .env("POD_NAMESPACE", namespace)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), log)
    }
}
