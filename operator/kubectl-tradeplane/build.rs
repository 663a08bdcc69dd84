//! Embeds the dashboard's charting library when `scripts/ui-vendor.sh` (`make ui-vendor`) has
//! put it in the cache, and builds without it otherwise.
//!
//! Why conditional: a fresh clone must `cargo build` and `cargo clippy` without a network
//! step, and everything else the console shows (tables, timeline, controls) needs no library.
//! Without it the console says on the page that the charts were left out and names the make
//! target; `make plugin`, `make test` and `make bench` run `ui-vendor` first, so what they
//! build and test has the charts. The cfg `tradeplane_charts` and the env
//! `TRADEPLANE_CHARTS_JS` tell the crate which build this is.

use std::path::PathBuf;

/// Must match scripts/ui-vendor.sh.
const VENDORED: &str = "ui/lightweight-charts-4.2.3/lightweight-charts.js";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tradeplane_charts)");
    println!("cargo::rerun-if-env-changed=TRADEPLANE_CACHE");
    println!("cargo::rerun-if-env-changed=HOME");
    let cache = std::env::var_os("TRADEPLANE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tradeplane")));
    let Some(file) = cache.map(|c| c.join(VENDORED)) else {
        println!(
            "cargo::warning=no HOME or TRADEPLANE_CACHE: the dashboard is built without charts"
        );
        return;
    };
    // Watch the file even while it is missing, so running `make ui-vendor` later rebuilds.
    println!("cargo::rerun-if-changed={}", file.display());
    if file.is_file() {
        println!("cargo::rustc-cfg=tradeplane_charts");
        println!("cargo::rustc-env=TRADEPLANE_CHARTS_JS={}", file.display());
    } else {
        println!(
            "cargo::warning=the dashboard is built without charts: {} is missing; run `make ui-vendor` and build again",
            file.display()
        );
    }
}
