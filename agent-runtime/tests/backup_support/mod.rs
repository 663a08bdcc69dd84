//! What the backup tests and the backup bench share: a real S3-compatible server
//! (versitygw, built and cached by `tests/s3/build.sh`, started by `tests/s3/up.sh` with keys
//! generated for the run), runtime configs for a journal, the `agent-runtime` binary, and a
//! generator that fills a journal with many realistic rows quickly.
#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agent_runtime::journal::Journal;
use agent_runtime::journal::portable::{
    DumpSource, ImportOptions, Item, PortableError, RestoreMarker,
};
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

/// A directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("tp-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A running versitygw with one bucket, stopped on drop.
pub struct S3Server {
    state: Scratch,
    pub endpoint: String,
    pub bucket: String,
    /// The directory holding `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, as a pod has it.
    pub credentials: PathBuf,
}

impl S3Server {
    pub fn start() -> Self {
        let state = Scratch::new("s3");
        let status = Command::new("bash")
            .arg(repo().join("tests/s3/up.sh"))
            .arg(&state.0)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run tests/s3/up.sh");
        assert!(status.success(), "tests/s3/up.sh failed");
        let env = std::fs::read_to_string(state.path("env")).unwrap();
        let get = |key: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("{key} missing from the S3 env file"))
                .to_string()
        };
        let credentials = state.path("credentials");
        std::fs::create_dir_all(&credentials).unwrap();
        std::fs::write(
            credentials.join("AWS_ACCESS_KEY_ID"),
            get("S3_ACCESS_KEY_ID"),
        )
        .unwrap();
        std::fs::write(
            credentials.join("AWS_SECRET_ACCESS_KEY"),
            format!("{}\n", get("S3_SECRET_ACCESS_KEY")),
        )
        .unwrap();
        Self {
            endpoint: get("S3_ENDPOINT"),
            bucket: get("S3_BUCKET"),
            credentials,
            state,
        }
    }

    /// The destination flags for a prefix in the bucket.
    pub fn args(&self, prefix: &str) -> Vec<String> {
        [
            "--s3-bucket",
            &self.bucket,
            "--s3-prefix",
            prefix,
            "--s3-endpoint",
            &self.endpoint,
            "--s3-region",
            "us-east-1",
            "--s3-credentials-dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([self.credentials.display().to_string()])
        .collect()
    }

    /// Where the server keeps an object's bytes (its posix backend: one file per object).
    pub fn object_file(&self, prefix: &str, key: &str) -> PathBuf {
        self.state
            .path("data")
            .join(&self.bucket)
            .join(prefix)
            .join(key)
    }

    /// The bucket's directory in the server's posix backend.
    pub fn bucket_dir(&self) -> PathBuf {
        self.state.path("data").join(&self.bucket)
    }

    pub fn secret(&self) -> String {
        std::fs::read_to_string(self.credentials.join("AWS_SECRET_ACCESS_KEY"))
            .unwrap()
            .trim()
            .to_string()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("tests/s3/down.sh"))
            .arg(&self.state.0)
            .status();
    }
}

/// A destination of either kind, as flags.
pub enum Destination<'a> {
    Dir(PathBuf),
    S3(&'a S3Server, String),
}

impl<'a> Destination<'a> {
    /// The pair every backup test runs against: `dir`'s `backups` directory, and the prefix
    /// `desk/momentum` of `s3`'s bucket.
    pub fn both(dir: &Scratch, s3: &'a S3Server) -> [Destination<'a>; 2] {
        [
            Destination::Dir(dir.path("backups")),
            Destination::S3(s3, "desk/momentum".into()),
        ]
    }

    pub fn args(&self) -> Vec<String> {
        match self {
            Destination::Dir(path) => vec!["--dir".into(), path.display().to_string()],
            Destination::S3(server, prefix) => server.args(prefix),
        }
    }

    /// The file behind a stored object (to damage it).
    pub fn file(&self, key: &str) -> PathBuf {
        match self {
            Destination::Dir(path) => path.join(key),
            Destination::S3(server, prefix) => server.object_file(prefix, key),
        }
    }
}

/// Writes a strategy config whose journal is the SQLite file `db`, or the PostgreSQL database
/// whose URL is in `url_file`; returns its path.
pub fn config(dir: &Path, name: &str, strategy: &str, journal: serde_json::Value) -> PathBuf {
    let config = json!({
        "apiVersion": "runtime.tradeplane.io/v1alpha1",
        "identity": {"namespace": "desk", "name": strategy},
        "symbols": ["AAPL", "MSFT"],
        "schedule": {"intervalSeconds": 1},
        "analysts": [
            {"role": "trend", "kind": "quant", "method": "trend", "weight": 1.0},
            {"role": "momentum", "kind": "quant", "method": "momentum", "weight": 1.0}
        ],
        "broker": {"kind": "paper", "startingCash": 100000},
        "journal": journal,
        "server": {"listen": "127.0.0.1:0"},
    });
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    path
}

pub fn sqlite(path: &Path) -> serde_json::Value {
    json!({"backend": "sqlite", "path": path})
}

pub fn postgres(url_file: &Path) -> serde_json::Value {
    json!({"backend": "postgres", "urlFile": url_file})
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_agent-runtime")
}

/// Runs `agent-runtime <args>` to the end.
pub fn runtime(args: &[String]) -> Output {
    Command::new(binary())
        .args(["--log-format", "text"])
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("run agent-runtime")
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `agent-runtime backup` with a config and a destination (and extra flags); asserts it
/// succeeded and returns the backup's name.
pub fn backup(config: &Path, destination: &Destination, extra: &[&str]) -> String {
    let mut args = vec![
        "backup".to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    args.extend(destination.args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let output = runtime(&args);
    assert!(output.status.success(), "backup failed: {}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .split(':')
        .next()
        .map(str::to_string)
        .expect("backup printed its name")
}

/// `agent-runtime restore`; the whole output.
pub fn restore(config: &Path, destination: &Destination, extra: &[&str]) -> Output {
    let mut args = vec![
        "restore".to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    args.extend(destination.args());
    args.extend(extra.iter().map(|s| s.to_string()));
    runtime(&args)
}

/// The backups `backups list --json` shows, newest first: (name, rows).
pub fn listed(destination: &Destination) -> Vec<(String, i64)> {
    let mut args = vec!["backups".to_string(), "list".into(), "--json".into()];
    args.extend(destination.args());
    let output = runtime(&args);
    assert!(
        output.status.success(),
        "backups list failed: {}",
        text(&output)
    );
    let manifests: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    manifests
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["rows"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Rows a synthetic journal holds per table, out of `total`.
const MIX: &[(&str, u32)] = &[
    ("cycles", 10),
    ("decisions", 30),
    ("orders", 12),
    ("fills", 12),
    ("equity_snapshots", 10),
    ("risk_rejections", 6),
    ("events", 10),
    ("llm_calls", 10),
];

/// Fills an empty journal with about `total` rows spread over its tables, through the
/// journal's own bulk load (one transaction: fast), plus the paper broker's books. Times
/// have sub-microsecond digits where SQLite keeps them, as the trader's `Utc::now()` does.
pub async fn fill(journal: &Journal, total: usize) {
    let mut source = Synthetic::new(total);
    let options = ImportOptions {
        force: false,
        marker: RestoreMarker {
            backup: format!("synthetic-{total}"),
            source_strategy: "synthetic".into(),
            checksum: "none".into(),
        },
    };
    journal.import(&mut source, &options).await.unwrap();
    journal.paper_open(100_000.0, Utc::now()).await.unwrap();
    journal.paper_set_mark("AAPL", 187.25).await.unwrap();
}

struct Synthetic {
    tables: Vec<(&'static str, usize)>,
    table: usize,
    row: usize,
    started: bool,
}

impl Synthetic {
    fn new(total: usize) -> Self {
        let weight: u32 = MIX.iter().map(|(_, w)| w).sum();
        let tables = MIX
            .iter()
            .map(|(t, w)| (*t, total * *w as usize / weight as usize))
            .collect();
        Self {
            tables,
            table: 0,
            row: 0,
            started: false,
        }
    }
}

fn columns(table: &str) -> Vec<String> {
    agent_runtime::journal::portable::schema::table(table)
        .unwrap()
        .columns
        .iter()
        .map(|(c, _)| c.to_string())
        .collect()
}

fn synthetic_row(table: &str, i: usize) -> Vec<serde_json::Value> {
    let base = Utc.with_ymd_and_hms(2025, 1, 2, 14, 30, 0).unwrap();
    let at = |offset: usize| {
        (base + Duration::seconds(offset as i64) + Duration::nanoseconds(123_456))
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    };
    let symbol = ["AAPL", "MSFT", "NVDA", "BTC/USD"][i % 4];
    let side = if i.is_multiple_of(2) { "buy" } else { "sell" };
    let cycle = format!("2025{:08}T143000Z", i / 3);
    let id = i as i64 + 1;
    match table {
        "cycles" => vec![
            json!(format!("2025{i:08}T143000Z")),
            json!(at(i)),
            json!(at(i + 1)),
            json!("completed"),
            json!(format!("{} decisions, 1 order", i % 5)),
        ],
        "decisions" => vec![
            json!(id),
            json!(cycle),
            json!(symbol),
            json!(if i.is_multiple_of(3) { "buy" } else { "hold" }),
            json!(i as f64 * 0.5),
            json!(0.72 + (i % 10) as f64 / 100.0),
            json!(format!(
                "trend {} above its 20-day mean; momentum positive",
                i % 7
            )),
            json!(format!(
                "[{{\"role\":\"trend\",\"signal\":\"buy\",\"confidence\":0.{}}}]",
                i % 10
            )),
            json!(at(i)),
            // The data window its seats saw (journalled since migration 7); older rows have none.
            if i.is_multiple_of(2) {
                json!(format!(
                    "{{\"symbol\":\"{symbol}\",\"timeframe\":\"1d\",\"barCount\":{}}}",
                    60 + i % 5
                ))
            } else {
                serde_json::Value::Null
            },
        ],
        "orders" => vec![
            json!(format!("desk-s-{i:09}-{symbol}-{side}")),
            json!(cycle),
            json!(symbol),
            json!(side),
            json!((i % 50 + 1) as f64),
            json!(187.25 + (i % 100) as f64 / 7.0),
            json!("filled"),
            json!(format!("paper-{i}")),
            serde_json::Value::Null,
            json!(at(i)),
            json!(at(i + 2)),
            if i.is_multiple_of(4) {
                serde_json::Value::Null
            } else {
                json!(i % 9)
            },
        ],
        "fills" => vec![
            json!(id),
            json!(format!("desk-s-{i:09}-{symbol}-{side}")),
            json!(symbol),
            json!(side),
            json!((i % 50 + 1) as f64),
            json!(187.31 + (i % 100) as f64 / 7.0),
            json!(0.05),
            json!(at(i + 1)),
        ],
        "equity_snapshots" => vec![
            json!(id),
            json!(at(i)),
            json!(50_000.0 - i as f64 / 3.0),
            json!(100_000.0 + (i % 1000) as f64 / 9.0),
        ],
        "risk_rejections" => vec![
            json!(id),
            json!(cycle),
            json!(symbol),
            json!("max_position_notional"),
            json!(format!("{} over the limit of 45000", 45_000 + i)),
            json!(at(i)),
        ],
        "events" => vec![
            json!(id),
            if i.is_multiple_of(2) {
                json!(cycle)
            } else {
                serde_json::Value::Null
            },
            json!("position_corrected"),
            json!(format!("broker shows {} shares", i % 30)),
            json!(format!("{{\"n\":{i}}}")),
            json!(at(i)),
        ],
        "llm_calls" => vec![
            json!(id),
            json!("2025-01-02"),
            json!("openai"),
            json!("news"),
            json!(1000 + i as i64),
            json!(200),
            json!(0.0042),
            json!(at(i)),
        ],
        other => panic!("no synthetic rows for {other}"),
    }
}

impl DumpSource for Synthetic {
    type Error = PortableError;

    async fn next(&mut self) -> Result<Option<Item>, PortableError> {
        while let Some((table, rows)) = self.tables.get(self.table).copied() {
            if !self.started {
                self.started = true;
                return Ok(Some(Item::Table {
                    name: table.into(),
                    columns: columns(table),
                }));
            }
            if self.row < rows {
                self.row += 1;
                return Ok(Some(Item::Row(synthetic_row(table, self.row - 1))));
            }
            self.table += 1;
            self.row = 0;
            self.started = false;
        }
        Ok(None)
    }
}
