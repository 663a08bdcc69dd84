//! `version`: the plugin's version, the operator's (its Deployment, found by the chart's
//! labels in any namespace) and the runtimes' in this namespace (their Deployments' images),
//! and whether they agree — the first thing to check when the plugin cannot read an answer.

use std::io::Write;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::ListParams;

use crate::cli::VersionArgs;
use crate::cluster::Target;
use crate::error::Error;

pub const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");
const OPERATOR_SELECTOR: &str =
    "app.kubernetes.io/name=tradeplane,app.kubernetes.io/component=operator";
const RUNTIME_SELECTOR: &str = "app.kubernetes.io/name=agent-runtime";

/// One Deployment and the version it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    pub namespace: String,
    pub name: String,
    pub version: String,
}

pub async fn run(target: &Target, args: &VersionArgs, out: &mut dyn Write) -> Result<(), Error> {
    if args.client {
        writeln!(out, "plugin   {PLUGIN_VERSION}")?;
        return Ok(());
    }
    let params = ListParams::default().labels(OPERATOR_SELECTOR);
    let operators = match Api::<Deployment>::all(target.client.clone())
        .list(&params)
        .await
    {
        Ok(list) => Ok(list.items.iter().map(running).collect()),
        Err(e) => Err(Error::from_kube(e, "list", "deployments", "all namespaces").to_string()),
    };
    let params = ListParams::default().labels(RUNTIME_SELECTOR);
    let runtimes = target
        .api::<Deployment>()
        .list(&params)
        .await
        .map(|list| list.items.iter().map(running).collect::<Vec<_>>())
        .map_err(|e| Error::from_kube(e, "list", "deployments", &target.namespace).to_string());
    out.write_all(render(PLUGIN_VERSION, &operators, &runtimes).as_bytes())?;
    Ok(())
}

fn running(deployment: &Deployment) -> Running {
    let labels = deployment.metadata.labels.clone().unwrap_or_default();
    let image = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    Running {
        namespace: deployment.metadata.namespace.clone().unwrap_or_default(),
        name: deployment.metadata.name.clone().unwrap_or_default(),
        version: labels
            .get("app.kubernetes.io/version")
            .cloned()
            .unwrap_or_else(|| image_tag(&image)),
    }
}

/// The tag of an image reference (`repo:tag`, `repo:tag@sha256:…`), else the digest, else
/// `latest`, as a runtime would pull it.
pub fn image_tag(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match (last.split_once(':'), digest) {
        (Some((_, tag)), _) => tag.trim_start_matches('v').to_string(),
        (None, Some(digest)) => digest.to_string(),
        (None, None) => "latest".to_string(),
    }
}

pub fn render(
    plugin: &str,
    operators: &Result<Vec<Running>, String>,
    runtimes: &Result<Vec<Running>, String>,
) -> String {
    let mut lines = vec![format!("plugin   {plugin}")];
    let mut versions = vec![plugin.trim_start_matches('v').to_string()];
    for (label, found) in [("operator", operators), ("runtime", runtimes)] {
        match found {
            Ok(list) if list.is_empty() => lines.push(format!("{label:<8} not found")),
            Ok(list) => {
                for r in list {
                    lines.push(format!(
                        "{label:<8} {} ({}/{})",
                        r.version, r.namespace, r.name
                    ));
                    versions.push(r.version.clone());
                }
            }
            Err(reason) => lines.push(format!("{label:<8} unknown: {reason}")),
        }
    }
    versions.sort();
    versions.dedup();
    lines.push(if versions.len() == 1 {
        "agree    yes".to_string()
    } else {
        format!(
            "agree    no: {} — upgrade the older side (see docs/plugin.md)",
            versions.join(", ")
        )
    });
    crate::render::fit_all(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_from_every_form_of_reference() {
        assert_eq!(
            image_tag("ghcr.io/tradeplane/agent-runtime:v0.1.0"),
            "0.1.0"
        );
        assert_eq!(
            image_tag("localhost:5000/agent-runtime:0.2.0@sha256:ab"),
            "0.2.0"
        );
        assert_eq!(image_tag("localhost:5000/agent-runtime"), "latest");
        assert_eq!(image_tag("agent-runtime@sha256:ab"), "sha256:ab");
    }

    #[test]
    fn versions_that_differ_are_called_out() {
        let at = |v: &str| Running {
            namespace: "ns".into(),
            name: "d".into(),
            version: v.into(),
        };
        let same = render("0.1.0", &Ok(vec![at("0.1.0")]), &Ok(vec![at("0.1.0")]));
        assert!(same.contains("agree    yes"), "{same}");
        let differ = render("0.1.0", &Ok(vec![at("0.1.0")]), &Ok(vec![at("0.2.0")]));
        assert!(differ.contains("agree    no: 0.1.0, 0.2.0"), "{differ}");
        let unknown = render("0.1.0", &Err("forbidden".into()), &Ok(vec![]));
        assert!(unknown.contains("operator unknown: forbidden"), "{unknown}");
        assert!(unknown.contains("runtime  not found"), "{unknown}");
    }
}
