//! Where a backtest's bars come from when they are not a local file: an object of an
//! S3-compatible bucket (`--data-s3-*`), read with the backups' S3 client
//! ([`crate::backup::store`]) and streamed, chunk by chunk, into a file under a scratch
//! directory. The CSV reader then streams that file as it would any `--data`, so a bad row is
//! refused naming the same line it has in the object.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tradeplane_contract::backup::{Destination, S3Location};
use tradeplane_contract::command::BacktestArgs;

use crate::backup::{BackupError, store};

/// Why the bars could not be fetched; names the object, never the keys.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("--data-s3-key: {0}")]
    Key(String),
    #[error("--data-s3-bucket: {0}")]
    Store(#[from] BackupError),
    #[error("s3://{bucket}/{key}: {source}")]
    Read {
        bucket: String,
        key: String,
        source: object_store::Error,
    },
    #[error("cannot write the bars to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The object the flags name, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectSource {
    pub location: S3Location,
    pub key: String,
}

impl ObjectSource {
    pub fn from_args(args: &BacktestArgs) -> Option<Self> {
        let bucket = args.data_s3_bucket.clone()?;
        Some(Self {
            location: S3Location {
                bucket,
                prefix: String::new(),
                endpoint: args.data_s3_endpoint.clone(),
                region: args.data_s3_region.clone(),
                credentials_dir: args.data_s3_credentials_dir.clone().unwrap_or_default(),
            },
            key: args.data_s3_key.clone().unwrap_or_default(),
        })
    }

    /// The file name the CSV reader sees: the key's last segment (`SYMBOL.csv`, or a long
    /// file with a `symbol` column). A key without one is refused.
    pub fn file_name(&self) -> Result<&str, SourceError> {
        match self.key.rsplit('/').next() {
            Some(name) if !name.is_empty() && name != "." && name != ".." => Ok(name),
            _ => Err(SourceError::Key(format!(
                "`{}` does not end in a file name",
                self.key
            ))),
        }
    }

    /// Downloads the object into `dir` (created if missing); returns the file's path.
    pub async fn fetch(&self, dir: &Path) -> Result<PathBuf, SourceError> {
        let path = dir.join(self.file_name()?);
        let write = |source| SourceError::Write {
            path: path.clone(),
            source,
        };
        tokio::fs::create_dir_all(dir).await.map_err(write)?;
        let store = store::open(&Destination::S3(self.location.clone()), false)?;
        let read = |source| SourceError::Read {
            bucket: self.location.bucket.clone(),
            key: self.key.clone(),
            source,
        };
        let object = object_store::path::Path::from(self.key.as_str());
        let mut stream = store.get(&object).await.map_err(read)?.into_stream();
        let mut file = tokio::fs::File::create(&path).await.map_err(write)?;
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(read)?).await.map_err(write)?;
        }
        file.flush().await.map_err(write)?;
        Ok(path)
    }
}

/// A fresh scratch directory for one run's downloaded bars (under the pod's writable `/tmp`).
pub fn scratch_dir() -> PathBuf {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    std::env::temp_dir().join(format!("tradeplane-bars-{}-{nanos}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(key: &str) -> ObjectSource {
        ObjectSource {
            location: S3Location {
                bucket: "bars".into(),
                prefix: String::new(),
                endpoint: None,
                region: None,
                credentials_dir: PathBuf::new(),
            },
            key: key.into(),
        }
    }

    #[test]
    fn the_file_name_is_the_keys_last_segment() {
        assert_eq!(source("daily/SPY.csv").file_name().ok(), Some("SPY.csv"));
        assert_eq!(source("long.csv").file_name().ok(), Some("long.csv"));
    }

    #[test]
    fn a_key_without_a_file_name_is_refused_naming_the_flag() {
        for key in ["daily/", "", "a/.."] {
            let err = source(key).file_name().unwrap_err().to_string();
            assert!(err.starts_with("--data-s3-key: "), "{err}");
        }
    }
}
