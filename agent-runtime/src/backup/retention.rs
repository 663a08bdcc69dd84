//! Which backups a retention policy prunes. Pure.
//!
//! A backup is kept when it is one of the newest `keepLast`, or younger than `keepWithin`
//! (so it goes only when it is beyond both limits that are set); with no limit set every
//! backup is kept; the newest is never pruned, whatever the limits say.

use chrono::{DateTime, Duration, Utc};
use tradeplane_contract::backup::Retention;

/// The names to prune from `backups` (name, completion time), in any order.
pub fn prunable(
    backups: &[(String, DateTime<Utc>)],
    policy: &Retention,
    now: DateTime<Utc>,
) -> Vec<String> {
    if policy.keep_last.is_none() && policy.keep_within.is_none() {
        return Vec::new();
    }
    let mut newest_first: Vec<&(String, DateTime<Utc>)> = backups.iter().collect();
    newest_first.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    newest_first
        .into_iter()
        .enumerate()
        .filter(|(index, (_, at))| {
            let beyond_count = policy
                .keep_last
                .is_none_or(|n| *index >= usize::try_from(n).unwrap_or(usize::MAX));
            let beyond_age = policy.keep_within.is_none_or(|within| {
                let hours = i64::try_from(within.hours()).unwrap_or(i64::MAX);
                now.signed_duration_since(*at) >= Duration::hours(hours)
            });
            *index > 0 && beyond_count && beyond_age
        })
        .map(|(_, (name, _))| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn backups(days_old: &[i64], now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
        days_old
            .iter()
            .map(|d| (format!("b{d}"), now - Duration::days(*d)))
            .collect()
    }

    fn policy(keep_last: Option<u32>, keep_within: Option<&str>) -> Retention {
        Retention {
            keep_last,
            keep_within: keep_within.map(|w| w.parse().unwrap()),
        }
    }

    fn sorted(mut names: Vec<String>) -> Vec<String> {
        names.sort();
        names
    }

    #[test]
    fn each_limit_alone_and_both_together() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let all = backups(&[0, 1, 2, 3, 10, 20], now);
        assert!(prunable(&all, &policy(None, None), now).is_empty());
        assert_eq!(
            sorted(prunable(&all, &policy(Some(3), None), now)),
            ["b10", "b20", "b3"]
        );
        assert_eq!(
            sorted(prunable(&all, &policy(None, Some("7d")), now)),
            ["b10", "b20"]
        );
        // Kept if within either limit: the newest 5, or younger than 2 days.
        assert_eq!(prunable(&all, &policy(Some(5), Some("2d")), now), ["b20"]);
        assert_eq!(
            sorted(prunable(&all, &policy(Some(1), Some("36h")), now)),
            ["b10", "b2", "b20", "b3"]
        );
    }

    #[test]
    fn the_newest_backup_is_never_pruned() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let old = backups(&[30, 40], now);
        assert_eq!(prunable(&old, &policy(None, Some("1d")), now), ["b40"]);
    }
}
