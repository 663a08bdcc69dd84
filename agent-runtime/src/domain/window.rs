//! The data window behind a decision: which bars the analysts saw and what each seat
//! computed from them, journalled with the decision so it can be audited later
//! (`GET /api/v1/cycles/{id}`, `kubectl tradeplane explain`). Pure: built from the snapshot.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Snapshot;

/// The bars one symbol's analysts saw in one cycle, and each seat's indicator values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataWindow {
    pub symbol: String,
    /// The bar size, read from the spacing of the last two bars; `None` with fewer.
    pub timeframe: Option<String>,
    pub first_bar_at: DateTime<Utc>,
    pub last_bar_at: DateTime<Utc>,
    pub bar_count: u64,
    pub last_close: f64,
    /// (seat role, indicator name → value), in seat order; a seat that computes nothing
    /// (an LLM seat reads the bars itself) has an empty map.
    pub indicators: Vec<(String, BTreeMap<String, f64>)>,
}

impl DataWindow {
    /// The window of `snapshot`; `None` when it has no bars (the symbol is then skipped).
    pub fn of(snapshot: &Snapshot) -> Option<Self> {
        let (first, last) = (snapshot.bars.first()?, snapshot.bars.last()?);
        let spacing = snapshot
            .bars
            .len()
            .checked_sub(2)
            .and_then(|i| snapshot.bars.get(i))
            .map(|before| last.time - before.time);
        Some(Self {
            symbol: snapshot.symbol.clone(),
            timeframe: spacing.and_then(timeframe_name),
            first_bar_at: first.time,
            last_bar_at: last.time,
            bar_count: snapshot.bars.len() as u64,
            last_close: last.close,
            indicators: Vec::new(),
        })
    }
}

/// `1d`, `4h`, `15m`, `30s`: the largest whole unit of a bar spacing.
fn timeframe_name(spacing: chrono::Duration) -> Option<String> {
    let seconds = spacing.num_seconds();
    if seconds <= 0 {
        return None;
    }
    let name = [(86_400, "d"), (3_600, "h"), (60, "m")]
        .iter()
        .find(|(unit, _)| seconds % unit == 0)
        .map_or(format!("{seconds}s"), |(unit, suffix)| {
            format!("{}{suffix}", seconds / unit)
        });
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Bar;
    use chrono::TimeZone;

    fn bar(minute: i64) -> Bar {
        Bar {
            symbol: "AAPL".into(),
            time: Utc
                .timestamp_opt(minute * 60, 0)
                .single()
                .unwrap_or_default(),
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: minute as f64,
            volume: 1.0,
        }
    }

    #[test]
    fn the_window_names_its_bars_and_their_size() {
        let snapshot = Snapshot {
            symbol: "AAPL".into(),
            bars: (0..4).map(|i| bar(i * 15)).collect(),
            position: None,
        };
        let window = DataWindow::of(&snapshot);
        let window = window.as_ref();
        assert_eq!(window.map(|w| w.bar_count), Some(4));
        assert_eq!(window.and_then(|w| w.timeframe.as_deref()), Some("15m"));
        assert_eq!(window.map(|w| w.last_close), Some(45.0));
        assert_eq!(
            timeframe_name(chrono::Duration::days(1)).as_deref(),
            Some("1d")
        );
        assert_eq!(
            timeframe_name(chrono::Duration::seconds(90)).as_deref(),
            Some("90s")
        );
        let empty = Snapshot {
            symbol: "AAPL".into(),
            bars: Default::default(),
            position: None,
        };
        assert!(DataWindow::of(&empty).is_none());
    }
}
