//! The manifest: one small JSON object per backup, `<name>.manifest.json`, written last and
//! under its final name only after the data was uploaded and read back. Listing backups means
//! listing manifests, so an upload cut short is never listed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::BackupError;
use super::format::TableDigest;

pub const FORMAT: &str = "tradeplane-journal-backup";
pub const VERSION: u32 = 1;
pub const MANIFEST_SUFFIX: &str = ".manifest.json";
pub const DATA_SUFFIX: &str = ".jsonl.gz";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    pub namespace: String,
    pub strategy: String,
    /// When the snapshot was taken.
    pub started_at: DateTime<Utc>,
    /// When the backup was verified and this manifest written.
    pub completed_at: DateTime<Utc>,
    /// `sqlite` or `postgres`: where it came from (it loads into either).
    pub journal_backend: String,
    pub journal_schema_version: i64,
    pub runtime_version: String,
    pub data: DataObject,
    pub rows: i64,
    pub tables: Vec<TableDigest>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataObject {
    pub key: String,
    pub size_bytes: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn checksum(&self) -> String {
        format!("sha256:{}", self.data.sha256)
    }
}

pub fn manifest_path(name: &str) -> Path {
    Path::from(format!("{name}{MANIFEST_SUFFIX}"))
}

pub fn data_path(name: &str) -> Path {
    Path::from(format!("{name}{DATA_SUFFIX}"))
}

/// A manifest that could not be read: listed as such, never restored, never pruned.
#[derive(Clone, Debug)]
pub struct Unreadable {
    pub key: String,
    pub problem: String,
}

/// What a destination holds.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Newest first.
    pub backups: Vec<Manifest>,
    pub unreadable: Vec<Unreadable>,
    /// Data objects without a manifest (uploads cut short), with their age.
    pub orphans: Vec<(Path, DateTime<Utc>)>,
}

pub async fn list(store: &Arc<dyn ObjectStore>) -> Result<Listing, BackupError> {
    let listed = store
        .list_with_delimiter(None)
        .await
        .map_err(|source| BackupError::Store {
            what: "cannot list the destination".into(),
            source,
        })?;
    let mut listing = Listing::default();
    let mut names = Vec::new();
    for object in &listed.objects {
        let key = object.location.as_ref();
        let Some(name) = key.strip_suffix(MANIFEST_SUFFIX) else {
            continue;
        };
        names.push(name.to_string());
        match read(store, &object.location).await {
            Ok(manifest) if manifest.name == name => listing.backups.push(manifest),
            Ok(manifest) => listing.unreadable.push(Unreadable {
                key: key.to_string(),
                problem: format!("it names the backup {:?}", manifest.name),
            }),
            Err(problem) => listing.unreadable.push(Unreadable {
                key: key.to_string(),
                problem,
            }),
        }
    }
    for object in listed.objects {
        let key = object.location.as_ref();
        if let Some(name) = key.strip_suffix(DATA_SUFFIX)
            && !names.iter().any(|n| n == name)
        {
            listing
                .orphans
                .push((object.location.clone(), object.last_modified));
        }
    }
    listing.backups.sort_by(|a, b| {
        b.completed_at
            .cmp(&a.completed_at)
            .then_with(|| b.name.cmp(&a.name))
    });
    Ok(listing)
}

async fn read(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<Manifest, String> {
    let bytes: Vec<u8> = store
        .get(path)
        .await
        .map_err(|e| format!("cannot read it: {e}"))?
        .into_stream()
        .map_ok(|chunk| chunk.to_vec())
        .try_concat()
        .await
        .map_err(|e| format!("cannot read it: {e}"))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a backup manifest: {e}"))?;
    if manifest.format != FORMAT || manifest.format_version != VERSION {
        return Err(format!(
            "format {:?} version {}, this runtime reads {FORMAT:?} version {VERSION}",
            manifest.format, manifest.format_version
        ));
    }
    Ok(manifest)
}
