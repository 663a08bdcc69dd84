//! `agent-runtime backup`, `restore` and `backups list`, run as the binary the pods run,
//! against a directory and against a real S3-compatible server (versitygw, started per test
//! by `tests/s3/up.sh` with keys generated for the run). Never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backup_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_runtime::backup::journal_digest;
use agent_runtime::journal::{EventRecord, Journal, RejectionRecord};
use backup_support::{
    Destination, S3Server, Scratch, backup, config, listed, restore, runtime, sqlite, text,
};
use chrono::Utc;

/// A journal with rows in every table: a replayed paper-trading run, plus an event, a risk
/// rejection and an LLM call (which a quantitative replay does not produce).
async fn replayed_journal(dir: &Scratch) -> std::path::PathBuf {
    let db = dir.path("source.db");
    let cfg = config(&dir.0, "source", "momentum", sqlite(&db));
    let output = Command::new(backup_support::binary())
        .args(["replay", "--config"])
        .arg(&cfg)
        .arg("--journal-db")
        .arg(&db)
        .args(["--max-cycles", "120"])
        .output()
        .unwrap();
    assert!(output.status.success(), "replay failed: {}", text(&output));
    let journal = Journal::open_sqlite(&db).await.unwrap();
    journal
        .record_event(&EventRecord {
            cycle_id: None,
            kind: "position_corrected".into(),
            message: "broker shows 12 AAPL".into(),
            details: Some(serde_json::json!({"symbol": "AAPL", "quantity": 12})),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    journal
        .record_rejection(&RejectionRecord {
            cycle_id: "c-1".into(),
            symbol: "MSFT".into(),
            reason: "max_order_notional".into(),
            detail: "60000 over 50000".into(),
            rejected_at: Utc::now(),
        })
        .await
        .unwrap();
    fill_llm_call(&journal).await;
    journal.close().await;
    cfg
}

async fn fill_llm_call(journal: &Journal) {
    use agent_runtime::agents::llm::LlmCall;
    journal
        .record_llm_call(&LlmCall {
            provider: "openai".into(),
            role: "news".into(),
            at: Utc::now(),
            prompt_tokens: 1200,
            completion_tokens: 180,
            cost_usd: 0.0031,
        })
        .await
        .unwrap();
    use agent_runtime::agents::llm::{AnswerKey, Completion, Usage, verdict_request};
    let asked = verdict_request("gpt-test", 0.2, "system", "Symbol: AAPL".into());
    let answer = Completion {
        content: r#"{"signal":"bullish","confidence":0.7,"rationale":"r"}"#.into(),
        usage: Usage {
            prompt_tokens: 1200,
            completion_tokens: 180,
        },
    };
    journal
        .record_llm_answer(&AnswerKey::new("openai", &asked), &answer)
        .await
        .unwrap();
}

async fn digest_of(db: &std::path::Path) -> Vec<agent_runtime::backup::format::TableDigest> {
    let journal = Journal::open_sqlite(db).await.unwrap();
    let digest = journal_digest(&journal).await.unwrap();
    journal.close().await;
    digest
}

fn rows(digest: &[agent_runtime::backup::format::TableDigest]) -> i64 {
    digest.iter().map(|t| t.rows).sum()
}

#[tokio::test]
async fn a_backup_restores_into_a_new_journal_identically_from_a_directory_and_from_s3() {
    let dir = Scratch::new("backup-roundtrip");
    let source_cfg = replayed_journal(&dir).await;
    let source = digest_of(&dir.path("source.db")).await;
    for table in &source {
        assert!(
            table.rows > 0,
            "the source journal has no {} rows",
            table.name
        );
    }
    let s3 = S3Server::start();
    for (n, destination) in Destination::both(&dir, &s3).iter().enumerate() {
        let name = backup(&source_cfg, destination, &[]);
        assert!(name.starts_with("momentum-"), "{name}");
        assert_eq!(listed(destination), [(name.clone(), rows(&source))]);

        // Into a new journal: identical, table by table.
        let target_db = dir.path(&format!("target-{n}.db"));
        let target_cfg = config(
            &dir.0,
            &format!("target-{n}"),
            "momentum",
            sqlite(&target_db),
        );
        let output = restore(&target_cfg, destination, &["--backup", &name]);
        assert!(output.status.success(), "restore failed: {}", text(&output));
        assert_eq!(digest_of(&target_db).await, source);

        // A journal that is not empty is refused, naming what it holds; --force replaces it;
        // --once leaves a restored journal alone.
        let again = restore(&target_cfg, destination, &[]);
        assert!(!again.status.success());
        assert!(
            text(&again).contains("not empty (cycles: 120 rows"),
            "{}",
            text(&again)
        );
        let forced = restore(&target_cfg, destination, &["--force"]);
        assert!(forced.status.success(), "{}", text(&forced));
        assert_eq!(digest_of(&target_db).await, source);
        let once = restore(&target_cfg, destination, &["--once"]);
        assert!(once.status.success(), "{}", text(&once));
        assert!(
            text(&once).contains("already holds a restore"),
            "{}",
            text(&once)
        );

        // Secrets never reach the output.
        for output in [&again, &forced, &once] {
            assert!(!text(output).contains(&s3.secret()));
        }
    }
}

#[tokio::test]
async fn retention_keeps_exactly_the_policy() {
    let dir = Scratch::new("backup-retention");
    let db = dir.path("journal.db");
    let cfg = config(&dir.0, "journal", "momentum", sqlite(&db));
    let journal = Journal::open_sqlite(&db).await.unwrap();
    backup_support::fill(&journal, 200).await;
    journal.close().await;
    let total = rows(&digest_of(&db).await);
    let other_cfg = config(&dir.0, "other", "other", sqlite(&db));
    let s3 = S3Server::start();
    for destination in Destination::both(&dir, &s3) {
        // Another strategy's backup at the same place is never this one's to prune.
        let other = backup(&other_cfg, &destination, &[]);
        let mine = |destination: &Destination| -> Vec<(String, i64)> {
            listed(destination)
                .into_iter()
                .filter(|(n, _)| n.starts_with("momentum-"))
                .collect()
        };
        let mut taken = Vec::new();
        for i in 1..=5 {
            taken.push(backup(&cfg, &destination, &["--keep-last", "3"]));
            let names: Vec<String> = mine(&destination).into_iter().map(|(n, _)| n).collect();
            let expected: Vec<String> = taken.iter().rev().take(3).cloned().collect();
            assert_eq!(names, expected, "after backup {i}");
        }
        // Every backup is younger than an hour: keepWithin keeps them all beyond keepLast.
        taken.push(backup(
            &cfg,
            &destination,
            &["--keep-last", "1", "--keep-within", "1h"],
        ));
        assert_eq!(mine(&destination).len(), 4);
        // keepLast alone: only the newest.
        let newest = backup(&cfg, &destination, &["--keep-last", "1"]);
        assert_eq!(mine(&destination), [(newest, total)]);
        assert!(listed(&destination).iter().any(|(n, _)| *n == other));
    }
}

/// Every file under `dir`, as paths.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn a_backup_killed_mid_upload_leaves_nothing_listed_and_the_next_one_succeeds() {
    let dir = Scratch::new("backup-kill");
    let db = dir.path("journal.db");
    let cfg = config(&dir.0, "journal", "momentum", sqlite(&db));
    let journal = Journal::open_sqlite(&db).await.unwrap();
    backup_support::fill(&journal, 150_000).await;
    journal.close().await;
    let s3 = S3Server::start();
    for destination in Destination::both(&dir, &s3) {
        let mut child = Command::new(backup_support::binary())
            .args(["--log-format", "text", "backup", "--config"])
            .arg(&cfg)
            .args(destination.args())
            .env("RUST_LOG", "info")
            // Small parts: a multipart upload under way when the kill comes.
            .env("TRADEPLANE_BACKUP_PART_SIZE", "131072")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let started = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.contains("uploading the journal"));
        assert!(started, "the backup never started uploading");
        // Killed once parts are staged at the destination (LocalFileSystem's `<object>#<n>`
        // files, versitygw's multipart uploads): part-way through the upload.
        let staged = || match &destination {
            Destination::Dir(path) => files_under(path).iter().any(|f| f.contains(".jsonl.gz#")),
            Destination::S3(server, _) => files_under(&server.bucket_dir())
                .iter()
                .any(|f| f.contains("multipart")),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !staged() && child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            staged(),
            "no upload was under way ({})",
            destination.args()[0]
        );
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(
            !status.success() && status.code().is_none(),
            "the backup ended ({status}) before it could be killed: the journal is too small"
        );
        assert!(listed(&destination).is_empty(), "a killed backup is listed");

        let name = backup(&cfg, &destination, &[]);
        let listing = listed(&destination);
        assert_eq!(listing.len(), 1);
        assert_eq!(listing[0].0, name);
        assert!(listing[0].1 >= 150_000 - 10, "{listing:?}");
    }
}

#[tokio::test]
async fn a_flipped_byte_or_an_edited_manifest_is_refused_by_restore() {
    let dir = Scratch::new("backup-flip");
    let db = dir.path("journal.db");
    let cfg = config(&dir.0, "journal", "momentum", sqlite(&db));
    let journal = Journal::open_sqlite(&db).await.unwrap();
    backup_support::fill(&journal, 3_000).await;
    journal.close().await;
    let s3 = S3Server::start();
    for (n, destination) in Destination::both(&dir, &s3).iter().enumerate() {
        let good = backup(&cfg, destination, &[]);
        let damaged = backup(&cfg, destination, &[]);
        let data = destination.file(&format!("{damaged}.jsonl.gz"));
        let mut bytes = std::fs::read(&data).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&data, &bytes).unwrap();

        let target_db = dir.path(&format!("target-{n}.db"));
        let target_cfg = config(
            &dir.0,
            &format!("target-{n}"),
            "momentum",
            sqlite(&target_db),
        );
        let refused = restore(&target_cfg, destination, &["--backup", &damaged]);
        assert!(!refused.status.success());
        let message = text(&refused);
        assert!(
            message.contains(&format!("backup {damaged}: the data's checksum is sha256:")),
            "{message}"
        );
        assert_eq!(
            rows(&digest_of(&target_db).await),
            0,
            "a refused restore loaded rows"
        );

        // The newest good one: the damaged one is skipped, the older loaded.
        let newest = restore(&target_cfg, destination, &[]);
        assert!(newest.status.success(), "{}", text(&newest));
        assert!(
            text(&newest).contains(&format!("restored {good}")),
            "{}",
            text(&newest)
        );

        // A manifest whose figures were edited: the difference is named.
        let manifest = destination.file(&format!("{good}.manifest.json"));
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        let orders = value["tables"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|t| t["name"] == "orders")
            .unwrap();
        let real = orders["rows"].as_i64().unwrap();
        orders["rows"] = serde_json::json!(real + 1);
        std::fs::write(&manifest, serde_json::to_vec(&value).unwrap()).unwrap();
        let refused = restore(&target_cfg, destination, &["--backup", &good, "--force"]);
        assert!(!refused.status.success());
        assert!(
            text(&refused).contains(&format!(
                "table orders has {real} rows, the manifest says {}",
                real + 1
            )),
            "{}",
            text(&refused)
        );
    }
}

/// The journal's own invariants, which a backup read table by table at different moments
/// would break while the trader writes: every decision and order belongs to a journalled
/// cycle, every fill to a journalled order.
async fn assert_consistent(db: &std::path::Path) {
    let journal = Journal::open_sqlite(db).await.unwrap();
    let cycles: std::collections::HashSet<String> = journal
        .cycles()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.cycle_id)
        .collect();
    let orders = journal.orders().await.unwrap();
    let order_ids: std::collections::HashSet<String> = orders
        .iter()
        .map(|o| o.request.client_order_id.clone())
        .collect();
    for order in &orders {
        if let Some(cycle) = &order.cycle_id {
            assert!(cycles.contains(cycle), "order of an unknown cycle {cycle}");
        }
    }
    for fill in journal.fills().await.unwrap() {
        assert!(
            order_ids.contains(&fill.client_order_id),
            "fill of an unknown order"
        );
    }
    for cycle in &cycles {
        for decision in journal.decisions(cycle).await.unwrap() {
            assert_eq!(&decision.cycle_id, cycle);
        }
    }
    let decisions_total: i64 = journal_digest(&journal)
        .await
        .unwrap()
        .iter()
        .filter(|t| t.name == "decisions")
        .map(|t| t.rows)
        .sum();
    let decisions_in_cycles: usize = {
        let mut n = 0;
        for cycle in &cycles {
            n += journal.decisions(cycle).await.unwrap().len();
        }
        n
    };
    assert_eq!(
        decisions_total, decisions_in_cycles as i64,
        "decisions of unknown cycles"
    );
    journal.close().await;
}

/// Unmounts the bind mount it names when dropped.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `live` bind-mounted read-only at `read_only`: the backup pod's view of the journal volume.
fn mount_read_only(live: &std::path::Path, read_only: &std::path::Path) -> Unmount {
    let mounted = Command::new("mount")
        .args(["--bind", "-o", "ro"])
        .arg(live)
        .arg(read_only)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "this test bind-mounts the journal read-only: run it as root"
    );
    Unmount(read_only.to_path_buf())
}

#[tokio::test]
async fn backups_taken_from_a_read_only_mount_while_a_replay_trader_writes_are_consistent() {
    let dir = Scratch::new("backup-live");
    let live = dir.path("live");
    let read_only = dir.path("read-only");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::create_dir_all(&read_only).unwrap();
    let db = live.join("journal.db");
    let writer_cfg = config(&dir.0, "writer", "momentum", sqlite(&db));
    // The backup pod's view: the journal volume mounted read-only.
    let reader_cfg = config(
        &dir.0,
        "reader",
        "momentum",
        sqlite(&read_only.join("journal.db")),
    );
    let _unmount = mount_read_only(&live, &read_only);

    let mut trader = Command::new(backup_support::binary())
        .args(["replay", "--config"])
        .arg(&writer_cfg)
        .arg("--journal-db")
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Not merely the file: the journal's schema and a first cycle (the file appears before
    // the trader's migrations ran, and a backup of that would find no journal in it).
    while !journalled_a_cycle(&db).await && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let destination = Destination::Dir(dir.path("backups"));
    let mut during = Vec::new();
    while trader.try_wait().unwrap().is_none() && Instant::now() < deadline {
        let name = backup(&reader_cfg, &destination, &[]);
        if trader.try_wait().unwrap().is_none() {
            during.push(name);
        }
    }
    let _ = trader.kill();
    let _ = trader.wait();
    assert!(
        during.len() >= 2,
        "only {} backups ran while the trader wrote",
        during.len()
    );
    let mut sizes = Vec::new();
    for (i, name) in during.iter().enumerate() {
        let target = dir.path(&format!("restored-{i}.db"));
        let cfg = config(
            &dir.0,
            &format!("restored-{i}"),
            "momentum",
            sqlite(&target),
        );
        let output = restore(&cfg, &destination, &["--backup", name]);
        assert!(output.status.success(), "{}", text(&output));
        assert_consistent(&target).await;
        sizes.push(rows(&digest_of(&target).await));
    }
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
    assert!(
        sizes.first() < sizes.last(),
        "the trader wrote nothing between backups: {sizes:?}"
    );
    assert_consistent(&db).await;
}

/// Whether the SQLite journal at `db` holds a cycle, read without writing to it.
async fn journalled_a_cycle(db: &std::path::Path) -> bool {
    let url = format!("sqlite://{}?mode=ro", db.display());
    let Ok(pool) = sqlx::SqlitePool::connect(&url).await else {
        return false;
    };
    let cycles: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM cycles")
        .fetch_one(&pool)
        .await;
    pool.close().await;
    cycles.is_ok_and(|n| n > 0)
}

/// A journal no process holds (its trader stopped, so no WAL index or log beside it), on a
/// read-only mount where SQLite cannot create the index it reads a WAL database through:
/// read as it is, whole. (Before, this failed with "unable to open database file".)
#[tokio::test]
async fn a_journal_no_process_holds_is_backed_up_whole_from_a_read_only_mount() {
    let dir = Scratch::new("backup-idle");
    replayed_journal(&dir).await;
    let live = dir.path("live");
    let read_only = dir.path("read-only");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::create_dir_all(&read_only).unwrap();
    std::fs::copy(dir.path("source.db"), live.join("journal.db")).unwrap();
    for beside in ["journal.db-shm", "journal.db-wal"] {
        assert!(
            !live.join(beside).exists(),
            "{beside} left by a closed journal"
        );
    }
    let unmount = mount_read_only(&live, &read_only);
    let reader_cfg = config(
        &dir.0,
        "reader",
        "momentum",
        sqlite(&read_only.join("journal.db")),
    );
    let destination = Destination::Dir(dir.path("backups"));
    let name = backup(&reader_cfg, &destination, &[]);
    drop(unmount);

    let target = dir.path("restored.db");
    let cfg = config(&dir.0, "restored", "momentum", sqlite(&target));
    let output = restore(&cfg, &destination, &["--backup", &name]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        digest_of(&target).await,
        digest_of(&dir.path("source.db")).await
    );
}

#[test]
fn listing_a_destination_that_does_not_exist_names_it() {
    let dir = Scratch::new("backup-missing");
    let missing = dir.path("nowhere");
    let output = runtime(&[
        "backups".into(),
        "list".into(),
        "--dir".into(),
        missing.display().to_string(),
    ]);
    assert!(!output.status.success());
    assert!(text(&output).contains(&format!(
        "the backup directory {} does not exist",
        missing.display()
    )));
}
