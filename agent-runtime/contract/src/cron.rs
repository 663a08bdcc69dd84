//! Cron expressions as users write them: the five fields of a Kubernetes CronJob (minute,
//! hour, day of month, month, day of week; Sunday is 0 or 7).
//!
//! The `cron` crate wants a seconds field and numbers Sunday as 1, so [`parse_cron`] translates
//! rather than making users learn a second dialect. It lives in the contract because both
//! sides need the same answer: the operator validates a schedule before it renders it, and the
//! trader computes its cycle times from it.

use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CronError {
    #[error("must have 5 fields (minute hour day-of-month month day-of-week), got {0}")]
    FieldCount(usize),
    #[error("does not parse: {0}")]
    Parse(String),
}

/// Parses a 5-field cron expression (Kubernetes CronJob syntax) into a `cron::Schedule`.
pub fn parse_cron(expression: &str) -> Result<::cron::Schedule, CronError> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(CronError::FieldCount(fields.len()));
    }
    let day_of_week = translate_day_of_week(fields[4]);
    let six = format!(
        "0 {} {} {} {} {}",
        fields[0], fields[1], fields[2], fields[3], day_of_week
    );
    ::cron::Schedule::from_str(&six).map_err(|err| {
        // The crate's message echoes the 6-field form with a caret line; keep the reason only.
        let message = err.to_string();
        let reason = message
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        CronError::Parse(reason)
    })
}

/// Rewrites numeric days (0 or 7 = Sunday) as names, leaving steps (`*/2`) alone.
fn translate_day_of_week(field: &str) -> String {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let item = |item: &str| -> String {
        let (days, step) = match item.split_once('/') {
            Some((days, step)) => (days, Some(step)),
            None => (item, None),
        };
        let days = days
            .split('-')
            .map(|day| match day.parse::<usize>() {
                Ok(n) if n < NAMES.len() => NAMES[n].to_string(),
                _ => day.to_string(),
            })
            .collect::<Vec<_>>()
            .join("-");
        match step {
            Some(step) => format!("{days}/{step}"),
            None => days,
        }
    };
    field.split(',').map(item).collect::<Vec<_>>().join(",")
}
