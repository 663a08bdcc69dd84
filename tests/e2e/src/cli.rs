//! The command-line tools users drive the product with — `helm`, `kubectl` — run as processes,
//! and what the chart tests need around them: the operator binary as cargo builds it, and a
//! kubeconfig that authenticates as a ServiceAccount.
//!
//! `make test` puts the tools built by tests/cluster/build.sh first on PATH; a test that finds
//! one missing says so rather than failing obscurely.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// What a finished command printed, and whether it succeeded.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args…` with `stdin` fed in, and returns its output whatever its exit status.
/// The outer error is only "could not start it" (with a hint when it is not on PATH).
pub async fn run(program: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Output> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().with_context(|| {
        format!(
            "starting `{program}`: is it on PATH? `make test` puts the directory \
             tests/cluster/build.sh prints first on PATH"
        )
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).await?;
        drop(pipe);
    }
    let output = child.wait_with_output().await?;
    Ok(Output {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs a command that must succeed and returns its standard output.
pub async fn run_ok(program: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let output = run(program, args, stdin).await?;
    if !output.success {
        bail!(
            "`{program} {}` failed:\n{}{}",
            args.join(" "),
            output.stdout,
            output.stderr
        );
    }
    Ok(output.stdout)
}

/// The operator binary, as `cargo test --workspace` builds it.
pub async fn operator_binary() -> anyhow::Result<PathBuf> {
    workspace_binary("tradeplane-operator").await
}

/// The runtime binary, as `cargo test --workspace` builds it.
pub async fn runtime_binary() -> anyhow::Result<PathBuf> {
    // A bench (or a run of one test file, without the workspace build) names the binary.
    if let Some(path) = std::env::var_os("TRADEPLANE_RUNTIME_BIN") {
        return Ok(PathBuf::from(path));
    }
    workspace_binary("agent-runtime").await
}

/// The kubectl plugin's binary, as `cargo test --workspace` builds it.
pub async fn plugin_binary() -> anyhow::Result<PathBuf> {
    workspace_binary("kubectl-tradeplane").await
}

/// The binary `name` of the workspace, as `cargo test --workspace` builds it.
///
/// The e2e crate cannot name another package's binary through `CARGO_BIN_EXE_*`, so it asks
/// cargo, with the very command `make test` compiles the tests with: there it is a no-op that
/// only reports the path (a different command could rebuild the binary with other features,
/// over the one the operator's own tests are running); run alone, it builds what is stale.
async fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = crate::repo_root().join("Cargo.toml");
    let manifest = manifest.to_string_lossy();
    let mut command = Command::new(&cargo);
    command.args([
        "test",
        "--workspace",
        "--locked",
        "--no-run",
        "--quiet",
        "--manifest-path",
        &manifest,
        "--message-format",
        "json",
    ]);
    // What cargo set for this test process must not reach the inner cargo: a build script
    // that reads CARGO_MANIFEST_DIR (ring's) would count it as changed and rebuild.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "OUT_DIR",
        ]
        .contains(&name.as_ref())
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_");
        if set_for_tests {
            command.env_remove(name.as_ref());
        }
    }
    let output = command.stdin(Stdio::null()).output().await?;
    if !output.status.success() {
        bail!(
            "`cargo test --workspace --no-run` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["target"]["name"] == name
                && message["target"]["kind"] == json!(["bin"])
                // not the binary's unit-test harness, which has the same target
                && message["profile"]["test"] == false
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .with_context(|| format!("cargo built no {name} executable"))
}

/// A kubeconfig for the cluster of `admin_kubeconfig` that authenticates with `token` only (no
/// client certificate, no other user): requests made with it have exactly the token subject's
/// permissions.
pub fn token_kubeconfig(admin_kubeconfig: &Path, token: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(admin_kubeconfig)
        .with_context(|| format!("reading {}", admin_kubeconfig.display()))?;
    let admin: Value = serde_yaml::from_str(&text)?;
    let current = admin["current-context"].as_str().unwrap_or_default();
    let cluster_name = admin["contexts"]
        .as_array()
        .and_then(|contexts| contexts.iter().find(|c| c["name"] == current))
        .and_then(|c| c["context"]["cluster"].as_str())
        .context("the kubeconfig's current context names no cluster")?;
    let mut cluster = admin["clusters"]
        .as_array()
        .and_then(|clusters| clusters.iter().find(|c| c["name"] == cluster_name))
        .context("the kubeconfig lacks its current context's cluster")?
        .clone();
    // A relative certificate-authority path is relative to the file it was in.
    if let Some(path) = cluster["cluster"]["certificate-authority"].as_str() {
        let absolute = admin_kubeconfig
            .parent()
            .unwrap_or(Path::new("."))
            .join(path);
        cluster["cluster"]["certificate-authority"] = json!(absolute.to_string_lossy());
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{ "name": "service-account", "user": { "token": token } }],
        "contexts": [{ "name": "service-account",
                       "context": { "cluster": cluster_name, "user": "service-account" } }],
        "current-context": "service-account",
    });
    Ok(serde_yaml::to_string(&config)?)
}

/// A token of ServiceAccount `account` in `namespace` (from the TokenRequest API, through
/// the admin's kubectl), written as kubeconfig `dir/file`: its path and a client acting as
/// the account, so a test exercises exactly the Role the operator rendered for it.
pub async fn service_account_client(
    namespace: &str,
    account: &str,
    dir: &Path,
    file: &str,
) -> anyhow::Result<(PathBuf, kube::Client)> {
    let admin = PathBuf::from(std::env::var("KUBECONFIG").context("KUBECONFIG")?);
    let admin_path = admin.to_string_lossy();
    let args = [
        "--kubeconfig",
        &admin_path,
        "-n",
        namespace,
        "create",
        "token",
        account,
    ];
    let token = run_ok("kubectl", &args, None).await?;
    let text = token_kubeconfig(&admin, token.trim())?;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file);
    std::fs::write(&path, &text)?;
    let parsed = kube::config::Kubeconfig::from_yaml(&text)?;
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(parsed, &options).await?;
    Ok((path, kube::Client::try_from(config)?))
}
