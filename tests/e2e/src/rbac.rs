//! A table of `kubectl auth can-i` questions about one subject, each with the answer it must
//! get: what the API server's own authorizer says, for the allowed rows and the denied ones;
//! and clients acting as other people ([`impersonating`]).

use std::path::Path;

use anyhow::bail;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::cli;

/// The config of the admin kubeconfig at `kubeconfig` acting as `user` in `groups`
/// (`Impersonate-User`/`-Group`): the API server's own RBAC decides what it may do.
pub async fn impersonating(
    kubeconfig: &Path,
    user: &str,
    groups: &[&str],
) -> anyhow::Result<kube::Config> {
    let file = Kubeconfig::read_from(kubeconfig)?;
    let mut config =
        kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await?;
    config.auth_info.impersonate = Some(user.to_string());
    config.auth_info.impersonate_groups = Some(groups.iter().map(|g| (*g).to_string()).collect());
    Ok(config)
}

/// One question: may the subject `verb` `resource` (with `subresource`) in `namespace`
/// (`None`: cluster-wide, or across all namespaces for a namespaced kind)?
pub struct Check {
    pub verb: String,
    /// As kubectl names it: `deployments.apps`, `leases.coordination.k8s.io/NAME`, `*`.
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub allowed: bool,
    /// Why the answer must be what it is, printed beside it.
    pub why: String,
}

/// Checks from a table, one per line: `yes|no VERB RESOURCE[:SUBRESOURCE] SCOPE WHY…`, where
/// SCOPE is a namespace, a key of `scopes` standing for one, or `-` for cluster-wide (across
/// all namespaces). Blank lines are skipped.
pub fn table(text: &str, scopes: &[(&str, &str)]) -> Vec<Check> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut rest = line;
            let mut next = || {
                let field = rest.trim_start();
                let end = field.find(char::is_whitespace).unwrap_or(field.len());
                let (word, after) = field.split_at(end);
                rest = after;
                word.to_string()
            };
            let (answer, verb, resource, scope) = (next(), next(), next(), next());
            let why = rest.trim().to_string();
            let (resource, subresource) = match resource.split_once(':') {
                Some((resource, sub)) => (resource.to_string(), Some(sub.to_string())),
                None => (resource, None),
            };
            let namespace = match scope.as_str() {
                "-" => None,
                key => Some(
                    scopes
                        .iter()
                        .find(|(k, _)| *k == key)
                        .map_or(key.to_string(), |(_, ns)| ns.to_string()),
                ),
            };
            Check {
                verb,
                resource,
                subresource,
                namespace,
                allowed: answer == "yes",
                why,
            }
        })
        .collect()
}

/// Asks every check about `subject` (e.g. `system:serviceaccount:ns:name`), prints the table
/// under `title`, and fails listing the rows whose answer differs from the expected one.
pub async fn assert_table(
    title: &str,
    kubeconfig: Option<&Path>,
    subject: &str,
    checks: &[Check],
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut wrong = Vec::new();
    for check in checks {
        let mut args: Vec<String> = vec![
            "auth".into(),
            "can-i".into(),
            check.verb.clone(),
            check.resource.clone(),
            "--as".into(),
            subject.into(),
        ];
        if let Some(subresource) = &check.subresource {
            args.push(format!("--subresource={subresource}"));
        }
        match &check.namespace {
            Some(namespace) => args.extend(["-n".into(), namespace.clone()]),
            None => args.push("--all-namespaces".into()),
        }
        if let Some(path) = kubeconfig {
            args.extend(["--kubeconfig".into(), path.to_string_lossy().into_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = cli::run("kubectl", &args, None).await?;
        let answer = output.stdout.trim().to_string();
        if answer != "yes" && answer != "no" {
            bail!("kubectl auth can-i {}: {}", args.join(" "), output.stderr);
        }
        let got = answer == "yes";
        let resource = match &check.subresource {
            Some(sub) => format!("{}/{sub}", check.resource),
            None => check.resource.clone(),
        };
        let scope = check.namespace.clone().unwrap_or_else(|| "(all)".into());
        let expected = if check.allowed { "yes" } else { "no" };
        let mark = if got == check.allowed { "ok" } else { "WRONG" };
        rows.push([
            check.verb.clone(),
            resource.clone(),
            scope.clone(),
            expected.to_string(),
            answer.clone(),
            mark.to_string(),
            check.why.clone(),
        ]);
        if got != check.allowed {
            wrong.push(format!(
                "{} {resource} in {scope}: {answer}, expected {expected}",
                check.verb
            ));
        }
    }
    println!("{}", render(title, subject, &rows));
    if !wrong.is_empty() {
        bail!(
            "RBAC differs from what it must be:\n  {}",
            wrong.join("\n  ")
        );
    }
    Ok(())
}

fn render(title: &str, subject: &str, rows: &[[String; 7]]) -> String {
    let header = ["verb", "resource", "namespace", "expect", "got", "", "why"].map(String::from);
    let mut widths = [0usize; 7];
    for row in std::iter::once(&header).chain(rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = format!("\n{title} — kubectl auth can-i --as {subject}\n");
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                if i == row.len() - 1 {
                    cell.clone()
                } else {
                    format!("{cell:width$}")
                }
            })
            .collect();
        text.push_str("  ");
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// The rules `kubectl auth can-i --list` reports for `subject` in `namespace`, as
/// (resource, verbs) pairs; non-resource URLs (the discovery endpoints everyone may read) are
/// left out.
pub async fn listed_rules(
    kubeconfig: Option<&Path>,
    subject: &str,
    namespace: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut args = vec!["auth", "can-i", "--list", "--as", subject, "-n", namespace];
    let path;
    if let Some(kubeconfig) = kubeconfig {
        path = kubeconfig.to_string_lossy().into_owned();
        args.extend(["--kubeconfig", &path]);
    }
    let text = cli::run_ok("kubectl", &args, None).await?;
    Ok(text
        .lines()
        .skip(1) // the header
        .filter_map(|line| {
            let resource = line.split_whitespace().next()?;
            if resource.starts_with('[') {
                return None; // a non-resource URL row: the Resources column is empty
            }
            let verbs = &line[line.rfind('[')?..];
            Some((resource.to_string(), verbs.to_string()))
        })
        .collect())
}
