//! Where a backtest's bars come from when they are not a local file: an object of an
//! S3-compatible bucket (`--data-s3-*`), read with the backups' S3 client
//! ([`crate::backup::store`]) and streamed, chunk by chunk, into a file under a scratch
//! directory; or the config's symbols from an Alpaca-compatible market data API between two
//! times (`--data-api-*`), read with the trader's market data client page by page into one
//! `SYMBOL.csv` each. The CSV reader then streams those files as it would any `--data`, so a
//! bad row is refused naming its line, and the bars' checks (order, gaps) are the same.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tradeplane_contract::backup::{Destination, S3Location};
use tradeplane_contract::command::BacktestArgs;
use tradeplane_contract::layout::{BROKER_KEY_ID, BROKER_SECRET_KEY};

use crate::backup::{BackupError, store};
use crate::domain::Bar;
use crate::market::MarketDataError;
use crate::market::alpaca::AlpacaMarketData;

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
    #[error("{flag}: {problem}")]
    Flag { flag: &'static str, problem: String },
    #[error("{symbol}: {source}")]
    Api {
        symbol: String,
        source: MarketDataError,
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

/// The market data API the flags name, if any, with its times read and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiSource {
    pub url: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub timeframe: String,
    pub credentials_dir: PathBuf,
}

impl ApiSource {
    /// None without `--data-api-url`; a time that does not read, or an end not after the
    /// start, is refused naming its flag.
    pub fn from_args(args: &BacktestArgs) -> Result<Option<Self>, SourceError> {
        let Some(url) = args.data_api_url.clone() else {
            return Ok(None);
        };
        let start = flag_time("--data-api-start", args.data_api_start.as_deref())?;
        let end = flag_time("--data-api-end", args.data_api_end.as_deref())?;
        if end <= start {
            return Err(SourceError::Flag {
                flag: "--data-api-end",
                problem: format!("{end} is not after --data-api-start {start}"),
            });
        }
        Ok(Some(Self {
            url,
            start,
            end,
            timeframe: args.data_api_timeframe.clone(),
            credentials_dir: args.data_api_credentials_dir.clone().unwrap_or_default(),
        }))
    }

    /// Fetches every symbol's bars into `dir/SYMBOL.csv`; returns `dir`.
    pub async fn fetch(&self, symbols: &[String], dir: &Path) -> Result<PathBuf, SourceError> {
        let key = |name: &str| -> Result<String, SourceError> {
            let path = self.credentials_dir.join(name);
            std::fs::read_to_string(&path)
                .map(|k| k.trim().to_string())
                .map_err(|e| SourceError::Flag {
                    flag: "--data-api-credentials-dir",
                    problem: format!("cannot read {}: {e}", path.display()),
                })
        };
        let client = AlpacaMarketData::new(
            &self.url,
            &self.timeframe,
            &key(BROKER_KEY_ID)?,
            &key(BROKER_SECRET_KEY)?,
            std::time::Duration::from_secs(60),
        )
        .map_err(|e| SourceError::Flag {
            flag: "--data-api-url",
            problem: e.to_string(),
        })?;
        std::fs::create_dir_all(dir).map_err(|source| SourceError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        for symbol in symbols {
            self.fetch_symbol(&client, symbol, dir).await?;
        }
        Ok(dir.to_path_buf())
    }

    async fn fetch_symbol(
        &self,
        client: &AlpacaMarketData,
        symbol: &str,
        dir: &Path,
    ) -> Result<(), SourceError> {
        let path = dir.join(format!("{symbol}.csv"));
        let write = |source: std::io::Error| SourceError::Write {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::create(&path).map_err(write)?;
        let mut out = std::io::BufWriter::new(file);
        writeln!(out, "time,open,high,low,close,volume").map_err(write)?;
        let mut failed: Option<std::io::Error> = None;
        let result = client
            .history(symbol, self.start, self.end, |bars| {
                if let Err(e) = write_bars(&mut out, &bars) {
                    failed = Some(e);
                }
                Ok(())
            })
            .await;
        result.map_err(|source| SourceError::Api {
            symbol: symbol.to_string(),
            source,
        })?;
        if let Some(e) = failed {
            return Err(write(e));
        }
        out.flush().map_err(write)
    }
}

fn write_bars(out: &mut impl Write, bars: &[Bar]) -> std::io::Result<()> {
    for bar in bars {
        let time = bar.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        writeln!(
            out,
            "{time},{},{},{},{},{}",
            bar.open, bar.high, bar.low, bar.close, bar.volume
        )?;
    }
    Ok(())
}

fn flag_time(flag: &'static str, text: Option<&str>) -> Result<DateTime<Utc>, SourceError> {
    let text = text.unwrap_or_default();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| SourceError::Flag {
            flag,
            problem: format!("{text:?} is not an RFC 3339 time: {e}"),
        })
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

    fn api_args(start: &str, end: &str) -> BacktestArgs {
        use clap::Parser;
        let argv = [
            "agent-runtime",
            "backtest",
            "--config",
            "c.yaml",
            "--data-api-url",
            "http://data",
            "--data-api-start",
            start,
            "--data-api-end",
            end,
            "--data-api-credentials-dir",
            "/keys",
        ];
        match tradeplane_contract::command::Command::try_parse_from(argv).map(|c| c.mode) {
            Ok(tradeplane_contract::command::Mode::Backtest(args)) => *args,
            other => panic!("not a backtest: {other:?}"),
        }
    }

    #[test]
    fn an_end_not_after_the_start_is_refused_naming_the_flag() {
        for end in ["2020-01-01T00:00:00Z", "2019-06-01T00:00:00Z"] {
            let err = ApiSource::from_args(&api_args("2020-01-01T00:00:00Z", end))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("--data-api-end: "), "{err}");
        }
        let err = ApiSource::from_args(&api_args("January", "2020-01-01T00:00:00Z"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--data-api-start: \"January\""), "{err}");
        let ok = ApiSource::from_args(&api_args("2020-01-01T00:00:00Z", "2020-03-01T00:00:00Z"))
            .unwrap()
            .unwrap();
        assert_eq!(ok.timeframe, "1Day");
        assert!(ok.end > ok.start);
    }

    #[test]
    fn a_key_without_a_file_name_is_refused_naming_the_flag() {
        for key in ["daily/", "", "a/.."] {
            let err = source(key).file_name().unwrap_err().to_string();
            assert!(err.starts_with("--data-s3-key: "), "{err}");
        }
    }
}
