//! Writes the CRDs into a directory (default `crds/`), one file per kind, or prints them all
//! with `--stdout`. `make crds` runs it; a test fails when the committed files are stale.

use std::path::PathBuf;

use tradeplane_operator::api::crd;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1);
    let crds = crd::all();
    if arg.as_deref() == Some("--stdout") {
        for (_, definition) in &crds {
            print!("---\n{}", crd::to_yaml(definition)?);
        }
        return Ok(());
    }
    let dir = PathBuf::from(arg.unwrap_or_else(|| "crds".to_string()));
    std::fs::create_dir_all(&dir)?;
    for (file, definition) in &crds {
        let path = dir.join(file);
        std::fs::write(&path, crd::to_yaml(definition)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
