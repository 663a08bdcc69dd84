//! Tradeplane's Argo CD resource customizations, read from disk in Argo CD's own layout —
//! `examples/argocd/resource_customizations/<group>/<Kind>/health.lua`,
//! `.../actions/discovery.lua`, `.../actions/<action>/action.lua` — and rendered into the
//! `argocd-cm` keys that install them (`examples/argocd/argocd-cm.yaml`). The Lua files are
//! the only copy a person edits; the ConfigMap is generated from them and a test fails when
//! it is stale, as `crds/` is checked against crdgen.

pub mod lua;
pub mod sync;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::repo_root;

/// The customizations' root, in Argo CD's layout.
pub fn customizations_root() -> PathBuf {
    repo_root().join("examples/argocd/resource_customizations")
}

/// The generated ConfigMap.
pub fn argocd_cm_path() -> PathBuf {
    repo_root().join("examples/argocd/argocd-cm.yaml")
}

/// The scripts of one kind.
#[derive(Clone, Debug)]
pub struct Customization {
    pub group: String,
    pub kind: String,
    /// `<root>/<group>/<Kind>`.
    pub dir: PathBuf,
    pub health: Option<String>,
    pub discovery: Option<String>,
    /// `(action name, action.lua)`, sorted by name.
    pub actions: Vec<(String, String)>,
}

impl Customization {
    /// `tradeplane.io_TradingStrategy`, the suffix of the `argocd-cm` keys.
    pub fn key(&self) -> String {
        format!("{}_{}", self.group, self.kind)
    }
}

/// Subdirectories of `dir`, sorted by name.
fn subdirectories(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Every kind under `root`, sorted by group and kind.
pub fn load(root: &Path) -> anyhow::Result<Vec<Customization>> {
    let mut customizations = Vec::new();
    for group_dir in subdirectories(root)? {
        for dir in subdirectories(&group_dir)? {
            let health = read_optional(&dir.join("health.lua"))?;
            let actions_dir = dir.join("actions");
            let discovery = read_optional(&actions_dir.join("discovery.lua"))?;
            let mut actions = Vec::new();
            if actions_dir.is_dir() {
                for action_dir in subdirectories(&actions_dir)? {
                    let name = file_name(&action_dir);
                    if name == "testdata" {
                        continue;
                    }
                    let script = std::fs::read_to_string(action_dir.join("action.lua"))
                        .with_context(|| format!("{}: no action.lua", action_dir.display()))?;
                    actions.push((name, script));
                }
                if discovery.is_none() {
                    bail!("{}: actions without discovery.lua", actions_dir.display());
                }
            }
            customizations.push(Customization {
                group: file_name(&group_dir),
                kind: file_name(&dir),
                dir,
                health,
                discovery,
                actions,
            });
        }
    }
    Ok(customizations)
}

/// `text` as a YAML literal block scalar whose lines are indented by `indent` spaces, after
/// the `|` that introduces it (with the chomping indicator that keeps `text` exact).
fn literal_block(text: &str, indent: usize) -> anyhow::Result<String> {
    if text.starts_with([' ', '\t']) {
        bail!("a script that starts with white space needs an indentation indicator");
    }
    let body = text.trim_end_matches('\n');
    let trailing = text.len() - body.len();
    let chomping = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut block = format!("|{chomping}\n");
    let pad = " ".repeat(indent);
    for line in body.split('\n') {
        if line.is_empty() {
            block.push('\n');
        } else {
            let _ = writeln!(block, "{pad}{line}");
        }
    }
    for _ in 1..trailing {
        block.push('\n');
    }
    Ok(block)
}

/// The `argocd-cm` ConfigMap that installs `customizations`.
pub fn render_argocd_cm(customizations: &[Customization]) -> anyhow::Result<String> {
    let mut out = String::from(
        "# Generated from examples/argocd/resource_customizations/ by `make argocd-cm`: edit the\n\
         # .lua files there, not this file (a test fails when the two differ).\n\
         #\n\
         # Tradeplane's health checks and actions for Argo CD. Merge these keys into Argo CD's own\n\
         # ConfigMap, leaving its other settings alone:\n\
         #\n\
         #   kubectl apply --server-side --field-manager=tradeplane -n argocd -f examples/argocd/argocd-cm.yaml\n\
         apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n  \
           name: argocd-cm\n  \
           labels:\n    \
             app.kubernetes.io/name: argocd-cm\n    \
             app.kubernetes.io/part-of: argocd\n\
         data:\n",
    );
    for customization in customizations {
        let key = customization.key();
        if let Some(health) = &customization.health {
            let _ = write!(
                out,
                "  resource.customizations.health.{key}: {}",
                literal_block(health, 4)?
            );
        }
        if let Some(discovery) = &customization.discovery {
            let _ = write!(
                out,
                "  resource.customizations.actions.{key}: |\n    discovery.lua: {}    definitions:\n",
                literal_block(discovery, 6)?
            );
            for (name, script) in &customization.actions {
                let _ = write!(
                    out,
                    "    - name: {name}\n      action.lua: {}",
                    literal_block(script, 8)?
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_literal_block_keeps_the_text_exactly() {
        for text in ["a\n\n  b\n", "a\nb", "a\n\n\n", "x = 1 -- : not a key\n"] {
            let yaml = format!("k: {}", literal_block(text, 2).unwrap());
            let parsed: std::collections::BTreeMap<String, String> =
                serde_yaml::from_str(&yaml).unwrap();
            assert_eq!(parsed["k"], text, "{yaml}");
        }
    }
}
