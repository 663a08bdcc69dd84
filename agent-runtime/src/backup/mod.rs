//! Journal backups (`agent-runtime backup`) and what restores and listings share.
//!
//! A backup is two objects at the destination: the data, `<name>.jsonl.gz` (see [`format`]),
//! and the manifest, `<name>.manifest.json` (see [`manifest`]). The order is what makes it
//! atomic: the journal is streamed out of one snapshot, compressed and uploaded as it is read
//! (a single PUT when small, a multipart upload otherwise, so memory stays flat); the upload
//! is then read back and its checksum, row counts and per-table content checksums compared
//! with what was written; only then is the manifest put under its final name. A backup killed
//! at any point before that leaves no manifest, and only manifests are listed. Retention then
//! prunes (manifest first, then data) and clears data objects an interrupted run left behind.

pub mod format;
pub mod manifest;
pub mod report;
pub mod restore;
pub mod retention;
pub mod store;

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use tokio::io::AsyncWriteExt;
use tradeplane_contract::backup::{BackupJob, BackupReport, Outcome};

use crate::config::RuntimeConfig;
use crate::journal::portable::{DumpSink, Item, PortableError};
use crate::journal::{Journal, JournalError};
use format::{Decoder, Encoder, FileDigest};
use manifest::{DataObject, Manifest};

/// The runtime's version, recorded in every manifest and report.
pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Uploads switch from one PUT to a multipart upload of parts this large (S3 wants at least
/// 5 MiB per part). `TRADEPLANE_BACKUP_PART_SIZE` (bytes) overrides it: the tests use small
/// parts to interrupt an upload part-way.
const PART_SIZE: usize = 8 * 1024 * 1024;

fn part_size() -> usize {
    std::env::var("TRADEPLANE_BACKUP_PART_SIZE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(PART_SIZE, |v| v.max(64 * 1024))
}
/// Compressed bytes gathered before they are handed to the upload.
const FLUSH_AT: usize = 256 * 1024;
/// A data object without a manifest older than this is an interrupted upload, not one in
/// progress.
const ORPHAN_AGE: chrono::Duration = chrono::Duration::hours(1);

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("journal: {0}")]
    Portable(#[from] PortableError),
    #[error("{what}: {source}")]
    Store {
        what: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Destination(String),
    /// The backup is not what its manifest says (or not a backup at all).
    #[error("backup {name}: {problem}")]
    Integrity { name: String, problem: String },
    #[error("{0}")]
    NotFound(String),
}

/// What a successful backup produced.
#[derive(Clone, Debug)]
pub struct Outcomes {
    pub manifest: Manifest,
    pub kept: usize,
    pub pruned: Vec<String>,
}

/// The backup's name: the strategy and the snapshot's time to the millisecond, so names sort
/// by time and two backups of one strategy cannot share one.
pub fn backup_name(strategy: &str, at: DateTime<Utc>) -> String {
    format!("{strategy}-{}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// Takes one backup of the journal `config` names and prunes by `job.retention`.
pub async fn run(config: &RuntimeConfig, job: &BackupJob) -> Result<Outcomes, BackupError> {
    let store = store::open(&job.destination, true)?;
    let journal = Journal::open_read_only(&config.journal).await?;
    let result = take(config, &journal, &store).await;
    journal.close().await;
    let manifest = result?;
    let listing = manifest::list(&store).await?;
    // Only this strategy's backups: a prefix shared by mistake must not let one strategy's
    // retention prune another's.
    let identity = &config.identity;
    let names: Vec<(String, DateTime<Utc>)> = listing
        .backups
        .iter()
        .filter(|m| m.strategy == identity.name && m.namespace == identity.namespace)
        .map(|m| (m.name.clone(), m.completed_at))
        .collect();
    let pruned = retention::prunable(&names, &job.retention, Utc::now());
    for name in &pruned {
        delete(&store, &manifest::manifest_path(name)).await?;
        delete(&store, &manifest::data_path(name)).await?;
        tracing::info!(backup = name, "pruned by the retention policy");
    }
    let now = Utc::now();
    for (path, modified) in &listing.orphans {
        if now.signed_duration_since(*modified) > ORPHAN_AGE {
            delete(&store, path).await?;
            tracing::info!(object = %path, "removed the data of an interrupted backup");
        }
    }
    Ok(Outcomes {
        manifest,
        kept: names.len() - pruned.len(),
        pruned,
    })
}

async fn take(
    config: &RuntimeConfig,
    journal: &Journal,
    store: &Arc<dyn ObjectStore>,
) -> Result<Manifest, BackupError> {
    let started = Utc::now();
    let name = backup_name(&config.identity.name, started);
    let data = manifest::data_path(&name);
    tracing::info!(backup = name, "uploading the journal");
    let mut upload = Upload {
        encoder: Some(Encoder::new().map_err(|e| io("cannot start the dump", e))?),
        writer: BufWriter::with_capacity(store.clone(), data.clone(), part_size()),
        shut_down: false,
    };
    let exported = journal.export(&mut upload).await;
    let written = match exported {
        Ok(version) => upload.finish().await.map(|digest| (version, digest)),
        Err(err) => Err(err),
    };
    let (version, written) = match written {
        Ok(written) => written,
        Err(err) => {
            upload.abort().await;
            return Err(err);
        }
    };
    // A journal read with no process holding it must not have changed meanwhile; otherwise
    // the dump is discarded before any manifest lists it.
    let checked = match journal.still_unattended() {
        Ok(()) => verify(store, &name, &data, &written).await,
        Err(err) => Err(err.into()),
    };
    if let Err(err) = checked {
        // Not listed (no manifest); removed so it is not mistaken for anything.
        let _ = store.delete(&data).await;
        return Err(err);
    }
    let manifest = Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::VERSION,
        name: name.clone(),
        namespace: config.identity.namespace.clone(),
        strategy: config.identity.name.clone(),
        started_at: started,
        completed_at: Utc::now(),
        journal_backend: journal.backend_name().into(),
        journal_schema_version: version,
        runtime_version: RUNTIME_VERSION.into(),
        data: DataObject {
            key: data.to_string(),
            size_bytes: written.size_bytes,
            sha256: written.sha256.clone(),
        },
        rows: written.rows(),
        tables: written.tables,
    };
    let body = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| io("cannot write the manifest", e.into()))?;
    store
        .put(&manifest::manifest_path(&name), body.into())
        .await
        .map_err(|source| BackupError::Store {
            what: format!("cannot write the manifest of {name}"),
            source,
        })?;
    tracing::info!(
        backup = name,
        rows = manifest.rows,
        bytes = manifest.data.size_bytes,
        "backup written and verified"
    );
    Ok(manifest)
}

/// Reads the uploaded data back and compares it with what was written.
async fn verify(
    store: &Arc<dyn ObjectStore>,
    name: &str,
    data: &Path,
    written: &FileDigest,
) -> Result<(), BackupError> {
    let read = read_back(store, name, data, |_| Ok(())).await?;
    if let Some(problem) = differences(written, &read).first() {
        return Err(BackupError::Integrity {
            name: name.into(),
            problem: format!("reading the upload back: {problem}"),
        });
    }
    Ok(())
}

/// Streams a data object through a [`Decoder`], handing each item to `each`.
async fn read_back(
    store: &Arc<dyn ObjectStore>,
    name: &str,
    data: &Path,
    mut each: impl FnMut(Item) -> Result<(), BackupError>,
) -> Result<FileDigest, BackupError> {
    let integrity = |problem: String| BackupError::Integrity {
        name: name.into(),
        problem,
    };
    let mut stream = store
        .get(data)
        .await
        .map_err(|source| BackupError::Store {
            what: format!("cannot read {data}"),
            source,
        })?
        .into_stream();
    let mut decoder = Decoder::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| BackupError::Store {
            what: format!("cannot read {data}"),
            source,
        })?;
        decoder.feed(&chunk).map_err(integrity)?;
        while let Some(item) = decoder.next_item() {
            each(item)?;
        }
    }
    let (rest, digest) = decoder.finish().map_err(integrity)?;
    for item in rest {
        each(item)?;
    }
    Ok(digest)
}

/// What differs between the figures `expected` (a manifest's, or the writer's) and `found`
/// (the reader's), each naming the figure.
pub fn differences(expected: &FileDigest, found: &FileDigest) -> Vec<String> {
    let mut out = Vec::new();
    if expected.sha256 != found.sha256 {
        out.push(format!(
            "the data's checksum is sha256:{}, the manifest says sha256:{}",
            found.sha256, expected.sha256
        ));
    }
    if expected.size_bytes != found.size_bytes {
        out.push(format!(
            "the data is {} bytes, the manifest says {}",
            found.size_bytes, expected.size_bytes
        ));
    }
    for table in &expected.tables {
        match found.tables.iter().find(|t| t.name == table.name) {
            None => out.push(format!("table {} is missing from the data", table.name)),
            Some(t) if t.rows != table.rows => out.push(format!(
                "table {} has {} rows, the manifest says {}",
                table.name, t.rows, table.rows
            )),
            Some(t) if t.sha256 != table.sha256 => out.push(format!(
                "table {}'s content checksum is {}, the manifest says {}",
                table.name, t.sha256, table.sha256
            )),
            Some(_) => {}
        }
    }
    for table in &found.tables {
        if !expected.tables.iter().any(|t| t.name == table.name) {
            out.push(format!(
                "table {} is in the data but not in the manifest",
                table.name
            ));
        }
    }
    out
}

async fn delete(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<(), BackupError> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(BackupError::Store {
            what: format!("cannot delete {path}"),
            source,
        }),
    }
}

fn io(what: &str, source: std::io::Error) -> BackupError {
    BackupError::Io {
        what: what.into(),
        source,
    }
}

/// The export's sink: encodes, and hands compressed bytes to the upload as they accumulate.
struct Upload {
    encoder: Option<Encoder>,
    writer: BufWriter,
    /// Whether `shutdown` was called: the writer then must not be aborted (object_store
    /// panics, "Already shut down" — seen on a real node when the upload's one `put` failed).
    shut_down: bool,
}

impl Upload {
    /// Drops what was uploaded of a backup that failed, where the writer still can: after a
    /// failed shutdown nothing is left to abort (a data object without its manifest is never
    /// listed, and is removed once old, see [`ORPHAN_AGE`]).
    async fn abort(&mut self) {
        if !self.shut_down {
            let _ = self.writer.abort().await;
        }
    }

    async fn finish(&mut self) -> Result<FileDigest, BackupError> {
        let encoder = self
            .encoder
            .take()
            .ok_or_else(|| BackupError::Destination("the dump was finished twice".into()))?;
        let (last, digest) = encoder
            .finish()
            .map_err(|e| io("cannot finish the dump", e))?;
        self.write(&last).await?;
        self.shut_down = true;
        self.writer
            .shutdown()
            .await
            .map_err(|e| io("cannot complete the upload", e))?;
        Ok(digest)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|e| io("cannot upload the backup", e))
    }
}

impl DumpSink for Upload {
    type Error = BackupError;

    async fn put(&mut self, item: Item) -> Result<(), BackupError> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(BackupError::Destination(
                "the dump was already finished".into(),
            ));
        };
        encoder
            .item(&item)
            .map_err(|e| io("cannot encode the dump", e))?;
        if encoder.pending() >= FLUSH_AT {
            let bytes = encoder.take();
            self.write(&bytes).await?;
        }
        Ok(())
    }
}

/// The per-table figures of a journal as a backup would record them now (row counts and
/// content checksums), without writing anything: what two journals are compared by.
pub async fn journal_digest(journal: &Journal) -> Result<Vec<format::TableDigest>, BackupError> {
    struct Hashing(format::TableHashes);
    impl DumpSink for Hashing {
        type Error = BackupError;
        async fn put(&mut self, item: Item) -> Result<(), BackupError> {
            match item {
                Item::Table { name, .. } => self.0.table(&name),
                Item::Row(values) => {
                    let line = serde_json::to_vec(&values)
                        .map_err(|e| io("cannot encode a row", e.into()))?;
                    self.0.row(&line);
                }
            }
            Ok(())
        }
    }
    let mut hashing = Hashing(format::TableHashes::default());
    journal.export(&mut hashing).await?;
    Ok(hashing.0.finish())
}

/// The status report of a finished backup.
pub fn report(started: DateTime<Utc>, result: &Result<Outcomes, BackupError>) -> BackupReport {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut report = BackupReport {
        outcome: Outcome::Failed,
        name: None,
        start_time: time(started),
        completion_time: time(Utc::now()),
        size_bytes: None,
        rows: None,
        table_rows: Default::default(),
        checksum: None,
        journal_schema_version: None,
        runtime_version: RUNTIME_VERSION.into(),
        pod: std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()),
        backups_kept: None,
        backups_pruned: None,
        message: None,
    };
    match result {
        Ok(done) => {
            let m = &done.manifest;
            report.outcome = Outcome::Succeeded;
            report.name = Some(m.name.clone());
            report.start_time = time(m.started_at);
            report.completion_time = time(m.completed_at);
            report.size_bytes = i64::try_from(m.data.size_bytes).ok();
            report.rows = Some(m.rows);
            report.table_rows = m.tables.iter().map(|t| (t.name.clone(), t.rows)).collect();
            report.checksum = Some(m.checksum());
            report.journal_schema_version = Some(m.journal_schema_version);
            report.backups_kept = i32::try_from(done.kept).ok();
            report.backups_pruned = i32::try_from(done.pruned.len()).ok();
        }
        Err(err) => report.message = Some(err.to_string()),
    }
    report
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use object_store::local::LocalFileSystem;

    /// An upload whose last write fails (its one `put` cannot create the file) reports the
    /// error, and cleaning up after it does not panic.
    #[tokio::test]
    async fn a_failed_upload_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("tradeplane-upload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // The data's folder is a file: the put fails, even for root.
        std::fs::write(dir.join("blocker"), b"").unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&dir).unwrap());
        let mut upload = Upload {
            encoder: Some(Encoder::new().unwrap()),
            writer: BufWriter::with_capacity(store, Path::from("blocker/b.jsonl.gz"), PART_SIZE),
            shut_down: false,
        };
        let failed = upload.finish().await;
        assert!(
            matches!(&failed, Err(BackupError::Io { what, .. }) if what == "cannot complete the upload"),
            "{failed:?}"
        );
        upload.abort().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
