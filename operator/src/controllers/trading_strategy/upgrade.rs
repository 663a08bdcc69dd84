//! Supervised upgrades: which pod template the trader Deployment gets, from the template just
//! rendered, the live one, the spec's maintenance windows and the clock.
//!
//! Pure, so that "outside every window nothing rolls" can be tested with fixed times. A new
//! revision is anything that changes the pod template — an image, a config or a rotated
//! Secret (through the inputs hash), `restartAt`, or a new operator version rendering the pod
//! differently — so all of them wait for the same windows, and upgrading the operator never
//! restarts a Supervised strategy in market hours.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::pods::revision;
use crate::api::trading_strategy::{MaintenanceWindow, UpgradePolicy, UpgradeSpec, Weekday};

/// What to apply, and what waits.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The pod template to apply: the rendered one, or the live one while a revision waits.
    pub template: PodTemplateSpec,
    /// The revision that waits, when one does.
    pub pending: Option<Pending>,
}

/// A revision held back until a maintenance window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The waiting revision (the rendered template's).
    pub revision: String,
    /// When the next window opens; `None` when none ever will (a time zone the operator does
    /// not know — the API server refuses those, so only a stale object has one).
    pub until: Option<DateTime<Utc>>,
    /// The sentence for the `UpgradePending` condition, and its reason.
    pub message: String,
    pub reason: &'static str,
}

/// `UpgradePending`'s reason while a revision waits for a maintenance window.
pub const OUTSIDE_WINDOW: &str = "OutsideMaintenanceWindow";

/// Decides as the module docs say. `last_forced` is `status.lastForcedUpgradeAt`; a
/// `forceAt` other than it rolls now. A strategy with no live Deployment yet is created from
/// the rendered template: the first rollout is not an upgrade.
pub fn decide(
    upgrade: Option<&UpgradeSpec>,
    last_forced: Option<&str>,
    live: Option<&PodTemplateSpec>,
    rendered: PodTemplateSpec,
    now: DateTime<Utc>,
) -> Decision {
    let roll = Decision {
        template: rendered.clone(),
        pending: None,
    };
    let Some(upgrade) = upgrade.filter(|u| u.policy == Some(UpgradePolicy::Supervised)) else {
        return roll;
    };
    let Some(live) = live else {
        return roll;
    };
    let wanted = revision(&rendered).unwrap_or_default().to_string();
    let forced = upgrade
        .force_at
        .as_deref()
        .is_some_and(|f| Some(f) != last_forced);
    if revision(live) == Some(wanted.as_str()) || forced {
        return roll;
    }
    let zone = upgrade.time_zone.as_deref().unwrap_or("UTC");
    let pending = match zone.parse::<Tz>() {
        Err(_) => Pending {
            message: format!(
                "revision {wanted} waits: upgrade.timeZone {zone} is not a known time zone, so no maintenance window opens; set spec.upgrade.forceAt to roll it now"
            ),
            revision: wanted,
            until: None,
            reason: OUTSIDE_WINDOW,
        },
        Ok(tz) if within_window(&upgrade.maintenance_windows, tz, now) => return roll,
        Ok(tz) => {
            let until = next_opening(&upgrade.maintenance_windows, tz, now);
            let when = until.map_or_else(
                || "no maintenance window opens".to_string(),
                |t| format!("until the maintenance window opening at {}", t.to_rfc3339()),
            );
            Pending {
                message: format!(
                    "revision {wanted} waits {when} (upgrade.policy Supervised); set spec.upgrade.forceAt to roll it now"
                ),
                revision: wanted,
                until,
                reason: OUTSIDE_WINDOW,
            }
        }
    };
    Decision {
        template: live.clone(),
        pending: Some(pending),
    }
}

/// Whether `now` falls in one of `windows` (a window may run past midnight into the next
/// day, so yesterday's openings count too).
pub fn within_window(windows: &[MaintenanceWindow], tz: Tz, now: DateTime<Utc>) -> bool {
    let today = now.with_timezone(&tz).date_naive();
    windows.iter().any(|window| {
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|day| opening(window, tz, day))
            .any(|start| {
                start <= now && now < start + Duration::minutes(i64::from(window.duration_minutes))
            })
    })
}

/// The first opening of any of `windows` after `now`, within the coming eight days.
pub fn next_opening(
    windows: &[MaintenanceWindow],
    tz: Tz,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(&tz).date_naive();
    (0..=8)
        .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
        .flat_map(|day| windows.iter().filter_map(move |w| opening(w, tz, day)))
        .filter(|start| *start > now)
        .min()
}

/// When `window` opens on the local date `day`, if it opens that weekday. A start that falls
/// in a daylight-saving gap opens an hour later (the first local time that exists); one that
/// falls twice opens the first time.
fn opening(window: &MaintenanceWindow, tz: Tz, day: NaiveDate) -> Option<DateTime<Utc>> {
    if !window.days.iter().any(|d| same_day(*d, day.weekday())) {
        return None;
    }
    let start = NaiveTime::parse_from_str(&window.start, "%H:%M").ok()?;
    let local = day.and_time(start);
    let resolved = tz.from_local_datetime(&local).earliest().or_else(|| {
        tz.from_local_datetime(&(local + Duration::hours(1)))
            .earliest()
    })?;
    Some(resolved.with_timezone(&Utc))
}

fn same_day(day: Weekday, other: chrono::Weekday) -> bool {
    let day = match day {
        Weekday::Mon => chrono::Weekday::Mon,
        Weekday::Tue => chrono::Weekday::Tue,
        Weekday::Wed => chrono::Weekday::Wed,
        Weekday::Thu => chrono::Weekday::Thu,
        Weekday::Fri => chrono::Weekday::Fri,
        Weekday::Sat => chrono::Weekday::Sat,
        Weekday::Sun => chrono::Weekday::Sun,
    };
    day == other
}

/// A Kubernetes timestamp as chrono's.
pub fn to_chrono(time: k8s_openapi::jiff::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(time.as_second(), 0).unwrap_or_default()
}
