//! The two Secrets a runtime pod mounts: its config file, and the credentials the config
//! names by file (never by value), plus the hash of both that rolls the pods on a change.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tradeplane_contract::config::RuntimeConfig;
use tradeplane_contract::layout::CONFIG_FILE;

use crate::controllers::meta::content_hash;

/// A runtime config as the file the pod reads.
pub struct ConfigFile {
    pub yaml: String,
}

impl ConfigFile {
    /// Serializes `config`. Fails only if the config type cannot be serialized, a bug.
    pub fn render(config: &RuntimeConfig) -> Result<Self, serde_yaml::Error> {
        Ok(Self {
            yaml: serde_yaml::to_string(config)?,
        })
    }

    /// The config Secret: one key, the file name the pod's `--config` points at.
    pub fn secret(&self, metadata: ObjectMeta) -> Secret {
        opaque(
            metadata,
            &BTreeMap::from([(CONFIG_FILE.to_string(), self.yaml.clone().into_bytes())]),
        )
    }

    /// The hash of everything the pods read at start — this file and every credential —
    /// for the pod template: a change of any of them rolls the pods.
    pub fn inputs_hash(&self, credentials: &BTreeMap<String, Vec<u8>>) -> String {
        let mut hashed: Vec<&[u8]> = vec![self.yaml.as_bytes()];
        for (key, value) in credentials {
            hashed.push(key.as_bytes());
            hashed.push(value);
        }
        content_hash(&hashed)
    }
}

/// An `Opaque` Secret holding `data`.
pub fn opaque(metadata: ObjectMeta, data: &BTreeMap<String, Vec<u8>>) -> Secret {
    Secret {
        metadata,
        data: Some(
            data.iter()
                .map(|(key, value)| (key.clone(), ByteString(value.clone())))
                .collect(),
        ),
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    }
}
