//! A throwaway PostgreSQL for a test or a bench (tests/postgres/up.sh), stopped on drop: the
//! shared journal a strategy with several replicas needs.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use crate::repo_root;

pub struct Postgres {
    dir: PathBuf,
    /// The connection URL (`postgres://…/tradeplane`).
    pub url: String,
}

impl Postgres {
    /// Starts one in a directory of its own under the system temp dir, named after `user`.
    pub fn start(user: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("tp-{user}-pg-{}", std::process::id()));
        let status = Command::new("bash")
            .arg(repo_root().join("tests/postgres/up.sh"))
            .arg(&dir)
            .status()
            .context("running tests/postgres/up.sh")?;
        if !status.success() {
            bail!("tests/postgres/up.sh failed ({status}); see its output above");
        }
        let url = std::fs::read_to_string(dir.join("url"))
            .with_context(|| format!("reading {}/url", dir.display()))?
            .trim()
            .to_string();
        Ok(Self { dir, url })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("tests/postgres/down.sh"))
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
