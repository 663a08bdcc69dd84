//! The query parameters of the journal API, read strictly: an unknown parameter, a limit out
//! of range, a cursor this server did not write or a time that is not RFC 3339 is a `400`
//! naming the parameter — a typo must not silently return the whole journal.
//!
//! Cursors are opaque to clients: the hex of `<nanoseconds>|<key>`, the (time, key) of the
//! last row of the page, from which the next page starts strictly after.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tradeplane_contract::journal_api::{
    DEFAULT_CHART_CYCLES, DEFAULT_EQUITY_POINTS, DEFAULT_PAGE_LIMIT, MAX_CHART_CYCLES,
    MAX_EQUITY_POINTS, MAX_PAGE_LIMIT,
};

use super::ApiFailure;
use crate::journal::PageRequest;

/// `since` and `until`, each when given.
type TimeRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A list request: the page size the client asked for, and the rows to read.
#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    pub limit: u32,
    pub page: PageRequest,
}

/// Reads `limit`, `cursor`, `since`, `until` and, when `with_symbol`, `symbol`; anything
/// else is refused.
pub fn list_query(
    params: &HashMap<String, String>,
    with_symbol: bool,
) -> Result<ListQuery, ApiFailure> {
    let allowed: &[&str] = if with_symbol {
        &["limit", "cursor", "since", "until", "symbol"]
    } else {
        &["limit", "cursor", "since", "until"]
    };
    refuse_unknown(params, allowed)?;
    let limit = bounded(params, "limit", DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)?;
    let (since, until) = time_range(params)?;
    let before = params.get("cursor").map(|c| decode_cursor(c)).transpose()?;
    let symbol = params
        .get("symbol")
        .map(|s| checked_symbol(s))
        .transpose()?;
    Ok(ListQuery {
        limit,
        page: PageRequest {
            rows: limit + 1,
            before,
            since,
            until,
            symbol,
        },
    })
}

/// An equity request: its time range and `points`.
pub fn equity_query(params: &HashMap<String, String>) -> Result<(TimeRange, u32), ApiFailure> {
    refuse_unknown(params, &["since", "until", "points"])?;
    let range = time_range(params)?;
    let points = bounded(params, "points", DEFAULT_EQUITY_POINTS, MAX_EQUITY_POINTS)?;
    Ok((range, points))
}

/// A chart request: `cycles`, the newest cycles it covers.
pub fn chart_query(params: &HashMap<String, String>) -> Result<u32, ApiFailure> {
    refuse_unknown(params, &["cycles"])?;
    bounded(params, "cycles", DEFAULT_CHART_CYCLES, MAX_CHART_CYCLES)
}

/// Refuses every parameter of a request that takes none.
pub fn no_query(params: &HashMap<String, String>) -> Result<(), ApiFailure> {
    refuse_unknown(params, &[])
}

fn refuse_unknown(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiFailure> {
    let mut unknown: Vec<&String> = params
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(name) => Err(ApiFailure::bad(
            name,
            format!(
                "unknown parameter; this endpoint takes {}",
                allowed.join(", ")
            ),
        )),
    }
}

/// `name` as a whole number in 1..=`max`, `default` when absent.
fn bounded(
    params: &HashMap<String, String>,
    name: &str,
    default: u32,
    max: u32,
) -> Result<u32, ApiFailure> {
    let Some(text) = params.get(name) else {
        return Ok(default);
    };
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiFailure::bad(
            name,
            format!("must be a whole number from 1 to {max}, got {text:?}"),
        )),
    }
}

fn time_range(params: &HashMap<String, String>) -> Result<TimeRange, ApiFailure> {
    let since = params
        .get("since")
        .map(|t| rfc3339("since", t))
        .transpose()?;
    let until = params
        .get("until")
        .map(|t| rfc3339("until", t))
        .transpose()?;
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(ApiFailure::bad("until", "must be later than since".into()));
    }
    Ok((since, until))
}

fn rfc3339(name: &str, text: &str) -> Result<DateTime<Utc>, ApiFailure> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiFailure::bad(
                name,
                format!("must be an RFC 3339 time such as 2024-05-01T13:30:00Z, got {text:?}"),
            )
        })
}

/// A ticker as brokers spell them: 1–20 of `A-Z 0-9 . / -`, e.g. `AAPL`, `BRK.B`, `BTC/USD`.
fn checked_symbol(text: &str) -> Result<String, ApiFailure> {
    let fits = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || ".-/".contains(c);
    if (1..=20).contains(&text.len()) && text.chars().all(fits) {
        Ok(text.to_string())
    } else {
        Err(ApiFailure::bad(
            "symbol",
            format!("must be 1 to 20 of A-Z, 0-9, '.', '/', '-' (e.g. AAPL), got {text:?}"),
        ))
    }
}

/// The cursor after a row at `at` with `key`.
pub fn encode_cursor(at: DateTime<Utc>, key: &str) -> String {
    let nanos = at.timestamp_nanos_opt().unwrap_or_default();
    format!("{nanos}|{key}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, String), ApiFailure> {
    let invalid = || ApiFailure::bad("cursor", "not a cursor this API returned".into());
    if !cursor.len().is_multiple_of(2) || cursor.len() > 1024 {
        return Err(invalid());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| {
            cursor
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (nanos, key) = text.split_once('|').ok_or_else(invalid)?;
    let nanos: i64 = nanos.parse().map_err(|_| invalid())?;
    Ok((DateTime::from_timestamp_nanos(nanos), key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parameter_at_fault(result: Result<ListQuery, ApiFailure>) -> Option<String> {
        match result {
            Err(ApiFailure::BadParameter { parameter, .. }) => Some(parameter),
            _ => None,
        }
    }

    #[test]
    fn a_cursor_reads_back_what_was_written() {
        let at = DateTime::from_timestamp_nanos(1_700_000_000_123_456_789);
        let cursor = encode_cursor(at, "20240101T000000Z|x");
        let query = list_query(&params(&[("cursor", &cursor)]), false);
        let before = query.ok().and_then(|q| q.page.before);
        assert_eq!(before, Some((at, "20240101T000000Z|x".to_string())));
    }

    #[test]
    fn bad_input_names_its_parameter() {
        for (pairs, parameter) in [
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "1001")], "limit"),
            (vec![("limit", "ten")], "limit"),
            (vec![("cursor", "zz")], "cursor"),
            (vec![("cursor", "41")], "cursor"),
            (vec![("since", "yesterday")], "since"),
            (
                vec![
                    ("since", "2024-01-02T00:00:00Z"),
                    ("until", "2024-01-01T00:00:00Z"),
                ],
                "until",
            ),
            (vec![("symbol", "aapl; drop")], "symbol"),
            (vec![("sinse", "2024-01-01T00:00:00Z")], "sinse"),
        ] {
            let result = list_query(&params(&pairs), true);
            assert_eq!(parameter_at_fault(result).as_deref(), Some(parameter));
        }
        let symbol_on_cycles = list_query(&params(&[("symbol", "AAPL")]), false);
        assert_eq!(
            parameter_at_fault(symbol_on_cycles).as_deref(),
            Some("symbol")
        );
    }

    #[test]
    fn defaults_and_the_cap() {
        let query = list_query(&params(&[]), true).ok();
        assert_eq!(query.map(|q| (q.limit, q.page.rows)), Some((100, 101)));
        let query = list_query(&params(&[("limit", "1000")]), true).ok();
        assert_eq!(query.map(|q| q.limit), Some(1000));
    }
}
