//! Reading a [`RuntimeConfig`] from the mounted file (YAML or JSON).
//!
//! The apiVersion is checked before the body, so a runtime handed a config from a newer
//! operator says "wrong version" rather than "unknown field". Parse errors carry the path of
//! the offending field (`risk.maxDrawdown`), like validation errors, so both read alike.

use std::path::{Path, PathBuf};

use super::{CONFIG_API_VERSION, ConfigError, RuntimeConfig};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not valid YAML or JSON: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: apiVersion: must be {CONFIG_API_VERSION:?}, got {found}")]
    ApiVersion { path: PathBuf, found: String },
    #[error("{file}: {field}: {message}")]
    Field {
        file: PathBuf,
        field: String,
        message: String,
    },
    #[error("{path}: {} invalid field(s): {}", errors.len(), join(errors))]
    Invalid {
        path: PathBuf,
        errors: Vec<ConfigError>,
    },
}

fn join(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl RuntimeConfig {
    /// Reads and parses, without semantic validation (see [`RuntimeConfig::validate`]).
    pub fn read_file(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Reads, parses and validates a strategy's config: what `trader` and `cycle` start with.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let config = Self::read_file(path)?;
        config.validate().map_err(|errors| LoadError::Invalid {
            path: path.to_path_buf(),
            errors,
        })?;
        Ok(config)
    }

    /// Parses YAML or JSON text (JSON is YAML, but is parsed as JSON for clearer errors);
    /// `origin` only names the source in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, LoadError> {
        let path = origin.to_path_buf();
        let is_json = text.trim_start().starts_with('{');
        let value: serde_yaml::Value = if is_json {
            serde_json::from_str(text).map_err(|err| LoadError::Syntax {
                path: path.clone(),
                message: err.to_string(),
            })?
        } else {
            serde_yaml::from_str(text).map_err(|err| LoadError::Syntax {
                path: path.clone(),
                message: err.to_string(),
            })?
        };
        match value.get("apiVersion") {
            Some(serde_yaml::Value::String(found)) if found == CONFIG_API_VERSION => {}
            Some(serde_yaml::Value::String(found)) => {
                return Err(LoadError::ApiVersion {
                    path,
                    found: format!("{found:?}"),
                });
            }
            Some(_) => {
                return Err(LoadError::ApiVersion {
                    path,
                    found: "a non-string".into(),
                });
            }
            None => {
                return Err(LoadError::ApiVersion {
                    path,
                    found: "nothing".into(),
                });
            }
        }
        if is_json {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de).map_err(|err| field_error(&err, path))
        } else {
            let de = serde_yaml::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|err| field_error(&err, path))
        }
    }
}

fn field_error<E: std::fmt::Display>(
    err: &serde_path_to_error::Error<E>,
    file: PathBuf,
) -> LoadError {
    let field = camel_path(&err.path().to_string());
    let message = err.inner().to_string();
    // serde_yaml already prefixes its message with the path; say it once.
    let message = message
        .strip_prefix(&format!("{field}: "))
        .map(str::to_string)
        .unwrap_or(message);
    LoadError::Field {
        file,
        field,
        message,
    }
}

/// `serde_path_to_error` prints `.` for the root; keep it readable.
fn camel_path(path: &str) -> String {
    if path == "." {
        "(top level)".to_string()
    } else {
        path.to_string()
    }
}
