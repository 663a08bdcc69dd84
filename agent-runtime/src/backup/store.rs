//! A destination as an `object_store`: a directory (`LocalFileSystem`, which writes each
//! object to a staging file and renames it into place) or an S3-compatible bucket
//! (`AmazonS3`: SigV4, multipart uploads, retries), under the destination's prefix.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use tradeplane_contract::backup::{
    DEFAULT_REGION, Destination, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN,
};

use super::BackupError;

/// Opens the destination; `create` makes a missing directory (a backup), otherwise a missing
/// directory is an error (a restore or a listing has nothing to read there).
pub fn open(destination: &Destination, create: bool) -> Result<Arc<dyn ObjectStore>, BackupError> {
    match destination {
        Destination::Directory { path } => {
            if create {
                std::fs::create_dir_all(path).map_err(|source| BackupError::Io {
                    what: format!("cannot create the backup directory {}", path.display()),
                    source,
                })?;
            } else if !path.is_dir() {
                return Err(BackupError::Destination(format!(
                    "the backup directory {} does not exist",
                    path.display()
                )));
            }
            let store =
                LocalFileSystem::new_with_prefix(path).map_err(|source| BackupError::Store {
                    what: format!("cannot use the backup directory {}", path.display()),
                    source,
                })?;
            Ok(Arc::new(store))
        }
        Destination::S3(s3) => {
            let dir = &s3.credentials_dir;
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(&s3.bucket)
                .with_region(s3.region.as_deref().unwrap_or(DEFAULT_REGION))
                .with_access_key_id(credential(dir, S3_ACCESS_KEY_ID)?)
                .with_secret_access_key(credential(dir, S3_SECRET_ACCESS_KEY)?)
                // Bounded, so an unreachable service fails a backup in about a minute
                // rather than the default's minutes.
                .with_retry(RetryConfig {
                    max_retries: 4,
                    retry_timeout: Duration::from_secs(60),
                    ..RetryConfig::default()
                })
                .with_client_options(
                    ClientOptions::new()
                        .with_connect_timeout(Duration::from_secs(10))
                        .with_timeout(Duration::from_secs(120)),
                );
            if let Ok(token) = std::fs::read_to_string(dir.join(S3_SESSION_TOKEN)) {
                builder = builder.with_token(token.trim());
            }
            if let Some(endpoint) = &s3.endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            let store = builder.build().map_err(|source| BackupError::Store {
                what: format!("cannot use the bucket {}", s3.bucket),
                source,
            })?;
            if s3.prefix.is_empty() {
                Ok(Arc::new(store))
            } else {
                Ok(Arc::new(PrefixStore::new(store, s3.prefix.as_str())))
            }
        }
    }
}

/// A credential file's content, trimmed; the error names the file, never its content.
fn credential(dir: &Path, name: &str) -> Result<String, BackupError> {
    let path = dir.join(name);
    let value = std::fs::read_to_string(&path).map_err(|source| BackupError::Io {
        what: format!("cannot read the S3 credential file {}", path.display()),
        source,
    })?;
    let value = value.trim();
    if value.is_empty() {
        return Err(BackupError::Destination(format!(
            "the S3 credential file {} is empty",
            path.display()
        )));
    }
    Ok(value.to_string())
}

/// The destination in a log line: where, never how to get in.
pub fn describe(destination: &Destination) -> String {
    match destination {
        Destination::Directory { path } => path.display().to_string(),
        Destination::S3(s3) if s3.prefix.is_empty() => format!("s3://{}", s3.bucket),
        Destination::S3(s3) => format!("s3://{}/{}", s3.bucket, s3.prefix),
    }
}
