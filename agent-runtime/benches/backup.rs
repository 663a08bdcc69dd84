//! What backups cost: `cargo bench -p tradeplane-agent-runtime --bench backup`.
//!
//! Printed, not asserted:
//! 1. backup and restore time, stored size and rows/s for journals of 10k, 100k and 1M rows
//!    (`TRADEPLANE_BENCH_BACKUP_ROWS=10000,100000` for a quicker run), on SQLite and on
//!    PostgreSQL, to a directory and to a real S3-compatible server (versitygw on this
//!    machine), each restored into a new journal of the same backend;
//! 2. the trader's journal writes per cycle (a cycle's start, an equity snapshot, its end)
//!    while backups run back to back, against the same writes idle.
//!
//! The journals are filled through the journal's bulk load with the synthetic rows the tests
//! use (decisions with their analyst reports, orders, fills, equity, events, LLM calls).

#[path = "../tests/backup_support/mod.rs"]
mod backup_support;
#[path = "../tests/journal_support/mod.rs"]
mod journal_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agent_runtime::backup::{self, restore};
use agent_runtime::config::RuntimeConfig;
use agent_runtime::journal::{CycleRecord, CycleStatus, Journal};
use backup_support::{S3Server, Scratch, config, postgres, sqlite};
use chrono::Utc;
use tradeplane_contract::backup::{BackupJob, Destination, RestoreJob, Retention, S3Location};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn sizes() -> Vec<usize> {
    std::env::var("TRADEPLANE_BENCH_BACKUP_ROWS")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn rate(rows: i64, took: Duration) -> String {
    format!("{:.0}k rows/s", rows as f64 / took.as_secs_f64() / 1000.0)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

struct Backend {
    name: &'static str,
    /// A new, empty journal's config.
    fresh: Box<dyn Fn(&str) -> PathBuf>,
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let dir = Scratch::new("bench-backup");
    let s3 = S3Server::start();
    let pg = journal_support::Postgres::start();
    let s3_destination = |prefix: &str| {
        Destination::S3(S3Location {
            bucket: s3.bucket.clone(),
            prefix: prefix.into(),
            endpoint: Some(s3.endpoint.clone()),
            region: None,
            credentials_dir: s3.credentials.clone(),
        })
    };

    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("backup and restore ({build} build; synthetic journal rows)");
    println!(
        "{:<9} {:>9} {:<5} {:>10} {:>15} {:>10} {:>10} {:>15}",
        "backend", "rows", "to", "backup", "", "size", "restore", ""
    );
    for rows in sizes() {
        let mut backends = Vec::new();
        let base = dir.0.clone();
        backends.push(Backend {
            name: "sqlite",
            fresh: Box::new(move |tag: &str| {
                config(&base, tag, "bench", sqlite(&base.join(format!("{tag}.db"))))
            }),
        });
        let mut pg_configs = Vec::new();
        for n in 0..3 {
            let url = pg.fresh_database(&format!("bench{rows}x{n}")).await;
            let file = dir.path(&format!("url-{rows}-{n}"));
            std::fs::write(&file, url)?;
            pg_configs.push(config(
                &dir.0,
                &format!("pg-{rows}-{n}"),
                "bench",
                postgres(&file),
            ));
        }
        let pg_configs = std::sync::Mutex::new(pg_configs);
        backends.push(Backend {
            name: "postgres",
            fresh: Box::new(move |_| {
                pg_configs
                    .lock()
                    .map(|mut c| c.remove(0))
                    .unwrap_or_default()
            }),
        });
        for backend in &backends {
            let source = RuntimeConfig::read_file(&(backend.fresh)(&format!("src-{rows}")))?;
            let journal = Journal::open(&source.journal).await?;
            backup_support::fill(&journal, rows).await;
            journal.close().await;
            for (to, destination) in [
                (
                    "dir",
                    Destination::Directory {
                        path: dir.path(&format!("bk-{}-{rows}", backend.name)),
                    },
                ),
                ("s3", s3_destination(&format!("{}-{rows}", backend.name))),
            ] {
                let job = BackupJob {
                    destination: destination.clone(),
                    retention: Retention::default(),
                    report_status: false,
                };
                let started = Instant::now();
                let done = backup::run(&source, &job).await?;
                let backup_took = started.elapsed();
                let target =
                    RuntimeConfig::read_file(&(backend.fresh)(&format!("dst-{to}-{rows}")))?;
                let restore_job = RestoreJob {
                    destination,
                    backup: Some(done.manifest.name.clone()),
                    from_strategy: None,
                    force: true,
                    once: false,
                    report_status: false,
                };
                let started = Instant::now();
                restore::run(&target, &restore_job).await?;
                let restore_took = started.elapsed();
                let m = &done.manifest;
                println!(
                    "{:<9} {:>9} {:<5} {:>9.2}s {:>15} {:>10} {:>9.2}s {:>15}",
                    backend.name,
                    m.rows,
                    to,
                    backup_took.as_secs_f64(),
                    rate(m.rows, backup_took),
                    megabytes(m.data.size_bytes),
                    restore_took.as_secs_f64(),
                    rate(m.rows, restore_took),
                );
            }
        }
    }

    cycle_latency(&dir).await?;
    Ok(())
}

/// The trader's per-cycle journal writes, idle and while backups of the same SQLite journal
/// run back to back (a backup's read transaction beside the trader's writes).
async fn cycle_latency(dir: &Scratch) -> BenchResult<()> {
    let rows = sizes()
        .into_iter()
        .filter(|r| *r <= 100_000)
        .max()
        .unwrap_or(10_000);
    let cfg = config(&dir.0, "latency", "bench", sqlite(&dir.path("latency.db")));
    let config = RuntimeConfig::read_file(&cfg)?;
    let journal = Journal::open(&config.journal).await?;
    backup_support::fill(&journal, rows).await;
    const CYCLES: usize = 300;
    let idle = cycles(&journal, 0, CYCLES).await?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let backups = {
        let stop = stop.clone();
        let job = BackupJob {
            destination: Destination::Directory {
                path: dir.path("latency-backups"),
            },
            retention: Retention {
                keep_last: Some(1),
                keep_within: None,
            },
            report_status: false,
        };
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if backup::run(&config, &job).await.is_ok() {
                    n += 1;
                }
            }
            n
        })
    };
    let busy = cycles(&journal, CYCLES, CYCLES).await?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let taken = backups.await?;
    journal.close().await;
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 - 1.0) * p) as usize];
    println!(
        "\ntrader journal writes per cycle, SQLite journal of {rows} rows ({CYCLES} cycles each)"
    );
    for (what, v) in [("idle", &idle), ("during backups", &busy)] {
        println!(
            "  {what:<15} p50 {:>9.2?}  p95 {:>9.2?}  max {:>9.2?}",
            pct(v, 0.5),
            pct(v, 0.95),
            v[v.len() - 1]
        );
    }
    let p50 = |v: &[Duration]| pct(v, 0.5).as_secs_f64();
    println!(
        "  {taken} backups ran meanwhile; p50 {:+.1}% against idle",
        (p50(&busy) / p50(&idle) - 1.0) * 100.0
    );
    Ok(())
}

/// Each cycle's writes as the trader makes them (its start, an equity snapshot, its end),
/// timed; sorted.
async fn cycles(journal: &Journal, from: usize, n: usize) -> BenchResult<Vec<Duration>> {
    let mut took = Vec::with_capacity(n);
    for i in from..from + n {
        let started = Instant::now();
        let mut cycle = CycleRecord {
            cycle_id: format!("bench-{i:06}"),
            started_at: Utc::now(),
            finished_at: None,
            status: CycleStatus::Running,
            summary: None,
        };
        journal.record_cycle(&cycle).await?;
        journal
            .record_equity(Utc::now(), 50_000.0, 100_000.0)
            .await?;
        cycle.finished_at = Some(Utc::now());
        cycle.status = CycleStatus::Completed;
        journal.record_cycle(&cycle).await?;
        took.push(started.elapsed());
        // Cycles are spaced: the trader waits for its schedule between them.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    took.sort();
    Ok(took)
}
