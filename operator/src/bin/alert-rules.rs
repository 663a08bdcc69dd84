//! Writes the Prometheus rule files the operator renders for the TradingStrategies and
//! AgentPools of a manifest: `alert-rules MANIFEST [--namespace NS] [--out DIR]`.
//!
//! Each file is what the object's PrometheusRule holds, loadable by `promtool` and a plain
//! Prometheus (`rule_files:`). Without `--out` the files go to stdout, one YAML document each.
//! Objects without a namespace are taken to be in NS (default `default`), which the rules'
//! `namespace` matchers then name.

use std::path::PathBuf;

use clap::Parser;
use tradeplane_operator::controllers::monitoring_files::render_manifest;

#[derive(Parser)]
#[command(about = "Write the alert rule files the operator renders for a manifest")]
struct Args {
    /// A YAML manifest with TradingStrategies and/or AgentPools (other kinds are skipped).
    manifest: PathBuf,
    /// The namespace of objects that do not name one.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// A directory to write `<kind>-<namespace>-<name>.rules.yaml` files into.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let manifest = std::fs::read_to_string(&args.manifest)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.manifest.display()))?;
    let files = render_manifest(&manifest, &args.namespace)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.manifest.display()))?;
    match args.out {
        None => {
            for file in &files {
                print!("---\n{}", file.yaml);
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            for file in &files {
                let path = dir.join(&file.name);
                std::fs::write(&path, &file.yaml)?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
