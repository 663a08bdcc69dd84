//! Supervised upgrades decided with fixed clocks: inside a window, outside, across midnight,
//! in another time zone, and forced.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

use super::upgrade::{decide, next_opening, within_window};
use crate::api::trading_strategy::UpgradeSpec;
use crate::controllers::meta::REVISION_ANNOTATION;

fn template(revision: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            annotations: Some(BTreeMap::from([(
                REVISION_ANNOTATION.to_string(),
                revision.to_string(),
            )])),
            ..ObjectMeta::default()
        }),
        spec: None,
    }
}

/// Supervised, a window Saturdays 22:00 for 4 hours (so into Sunday), in `zone`.
fn supervised(zone: &str, force_at: Option<&str>) -> UpgradeSpec {
    serde_json::from_value(json!({
        "policy": "Supervised",
        "timeZone": zone,
        "maintenanceWindows": [{"days": ["Sat"], "start": "22:00", "durationMinutes": 240}],
        "forceAt": force_at,
    }))
    .unwrap()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

// 2026-12-05 is a Saturday, 2026-12-02 a Wednesday.
const WEDNESDAY_NOON: (i32, u32, u32, u32, u32) = (2026, 12, 2, 12, 0);

fn at((y, mo, d, h, mi): (i32, u32, u32, u32, u32)) -> DateTime<Utc> {
    utc(y, mo, d, h, mi)
}

#[test]
fn outside_every_window_the_live_template_stays_and_says_until_when() {
    let spec = supervised("UTC", None);
    let decision = decide(
        Some(&spec),
        None,
        Some(&template("old")),
        template("new"),
        at(WEDNESDAY_NOON),
    );
    assert_eq!(decision.template, template("old"));
    let pending = decision.pending.unwrap();
    assert_eq!(pending.revision, "new");
    assert_eq!(pending.until, Some(utc(2026, 12, 5, 22, 0)));
    assert!(pending.message.contains("new"), "{}", pending.message);
    assert!(
        pending.message.contains("2026-12-05T22:00:00"),
        "{}",
        pending.message
    );
}

#[test]
fn inside_a_window_and_across_midnight_the_new_revision_rolls() {
    let spec = supervised("UTC", None);
    for now in [utc(2026, 12, 5, 22, 0), utc(2026, 12, 6, 1, 59)] {
        let decision = decide(
            Some(&spec),
            None,
            Some(&template("old")),
            template("new"),
            now,
        );
        assert_eq!(decision.template, template("new"), "at {now}");
        assert!(decision.pending.is_none());
    }
    // The window closes at 02:00 on Sunday.
    let after = decide(
        Some(&spec),
        None,
        Some(&template("old")),
        template("new"),
        utc(2026, 12, 6, 2, 0),
    );
    assert_eq!(after.pending.unwrap().until, Some(utc(2026, 12, 12, 22, 0)));
}

#[test]
fn windows_are_read_in_their_time_zone() {
    let spec = supervised("America/New_York", None);
    let windows = &spec.maintenance_windows;
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    // Saturday 22:00 in New York (EST, UTC-5) is Sunday 03:00 UTC.
    assert!(within_window(windows, tz, utc(2026, 12, 6, 3, 0)));
    assert!(!within_window(windows, tz, utc(2026, 12, 5, 22, 0)));
    assert_eq!(
        next_opening(windows, tz, at(WEDNESDAY_NOON)),
        Some(utc(2026, 12, 6, 3, 0))
    );
    // In summer (EDT, UTC-4) the same local time is an hour earlier in UTC.
    assert_eq!(
        next_opening(windows, tz, utc(2026, 7, 1, 12, 0)),
        Some(utc(2026, 7, 5, 2, 0))
    );
}

#[test]
fn a_new_force_at_rolls_now_and_a_handled_one_does_not() {
    let spec = supervised("UTC", Some("f1"));
    let forced = decide(
        Some(&spec),
        None,
        Some(&template("old")),
        template("new"),
        at(WEDNESDAY_NOON),
    );
    assert_eq!(forced.template, template("new"));
    assert!(forced.pending.is_none());
    let handled = decide(
        Some(&spec),
        Some("f1"),
        Some(&template("old")),
        template("new"),
        at(WEDNESDAY_NOON),
    );
    assert_eq!(handled.template, template("old"));
    assert!(handled.pending.is_some());
}

#[test]
fn unsupervised_an_up_to_date_template_and_a_first_rollout_roll_at_once() {
    let unsupervised: UpgradeSpec = serde_json::from_value(json!({})).unwrap();
    let now = at(WEDNESDAY_NOON);
    for (spec, live) in [
        (None, Some(template("old"))),
        (Some(unsupervised), Some(template("old"))),
        (Some(supervised("UTC", None)), None),
        (Some(supervised("UTC", None)), Some(template("new"))),
    ] {
        let decision = decide(spec.as_ref(), None, live.as_ref(), template("new"), now);
        assert_eq!(decision.template, template("new"));
        assert!(decision.pending.is_none());
    }
}

#[test]
fn a_template_from_an_older_operator_without_a_revision_counts_as_different() {
    let spec = supervised("UTC", None);
    let live = PodTemplateSpec::default();
    let decision = decide(
        Some(&spec),
        None,
        Some(&live),
        template("new"),
        at(WEDNESDAY_NOON),
    );
    assert_eq!(decision.template, live);
    assert!(decision.pending.is_some());
}

#[test]
fn an_unknown_time_zone_holds_the_revision_and_names_the_field() {
    let spec = supervised("Mars/Olympus", None);
    let decision = decide(
        Some(&spec),
        None,
        Some(&template("old")),
        template("new"),
        at(WEDNESDAY_NOON),
    );
    let pending = decision.pending.unwrap();
    assert_eq!(pending.until, None);
    assert!(pending.message.contains("upgrade.timeZone Mars/Olympus"));
}
