//! When the trader runs its next cycle: every `intervalSeconds`, or on a 5-field cron
//! expression in the configured time zone, optionally only while the market is open.
//!
//! Cron expressions are parsed by the contract's [`parse_cron`], the same function the
//! operator's validation runs, so what the operator accepts is what the trader schedules.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use crate::config;
pub use tradeplane_contract::cron::{CronError, parse_cron};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error(transparent)]
    Cron(#[from] CronError),
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
}

/// The trader's clock: computes the next cycle time.
#[derive(Clone, Debug)]
pub struct CycleSchedule {
    cadence: Cadence,
    time_zone: Tz,
    market_hours_only: bool,
    /// Whether the built-in US equity calendar filters slots (see [`Self::use_calendar`]).
    calendar: bool,
}

#[derive(Clone, Debug)]
enum Cadence {
    Every(chrono::Duration),
    Cron(Box<cron::Schedule>),
}

impl CycleSchedule {
    pub fn from_config(schedule: &config::Schedule) -> Result<Self, ScheduleError> {
        let time_zone = Tz::from_str(&schedule.time_zone)
            .map_err(|_| ScheduleError::TimeZone(schedule.time_zone.clone()))?;
        let cadence = match &schedule.cron {
            Some(expression) => Cadence::Cron(Box::new(parse_cron(expression)?)),
            None => {
                let seconds = i64::try_from(schedule.interval_seconds.max(1)).unwrap_or(i64::MAX);
                Cadence::Every(chrono::Duration::seconds(seconds))
            }
        };
        Ok(Self {
            cadence,
            time_zone,
            market_hours_only: schedule.market_hours_only,
            calendar: true,
        })
    }

    /// The first cycle time strictly after `after` that passes the market-hours filter.
    /// `None` only for a cron expression that never fires again.
    ///
    /// An interval's slots are the multiples of it since the Unix epoch, wherever the search
    /// starts: every replica, and every leader after a takeover, sees the same slots, so a
    /// slot has one cycle id (and its orders one client order id) whoever runs it, and the
    /// slots nobody ran between two leaders are exactly the ones the new leader journals as
    /// missed — a grid that restarted at each takeover would leave slots in neither.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut candidate = after;
        // A bounded search: a week of minutes is more than any closed stretch of the market.
        for _ in 0..20_000 {
            candidate = match &self.cadence {
                Cadence::Every(step) => next_multiple(candidate, *step)?,
                Cadence::Cron(schedule) => schedule
                    .after(&candidate.with_timezone(&self.time_zone))
                    .next()?
                    .with_timezone(&Utc),
            };
            if self.in_session(candidate) {
                return Some(candidate);
            }
        }
        None
    }

    /// Whether cycles run only while the market is open.
    pub fn market_hours_only(&self) -> bool {
        self.market_hours_only
    }

    /// Whether the built-in calendar lets a cycle at `time` trade (always true unless
    /// `marketHoursOnly`, and true when the calendar is off).
    pub fn in_session(&self, time: DateTime<Utc>) -> bool {
        !(self.market_hours_only && self.calendar) || us_equity_market_open(time)
    }

    /// Turns the built-in calendar off (or on). A trader whose broker has a market clock
    /// asks the clock at each slot instead: it knows holidays, early closes and other venues'
    /// hours, which a fixed calendar does not.
    pub fn use_calendar(&mut self, on: bool) {
        self.calendar = on;
    }

    /// The configured interval, used to judge whether the last cycle is stale.
    pub fn nominal_interval(&self) -> std::time::Duration {
        match &self.cadence {
            Cadence::Every(step) => step.to_std().unwrap_or_default(),
            Cadence::Cron(schedule) => {
                let now = Utc::now().with_timezone(&self.time_zone);
                let mut upcoming = schedule.after(&now);
                match (upcoming.next(), upcoming.next()) {
                    (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
                    _ => std::time::Duration::from_secs(86_400),
                }
            }
        }
    }
}

/// The first multiple of `step` since the Unix epoch strictly after `after`.
fn next_multiple(after: DateTime<Utc>, step: chrono::Duration) -> Option<DateTime<Utc>> {
    let step = step.num_seconds().max(1);
    // `timestamp` rounds towards the past (the sub-second part is never negative).
    let next = after
        .timestamp()
        .div_euclid(step)
        .checked_add(1)?
        .checked_mul(step)?;
    DateTime::from_timestamp(next, 0)
}

/// Regular US equity session, 09:30–16:00 New York time, Monday to Friday. Holidays are not
/// known here; a broker with a market clock is the better source when there is one.
pub fn us_equity_market_open(time: DateTime<Utc>) -> bool {
    let local = time.with_timezone(&chrono_tz::America::New_York);
    if matches!(local.weekday(), Weekday::Sat | Weekday::Sun) {
        return false;
    }
    let open = NaiveTime::from_hms_opt(9, 30, 0);
    let close = NaiveTime::from_hms_opt(16, 0, 0);
    match (open, close) {
        (Some(open), Some(close)) => (open..close).contains(&local.time()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn five_field_cron_with_numeric_weekdays_means_monday_to_friday() {
        let schedule = parse_cron("30 9 * * 1-5").unwrap();
        // 2026-11-21 is a Saturday; the next run is Monday the 23rd at 09:30 UTC.
        let next = schedule.after(&utc(2026, 11, 21, 0, 0)).next().unwrap();
        assert_eq!(next, utc(2026, 11, 23, 9, 30));
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        let zero = parse_cron("0 12 * * 0").unwrap();
        let seven = parse_cron("0 12 * * 7").unwrap();
        let from = utc(2026, 11, 23, 0, 0); // a Monday
        assert_eq!(zero.after(&from).next().unwrap(), utc(2026, 11, 29, 12, 0));
        assert_eq!(seven.after(&from).next().unwrap(), utc(2026, 11, 29, 12, 0));
    }

    #[test]
    fn wrong_field_count_is_an_error() {
        assert_eq!(
            parse_cron("0 0 * * * *").unwrap_err(),
            CronError::FieldCount(6)
        );
        let err = parse_cron("61 * * * *").unwrap_err().to_string();
        assert!(err.contains("Minutes") && err.contains("61"), "{err}");
    }

    #[test]
    fn cron_runs_in_the_configured_time_zone() {
        let config = config::Schedule {
            cron: Some("0 10 * * *".into()),
            time_zone: "America/New_York".into(),
            ..config::Schedule::default()
        };
        let schedule = CycleSchedule::from_config(&config).unwrap();
        // 10:00 in New York in November (EST, UTC-5) is 15:00 UTC.
        assert_eq!(
            schedule.next_after(utc(2026, 11, 23, 0, 0)).unwrap(),
            utc(2026, 11, 23, 15, 0)
        );
    }

    #[test]
    fn interval_slots_are_multiples_of_the_interval_whatever_the_start() {
        let config = config::Schedule {
            interval_seconds: 7,
            ..config::Schedule::default()
        };
        let schedule = CycleSchedule::from_config(&config).unwrap();
        let start = utc(2026, 11, 23, 10, 0) + chrono::Duration::milliseconds(1_234);
        let first = schedule.next_after(start).unwrap();
        assert_eq!(first.timestamp() % 7, 0, "{first}");
        assert!(first > start && first - start <= chrono::Duration::seconds(7));
        // Searches that start anywhere before it within the interval find the same slot.
        let just_before = first - chrono::Duration::milliseconds(1);
        assert_eq!(schedule.next_after(just_before), Some(first));
        let interval_before = first - chrono::Duration::seconds(7);
        assert_eq!(schedule.next_after(interval_before), Some(first));
        // A slot itself is not after itself: the next one is one interval on.
        assert_eq!(
            schedule.next_after(first).unwrap(),
            first + chrono::Duration::seconds(7)
        );
    }

    #[test]
    fn market_hours_skip_nights_and_weekends() {
        let config = config::Schedule {
            interval_seconds: 3600,
            market_hours_only: true,
            ..config::Schedule::default()
        };
        let schedule = CycleSchedule::from_config(&config).unwrap();
        // Friday 2026-11-20 20:30 UTC = 15:30 EST: the next hourly slot (16:00 EST) is closed,
        // so the first open slot is Monday 10:00 EST = 15:00 UTC (09:00 EST is before the open).
        let next = schedule.next_after(utc(2026, 11, 20, 20, 30)).unwrap();
        assert_eq!(next, utc(2026, 11, 23, 15, 0));
        assert!(!us_equity_market_open(utc(2026, 11, 21, 15, 0)));
        assert!(us_equity_market_open(utc(2026, 11, 23, 14, 30)));
    }

    #[test]
    fn without_the_calendar_every_slot_is_a_candidate_for_the_broker_clock() {
        let config = config::Schedule {
            interval_seconds: 3600,
            market_hours_only: true,
            ..config::Schedule::default()
        };
        let mut schedule = CycleSchedule::from_config(&config).unwrap();
        schedule.use_calendar(false);
        // Saturday: the calendar would skip it, the broker's clock is asked instead.
        let saturday = utc(2026, 11, 21, 15, 0);
        assert!(schedule.in_session(saturday));
        assert_eq!(
            schedule.next_after(saturday).unwrap(),
            utc(2026, 11, 21, 16, 0)
        );
        assert!(schedule.market_hours_only());
    }
}
