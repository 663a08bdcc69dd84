//! `agent-runtime restore`: loads a backup into the journal the config names.
//!
//! The data is streamed from the destination into one transaction and checked as it comes
//! (its format, then at the end its checksum, size, row counts and per-table content
//! checksums against the manifest); the transaction commits only when everything matched,
//! so a refused backup leaves the journal as it was. Without `--backup` the newest backup is
//! loaded; one that fails its checks is skipped (and named in the outcome) for the next.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::ObjectStore;
use tradeplane_contract::backup::RestoreJob;

use super::format::{Decoder, FileDigest};
use super::manifest::{self, Manifest};
use super::{BackupError, differences, store};
use crate::config::RuntimeConfig;
use crate::journal::Journal;
use crate::journal::portable::{DumpSource, ImportOptions, Item, PortableError, RestoreMarker};

#[derive(Clone, Debug, PartialEq)]
pub enum Restored {
    Loaded {
        backup: String,
        rows: i64,
        /// Newer backups skipped because they failed their checks, with why.
        skipped: Vec<String>,
    },
    /// `--once`, and the journal already holds a restore.
    AlreadyRestored { backups: Vec<String> },
}

pub async fn run(config: &RuntimeConfig, job: &RestoreJob) -> Result<Restored, BackupError> {
    let store = store::open(&job.destination, false)?;
    let listing = manifest::list(&store).await?;
    let of_strategy = |m: &Manifest| job.from_strategy.as_ref().is_none_or(|s| *s == m.strategy);
    let candidates: Vec<Manifest> = match &job.backup {
        Some(name) => {
            if let Some(bad) = listing
                .unreadable
                .iter()
                .find(|u| u.key == manifest::manifest_path(name).to_string())
            {
                return Err(BackupError::Integrity {
                    name: name.clone(),
                    problem: format!("its manifest {}: {}", bad.key, bad.problem),
                });
            }
            let found = listing
                .backups
                .iter()
                .find(|m| m.name == *name)
                .ok_or_else(|| {
                    let mut names: Vec<&str> = listing
                        .backups
                        .iter()
                        .map(|m| m.name.as_str())
                        .take(5)
                        .collect();
                    if names.is_empty() {
                        names.push("none");
                    }
                    BackupError::NotFound(format!(
                        "no backup named {name} at {} (newest there: {})",
                        store::describe(&job.destination),
                        names.join(", ")
                    ))
                })?;
            if !of_strategy(found) {
                return Err(BackupError::Integrity {
                    name: name.clone(),
                    problem: format!(
                        "it is a backup of strategy {}, not of {}",
                        found.strategy,
                        job.from_strategy.as_deref().unwrap_or_default()
                    ),
                });
            }
            vec![found.clone()]
        }
        None => listing
            .backups
            .iter()
            .filter(|m| of_strategy(m))
            .cloned()
            .collect(),
    };
    if candidates.is_empty() {
        return Err(BackupError::NotFound(format!(
            "no backup{} at {}",
            job.from_strategy
                .as_ref()
                .map(|s| format!(" of strategy {s}"))
                .unwrap_or_default(),
            store::describe(&job.destination)
        )));
    }
    let journal = Journal::open(&config.journal).await?;
    let result = load(&journal, &store, job, &candidates).await;
    journal.close().await;
    result
}

async fn load(
    journal: &Journal,
    store: &Arc<dyn ObjectStore>,
    job: &RestoreJob,
    candidates: &[Manifest],
) -> Result<Restored, BackupError> {
    if job.once {
        let backups = journal.restores().await?;
        if !backups.is_empty() {
            return Ok(Restored::AlreadyRestored { backups });
        }
    }
    let mut skipped = Vec::new();
    for manifest in candidates {
        match load_one(journal, store, job, manifest).await {
            Ok(rows) => {
                return Ok(Restored::Loaded {
                    backup: manifest.name.clone(),
                    rows,
                    skipped,
                });
            }
            // Only the newest-backup search moves on, and only past a bad backup.
            Err(err @ BackupError::Integrity { .. }) if job.backup.is_none() => {
                tracing::warn!(backup = manifest.name, %err, "skipping a backup that fails its checks");
                skipped.push(err.to_string());
            }
            Err(err) => return Err(err),
        }
    }
    Err(BackupError::NotFound(format!(
        "no backup passes its checks: {}",
        skipped.join("; ")
    )))
}

async fn load_one(
    journal: &Journal,
    store: &Arc<dyn ObjectStore>,
    job: &RestoreJob,
    manifest: &Manifest,
) -> Result<i64, BackupError> {
    let runtime = Journal::runtime_schema_version();
    if manifest.journal_schema_version > runtime {
        return Err(BackupError::Integrity {
            name: manifest.name.clone(),
            problem: format!(
                "its journal schema version {} is newer than this runtime's {runtime}",
                manifest.journal_schema_version
            ),
        });
    }
    let data = object_store::path::Path::from(manifest.data.key.as_str());
    if data != manifest::data_path(&manifest.name) {
        return Err(BackupError::Integrity {
            name: manifest.name.clone(),
            problem: format!("its manifest points at {data}, not at its own data"),
        });
    }
    let stream = store
        .get(&data)
        .await
        .map_err(|source| match source {
            object_store::Error::NotFound { .. } => BackupError::Integrity {
                name: manifest.name.clone(),
                problem: format!("its data {data} is missing"),
            },
            source => BackupError::Store {
                what: format!("cannot read {data}"),
                source,
            },
        })?
        .into_stream();
    let mut source = Download {
        name: manifest.name.clone(),
        expected: FileDigest {
            size_bytes: manifest.data.size_bytes,
            sha256: manifest.data.sha256.clone(),
            tables: manifest.tables.clone(),
        },
        stream,
        decoder: Some(Decoder::default()),
        pending: VecDeque::new(),
        verdict: None,
    };
    let options = ImportOptions {
        force: job.force,
        marker: RestoreMarker {
            backup: manifest.name.clone(),
            source_strategy: manifest.strategy.clone(),
            checksum: manifest.checksum(),
        },
    };
    let summary = match journal.import(&mut source, &options).await {
        Ok(summary) => summary,
        // A row that does not read: say first whether the file is the one described.
        Err(BackupError::Portable(PortableError::Malformed(problem))) => {
            let problem = source.explain(problem).await;
            return Err(source.integrity(problem));
        }
        Err(err) => return Err(err),
    };
    tracing::info!(
        backup = manifest.name,
        rows = summary.rows,
        "backup restored"
    );
    Ok(summary.rows)
}

/// The import's source: the data object's bytes through a [`Decoder`], checked against the
/// manifest when the stream ends (before the import commits).
struct Download {
    name: String,
    expected: FileDigest,
    stream: BoxStream<'static, object_store::Result<bytes::Bytes>>,
    decoder: Option<Decoder>,
    /// Items decoded from the stream's last bytes, handed out before the verdict.
    pending: VecDeque<Item>,
    /// Set when the stream has ended: None if everything matched, or what did not.
    verdict: Option<Option<String>>,
}

impl Download {
    /// After a decoding error: hashes the rest of the file, so the error says first whether
    /// the file is the one the manifest describes.
    async fn explain(&mut self, problem: String) -> String {
        let Some(decoder) = self.decoder.as_mut() else {
            return problem;
        };
        while let Some(Ok(chunk)) = self.stream.next().await {
            decoder.hash_only(&chunk);
        }
        let (sha256, size) = decoder.file_figures();
        self.compared(problem, &sha256, size)
    }

    /// A decoding `problem` of a file whose bytes hash to `sha256`: a checksum error first
    /// when the file is not the one the manifest describes.
    fn compared(&self, problem: String, sha256: &str, size: u64) -> String {
        if sha256 != self.expected.sha256 {
            format!(
                "the data's checksum is sha256:{sha256}, the manifest says sha256:{} \
                 ({size} bytes read; it does not decode: {problem})",
                self.expected.sha256
            )
        } else {
            format!("it does not decode, though its checksum matches the manifest: {problem}")
        }
    }

    fn integrity(&self, problem: String) -> BackupError {
        BackupError::Integrity {
            name: self.name.clone(),
            problem,
        }
    }
}

impl DumpSource for Download {
    type Error = BackupError;

    async fn next(&mut self) -> Result<Option<Item>, BackupError> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(Some(item));
            }
            if let Some(verdict) = &self.verdict {
                return match verdict {
                    None => Ok(None),
                    Some(problem) => Err(self.integrity(problem.clone())),
                };
            }
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(None);
            };
            if let Some(item) = decoder.next_item() {
                return Ok(Some(item));
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => {
                    if let Err(problem) = decoder.feed(&chunk) {
                        let problem = self.explain(problem).await;
                        return Err(self.integrity(problem));
                    }
                }
                Some(Err(source)) => {
                    return Err(BackupError::Store {
                        what: format!("cannot read the data of {}", self.name),
                        source,
                    });
                }
                None => {
                    let Some(decoder) = self.decoder.take() else {
                        return Ok(None);
                    };
                    // A flipped byte can surface as gzip's own check failing at the end;
                    // whether the file is the manifest's comes first there too.
                    let (sha256, size) = decoder.file_figures();
                    let (rest, found) = decoder
                        .finish()
                        .map_err(|problem| self.integrity(self.compared(problem, &sha256, size)))?;
                    self.pending = rest;
                    self.verdict = Some(differences(&self.expected, &found).into_iter().next());
                }
            }
        }
    }
}
