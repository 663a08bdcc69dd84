//! The format of an AgentPool's spend ledger, read by the workers and by the operator.
//!
//! The ledger is one ConfigMap; each key is a worker replica (its pod name) and holds that
//! replica's spend for one UTC day as JSON: `{"day": "2026-12-01", "spentUsd": {"openai": 1.5}}`.
//! A replica's key is written only by that replica (server-side apply, its own field
//! manager), so no write ever races another; a key of an earlier day counts for nothing, and
//! a key of a replica that is gone still counts for its day — a restart, a rolling upgrade
//! or a scale-down never hands the pool fresh money.
//!
//! An entry also carries the replica's provider holds — until when a provider asked, with a
//! 429, not to be called (`"holds": {"openai": "2026-12-01T10:00:03.5Z"}`) — so the other
//! replicas, and this one after a restart, wait them out too. A hold counts until it ends,
//! whatever the entry's day.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// One replica's entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSpend {
    /// The UTC day the spend is for.
    pub day: NaiveDate,
    /// Dollars spent that day, per provider.
    pub spent_usd: BTreeMap<String, f64>,
    /// Dollars spent that day, per calling strategy (`namespace/name`), for the strategies'
    /// own budgets (`llmDailyBudgetUsd`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub strategies_usd: BTreeMap<String, f64>,
    /// Until when each provider asked this replica (a 429's `Retry-After`, or its backoff)
    /// not to be called; only holds not yet ended are published.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub holds: BTreeMap<String, DateTime<Utc>>,
}

/// The entries of a ledger's `data`, by replica; keys that do not parse are skipped (they
/// are not a replica's, and must not stop the others from counting).
pub fn entries(data: &BTreeMap<String, String>) -> BTreeMap<String, ReplicaSpend> {
    data.iter()
        .filter_map(|(replica, value)| {
            let spend: ReplicaSpend = serde_json::from_str(value).ok()?;
            Some((replica.clone(), spend))
        })
        .collect()
}

/// Dollars spent on `day` per provider, summed over the replicas `include` accepts.
pub fn spend_on(
    entries: &BTreeMap<String, ReplicaSpend>,
    day: NaiveDate,
    include: impl Fn(&str) -> bool,
) -> BTreeMap<String, f64> {
    sum_on(entries, day, include, |spend| &spend.spent_usd)
}

/// Dollars spent on `day` per strategy, summed over the replicas `include` accepts.
pub fn strategy_spend_on(
    entries: &BTreeMap<String, ReplicaSpend>,
    day: NaiveDate,
    include: impl Fn(&str) -> bool,
) -> BTreeMap<String, f64> {
    sum_on(entries, day, include, |spend| &spend.strategies_usd)
}

/// The holds of the replicas `include` accepts that have not ended at `now`: the latest
/// end per provider.
pub fn holds_after(
    entries: &BTreeMap<String, ReplicaSpend>,
    now: DateTime<Utc>,
    include: impl Fn(&str) -> bool,
) -> BTreeMap<String, DateTime<Utc>> {
    let mut latest: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    for (replica, spend) in entries {
        if !include(replica) {
            continue;
        }
        for (provider, until) in spend.holds.iter().filter(|(_, until)| **until > now) {
            let end = latest.entry(provider.clone()).or_insert(*until);
            *end = (*end).max(*until);
        }
    }
    latest
}

fn sum_on(
    entries: &BTreeMap<String, ReplicaSpend>,
    day: NaiveDate,
    include: impl Fn(&str) -> bool,
    field: impl Fn(&ReplicaSpend) -> &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    let mut total = BTreeMap::new();
    for (replica, spend) in entries {
        if spend.day != day || !include(replica) {
            continue;
        }
        for (provider, spent) in field(spend) {
            if spent.is_finite() && *spent > 0.0 {
                *total.entry(provider.clone()).or_insert(0.0) += spent;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_day_of_every_replica_and_skips_what_is_not_an_entry() {
        let data = BTreeMap::from([
            (
                "a".to_string(),
                r#"{"day":"2026-12-01","spentUsd":{"p":1.5,"q":1}}"#.to_string(),
            ),
            (
                "b".to_string(),
                r#"{"day":"2026-12-01","spentUsd":{"p":0.5}}"#.to_string(),
            ),
            (
                "old".to_string(),
                r#"{"day":"2026-11-30","spentUsd":{"p":9}}"#.to_string(),
            ),
            ("junk".to_string(), "not json".to_string()),
        ]);
        let entries = entries(&data);
        assert_eq!(entries.len(), 3);
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
        let all = spend_on(&entries, day, |_| true);
        assert_eq!(all, BTreeMap::from([("p".into(), 2.0), ("q".into(), 1.0)]));
        let others = spend_on(&entries, day, |r| r != "a");
        assert_eq!(others, BTreeMap::from([("p".into(), 0.5)]));
    }

    #[test]
    fn the_latest_hold_not_yet_ended_counts_whatever_the_day() {
        let data = BTreeMap::from([
            (
                "a".to_string(),
                r#"{"day":"2026-11-30","spentUsd":{},"holds":{"p":"2026-12-01T00:00:05Z","q":"2026-11-30T23:59:00Z"}}"#.to_string(),
            ),
            (
                "b".to_string(),
                r#"{"day":"2026-12-01","spentUsd":{"p":0.5},"holds":{"p":"2026-12-01T00:00:09.250Z"}}"#.to_string(),
            ),
            (
                "c".to_string(),
                r#"{"day":"2026-12-01","spentUsd":{"p":0.5}}"#.to_string(),
            ),
        ]);
        let entries = entries(&data);
        assert_eq!(entries.len(), 3, "an entry without holds still parses");
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap_or_default();
        let now = at("2026-12-01T00:00:00Z");
        assert_eq!(
            holds_after(&entries, now, |_| true),
            BTreeMap::from([("p".into(), at("2026-12-01T00:00:09.250Z"))])
        );
        assert_eq!(
            holds_after(&entries, now, |r| r == "a"),
            BTreeMap::from([("p".into(), at("2026-12-01T00:00:05Z"))])
        );
        assert!(holds_after(&entries, at("2026-12-01T00:00:10Z"), |_| true).is_empty());
        let written = serde_json::to_string(&entries["c"]).unwrap_or_default();
        assert!(!written.contains("holds"), "{written}");
    }
}
