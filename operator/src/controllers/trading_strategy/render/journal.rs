//! The journal's volume: a PersistentVolumeClaim for the SQLite file, none with PostgreSQL.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::api::trading_strategy::{JournalBackend, TradingStrategy};
use crate::controllers::meta::Component;
use crate::controllers::resources::ChildMeta;
use crate::controllers::trading_strategy::names::Names;

/// The size of a journal volume whose strategy names none.
pub const DEFAULT_SIZE: &str = "1Gi";

/// Whether the strategy journals to PostgreSQL (and so needs no volume of its own).
pub fn is_postgres(strategy: &TradingStrategy) -> bool {
    strategy.spec.journal.as_ref().map(|j| j.backend) == Some(JournalBackend::Postgres)
}

/// The claim, or `None` with PostgreSQL.
pub fn claim(
    strategy: &TradingStrategy,
    meta: &ChildMeta<'_>,
    names: &Names,
) -> Option<PersistentVolumeClaim> {
    if is_postgres(strategy) {
        return None;
    }
    let sqlite = strategy
        .spec
        .journal
        .as_ref()
        .and_then(|j| j.sqlite.clone())
        .unwrap_or_default();
    let size = sqlite
        .storage_size
        .unwrap_or_else(|| Quantity(DEFAULT_SIZE.to_string()));
    Some(PersistentVolumeClaim {
        metadata: meta.child(&names.journal, Component::Trader),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_string()]),
            storage_class_name: sqlite.storage_class_name,
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_string(), size)])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    })
}
